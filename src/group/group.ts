import { CircuitBreaker } from '../circuit-breaker/circuit-breaker.js';
import type { CircuitBreakerOptions } from '../circuit-breaker/options.js';
import type { CircuitSnapshot } from '../circuit-breaker/snapshot.js';
import type { CircuitState } from '../circuit-breaker/state.js';
import { type Clock, systemClock } from '../clock.js';
import { Emitter } from '../emitter.js';
import { BreakerCreationError } from '../errors.js';
import { type ExecuteOptions, notAFunction, type Operation, tryContextOf } from '../policy.js';
import * as v from '../validate.js';
import { type Linked, LruList } from './lru.js';

/** Options of {@link CircuitBreakerGroup}. */
export interface CircuitBreakerGroupOptions {
  /**
   * The options of a key's breaker, called when the key is first used (and again after
   * its breaker was evicted). A breaker's `name` defaults to its key, and its `clock` to
   * the group's. A `create` that throws, or answers options that `new CircuitBreaker`
   * refuses, fails that call with a {@link BreakerCreationError} whose `cause` is the error.
   * With a shared store (`breakwater/redis`), give each key a key space of its own.
   * @default `() => undefined`: every breaker with the default options
   * @example
   * ```ts
   * create: (host) => ({ failureThreshold: host.endsWith('.internal') ? 10 : 5, openTimeout: 10_000 })
   * ```
   */
  create?: (key: string) => CircuitBreakerOptions | undefined;
  /**
   * Breakers held at most: an integer >= 1. Beyond it, the least recently used breaker is
   * evicted (`evicted`, reason `lru`); `size` never exceeds it.
   * @default 10_000
   */
  maxSize?: number;
  /**
   * A breaker unused for this long (ms) is evicted (`evicted`, reason `idle`): checked
   * when the group is used (no timer), at most two breakers per call, and fully when it is
   * iterated. A number in [1, 2^31 - 1], or `Infinity` to evict by `maxSize` alone.
   * Watching idleness costs a clock read per call (a breaker's success path reads none),
   * so it is off by default: `maxSize` already bounds memory. Set it (e.g. `600_000`) when
   * keys come and go and idle breakers should not wait for `maxSize` to push them out.
   * @default Infinity
   */
  idleTimeout?: number;
  /**
   * How many evicted breakers that were not closed (open, half-open, isolated or disabled)
   * have their state remembered, to restore when their key is used again (a snapshot of
   * under 100 bytes each). Past it, the oldest memory is dropped with a `forgotten` event.
   * An integer >= 0, or `Infinity` (unbounded: only for key sets you control).
   * @default `maxSize`
   */
  maxRemembered?: number;
  /** Names the group in events, metrics and health reports. @default 'circuit-breaker-group' */
  name?: string;
  /**
   * Times idleness, and is handed to every breaker whose options name no clock of their own.
   * @default systemClock (breakers then keep their own default)
   */
  clock?: Clock;
}

/** Why a breaker left its group: `lru` past `maxSize`, `idle` past `idleTimeout`, `deleted` by `delete(key)`. */
export type EvictionReason = 'lru' | 'idle' | 'deleted';

/** Payload of the {@link CircuitBreakerGroupEvents.created | created} event. */
export interface BreakerCreatedEvent {
  /** The key the breaker serves. */
  readonly key: string;
  /** The new breaker: attach listeners to it here (they are removed when it is evicted). */
  readonly breaker: CircuitBreaker;
  /** The remembered state it was restored from (it had been evicted while not closed), else `undefined`. */
  readonly restored: CircuitSnapshot | undefined;
}

/** Payload of the {@link CircuitBreakerGroupEvents.evicted | evicted} event. */
export interface BreakerEvictedEvent {
  /** The key the breaker served. */
  readonly key: string;
  /** The breaker, already disposed: it has no listeners left. */
  readonly breaker: CircuitBreaker;
  /** Why it was evicted. */
  readonly reason: EvictionReason;
  /** Its state when evicted. */
  readonly state: CircuitState;
  /** Whether its state is remembered, to be restored when the key is next used (never for `deleted`). */
  readonly remembered: boolean;
}

/** Payload of the {@link CircuitBreakerGroupEvents.forgotten | forgotten} event. */
export interface BreakerForgottenEvent {
  /** The key whose remembered state was dropped: its next breaker starts closed. */
  readonly key: string;
  /** The state that was dropped. */
  readonly snapshot: CircuitSnapshot;
}

/**
 * The events of a {@link CircuitBreakerGroup}, each with one payload object, fired once
 * the group's own bookkeeping is done (a listener may call the group). The group does not
 * forward its breakers' events: listen to each one from `created`.
 *
 * @example
 * ```ts
 * group.on('created', ({ key, breaker }) =>
 *   breaker.on('stateChanged', ({ from, to }) => log.warn({ key, from, to }, 'circuit moved')),
 * );
 * group.on('evicted', ({ key, reason }) => series.delete(key));
 * ```
 */
export interface CircuitBreakerGroupEvents {
  /** A key's breaker was made (on the key's first use, or its first use after an eviction). */
  created: [BreakerCreatedEvent];
  /** A breaker left the group; it was disposed, and a later use of its key makes a new one. */
  evicted: [BreakerEvictedEvent];
  /**
   * More than `maxRemembered` evicted breakers were not closed: the oldest memory was
   * dropped, and that key's next breaker starts closed even if it was open.
   */
  forgotten: [BreakerForgottenEvent];
}

const DEFAULTS = {
  name: 'circuit-breaker-group',
  maxSize: 10_000,
  idleTimeout: Number.POSITIVE_INFINITY,
} as const;

const KEYS = ['create', 'maxSize', 'idleTimeout', 'maxRemembered', 'name', 'clock'];

/** A held breaker. */
class Entry implements Linked {
  prev: Entry | undefined = undefined;
  next: Entry | undefined = undefined;

  constructor(
    readonly key: string,
    readonly breaker: CircuitBreaker,
    /** Group clock time of the last use; NaN when `idleTimeout` is Infinity (never read). */
    public lastUsed: number,
  ) {}
}

/** The remembered state of an evicted breaker that was not closed. */
class Memory implements Linked {
  prev: Memory | undefined = undefined;
  next: Memory | undefined = undefined;

  constructor(
    readonly key: string,
    readonly snapshot: CircuitSnapshot,
  ) {}
}

type Pending =
  | readonly ['created', BreakerCreatedEvent]
  | readonly ['evicted', BreakerEvictedEvent]
  | readonly ['forgotten', BreakerForgottenEvent];

const noOptions = (): undefined => undefined;

function badKey(key: unknown): TypeError {
  return new TypeError(`key must be a non-empty string, got ${v.show(key)}`);
}

/**
 * A family of circuit breakers, one per key (a host, a tenant, a shard), each made on
 * first use from `create(key)`. The group is bounded: past `maxSize` the least recently
 * used breaker is evicted, and one unused for `idleTimeout` is evicted when the group is
 * next used. It holds no timer; a call costs one `Map` lookup, a move in a linked list
 * and, unless `idleTimeout` is `Infinity`, one clock read.
 *
 * An evicted breaker that was not closed is never silently reset: its state (a
 * {@link CircuitSnapshot}: open until `openUntil`, half-open, isolated or disabled) is
 * remembered, up to `maxRemembered` keys, and the key's next breaker is restored from it,
 * so an open circuit stays open until its `openUntil` and then lets one probe decide. Only
 * when more than `maxRemembered` such keys pile up is the oldest memory dropped, with a
 * `forgotten` event. Recent outcomes of a closed breaker (its failure count or window) are
 * not remembered: an evicted closed breaker comes back closed and counting afresh.
 *
 * A call in flight on a breaker when it is evicted settles on that breaker; if its outcome
 * then opens it while the key has no breaker, that state is remembered too. (A probe in
 * flight on an evicted half-open breaker does not hold back the probe of the key's next
 * breaker, which is restored open and due.)
 *
 * To listen to the breakers' own events, attach listeners from the `created` event; an
 * evicted breaker is disposed, which removes them.
 *
 * @example
 * ```ts
 * const hosts = new CircuitBreakerGroup({
 *   create: (host) => ({ failureThreshold: 5, openTimeout: 30_000 }),
 *   maxSize: 1_000,
 * });
 * const response = await hosts.execute(url.host, ({ signal }) => fetch(url, { signal }));
 * ```
 */
export class CircuitBreakerGroup extends Emitter<CircuitBreakerGroupEvents> {
  /** Names the group in events, metrics and health reports. */
  readonly name: string;
  /** Breakers held at most. */
  readonly maxSize: number;
  /** ms of disuse after which a breaker is evicted (`Infinity`: never for idleness). */
  readonly idleTimeout: number;
  /** Evicted, not-closed breakers whose state is remembered at most. */
  readonly maxRemembered: number;
  private readonly create: (key: string) => unknown;
  private readonly clock: Clock;
  /** Whether the clock came from the options, and so is handed to the breakers. */
  private readonly ownClock: boolean;
  /** Whether idleness is watched (`idleTimeout` finite). */
  private readonly watchesIdle: boolean;
  /** The breakers, least recently used first. */
  private readonly live = new LruList<Entry>();
  /** Remembered states of evicted breakers that were not closed, oldest first. */
  private readonly remembered = new LruList<Memory>();
  /** No entry can be idle before this time: lets a call skip the look at the oldest entry. */
  private nextIdleAt = Number.POSITIVE_INFINITY;
  /** Events waiting for the bookkeeping that raised them to finish (see {@link flush}). */
  private readonly pending: Pending[] = [];
  private flushing = false;

  constructor(options: CircuitBreakerGroupOptions = {}) {
    super();
    const o = v.object('CircuitBreakerGroup options', options);
    v.knownKeys('CircuitBreakerGroup', o, KEYS);
    this.create = o.create === undefined ? noOptions : v.func('create', o.create);
    this.maxSize = o.maxSize === undefined ? DEFAULTS.maxSize : v.integer('maxSize', o.maxSize, 1);
    this.idleTimeout =
      o.idleTimeout === undefined ? DEFAULTS.idleTimeout : v.msOrUnlimited('idleTimeout', o.idleTimeout, 1);
    this.maxRemembered =
      o.maxRemembered === undefined ? this.maxSize : v.countOrUnlimited('maxRemembered', o.maxRemembered, 0);
    this.name = o.name === undefined ? DEFAULTS.name : v.string('name', o.name);
    this.ownClock = o.clock !== undefined;
    this.clock = o.clock === undefined ? systemClock : v.clock('clock', o.clock);
    this.watchesIdle = this.idleTimeout !== Number.POSITIVE_INFINITY;
  }

  /** What this is, for adapters (metrics, health). */
  get kind(): 'circuit-breaker-group' {
    return 'circuit-breaker-group';
  }

  /** Breakers held now, idle ones not yet evicted included; never more than `maxSize`. */
  get size(): number {
    return this.live.size;
  }

  /** Keys whose evicted breaker's state is remembered now; never more than `maxRemembered`. */
  get rememberedSize(): number {
    return this.remembered.size;
  }

  /**
   * The key's breaker, made now (from `create(key)`, or from its remembered state) if it
   * has none, and marked as used. The same object is returned until it is evicted.
   *
   * @throws TypeError when `key` is not a non-empty string.
   * @throws {@link BreakerCreationError} when `create` throws or answers bad options.
   */
  get(key: string): CircuitBreaker {
    if (typeof key !== 'string' || key === '') throw badKey(key);
    const entry = this.live.get(key);
    if (!this.watchesIdle) {
      if (entry === undefined) return this.add(key, Number.NaN, undefined);
      this.live.touch(entry);
      return entry.breaker;
    }
    const now = this.clock.now();
    if (entry === undefined || now - entry.lastUsed >= this.idleTimeout) return this.add(key, now, entry);
    entry.lastUsed = now;
    this.live.touch(entry);
    if (now >= this.nextIdleAt) {
      this.sweep(now, 2);
      this.flush();
    }
    return entry.breaker;
  }

  /**
   * Runs `fn` through the key's breaker (see {@link get} and {@link CircuitBreaker.execute}).
   * Never throws: a bad key, function or options, or a breaker that cannot be made,
   * rejects the returned promise without calling `fn` (and, for a bad function or
   * options, without making a breaker).
   *
   * @example
   * ```ts
   * const rows = await tenants.execute(tenantId, ({ signal }) => shardOf(tenantId).query(sql, { signal }));
   * ```
   */
  execute<T>(key: string, fn: Operation<T>, options?: ExecuteOptions): Promise<T> {
    if (typeof fn !== 'function') return Promise.reject(notAFunction(fn));
    // Read once here and handed on as a context, which the breaker takes as it is.
    const context = options === undefined ? undefined : tryContextOf(options);
    if (context instanceof TypeError) return Promise.reject(context);
    let breaker: CircuitBreaker;
    try {
      breaker = this.get(key);
    } catch (error) {
      return Promise.reject(error);
    }
    return breaker.execute(fn, context);
  }

  /** The key's breaker if the group holds one that is not idle, without marking it used or making one. */
  peek(key: string): CircuitBreaker | undefined {
    const entry = this.live.get(key);
    if (entry === undefined) return undefined;
    if (this.watchesIdle && this.clock.now() - entry.lastUsed >= this.idleTimeout) return undefined;
    return entry.breaker;
  }

  /** Whether the group holds a breaker for the key that is not idle (a later `get` returns that one). */
  has(key: string): boolean {
    return this.peek(key) !== undefined;
  }

  /**
   * Evicts the key's breaker (`evicted`, reason `deleted`) and forgets any remembered
   * state: the key's next breaker is new and closed. Returns whether there was either.
   */
  delete(key: string): boolean {
    const memory = this.remembered.get(key);
    if (memory !== undefined) this.remembered.remove(memory);
    const entry = this.live.get(key);
    if (entry === undefined) return memory !== undefined;
    this.evict(entry, 'deleted');
    this.flush();
    return true;
  }

  /** `[key, breaker]` of every breaker held, least recently used first; idle ones are evicted first. */
  entries(): IterableIterator<[string, CircuitBreaker]> {
    if (this.watchesIdle) {
      this.sweep(this.clock.now(), Number.POSITIVE_INFINITY);
      this.flush();
    }
    // A copy: a loop body that uses the group re-orders it, which would revisit keys.
    const held: [string, CircuitBreaker][] = [];
    for (const entry of this.live) held.push([entry.key, entry.breaker]);
    return held[Symbol.iterator]();
  }

  /** The keys of every breaker held, least recently used first (see {@link entries}). */
  *keys(): IterableIterator<string> {
    for (const [key] of this.entries()) yield key;
  }

  /** Every breaker held, least recently used first (see {@link entries}). */
  *values(): IterableIterator<CircuitBreaker> {
    for (const [, breaker] of this.entries()) yield breaker;
  }

  /** Same as {@link entries}. */
  [Symbol.iterator](): IterableIterator<[string, CircuitBreaker]> {
    return this.entries();
  }

  /** Disposes every breaker, forgets every key and removes every listener; emits nothing. */
  [Symbol.dispose](): void {
    for (const entry of this.live) entry.breaker[Symbol.dispose]();
    this.live.clear();
    this.remembered.clear();
    this.nextIdleAt = Number.POSITIVE_INFINITY;
    this.removeAllListeners();
  }

  /** Makes the key's breaker, evicting `stale` (its idle one) and whatever else room needs. */
  private add(key: string, now: number, stale: Entry | undefined): CircuitBreaker {
    if (stale !== undefined) this.evict(stale, 'idle');
    const memory = this.remembered.get(key);
    const snapshot = memory?.snapshot;
    let breaker: CircuitBreaker;
    try {
      breaker = this.build(key, snapshot);
    } catch (error) {
      this.flush();
      throw error;
    }
    // A `create` that used the group for this very key already made its breaker: keep that one.
    const raced = this.live.get(key);
    if (raced !== undefined) {
      breaker[Symbol.dispose]();
      this.flush();
      return raced.breaker;
    }
    // Looked up again: a `create` that used the group may have dropped or replaced the memory.
    const used = this.remembered.get(key);
    if (used !== undefined) this.remembered.remove(used);
    if (this.watchesIdle && now >= this.nextIdleAt) this.sweep(now, 2);
    while (this.live.size >= this.maxSize) this.evict(this.live.head!, 'lru');
    this.live.push(new Entry(key, breaker, now));
    if (this.watchesIdle && now + this.idleTimeout < this.nextIdleAt) {
      this.nextIdleAt = now + this.idleTimeout;
    }
    if (this.listenerCount('created') !== 0) {
      this.pending.push(['created', { key, breaker, restored: snapshot }]);
    }
    this.flush();
    return breaker;
  }

  private build(key: string, snapshot: CircuitSnapshot | undefined): CircuitBreaker {
    try {
      const answer = this.create(key);
      if (answer !== undefined && (typeof answer !== 'object' || answer === null || Array.isArray(answer))) {
        throw new TypeError(
          `create must return CircuitBreaker options (an object) or undefined, got ${v.show(answer)}`,
        );
      }
      // Own enumerable properties, each read once; the breaker validates them (unknown ones included).
      // Defaults first and spread over: adding properties to a spread copy costs ~2 µs more.
      const options: Record<string, unknown> = this.ownClock
        ? { name: key, clock: this.clock, ...answer }
        : { name: key, ...answer };
      if (options.name === undefined) options.name = key; // an explicit `name: undefined`
      if (options.clock === undefined && this.ownClock) options.clock = this.clock;
      // The remembered state is newer than any `initialState` that `create` may give.
      if (snapshot !== undefined) options.initialState = snapshot;
      return new CircuitBreaker(options as CircuitBreakerOptions);
    } catch (error) {
      throw new BreakerCreationError(key, error);
    }
  }

  /**
   * Evicts idle entries from the least recently used end, at most `limit`. Entries are in
   * order of last use, so the first one that is not idle ends the sweep.
   */
  private sweep(now: number, limit: number): void {
    let left = limit;
    for (let entry = this.live.head; entry !== undefined; entry = this.live.head) {
      if (now - entry.lastUsed < this.idleTimeout) {
        this.nextIdleAt = entry.lastUsed + this.idleTimeout;
        return;
      }
      if (left === 0) return; // nextIdleAt stays past: the next call goes on
      left--;
      this.evict(entry, 'idle');
    }
    this.nextIdleAt = Number.POSITIVE_INFINITY;
  }

  private evict(entry: Entry, reason: EvictionReason): void {
    this.live.remove(entry);
    const key = entry.key;
    const breaker = entry.breaker;
    const state = breaker.state;
    const remember = reason !== 'deleted' && state !== 'closed';
    // Listeners (the group's users', a metrics adapter's) go with the breaker: nothing leaks per key.
    breaker[Symbol.dispose]();
    if (this.listenerCount('evicted') !== 0) {
      const remembered = remember && this.maxRemembered > 0;
      this.pending.push(['evicted', { key, breaker, reason, state, remembered }]);
    }
    if (remember) this.remember(key, breaker.snapshot());
    if (reason !== 'deleted') {
      // A call still in flight on it may open it: the key's next breaker must not miss that.
      breaker.on('stateChanged', (event) => this.orphanMoved(key, breaker, event.to));
    }
  }

  /** An evicted breaker moved (a call in flight when it was evicted settled, or a caller kept it). */
  private orphanMoved(key: string, breaker: CircuitBreaker, to: CircuitState): void {
    // A newer breaker serves the key: its own state wins. A close or a probe starting changes no memory.
    if (to === 'closed' || to === 'half-open' || this.live.has(key)) return;
    this.remember(key, breaker.snapshot());
    this.flush();
  }

  private remember(key: string, snapshot: CircuitSnapshot): void {
    const old = this.remembered.get(key);
    if (old !== undefined) this.remembered.remove(old); // re-added: the newest memory is dropped last
    this.remembered.push(new Memory(key, snapshot));
    while (this.remembered.size > this.maxRemembered) {
      const dropped = this.remembered.head!;
      this.remembered.remove(dropped);
      if (this.listenerCount('forgotten') !== 0) {
        this.pending.push(['forgotten', { key: dropped.key, snapshot: dropped.snapshot }]);
      }
    }
  }

  /**
   * Emits the events that bookkeeping queued, once it is done. A listener that uses the
   * group queues more: the outermost flush emits them in turn.
   */
  private flush(): void {
    if (this.flushing || this.pending.length === 0) return;
    this.flushing = true;
    try {
      for (let i = 0; i < this.pending.length; i++) {
        const [event, payload] = this.pending[i]!;
        (this.emit as (e: string, p: unknown) => boolean)(event, payload);
      }
    } finally {
      this.pending.length = 0;
      this.flushing = false;
    }
  }
}
