import { createHash } from 'node:crypto';
import type { CircuitState, TransitionReason } from '../circuit-breaker/state.js';
import type { ProbeGrant } from '../circuit-breaker/store.js';

/**
 * The Lua side of `redisCircuitStore`. Every script takes the same four keys of one circuit
 * (one Cluster slot through the hash tag `{name}`):
 * - `:s` hash: `state`, `gen`, `until` (ms, server time), `opens`, `reason`, `succ` (probe successes);
 * - `:w` hash: the window's counters (`run`; or `calls`, `fails`, `slows`, `head`; or per-bucket `c<i>`, `f<i>`, `s<i>`, `oldest`);
 * - `:r` string: a count window's ring, one byte per call (`0`-`3`, the outcome bits);
 * - `:p` string: the probe lease (its value is the prober's token, its TTL the lease).
 *
 * and the same first arguments: `now` (ms; empty for the server's `TIME`, which every
 * caller uses: only tests pass a time), the channel to publish changes on, the circuit's
 * name (the message), and the TTL (ms) kept on every key. Each answers
 * `{state, gen, retryAfter, opens, reason, granted}`. Nothing scans keys: every step reads
 * and writes only these four, and costs O(outcomes reported).
 */
const PRELUDE = `
local s, w, r, p = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local now
if ARGV[1] ~= '' then now = tonumber(ARGV[1]) else
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local channel, name, ttl = ARGV[2], ARGV[3], tonumber(ARGV[4])

local function current()
  local v = redis.call('HMGET', s, 'state', 'gen', 'until', 'opens', 'reason')
  return v[1] or 'closed', tonumber(v[2] or '0'), tonumber(v[3] or '0'), tonumber(v[4] or '0'), v[5] or ''
end

local function answer(granted)
  local st, gen, untl, opens, reason = current()
  local left = 0
  if st == 'open' then left = math.max(0, untl - now)
  elseif st == 'half-open' then left = math.max(0, redis.call('PTTL', p)) end
  return {st, gen, left, opens, reason, granted}
end

local function changed()
  redis.call('PUBLISH', channel, name)
end

local function move(to, reason, untl, opens)
  redis.call('HINCRBY', s, 'gen', 1)
  redis.call('HSET', s, 'state', to, 'reason', reason, 'until', untl, 'opens', opens, 'succ', 0)
  redis.call('PEXPIRE', s, ttl)
  redis.call('DEL', w, r, p)
  changed()
end
`;

/** ARGV[5..]: gen, outcomes, failureThreshold (0: off), failureRate (2: off), slowRate (2: off), minimumCalls, window type ('' | count | time), size or duration, buckets, openTimeout. */
const REPORT = `${PRELUDE}
local st, gen, _, opens = current()
if st ~= 'closed' or gen ~= tonumber(ARGV[5]) then return answer(0) end
local outcomes = ARGV[6]
local threshold, frate, srate, minimum = tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10])
local wtype, wsize, buckets, timeout = ARGV[11], tonumber(ARGV[12]), tonumber(ARGV[13]), tonumber(ARGV[14])
local n = #outcomes

-- bytes [from, to] of the ring, padded with NUL where it was never written (GETRANGE stops at its end)
local function range(from, to)
  local bytes = redis.call('GETRANGE', r, from, to)
  return bytes .. string.rep('\0', to - from + 1 - #bytes)
end

local function ring_read(from, len, size)
  local last = from + len - 1
  if last < size then return range(from, last) end
  return range(from, size - 1) .. range(0, last - size)
end

local function ring_write(from, bytes, size)
  local first = size - from
  if #bytes <= first then redis.call('SETRANGE', r, from, bytes); return end
  redis.call('SETRANGE', r, from, string.sub(bytes, 1, first))
  redis.call('SETRANGE', r, 0, string.sub(bytes, first + 1))
end
local run = tonumber(redis.call('HGET', w, 'run') or '0')
local calls, fails, slows, head = 0, 0, 0, 0
local old = ''
local bucket, oldest = 0, 0
if wtype ~= '' then
  local v = redis.call('HMGET', w, 'calls', 'fails', 'slows', 'head', 'oldest')
  calls, fails, slows, head = tonumber(v[1] or '0'), tonumber(v[2] or '0'), tonumber(v[3] or '0'), tonumber(v[4] or '0')
  if wtype == 'count' then
    -- the bytes the first min(n, size) outcomes overwrite, wrapping at the end of the ring
    old = ring_read(head, math.min(n, wsize), wsize)
  else
    -- time window: buckets of duration / buckets ms; drop the ones that fell out
    bucket = math.floor(now * buckets / wsize)
    oldest = tonumber(v[5] or tostring(bucket))
    if bucket - oldest >= 2 * buckets then
      redis.call('DEL', w)
      calls, fails, slows = 0, 0, 0
    else
      for i = oldest, bucket - buckets do
        local b = redis.call('HMGET', w, 'c' .. i, 'f' .. i, 's' .. i)
        calls = calls - tonumber(b[1] or '0'); fails = fails - tonumber(b[2] or '0'); slows = slows - tonumber(b[3] or '0')
        redis.call('HDEL', w, 'c' .. i, 'f' .. i, 's' .. i)
      end
    end
    oldest = math.max(oldest, bucket - buckets + 1)
  end
end
local tripped
local bc, bf, bs = 0, 0, 0
for i = 1, n do
  local o = string.byte(outcomes, i) - 48
  local failed, slow = o % 2, math.floor(o / 2)
  if failed == 1 then run = run + 1 else run = 0 end
  if wtype ~= '' then
    if wtype == 'count' then
      -- past one lap, an outcome evicts one of this batch
      local e = i > wsize and string.byte(outcomes, i - wsize) or string.byte(old, i)
      if e ~= nil and e >= 48 then
        e = e - 48
        calls = calls - 1; fails = fails - e % 2; slows = slows - math.floor(e / 2)
      end
    end
    calls = calls + 1; fails = fails + failed; slows = slows + slow
    bc = bc + 1; bf = bf + failed; bs = bs + slow
  end
  if threshold > 0 and run >= threshold then tripped = 'consecutive-failures'
  elseif wtype ~= '' and calls >= minimum and fails / calls >= frate then tripped = 'failure-rate'
  elseif wtype ~= '' and calls >= minimum and slows / calls >= srate then tripped = 'slow-call-rate' end
  if tripped then break end
end
if tripped then
  move('open', tripped, now + timeout, opens + 1)
  return answer(0)
end
redis.call('HSET', w, 'run', run)
if wtype == 'count' then
  local m = math.min(n, wsize)
  ring_write((head + n - m) % wsize, string.sub(outcomes, n - m + 1), wsize)
  redis.call('HSET', w, 'calls', calls, 'fails', fails, 'slows', slows, 'head', (head + n) % wsize)
  redis.call('PEXPIRE', r, ttl)
elseif wtype == 'time' then
  redis.call('HINCRBY', w, 'c' .. bucket, bc); redis.call('HINCRBY', w, 'f' .. bucket, bf); redis.call('HINCRBY', w, 's' .. bucket, bs)
  redis.call('HSET', w, 'calls', calls, 'fails', fails, 'slows', slows, 'oldest', oldest)
end
redis.call('PEXPIRE', w, ttl)
return answer(0)
`;

/** ARGV[5..]: gen (unused: any due caller may probe), token, leaseMs. */
const ACQUIRE = `${PRELUDE}
local st, gen, untl, opens = current()
if st == 'open' and now >= untl then
  move('half-open', 'open-timeout-elapsed', untl, opens)
  st = 'half-open'
end
if st == 'half-open' and redis.call('SET', p, ARGV[6], 'NX', 'PX', ARGV[7]) then
  redis.call('PEXPIRE', s, ttl)
  return answer(1)
end
return answer(0)
`;

/** ARGV[5..]: gen, token, result (success | failure | release), successThreshold, openTimeout. */
const SETTLE = `${PRELUDE}
local st, gen, _, opens = current()
if st ~= 'half-open' or gen ~= tonumber(ARGV[5]) or redis.call('GET', p) ~= ARGV[6] then return answer(0) end
local result = ARGV[7]
if result == 'failure' then
  move('open', 'probe-failed', now + tonumber(ARGV[9]), opens + 1)
elseif result == 'success' and redis.call('HINCRBY', s, 'succ', 1) >= tonumber(ARGV[8]) then
  move('closed', 'probes-succeeded', 0, 0)
else
  redis.call('DEL', p)
  changed()
end
return answer(0)
`;

/** ARGV[5]: closed | isolated | disabled. */
const FORCE = `${PRELUDE}
local st, gen, _, opens = current()
local to = ARGV[5]
if to == 'closed' then move('closed', 'reset', 0, 0) else move(to, to, 0, opens) end
return answer(0)
`;

const READ = `${PRELUDE}
return answer(0)
`;

/** A Lua script with its SHA1, for EVALSHA. */
export interface Script {
  readonly name: string;
  readonly source: string;
  readonly sha: string;
}

/** @internal A script and its SHA1. */
export function script(name: string, source: string): Script {
  return { name, source, sha: createHash('sha1').update(source).digest('hex') };
}

export const SCRIPTS = {
  report: script('report', REPORT),
  acquire: script('acquire', ACQUIRE),
  settle: script('settle', SETTLE),
  force: script('force', FORCE),
  read: script('read', READ),
} as const;

/**
 * The one thing `redisCircuitStore` asks of a Redis client: send a command as an array of
 * strings and answer its reply (node-redis: `client.sendCommand`; ioredis:
 * `(args) => redis.call(args[0], ...args.slice(1))`).
 */
export interface RedisCommandClient {
  /** Sends one command, e.g. `['EVALSHA', sha, '4', ...keys, ...args]`, and answers its reply. */
  sendCommand(args: string[]): Promise<unknown>;
}

/** Runs `script` by EVALSHA, loading it with EVAL when the server does not know it (NOSCRIPT). */
export async function runScript(
  client: RedisCommandClient,
  s: Script,
  keys: readonly string[],
  args: readonly string[],
): Promise<unknown> {
  const tail = [String(keys.length), ...keys, ...args];
  try {
    return await client.sendCommand(['EVALSHA', s.sha, ...tail]);
  } catch (error) {
    if (!String((error as { message?: unknown })?.message ?? error).includes('NOSCRIPT')) throw error;
    return client.sendCommand(['EVAL', s.source, ...tail]);
  }
}

/** The four keys of circuit `name` under `prefix`. */
export function keysOf(prefix: string, name: string): string[] {
  const base = `${prefix}:{${name}}`;
  return [`${base}:s`, `${base}:w`, `${base}:r`, `${base}:p`];
}

const STATES = new Set<string>(['closed', 'open', 'half-open', 'isolated', 'disabled']);

/** Reads a script's answer `{state, gen, retryAfter, opens, reason, granted}`. */
export function parseAnswer(reply: unknown): ProbeGrant {
  if (!Array.isArray(reply) || reply.length !== 6) {
    throw new TypeError(`unexpected reply from a circuit script: ${JSON.stringify(reply)}`);
  }
  const [state, gen, retryAfter, opens, reason, granted] = reply.map(String);
  if (!STATES.has(state!)) throw new TypeError(`unexpected circuit state from Redis: ${state}`);
  return {
    state: state as CircuitState,
    gen: Number(gen),
    retryAfter: Number(retryAfter),
    opens: Number(opens),
    reason: reason === '' ? undefined : (reason as TransitionReason),
    granted: granted === '1',
  };
}
