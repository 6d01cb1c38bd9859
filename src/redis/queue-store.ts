import { createHash, randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type {
  AddResult,
  ClaimedJob,
  ClaimOptions,
  DeadLetter,
  NewJob,
  QueueStore,
  StoreStats,
} from '../deferred/store.js';
import { PRIORITIES, PRIORITY_RANK, type Priority } from '../policy.js';
import * as v from '../validate.js';

/**
 * The one method `redisStore` needs of a Redis client: send a raw command, answer the reply
 * (arrays as arrays, integers as numbers, nil as null). node-redis (v4 to v6) clients have it
 * as they are. For ioredis, adapt it in one line:
 *
 * @example
 * ```ts
 * const client = { sendCommand: (args: string[]) => ioredis.call(args[0]!, ...args.slice(1)) };
 * ```
 */
export interface RedisQueueClient {
  /** Sends one command (`[name, ...args]`) and answers its reply. */
  sendCommand(args: string[]): Promise<unknown>;
}

/** Options of {@link redisStore}. */
export interface RedisStoreOptions {
  /** A connected node-redis client, or anything with {@link RedisQueueClient.sendCommand}. */
  client: RedisQueueClient;
  /**
   * Begins every key of this queue. On Redis Cluster give it a hash tag (`{mail}`) so that
   * all its keys share a slot, as its scripts need.
   * @default 'breakwater:queue'
   */
  prefix?: string;
}

/** A {@link QueueStore} on Redis Streams, made by {@link redisStore}. */
export interface RedisQueueStore extends QueueStore {
  /** What every key of this queue begins with. */
  readonly prefix: string;
}

const GROUP = 'breakwater';
const SUFFIXES = [
  's0',
  's1',
  's2',
  's3',
  's4', // KEYS[1..5]: one stream per priority, critical first
  'delayed', // 6: zset id -> runAt
  'dd', // 7: hash id -> "rank|data" of delayed jobs
  'keys', // 8: hash idempotency key -> id
  'dead', // 9: hash id -> dead letter JSON
  'count', // 10: jobs held (waiting + leased), for maxSize
  'seq', // 11: job ids
  'leases', // 12: zset "rank|entryId" -> lease end (the queue's clock)
  'lt', // 13: hash "rank|entryId" -> lease token
  'enq', // 14: zset id -> enqueuedAt, for the oldest job
];

const LIB = `
local K = KEYS
local function split(member)
  local bar = string.find(member, '|', 1, true)
  return tonumber(string.sub(member, 1, bar - 1)), string.sub(member, bar + 1)
end
local function drop(member)
  local rank, eid = split(member)
  local acked = redis.call('XACK', K[rank + 1], '${GROUP}', eid)
  redis.call('XDEL', K[rank + 1], eid)
  redis.call('ZREM', K[12], member)
  redis.call('HDEL', K[13], member)
  return acked
end
`;

const ADD = `${LIB}
local key, rank, data, runAt, enq, max, delayed = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4], ARGV[5], tonumber(ARGV[6]), ARGV[7] == '1'
if key ~= '' then
  local held = redis.call('HGET', K[8], key)
  if held then return {held, 0} end
end
if max >= 0 and tonumber(redis.call('GET', K[10]) or '0') >= max then return {'', -1} end
local id = tostring(redis.call('INCR', K[11]))
if key ~= '' then redis.call('HSET', K[8], key, id) end
if delayed then
  redis.call('HSET', K[7], id, rank .. '|' .. data)
  redis.call('ZADD', K[6], runAt, id)
else
  redis.call('XADD', K[rank + 1], '*', 'id', id, 'data', data)
end
redis.call('INCR', K[10])
redis.call('ZADD', K[14], enq, id)
return {id, 1}
`;

const CLAIM = `${LIB}
local now, limit, untl, consumer, token = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3], ARGV[4], ARGV[5]
for _, id in ipairs(redis.call('ZRANGEBYSCORE', K[6], '-inf', now)) do
  local v = redis.call('HGET', K[7], id)
  if v then
    local rank, data = split(v)
    redis.call('XADD', K[rank + 1], '*', 'id', id, 'data', data)
    redis.call('HDEL', K[7], id)
  end
  redis.call('ZREM', K[6], id)
end
local out, n = {}, 0
local function take(rank, entry)
  local fields, id, data = entry[2], '', ''
  for i = 1, #fields, 2 do
    if fields[i] == 'id' then id = fields[i + 1] elseif fields[i] == 'data' then data = fields[i + 1] end
  end
  local member = rank .. '|' .. entry[1]
  redis.call('ZADD', K[12], untl, member)
  redis.call('HSET', K[13], member, token)
  out[#out + 1] = id
  out[#out + 1] = data
  out[#out + 1] = member
  n = n + 1
end
for _, member in ipairs(redis.call('ZRANGEBYSCORE', K[12], '-inf', now, 'LIMIT', 0, limit)) do
  local rank, eid = split(member)
  local claimed = redis.call('XCLAIM', K[rank + 1], '${GROUP}', consumer, 0, eid)
  if claimed[1] and claimed[1][2] then take(rank, claimed[1]) else
    redis.call('ZREM', K[12], member)
    redis.call('HDEL', K[13], member)
  end
end
for rank = 0, 4 do
  if n >= limit then break end
  local got = redis.call('XREADGROUP', 'GROUP', '${GROUP}', consumer, 'COUNT', limit - n, 'STREAMS', K[rank + 1], '>')
  if got and got[1] then
    for _, entry in ipairs(got[1][2]) do take(rank, entry) end
  end
end
return out
`;

const COMPLETE = `${LIB}
local member, id, key = ARGV[1], ARGV[2], ARGV[3]
if drop(member) == 1 then
  redis.call('DECR', K[10])
  redis.call('ZREM', K[14], id)
  if key ~= '' and redis.call('HGET', K[8], key) == id then redis.call('HDEL', K[8], key) end
  return 1
end
return 0
`;

const RETRY = `${LIB}
local member, token, id, data, runAt, rank = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
if redis.call('HGET', K[13], member) ~= token then return 0 end
drop(member)
redis.call('HSET', K[7], id, rank .. '|' .. data)
redis.call('ZADD', K[6], runAt, id)
return 1
`;

const DEAD = `${LIB}
local member, token, id, record = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
if redis.call('HGET', K[13], member) ~= token then return 0 end
drop(member)
redis.call('HSET', K[9], id, record)
redis.call('DECR', K[10])
redis.call('ZREM', K[14], id)
return 1
`;

const REQUEUE = `${LIB}
local id, data, rank, enq = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
if redis.call('HDEL', K[9], id) == 0 then return 0 end
redis.call('XADD', K[rank + 1], '*', 'id', id, 'data', data)
redis.call('INCR', K[10])
redis.call('ZADD', K[14], enq, id)
return 1
`;

const EXTEND = `${LIB}
local untl = ARGV[1]
for i = 2, #ARGV, 2 do
  if redis.call('HGET', K[13], ARGV[i]) == ARGV[i + 1] then redis.call('ZADD', K[12], 'XX', untl, ARGV[i]) end
end
return 1
`;

const STATS = `${LIB}
local oldest = redis.call('ZRANGE', K[14], 0, 0, 'WITHSCORES')
return {tonumber(redis.call('GET', K[10]) or '0'), redis.call('ZCOUNT', K[12], '(' .. ARGV[1], '+inf'),
  redis.call('HLEN', K[9]), oldest[2] or ''}
`;

interface Script {
  readonly source: string;
  readonly sha: string;
}

function script(source: string): Script {
  return { source, sha: createHash('sha1').update(source).digest('hex') };
}

const SCRIPTS = {
  add: script(ADD),
  claim: script(CLAIM),
  complete: script(COMPLETE),
  retry: script(RETRY),
  dead: script(DEAD),
  requeue: script(REQUEUE),
  extend: script(EXTEND),
  stats: script(STATS),
};

/** What a stream entry's `data` field holds. */
interface Data {
  readonly p: unknown;
  readonly k: string | null;
  readonly e: number;
  readonly a: number;
}

class RedisStore implements RedisQueueStore {
  readonly durable = true as const;
  private readonly keys: string[];
  private readonly consumer = `${hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`;
  private ready: Promise<void> | undefined;

  constructor(
    private readonly client: RedisQueueClient,
    readonly prefix: string,
  ) {
    this.keys = SUFFIXES.map((s) => `${prefix}:${s}`);
  }

  async add(job: NewJob, maxSize: number): Promise<AddResult | 'full'> {
    const data: Data = { p: job.payload, k: job.key ?? null, e: job.enqueuedAt, a: 0 };
    const [id, created] = (await this.run(SCRIPTS.add, [
      job.key ?? '',
      String(PRIORITY_RANK[job.priority]),
      JSON.stringify(data),
      String(job.runAt),
      String(job.enqueuedAt),
      maxSize === Number.POSITIVE_INFINITY ? '-1' : String(maxSize),
      job.runAt > job.enqueuedAt ? '1' : '0',
    ])) as [string, number];
    if (Number(created) === -1) return 'full';
    return { id: String(id), created: Number(created) === 1 };
  }

  async claim({ limit, now, leaseMs }: ClaimOptions): Promise<ClaimedJob[]> {
    const token = randomUUID();
    const flat = (await this.run(SCRIPTS.claim, [
      String(now),
      String(limit),
      String(now + leaseMs),
      this.consumer,
      token,
    ])) as string[];
    const jobs: ClaimedJob[] = [];
    for (let i = 0; i < flat.length; i += 3) {
      const member = String(flat[i + 2]);
      const priority = PRIORITIES[Number(member.slice(0, member.indexOf('|')))] ?? 'normal';
      jobs.push(toClaimed(String(flat[i]), String(flat[i + 1]), priority, `${member}#${token}`));
    }
    return jobs;
  }

  async complete(job: ClaimedJob): Promise<void> {
    await this.run(SCRIPTS.complete, [memberOf(job), job.id, job.key ?? '']);
  }

  async retry(job: ClaimedJob, update: { attempts: number; runAt: number }): Promise<void> {
    const data: Data = { p: job.payload, k: job.key ?? null, e: job.enqueuedAt, a: update.attempts };
    await this.run(SCRIPTS.retry, [
      memberOf(job),
      tokenOf(job),
      job.id,
      JSON.stringify(data),
      String(update.runAt),
      String(PRIORITY_RANK[job.priority]),
    ]);
  }

  async deadLetter(job: ClaimedJob, update: { attempts: number; error: string; now: number }): Promise<void> {
    const letter: DeadLetter = {
      id: job.id,
      payload: job.error === undefined ? job.payload : undefined,
      error: update.error,
      attempts: update.attempts,
      key: job.key,
      priority: job.priority,
      enqueuedAt: job.enqueuedAt,
      failedAt: update.now,
    };
    await this.run(SCRIPTS.dead, [memberOf(job), tokenOf(job), job.id, JSON.stringify(letter)]);
  }

  async extend(jobs: readonly ClaimedJob[], now: number, leaseMs: number): Promise<void> {
    if (jobs.length === 0) return;
    await this.run(SCRIPTS.extend, [
      String(now + leaseMs),
      ...jobs.flatMap((j) => [memberOf(j), tokenOf(j)]),
    ]);
  }

  async nextRunAt(now: number): Promise<number | undefined> {
    await this.init();
    const reply = (await this.client.sendCommand([
      'ZRANGEBYSCORE',
      this.keys[5]!,
      `(${now}`,
      '+inf',
      'WITHSCORES',
      'LIMIT',
      '0',
      '1',
    ])) as unknown[];
    // RESP2 answers [member, score]; RESP3 (node-redis 6's default) [[member, score]].
    const first = reply[0];
    const score = Array.isArray(first) ? first[1] : reply[1];
    return score === undefined ? undefined : Number(score);
  }

  async deadLetters(limit: number): Promise<DeadLetter[]> {
    await this.init();
    const flat = (await this.client.sendCommand(['HGETALL', this.keys[8]!])) as
      | string[]
      | Record<string, string>;
    const values = Array.isArray(flat) ? flat.filter((_, i) => i % 2 === 1) : Object.values(flat);
    const letters = values.map((s) => {
      const d = JSON.parse(s) as DeadLetter & { key: string | null };
      return { ...d, key: d.key ?? undefined, payload: d.payload ?? undefined };
    });
    letters.sort((a, b) => a.failedAt - b.failedAt || Number(a.id) - Number(b.id));
    return letters.slice(0, limit);
  }

  async requeue(id: string, now: number): Promise<boolean> {
    await this.init();
    const raw = (await this.client.sendCommand(['HGET', this.keys[8]!, id])) as string | null;
    if (raw === null) return false;
    const letter = JSON.parse(raw) as DeadLetter;
    const data: Data = { p: letter.payload ?? null, k: letter.key ?? null, e: letter.enqueuedAt, a: 0 };
    void now;
    const done = await this.run(SCRIPTS.requeue, [
      id,
      JSON.stringify(data),
      String(PRIORITY_RANK[letter.priority]),
      String(letter.enqueuedAt),
    ]);
    return Number(done) === 1;
  }

  async stats(now: number): Promise<StoreStats> {
    const [held, leased, dead, oldest] = (await this.run(SCRIPTS.stats, [String(now)])) as [
      number,
      number,
      number,
      string,
    ];
    return {
      waiting: Number(held) - Number(leased),
      leased: Number(leased),
      deadLetters: Number(dead),
      oldestEnqueuedAt: oldest === '' ? undefined : Number(oldest),
    };
  }

  /** The consumer group on each stream, made on first use (from id 0, so earlier entries count). */
  private init(): Promise<void> {
    this.ready ??= (async () => {
      for (const stream of this.keys.slice(0, 5)) {
        try {
          await this.client.sendCommand(['XGROUP', 'CREATE', stream, GROUP, '0', 'MKSTREAM']);
        } catch (error) {
          if (!String((error as { message?: unknown })?.message ?? error).includes('BUSYGROUP')) throw error;
        }
      }
    })().catch((error: unknown) => {
      this.ready = undefined; // try again on the next call
      throw error;
    });
    return this.ready;
  }

  /** Runs a script by EVALSHA, sending its source when the server does not know it yet. */
  private async run(s: Script, args: string[]): Promise<unknown> {
    await this.init();
    const tail = [String(this.keys.length), ...this.keys, ...args];
    try {
      return await this.client.sendCommand(['EVALSHA', s.sha, ...tail]);
    } catch (error) {
      if (!String((error as { message?: unknown })?.message ?? error).includes('NOSCRIPT')) throw error;
      return this.client.sendCommand(['EVAL', s.source, ...tail]);
    }
  }
}

function memberOf(job: ClaimedJob): string {
  return job.lease.slice(0, job.lease.lastIndexOf('#'));
}

function tokenOf(job: ClaimedJob): string {
  return job.lease.slice(job.lease.lastIndexOf('#') + 1);
}

function toClaimed(id: string, raw: string, priority: Priority, lease: string): ClaimedJob {
  try {
    const data = JSON.parse(raw) as Data;
    if (
      typeof data !== 'object' ||
      data === null ||
      typeof data.e !== 'number' ||
      typeof data.a !== 'number'
    ) {
      throw new SyntaxError(`stream entry of job ${id} is not a job: ${raw.slice(0, 80)}`);
    }
    return {
      id,
      payload: data.p,
      attempts: data.a,
      key: data.k ?? undefined,
      priority,
      enqueuedAt: data.e,
      lease,
    };
  } catch (error) {
    return {
      id,
      payload: undefined,
      error: error instanceof Error ? error : new SyntaxError(String(error)),
      attempts: 0,
      key: undefined,
      priority,
      enqueuedAt: 0,
      lease,
    };
  }
}

/**
 * A durable {@link QueueStore} on Redis Streams: one stream per priority read through a
 * consumer group, so several processes drain one queue; a job whose process died is taken
 * again (`XCLAIM`) once its lease ends. Leases are kept by the queue's clock in a sorted set
 * rather than Redis's idle time (`XAUTOCLAIM`'s measure), so that they follow the injected
 * clock as every store's do. Delayed and retried jobs wait in a sorted set and enter their
 * stream when due (behind the jobs already there). Every change is one Lua script, so it is
 * atomic. Payloads are kept as JSON; an entry that no longer parses is dead-lettered with
 * the parse error.
 *
 * Persistence is Redis's: with `appendonly yes` (`appendfsync everysec`) an acknowledged
 * enqueue survives a Redis crash but for the last second; without it, only what the last
 * snapshot holds.
 *
 * @example
 * ```ts
 * import { createClient } from 'redis';
 * import { redisStore } from 'breakwater/redis';
 *
 * const client = await createClient({ url: 'redis://127.0.0.1:6379' }).connect();
 * const queue = new DeferredQueue({ store: redisStore({ client, prefix: '{mail}' }), handler });
 * ```
 */
export function redisStore(options: RedisStoreOptions): RedisQueueStore {
  const o = v.object('redisStore options', options);
  v.knownKeys('redisStore', o, ['client', 'prefix']);
  const client = o.client as RedisQueueClient | undefined;
  if (
    typeof client !== 'object' ||
    client === null ||
    typeof v.readable('client', () => client.sendCommand) !== 'function'
  ) {
    throw new TypeError(`client must have sendCommand(args), got ${v.show(client)}`);
  }
  const prefix = o.prefix === undefined ? 'breakwater:queue' : v.string('prefix', o.prefix);
  return new RedisStore(client, prefix);
}
