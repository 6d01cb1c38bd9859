import type { RateLimitRule, RateLimitStore } from '../rate-limit/store.js';
import * as v from '../validate.js';
import { type RedisCommandClient, runScript, type Script, script } from './scripts.js';

/**
 * `now` (ms) from ARGV[1], or from the server's `TIME` when it is empty, as every caller
 * but the tests leaves it: one clock for every process sharing the buckets.
 */
const NOW = `
local now
if ARGV[1] ~= '' then now = tonumber(ARGV[1]) else
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
end
`;

/**
 * A token bucket as one number, its theoretical arrival time (the generic cell rate
 * algorithm, as the in-process bucket keeps it): a permit is free when
 * `max(tat, now) + T - burst * T <= now`, with `T = interval / limit`; taking it moves `tat`
 * on by `T`. The key expires when the bucket is full again. Answers are strings: Redis
 * would truncate a Lua number to an integer.
 * KEYS: tat. ARGV: now, interval, limit, burst.
 */
const TOKEN_BUCKET = `${NOW}
local spacing = tonumber(ARGV[2]) / tonumber(ARGV[3])
local burst = tonumber(ARGV[4])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local free = tat + spacing - burst * spacing
if free > now + 1e-6 then return tostring(free - now) end
redis.call('SET', KEYS[1], tostring(tat + spacing), 'PX', math.max(1, math.ceil(tat + spacing - now)))
return '0'
`;

/**
 * An exact sliding window: the admissions of the last `interval` ms in a sorted set (score:
 * time), at most `limit` of them; a permit is free when fewer than `limit` are younger than
 * `interval`. Members are made unique by a counter kept beside the set.
 * KEYS: log, counter. ARGV: now, interval, limit.
 */
const SLIDING_WINDOW = `${NOW}
local interval, limit = tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', tostring(now - interval))
if redis.call('ZCARD', KEYS[1]) >= limit then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return tostring(math.max(tonumber(oldest[2]) + interval - now, 1e-3))
end
local n = redis.call('INCR', KEYS[2])
redis.call('ZADD', KEYS[1], tostring(now), tostring(n))
local ttl = math.max(1, math.ceil(interval))
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('PEXPIRE', KEYS[2], ttl)
return '0'
`;

/** @internal The scripts of {@link redisRateLimitStore}, for tests. */
export const RATE_SCRIPTS = {
  tokenBucket: script('rate-token-bucket', TOKEN_BUCKET),
  slidingWindow: script('rate-sliding-window', SLIDING_WINDOW),
} as const;

/** Options of {@link redisRateLimitStore}. */
export interface RedisRateLimitStoreOptions {
  /** Sends the commands: a connected node-redis client (or any {@link RedisCommandClient}). */
  client: RedisCommandClient;
  /**
   * Prefix of every key: limiters share their buckets when their store's prefix, their
   * `name` and the call's key are the same.
   * @default 'breakwater'
   */
  prefix?: string;
  /**
   * ms a call waits on Redis before its limiter counts it on its own, in-process bucket
   * (a `storeError` event), so that a Redis outage does not stop the calls it limits.
   * @default 250
   */
  commandTimeout?: number;
}

/** @internal The keys of one bucket, in one Cluster slot (one hash tag). */
export function rateKeysOf(prefix: string, name: string, key: string): [string, string] {
  const base = `${prefix}:rate:{${name}:${key}}`;
  return [`${base}:b`, `${base}:n`];
}

/**
 * A {@link RateLimitStore} on Redis: every `rateLimit` given it, in any process, counts
 * against the same buckets, one atomic Lua script per call on the server's clock (`TIME`).
 * A token bucket is one key per bucket, which expires once the bucket is full again; a
 * sliding window is a sorted set of the last `interval`'s admissions. Nothing scans keys.
 *
 * @example
 * ```ts
 * import { createClient } from 'redis';
 * import { rateLimit } from 'breakwater';
 * import { redisRateLimitStore } from 'breakwater/redis';
 *
 * const client = await createClient({ url: process.env.REDIS_URL }).connect();
 * // 100 calls a second to the partner API, across every instance of the service.
 * const limiter = rateLimit({ name: 'partner', limit: 100, interval: 1_000, store: redisRateLimitStore({ client }) });
 * ```
 */
export function redisRateLimitStore(options: RedisRateLimitStoreOptions): RateLimitStore {
  const o = v.object('options', options);
  v.knownKeys('redisRateLimitStore', o, ['client', 'prefix', 'commandTimeout']);
  const client = o.client as RedisCommandClient;
  if (typeof client !== 'object' || client === null || typeof client.sendCommand !== 'function') {
    throw new TypeError(`client must have sendCommand(args), got ${v.show(client)}`);
  }
  const prefix = o.prefix === undefined ? 'breakwater' : v.string('prefix', o.prefix);
  const commandTimeout =
    o.commandTimeout === undefined ? 250 : v.milliseconds('commandTimeout', o.commandTimeout, 1, v.MAX_TIMER);
  return {
    commandTimeout,
    take: (name, key, rule) => takePermit(client, prefix, name, key, rule, ''),
  };
}

/** @internal Runs the rule's script; `now` is '' (the server's clock) except in tests. */
export async function takePermit(
  client: RedisCommandClient,
  prefix: string,
  name: string,
  key: string,
  rule: RateLimitRule,
  now: string,
): Promise<number> {
  const keys = rateKeysOf(prefix, name, key);
  const token = rule.strategy === 'token-bucket';
  const s: Script = token ? RATE_SCRIPTS.tokenBucket : RATE_SCRIPTS.slidingWindow;
  const args = [now, String(rule.interval), String(rule.limit)];
  if (token) args.push(String(rule.burst ?? rule.limit));
  const reply = await runScript(client, s, token ? keys.slice(0, 1) : keys, args);
  const wait = Number(reply);
  if (typeof reply !== 'string' || !(wait >= 0)) {
    throw new TypeError(`unexpected reply from a rate-limit script: ${JSON.stringify(reply)}`);
  }
  return wait;
}
