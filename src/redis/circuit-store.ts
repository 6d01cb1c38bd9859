import type {
  CircuitStore,
  ProbeGrant,
  ProbeResult,
  SharedConfig,
  SharedState,
  StoreTiming,
} from '../circuit-breaker/store.js';
import { warn } from '../emitter.js';
import * as v from '../validate.js';
import { keysOf, parseAnswer, type RedisCommandClient, runScript, SCRIPTS, type Script } from './scripts.js';

/**
 * A connection in subscriber mode, for change notifications. With node-redis it is a second
 * connection: `const subscriber = client.duplicate(); await subscriber.connect()` (a
 * connection that subscribes can send no other command). ioredis: wrap `redis.subscribe` and
 * `redis.on('message')` in these two methods.
 */
export interface RedisSubscriber {
  /** Subscribes to `channel`, calling `listener` with each message (may answer a promise). */
  subscribe(channel: string, listener: (message: string, channel: string) => void): unknown;
  /** Stops calling `listener` for `channel` (may answer a promise). */
  unsubscribe(channel: string, listener?: (message: string, channel: string) => void): unknown;
}

/** Options of {@link redisCircuitStore}. */
export interface RedisCircuitStoreOptions {
  /** Sends the commands: a connected node-redis client (or any {@link RedisCommandClient}). */
  client: RedisCommandClient;
  /**
   * A second connection for pub/sub, so that a transition reaches every process within a
   * round trip. Without it, transitions arrive by the periodic read (`syncInterval`).
   * @default undefined
   */
  subscriber?: RedisSubscriber;
  /**
   * Prefix of every key and of the channel: breakers share a circuit when their store's
   * prefix and their `name` are the same.
   * @default 'breakwater'
   */
  prefix?: string;
  /**
   * ms between reads of the shared state while a breaker is in use (and between tries
   * while Redis is down). Bounds how stale a breaker's view can be when a notification is lost.
   * @default 1_000
   */
  syncInterval?: number;
  /**
   * ms between flushes of the outcomes a breaker counted; the timer exists only while there
   * are outcomes to flush.
   * @default 100
   */
  flushInterval?: number;
  /**
   * Outcomes that trigger a flush before `flushInterval`.
   * @default 1_000
   */
  flushSize?: number;
  /**
   * ms a breaker waits on any one Redis command before going on alone (`storeError`).
   * @default 250
   */
  commandTimeout?: number;
  /**
   * ms a probe lease lasts when the breaker's `halfOpenTimeout` is `Infinity`: a prober that
   * dies holds the circuit half-open this long, then another process may probe.
   * @default 30_000
   */
  probeLease?: number;
  /**
   * ms every key lives after its last write, so circuits no longer used leave nothing behind.
   * Must exceed the longest open timeout.
   * @default 86_400_000 (a day)
   */
  keyTtl?: number;
}

const KEYS = [
  'client',
  'subscriber',
  'prefix',
  'syncInterval',
  'flushInterval',
  'flushSize',
  'commandTimeout',
  'probeLease',
  'keyTtl',
];

/**
 * A {@link CircuitStore} on Redis: every breaker given it, in any process, shares the
 * circuit of its `name` (see the `store` option of `CircuitBreaker`).
 *
 * - Outcomes reach Redis in batches (every `flushInterval`, or `flushSize` outcomes, or at
 *   once when the breaker's own counts would trip), never on the call path; atomic Lua
 *   scripts keep the consecutive count or the rate window and open the circuit for all.
 * - Transitions are published on `<prefix>:changed`; each breaker in use also reads the
 *   state every `syncInterval`. A transition is seen by every process in use within
 *   `syncInterval` (plus a round trip) even when a notification is lost, and outcomes
 *   count within `flushInterval`: the staleness bound is `flushInterval + syncInterval`.
 * - While open, one probe runs cluster-wide: a `SET NX PX` lease, fenced by a generation.
 * - Every command is bounded by `commandTimeout`; when Redis fails or hangs, breakers go
 *   on locally and resynchronize when it answers. Time comes from Redis (`TIME`).
 *
 * @example
 * ```ts
 * import { createClient } from 'redis';
 * import { CircuitBreaker } from 'breakwater';
 * import { redisCircuitStore } from 'breakwater/redis';
 *
 * const client = await createClient({ url: process.env.REDIS_URL }).connect();
 * const subscriber = await client.duplicate().connect();
 * const store = redisCircuitStore({ client, subscriber, prefix: 'shop' });
 * const breaker = new CircuitBreaker({ name: 'payments', failureThreshold: 5, store });
 * ```
 */
export function redisCircuitStore(options: RedisCircuitStoreOptions): CircuitStore {
  const o = v.object('options', options);
  v.knownKeys('redisCircuitStore', o, KEYS);
  const client = o.client as RedisCommandClient;
  if (typeof client !== 'object' || client === null || typeof client.sendCommand !== 'function') {
    throw new TypeError(`client must have sendCommand(args), got ${v.show(client)}`);
  }
  const subscriber = o.subscriber as RedisSubscriber | undefined;
  if (
    subscriber !== undefined &&
    (typeof subscriber !== 'object' ||
      subscriber === null ||
      typeof subscriber.subscribe !== 'function' ||
      typeof subscriber.unsubscribe !== 'function')
  ) {
    throw new TypeError(`subscriber must have subscribe() and unsubscribe(), got ${v.show(subscriber)}`);
  }
  const prefix = o.prefix === undefined ? 'breakwater' : v.string('prefix', o.prefix);
  const timing: StoreTiming = {
    syncInterval: ms('syncInterval', o.syncInterval, 1_000),
    flushInterval: ms('flushInterval', o.flushInterval, 100),
    flushSize: o.flushSize === undefined ? 1_000 : v.integer('flushSize', o.flushSize, 1, 1_000_000),
    commandTimeout: ms('commandTimeout', o.commandTimeout, 250),
    probeLease: ms('probeLease', o.probeLease, 30_000),
  };
  const ttl = String(ms('keyTtl', o.keyTtl, 86_400_000));
  const channel = `${prefix}:changed`;
  const watchers = new Map<string, Set<() => void>>();

  const run = async (s: Script, name: string, args: readonly string[]): Promise<ProbeGrant> =>
    parseAnswer(await runScript(client, s, keysOf(prefix, name), ['', channel, name, ttl, ...args]));

  const onMessage = (message: string): void => {
    const set = watchers.get(message);
    if (set !== undefined) for (const changed of set) changed();
  };

  return {
    timing,
    read: (name) => run(SCRIPTS.read, name, []),
    report: (name, gen, outcomes, config, openTimeout) =>
      run(SCRIPTS.report, name, [String(gen), outcomes, ...configArgs(config), String(openTimeout)]),
    acquireProbe: (name, gen, token, leaseMs) =>
      run(SCRIPTS.acquire, name, [String(gen), token, String(Math.max(1, Math.round(leaseMs)))]),
    settleProbe: (
      name: string,
      gen: number,
      token: string,
      result: ProbeResult,
      config: SharedConfig,
      openTimeout: number,
    ): Promise<SharedState> =>
      run(SCRIPTS.settle, name, [
        String(gen),
        token,
        result,
        String(config.successThreshold),
        String(openTimeout),
      ]),
    force: (name, to) => run(SCRIPTS.force, name, [to]),
    watch:
      subscriber === undefined
        ? undefined
        : (name, changed) => {
            if (watchers.size === 0) subscribe(subscriber, channel, onMessage);
            let set = watchers.get(name);
            if (set === undefined) {
              set = new Set();
              watchers.set(name, set);
            }
            set.add(changed);
            return () => {
              set.delete(changed);
              if (set.size === 0) watchers.delete(name);
              if (watchers.size === 0) unsubscribe(subscriber, channel, onMessage);
            };
          },
  };
}

/** The thresholds as the report script reads them: 0 and 2 switch a threshold off. */
function configArgs(c: SharedConfig): string[] {
  const w = c.window;
  return [
    String(c.failureThreshold ?? 0),
    String(c.failureRateThreshold ?? 2),
    String(c.slowCallRateThreshold ?? 2),
    String(c.minimumCalls),
    w === undefined ? '' : w.type,
    w === undefined ? '0' : String(w.type === 'count' ? w.size : w.duration),
    w?.type === 'time' ? String(w.buckets ?? 10) : '0',
  ];
}

function ms(name: string, value: unknown, fallback: number): number {
  return value === undefined ? fallback : v.milliseconds(name, value, 1, v.MAX_TIMER);
}

/** A lost subscription only slows notifications to the periodic read: reported, never thrown. */
function subscribe(subscriber: RedisSubscriber, channel: string, listener: (m: string) => void): void {
  Promise.resolve()
    .then(() => subscriber.subscribe(channel, listener))
    .catch((error: unknown) =>
      warn(new Error(`redisCircuitStore: SUBSCRIBE ${channel} failed`, { cause: error })),
    );
}

function unsubscribe(subscriber: RedisSubscriber, channel: string, listener: (m: string) => void): void {
  Promise.resolve()
    .then(() => subscriber.unsubscribe(channel, listener))
    .catch(() => {}); // nothing to do: the messages it would stop are ignored anyway
}
