import { type Clock, systemClock, type TimerHandle } from '../clock.js';
import { delay } from '../delay.js';
import { Emitter } from '../emitter.js';
import { RateLimitedError, withoutStack } from '../errors.js';
import {
  ADOPT_DEFAULTS,
  type AdoptsDefaults,
  type Context,
  callThrough,
  type ExecuteContext,
  type ExecuteOptions,
  notAFunction,
  type Operation,
  type Policy,
  type PolicyDefaults,
  tryContextOf,
} from '../policy.js';
import * as v from '../validate.js';
import { EPSILON, type Meter, SlidingLog, TokenBucket } from './meter.js';
import type { RateLimitRule, RateLimitStore } from './store.js';

/**
 * - `token-bucket`: `burst` calls may pass at once after a quiet spell, then `limit` per
 *   `interval` on average; any `interval` ms admit at most `limit + burst`. 8 bytes per bucket.
 * - `sliding-window`: at most `limit` calls in any `interval` ms, exactly (a log of the last
 *   `limit` admission times: `8 * limit` bytes per bucket). No `burst`.
 */
export type RateLimitStrategy = 'token-bucket' | 'sliding-window';

/** Options of {@link rateLimit}. */
export interface RateLimitOptions {
  /** Calls allowed per `interval`: an integer >= 1 (at most 1,000,000 for `sliding-window`). */
  limit: number;
  /** The period (ms) that `limit` is counted over: a number in [1, 2^31 - 1]. */
  interval: number;
  /**
   * `token-bucket` only: calls that may pass back to back after a quiet spell (the bucket's
   * size), an integer >= 1. `1` spaces calls evenly, `interval / limit` ms apart.
   * @default limit
   */
  burst?: number;
  /** How permits are counted (see {@link RateLimitStrategy}). @default 'token-bucket' */
  strategy?: RateLimitStrategy;
  /**
   * How long (ms) a call may wait for a permit, in arrival order; a call whose wait would be
   * longer is rejected at once with a {@link RateLimitedError}. `Infinity` queues every call.
   * @default 0 (never wait)
   */
  maxWait?: number;
  /**
   * Gives each key (a tenant, a user) a bucket of its own. Calls for which it answers
   * `undefined` share one bucket. Without it, every call shares one bucket.
   * @default none (one bucket)
   * @example
   * ```ts
   * key: (ctx) => ctx.key?.split(':')[0] // 'tenant-7:orders' -> 'tenant-7'
   * ```
   */
  key?: (context: ExecuteContext) => string | undefined;
  /**
   * With `key`: buckets kept at most. A new key past it takes the place of the least recently
   * used bucket that has no call waiting (see {@link RateLimitPolicy}).
   * @default 10_000
   */
  maxKeys?: number;
  /**
   * Counts permits in a store shared by several processes (`redisRateLimitStore` from
   * `breakwater/redis`), so that `limit` holds across all of them for each `name` and key.
   * Each call then costs one round trip to the store; calls wait for a permit by polling it
   * (the store answers when one would be free), not in a queue, so there is no order among
   * waiters of different processes. When the store fails or answers later than its
   * `commandTimeout`, calls are counted on this process's own buckets for a second (a
   * `storeError` event); then one call asks the store whether it is back while the others
   * stay local, so a store that hangs delays one call a second, not all of them.
   * @default none (this process's own buckets)
   */
  store?: RateLimitStore;
  /** Names the policy in metrics, and its buckets in a shared `store`. @default 'rate-limit' */
  name?: string;
  /** Times permits and waits. @default systemClock, or the pipeline's clock */
  clock?: Clock;
}

/** Payload of the {@link RateLimitEvents.rejected | rejected} event. */
export interface RateLimitRejectedEvent {
  /** The bucket's key; `undefined` for an unkeyed limiter (or a call given no key). */
  readonly key: string | undefined;
  /** ms until a permit would be free for this call: the error's `retryAfter`. */
  readonly retryAfter: number;
}

/** Payload of the {@link RateLimitEvents.delayed | delayed} event. */
export interface RateLimitDelayedEvent {
  /** The bucket's key; `undefined` for an unkeyed limiter (or a call given no key). */
  readonly key: string | undefined;
  /** ms the call is expected to wait (it may be less if a call ahead of it aborts). */
  readonly wait: number;
}

/** Payload of the {@link RateLimitEvents.storeError | storeError} event. */
export interface RateLimitStoreErrorEvent {
  /** What the store threw, or an Error saying it did not answer within its `commandTimeout`. */
  readonly error: unknown;
  /** ms during which calls are counted locally before the store is asked again. */
  readonly localFor: number;
}

/** The events of a {@link RateLimitPolicy}, each with one payload object. */
export interface RateLimitEvents {
  /** The shared store failed or did not answer within its `commandTimeout`: calls are counted locally for a while. */
  storeError: [RateLimitStoreErrorEvent];
  /** A call found no permit within `maxWait` and is rejected with a {@link RateLimitedError}. */
  rejected: [RateLimitRejectedEvent];
  /** A call found no permit free and joined its bucket's queue to wait for one. */
  delayed: [RateLimitDelayedEvent];
}

/** A call waiting for a permit: a node of its bucket's queue, so leaving from anywhere is O(1). */
class Waiter {
  prev: Waiter | undefined = undefined;
  next: Waiter | undefined = undefined;
  unfollow: (() => void) | undefined = undefined;

  constructor(
    readonly policy: RateLimitPolicy,
    readonly bucket: Bucket,
    readonly resolve: () => void,
    readonly reject: (error: unknown) => void,
  ) {}

  readonly onAbort = (reason: unknown): void => {
    this.policy.leave(this);
    this.reject(reason);
  };
}

/** One key's permits and the calls waiting for them, first come first served. */
class Bucket {
  head: Waiter | undefined = undefined;
  tail: Waiter | undefined = undefined;
  waiting = 0;
  timer: TimerHandle | undefined = undefined;

  constructor(
    readonly key: string | undefined,
    readonly meter: Meter,
  ) {}
}

const KEYS = [
  'limit',
  'interval',
  'burst',
  'strategy',
  'maxWait',
  'key',
  'maxKeys',
  'store',
  'name',
  'clock',
];

/** ms during which a limiter whose store failed counts its calls locally before asking the store again. */
const LOCAL_AFTER_STORE_ERROR = 1_000;

/** The most permits a sliding window logs per bucket (8 bytes each). */
const MAX_LOG = 1_000_000;

/**
 * Limits how often calls start. See {@link rateLimit}.
 *
 * Time is read when a call arrives; an idle limiter holds no timer. While calls wait, a
 * bucket holds one timer, for the head of its queue, cleared when its queue empties.
 *
 * **Keys and memory.** With `key`, buckets live in a map in least-recently-used order. Each
 * call drops the least recently used bucket if it is at rest (full again, nobody waiting),
 * so the map shrinks back when traffic stops. A new key arriving with `maxKeys` buckets held
 * takes the place of the least recently used bucket that has no call waiting, even one not
 * yet at rest: that key then starts afresh and may pass up to `burst` calls early. Size
 * `maxKeys` above the keys active within one `interval`. When every bucket has a waiter, a
 * new key is rejected (`retryAfter` one permit's spacing).
 *
 * **A limit shared by several processes** takes a `store` (`redisRateLimitStore`): each call
 * takes its permit there, in one atomic step on the store's clock, so every process counts
 * against the same buckets (keyed by `name` and the call's key). Waits poll the store rather
 * than queue, and a store that fails sends calls to the local buckets for a second at a time.
 */
export class RateLimitPolicy extends Emitter<RateLimitEvents> implements Policy, AdoptsDefaults {
  /** Names the policy in metrics. */
  readonly name: string;
  /** Calls allowed per `interval`. */
  readonly limit: number;
  /** The period (ms) `limit` is counted over. */
  readonly interval: number;
  /** The token bucket's size; `undefined` for `sliding-window`. */
  readonly burst: number | undefined;
  /** How permits are counted. */
  readonly strategy: RateLimitStrategy;
  /** The longest wait (ms) for a permit; 0 never waits, `Infinity` always does. */
  readonly maxWait: number;
  /** Buckets kept at most (1 when unkeyed). */
  readonly maxKeys: number;
  private readonly keyOf: ((context: ExecuteContext) => string | undefined) | undefined;
  private clock: Clock | undefined;
  /** The bucket of an unkeyed limiter, and of the calls a keyed one finds no key for. */
  private readonly shared: Bucket;
  /** Keyed buckets, least recently used first. */
  private readonly buckets = new Map<string, Bucket>();
  private newest: Bucket | undefined = undefined;
  private waitingTotal = 0;
  private readonly store: RateLimitStore | undefined;
  private readonly rule: RateLimitRule;
  /** Until when (clock ms) calls are counted locally because the store failed. */
  private localUntil = Number.NEGATIVE_INFINITY;
  /** Whether one call is asking a store that failed whether it is back: the others stay local meanwhile. */
  private checking = false;

  constructor(options: RateLimitOptions) {
    super();
    const o = v.object('rateLimit options', options);
    v.knownKeys('rateLimit', o, KEYS);
    const strategy = o.strategy === undefined ? 'token-bucket' : o.strategy;
    if (strategy !== 'token-bucket' && strategy !== 'sliding-window') {
      throw new TypeError(`strategy must be "token-bucket" or "sliding-window", got ${v.show(strategy)}`);
    }
    this.strategy = strategy;
    this.limit = v.integer('limit', o.limit, 1, strategy === 'sliding-window' ? MAX_LOG : undefined);
    this.interval = v.milliseconds('interval', o.interval, 1, v.MAX_TIMER);
    if (strategy === 'sliding-window' && o.burst !== undefined) {
      throw new TypeError(
        `burst applies to strategy "token-bucket" only, got burst ${v.show(o.burst)} with "sliding-window"`,
      );
    }
    this.burst =
      strategy === 'sliding-window'
        ? undefined
        : o.burst === undefined
          ? this.limit
          : v.integer('burst', o.burst, 1);
    this.maxWait = o.maxWait === undefined ? 0 : v.msOrUnlimited('maxWait', o.maxWait);
    this.keyOf = o.key === undefined ? undefined : v.func('key', o.key);
    if (o.maxKeys !== undefined && this.keyOf === undefined) {
      throw new TypeError(
        `maxKeys applies with a key function only, got maxKeys ${v.show(o.maxKeys)} and no key`,
      );
    }
    this.maxKeys =
      this.keyOf === undefined ? 1 : o.maxKeys === undefined ? 10_000 : v.integer('maxKeys', o.maxKeys, 1);
    this.name = o.name === undefined ? 'rate-limit' : v.string('name', o.name);
    this.clock = o.clock === undefined ? undefined : v.clock('clock', o.clock);
    this.store = o.store === undefined ? undefined : storeOf(o.store);
    this.rule = { limit: this.limit, interval: this.interval, burst: this.burst, strategy };
    this.shared = new Bucket(undefined, this.meter());
  }

  /** What this policy is, for adapters that walk a pipeline. */
  get kind(): 'rate-limit' {
    return 'rate-limit';
  }

  /** @internal */
  [ADOPT_DEFAULTS](defaults: PolicyDefaults): void {
    this.clock ??= defaults.clock;
  }

  /** Calls waiting for a permit, in every bucket. */
  get queued(): number {
    return this.waitingTotal;
  }

  /** Keyed buckets held now (the shared bucket of calls without a key is not counted). */
  get keys(): number {
    return this.buckets.size;
  }

  /**
   * Permits a call for `key` could take right now, back to back (calls already waiting come
   * first, so none while any wait). A key with no bucket has a fresh one's. With a `store`,
   * this process's own buckets only: those that count calls while the store is failing.
   */
  available(key?: string): number {
    const bucket = key === undefined || this.keyOf === undefined ? this.shared : this.buckets.get(key);
    if (bucket === undefined) return this.burst ?? this.limit;
    if (bucket.head !== undefined) return 0;
    return bucket.meter.available((this.clock ?? systemClock).now());
  }

  /**
   * Runs `fn` once a permit is free: at once, or after waiting in its bucket's queue for at
   * most `maxWait`. The result or error of `fn` passes through unchanged.
   *
   * @throws {@link RateLimitedError} without calling `fn` when no permit would be free within
   * `maxWait` (`retryAfter` says when one would be, `key` names the bucket).
   * @throws the caller's `signal.reason` without calling `fn` when the signal aborts before
   * the call starts, waiting or not; a waiter that leaves delays nobody behind it.
   * @throws whatever the `key` function throws, or a TypeError if it answers something other
   * than a string or `undefined`.
   */
  execute<T>(fn: Operation<T>, options?: ExecuteOptions): Promise<T> {
    if (typeof fn !== 'function') return Promise.reject(notAFunction(fn));
    const context = tryContextOf(options);
    if (context instanceof TypeError) return Promise.reject(context);
    // A context nothing can abort is not aborted: its signal's getter is not worth reading.
    if (context.abortable && context.aborted) return Promise.reject(context.signal.reason);
    const now = (this.clock ?? systemClock).now();
    if (this.store !== undefined && now >= this.localUntil && !this.checking) {
      // After a failure, one call finds out whether the store is back, so that a store that
      // hangs costs one call its commandTimeout, not every call meanwhile.
      if (this.localUntil !== Number.NEGATIVE_INFINITY) this.checking = true;
      let key: unknown;
      try {
        key = this.keyOf === undefined ? undefined : this.keyOf(context);
        if (key !== undefined && typeof key !== 'string') {
          throw new TypeError(`rateLimit: key must answer a string or undefined, got ${v.show(key)}`);
        }
      } catch (error) {
        return Promise.reject(error);
      }
      return this.viaStore(this.store, fn, context, key as string | undefined, now);
    }
    let bucket = this.shared;
    if (this.keyOf !== undefined) {
      let found: Bucket | RateLimitedError;
      try {
        found = this.bucketFor(this.keyOf(context), now);
      } catch (error) {
        return Promise.reject(error);
      }
      if (!(found instanceof Bucket)) return Promise.reject(found);
      bucket = found;
    }
    if (bucket.head === undefined && bucket.meter.tryTake(now)) return callThrough(fn, context);
    return this.waitFor(bucket, fn, context, now);
  }

  /**
   * A call through the shared store: a permit now, or the wait the store answers while it
   * fits in `maxWait` (asked again after it, since other processes take permits too), else a
   * rejection. A store that fails sends this call, and the next second's, to the local buckets.
   */
  private async viaStore<T>(
    store: RateLimitStore,
    fn: Operation<T>,
    context: Context,
    key: string | undefined,
    start: number,
  ): Promise<T> {
    const clock = this.clock ?? systemClock;
    for (;;) {
      let wait: number;
      try {
        wait = await this.ask(store, clock, key);
        this.checking = false;
        this.localUntil = Number.NEGATIVE_INFINITY;
      } catch (error) {
        const now = clock.now();
        this.checking = false;
        this.localUntil = now + LOCAL_AFTER_STORE_ERROR;
        if (this.listenerCount('storeError') !== 0)
          this.emit('storeError', { error, localFor: LOCAL_AFTER_STORE_ERROR });
        if (context.aborted) throw context.signal.reason;
        return this.execute(fn, context);
      }
      if (context.aborted) throw context.signal.reason; // it may hold a permit now: spent, as a call that aborts at once spends it
      if (wait <= 0) return fn(context);
      const waited = clock.now() - start;
      if (waited + wait > this.maxWait + EPSILON) throw this.rejection(key, wait);
      if (this.listenerCount('delayed') !== 0) this.emit('delayed', { key, wait });
      await delay(clock, wait, context);
    }
  }

  /** One `take` from the store, bounded by its `commandTimeout`. */
  private ask(store: RateLimitStore, clock: Clock, key: string | undefined): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      const timer = clock.setTimeout(
        () => reject(new Error(`rate-limit store did not answer within ${store.commandTimeout} ms`)),
        store.commandTimeout,
      );
      let taking: Promise<number>;
      try {
        taking = Promise.resolve(store.take(this.name, key ?? '', this.rule));
      } catch (error) {
        taking = Promise.reject(error);
      }
      taking.then(
        (wait) => {
          timer.clear();
          if (typeof wait === 'number' && wait >= 0) resolve(wait);
          else reject(new TypeError(`rate-limit store answered ${v.show(wait)}, not a wait in ms`));
        },
        (error: unknown) => {
          timer.clear();
          reject(error);
        },
      );
    });
  }

  /** The slow path: queue for a permit if it comes within `maxWait`, else reject. */
  private async waitFor<T>(bucket: Bucket, fn: Operation<T>, context: Context, now: number): Promise<T> {
    const wait = bucket.meter.nextFree(now, bucket.waiting) - now;
    if (wait > this.maxWait + EPSILON) throw this.rejection(bucket.key, wait);
    if (this.listenerCount('delayed') !== 0) this.emit('delayed', { key: bucket.key, wait });
    await this.enqueue(bucket, context, now);
    // The permit was taken for it, but the caller may have aborted before this resumed.
    if (context.aborted) throw context.signal.reason;
    return fn(context);
  }

  private enqueue(bucket: Bucket, context: Context, now: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const waiter = new Waiter(this, bucket, resolve, reject);
      if (bucket.tail === undefined) bucket.head = waiter;
      else {
        bucket.tail.next = waiter;
        waiter.prev = bucket.tail;
      }
      bucket.tail = waiter;
      bucket.waiting++;
      this.waitingTotal++;
      if (context.abortable) waiter.unfollow = context.onAbort(waiter.onAbort);
      if (bucket.timer === undefined) this.arm(bucket, now);
    });
  }

  private arm(bucket: Bucket, now: number): void {
    const clock = this.clock ?? systemClock;
    bucket.timer = clock.setTimeout(() => this.drain(bucket), bucket.meter.nextFree(now, 0) - now);
  }

  /** Hands the permits now free to the waiters at the head of `bucket`'s queue, then re-arms for the next. */
  private drain(bucket: Bucket): void {
    bucket.timer = undefined;
    const now = (this.clock ?? systemClock).now();
    for (let head = bucket.head; head !== undefined; head = bucket.head) {
      if (bucket.meter.nextFree(now, 0) > now + EPSILON) {
        this.arm(bucket, now);
        return;
      }
      bucket.meter.take(now);
      this.leave(head);
      head.resolve();
    }
  }

  /** @internal Unlinks a waiter and drops its listener; the bucket's timer goes with its last waiter. */
  leave(waiter: Waiter): void {
    const bucket = waiter.bucket;
    if (waiter.prev === undefined) bucket.head = waiter.next;
    else waiter.prev.next = waiter.next;
    if (waiter.next === undefined) bucket.tail = waiter.prev;
    else waiter.next.prev = waiter.prev;
    waiter.prev = waiter.next = undefined;
    bucket.waiting--;
    this.waitingTotal--;
    waiter.unfollow?.();
    if (bucket.head === undefined && bucket.timer !== undefined) {
      bucket.timer.clear();
      bucket.timer = undefined;
    }
  }

  /**
   * The bucket of `key`, made most recently used; the least recently used one is dropped if
   * it is at rest. A RateLimitedError when a new key finds every place taken by waiters.
   */
  private bucketFor(key: unknown, now: number): Bucket | RateLimitedError {
    if (key === undefined) return this.shared;
    if (typeof key !== 'string') {
      throw new TypeError(`rateLimit: key must answer a string or undefined, got ${v.show(key)}`);
    }
    const buckets = this.buckets;
    let bucket = buckets.get(key);
    // A key called again and again is already the most recent: no reordering (V8 shrinks and
    // regrows a Map that a delete leaves empty, microseconds a call).
    if (bucket === undefined || bucket !== this.newest) {
      if (bucket !== undefined) buckets.delete(key);
      else {
        if (buckets.size >= this.maxKeys && !this.evictOne()) {
          return this.rejection(key, this.interval / this.limit);
        }
        bucket = new Bucket(key, this.meter());
      }
      buckets.set(key, bucket);
      this.newest = bucket;
    }
    if (buckets.size > 1) {
      const lru = buckets.values().next().value as Bucket;
      if (lru !== bucket && lru.head === undefined && lru.meter.atRest(now)) buckets.delete(lru.key!);
    }
    return bucket;
  }

  /** Drops the least recently used bucket that has nobody waiting; false if every bucket has. */
  private evictOne(): boolean {
    for (const [key, bucket] of this.buckets) {
      if (bucket.head === undefined) {
        this.buckets.delete(key);
        if (bucket === this.newest) this.newest = undefined;
        return true;
      }
    }
    return false;
  }

  private meter(): Meter {
    return this.strategy === 'token-bucket'
      ? new TokenBucket(this.limit, this.interval, this.burst!)
      : new SlidingLog(this.limit, this.interval);
  }

  private rejection(key: string | undefined, wait: number): RateLimitedError {
    // Whole ms, rounded up, so that a retry after `retryAfter` finds the permit free.
    const retryAfter = Math.max(1, Math.ceil(wait - EPSILON));
    if (this.listenerCount('rejected') !== 0) this.emit('rejected', { key, retryAfter });
    // Rejections are the hot path under overload: no stack trace (see withoutStack).
    return withoutStack(() => new RateLimitedError(retryAfter, key));
  }
}

/**
 * Limits how often calls start: `limit` per `interval`, by token bucket (bursts up to
 * `burst`) or exact sliding window, for the whole policy or per key (a tenant). A call that
 * finds no permit waits for one, first come first served, if it would come within `maxWait`;
 * otherwise it is rejected at once with a {@link RateLimitedError} whose `retryAfter` a
 * `retry` around this policy waits out. A waiting call whose signal aborts leaves the queue.
 *
 * @example
 * ```ts
 * // 100 calls a second to the partner API, bursts of 20, waiting up to 250 ms for a permit.
 * const limiter = rateLimit({ limit: 100, interval: 1_000, burst: 20, maxWait: 250 });
 * const quote = await limiter.execute(({ signal }) => partner.quote(id, { signal }));
 *
 * // Per tenant: 10 calls a second each, at most 5,000 tenants remembered.
 * const perTenant = rateLimit({ limit: 10, interval: 1_000, key: (ctx) => ctx.key, maxKeys: 5_000 });
 * await perTenant.execute(fn, { key: tenantId });
 * ```
 */
export function rateLimit(options: RateLimitOptions): RateLimitPolicy {
  return new RateLimitPolicy(options);
}

/** The `store` option: anything with `take` and a `commandTimeout`. */
function storeOf(value: unknown): RateLimitStore {
  const store = value as RateLimitStore;
  if (
    typeof store !== 'object' ||
    store === null ||
    typeof v.readable('store.take', () => store.take) !== 'function'
  ) {
    throw new TypeError(`store must have take(name, key, rule), got ${v.show(value)}`);
  }
  v.milliseconds(
    'store.commandTimeout',
    v.readable('store.commandTimeout', () => store.commandTimeout),
    1,
    v.MAX_TIMER,
  );
  return store;
}
