import { type Clock, systemClock } from '../clock.js';
import { Emitter } from '../emitter.js';
import {
  ADOPT_DEFAULTS,
  type AdoptsDefaults,
  type Context,
  callThrough,
  type ExecuteContext,
  type ExecuteOptions,
  notAFunction,
  type Operation,
  OwnAbortContext,
  type Policy,
  type PolicyDefaults,
  type Priority,
  tryContextOf,
} from '../policy.js';
import * as v from '../validate.js';

/** Options of {@link coalesce}. */
export interface CoalesceOptions {
  /**
   * Names what a call fetches: calls with the same key while one is in flight share it.
   * Calls for which it answers `undefined` run on their own.
   * @default (ctx) => ctx.key, the `key` given to `execute`
   * @example
   * ```ts
   * key: (ctx) => ctx.key && `user:${ctx.key}`
   * ```
   */
  key?: (context: ExecuteContext) => string | undefined;
  /**
   * How long (ms) a success stays reusable after it settled: calls with its key within `ttl`
   * get its value without running. Errors are never kept, so a failure is retried by the
   * next call. `0` keeps nothing past the call; `Infinity` keeps values until pushed out by `maxKeys`.
   * @default 0
   */
  ttl?: number;
  /**
   * Keys held at most, in flight and kept by `ttl` together. A new key past it pushes out
   * the oldest kept value, or runs on its own (uncoalesced) when every key is in flight.
   * @default 10_000
   */
  maxKeys?: number;
  /** Names the policy in metrics. @default 'coalesce' */
  name?: string;
  /** Times `ttl`. @default systemClock, or the pipeline's clock */
  clock?: Clock;
}

/** Payload of the {@link CoalesceEvents.coalesced | coalesced} event. */
export interface CoalescedEvent {
  /** The key the call shared. */
  readonly key: string;
  /** `true`: answered by a value kept by `ttl`; `false`: joined a call in flight. */
  readonly cached: boolean;
}

/** Payload of the {@link CoalesceEvents.overflowed | overflowed} event. */
export interface CoalesceOverflowedEvent {
  /** The new key that found `maxKeys` keys in flight and ran on its own. */
  readonly key: string;
}

/** The events of a {@link CoalescePolicy}, each with one payload object. */
export interface CoalesceEvents {
  /** A call did not run `fn`: it joined a call in flight with its key, or took a value kept by `ttl`. */
  coalesced: [CoalescedEvent];
  /** A call with a new key found `maxKeys` keys in flight: it runs uncoalesced and is not joinable. */
  overflowed: [CoalesceOverflowedEvent];
}

/** A value kept by `ttl`. */
interface Kept {
  readonly value: unknown;
  readonly expires: number;
}

const KEYS = ['key', 'ttl', 'maxKeys', 'name', 'clock'];
/** An execution in flight: a {@link Flight}, or the bare promise of one whose first caller cannot abort. */
type Entry = Flight<unknown> | Promise<unknown> | undefined;
const byContextKey = (context: ExecuteContext) => context.key;

/**
 * One key's place in the map, kept (empty) after its execution settled: a key called again
 * and again then costs one `Map.get` a call. Before, each call set the key twice (entered,
 * then a tombstone) and read it back once, about 60 ns of a call that costs ~100. The
 * handlers of a bare promise are made once per key, not once per call.
 */
class Slot {
  /** The execution in flight for this key; `undefined` between executions. */
  entry: Entry = undefined;

  constructor(
    readonly policy: CoalescePolicy,
    readonly key: string,
  ) {}

  /**
   * A bare promise's outcome. Such an execution is never abandoned (its first caller cannot
   * abort), so nothing replaces it before it settles: these run for the entry in place.
   */
  readonly fulfilled = (value: unknown): void => {
    this.policy.settled(this, value, true);
  };

  readonly rejected = (error: unknown): void => {
    this.policy.settled(this, error, false);
  };
}

/**
 * The promise of one caller who can abort: `shared`'s outcome, or its own abort reason as
 * soon as it aborts (then `leave` is told). It also handles `shared`'s rejection, so one that
 * nobody waits for any more is never unhandled.
 */
function follow<T>(shared: Promise<T>, context: Context, leave?: (reason: unknown) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let done = false;
    const unfollow = context.onAbort((reason) => {
      if (done) return;
      done = true;
      reject(reason);
      leave?.(reason);
    });
    shared.then(
      (value) => {
        if (done) return;
        done = true;
        unfollow();
        resolve(value);
      },
      (error: unknown) => {
        if (done) return;
        done = true;
        unfollow();
        reject(error);
      },
    );
  });
}

/**
 * One shared execution whose first caller can abort, and the context its function receives:
 * its signal aborts only once every caller that joined it has aborted (a caller without a
 * signal never does), and is built only if the function reads it.
 */
class Flight<T> extends OwnAbortContext {
  readonly attempt: number;
  readonly key: string | undefined;
  readonly priority: Priority;
  promise!: Promise<T>;
  /** Joined callers that can abort and have not. */
  private active = 0;
  /** Joined callers that cannot abort: while there is one, the execution is never aborted. */
  private steadfast = 0;
  constructor(
    private readonly slot: Slot,
    first: Context,
  ) {
    super();
    this.attempt = first.attempt;
    this.key = first.key;
    this.priority = first.priority;
  }

  start(fn: Operation<T>): void {
    this.promise = callThrough(fn, this);
    // Registered first, so the entry is gone before any caller resumes; it never rejects,
    // and it handles the shared rejection, so one that nobody waits for any more is not unhandled.
    // An abandoned flight may settle after a newer one took its slot: `settled` checks whose it is.
    this.promise.then(
      (value) => {
        if (this.slot.entry === this) this.slot.policy.settled(this.slot, value, true);
      },
      (error: unknown) => {
        if (this.slot.entry === this) this.slot.policy.settled(this.slot, error, false);
      },
    );
  }

  /** A caller's promise of the shared outcome; a caller who can abort gets its own, rejected by its abort alone. */
  join(context: Context): Promise<T> {
    if (!context.abortable) {
      this.steadfast++;
      return this.promise;
    }
    this.active++;
    return follow(this.promise, context, (reason) => this.leave(reason));
  }

  private leave(reason: unknown): void {
    if (--this.active !== 0 || this.steadfast !== 0) return;
    // The last caller gave up: the execution is abandoned and no newcomer may join it.
    if (this.slot.entry === this) this.slot.policy.vacate(this.slot);
    this.abortWith(reason);
  }
}

/**
 * Shares one execution among concurrent calls with the same key. See {@link coalesce}.
 *
 * Memory: one entry per key in flight or kept by `ttl`, at most `maxKeys`. Kept values expire
 * lazily (read on arrival, dropped from the oldest when a key is added): no timer ever.
 */
export class CoalescePolicy extends Emitter<CoalesceEvents> implements Policy, AdoptsDefaults {
  /** Names the policy in metrics. */
  readonly name: string;
  /** How long (ms) a success stays reusable; 0 for not past its call. */
  readonly ttl: number;
  /** Keys held at most, in flight and kept together. */
  readonly maxKeys: number;
  private readonly keyOf: (context: ExecuteContext) => string | undefined;
  private clock: Clock | undefined;
  /**
   * Every key's {@link Slot}, in flight or not. Empty slots are swept once they outnumber
   * `maxKeys`, so the map holds at most `2 * maxKeys` of them.
   */
  private readonly flights = new Map<string, Slot>();
  /** Slots with an execution in flight (the rest are empty). */
  private live = 0;
  /** Values kept by `ttl`, oldest first (one ttl for all, so also first to expire). */
  private readonly kept = new Map<string, Kept>();

  constructor(options: CoalesceOptions = {}) {
    super();
    const o = v.object('coalesce options', options);
    v.knownKeys('coalesce', o, KEYS);
    this.keyOf = o.key === undefined ? byContextKey : v.func('key', o.key);
    this.ttl = o.ttl === undefined ? 0 : v.msOrUnlimited('ttl', o.ttl);
    this.maxKeys = o.maxKeys === undefined ? 10_000 : v.integer('maxKeys', o.maxKeys, 1);
    this.name = o.name === undefined ? 'coalesce' : v.string('name', o.name);
    this.clock = o.clock === undefined ? undefined : v.clock('clock', o.clock);
  }

  /** What this policy is, for adapters that walk a pipeline. */
  get kind(): 'coalesce' {
    return 'coalesce';
  }

  /** @internal */
  [ADOPT_DEFAULTS](defaults: PolicyDefaults): void {
    this.clock ??= defaults.clock;
  }

  /** Keys with an execution in flight. */
  get inFlight(): number {
    return this.live;
  }

  /** Values kept by `ttl` (some may have expired and not yet been dropped). */
  get cached(): number {
    return this.kept.size;
  }

  /**
   * Runs `fn`, or joins the execution in flight with the same key and settles as it does
   * (the same value, or the same error), or answers a value kept by `ttl`.
   *
   * @throws whatever the shared execution threw, to every caller that shared it.
   * @throws the caller's `signal.reason` when it aborts, before or while waiting: only this
   * caller is rejected; the execution goes on for the others, and its signal aborts only when
   * every caller that joined it has aborted.
   * @throws whatever the `key` function throws, or a TypeError if it answers something other
   * than a string or `undefined`.
   */
  execute<T>(fn: Operation<T>, options?: ExecuteOptions): Promise<T> {
    if (typeof fn !== 'function') return Promise.reject(notAFunction(fn));
    const context = tryContextOf(options);
    if (context instanceof TypeError) return Promise.reject(context);
    // A context nothing can abort is not aborted: its signal's getter is not worth reading.
    if (context.abortable && context.aborted) return Promise.reject(context.signal.reason);
    let key: unknown;
    try {
      key = this.keyOf(context);
    } catch (error) {
      return Promise.reject(error);
    }
    if (key === undefined) return callThrough(fn, context);
    if (typeof key !== 'string') {
      return Promise.reject(
        new TypeError(`coalesce: key must answer a string or undefined, got ${v.show(key)}`),
      );
    }
    let slot = this.flights.get(key);
    const current = slot?.entry;
    if (current !== undefined) {
      if (this.listenerCount('coalesced') !== 0) this.emit('coalesced', { key, cached: false });
      if (current instanceof Flight) return (current as Flight<T>).join(context);
      return context.abortable ? follow(current as Promise<T>, context) : (current as Promise<T>);
    }
    if (this.ttl !== 0 && this.kept.size !== 0) {
      const kept = this.kept.get(key);
      if (kept !== undefined) {
        if ((this.clock ?? systemClock).now() < kept.expires) {
          if (this.listenerCount('coalesced') !== 0) this.emit('coalesced', { key, cached: true });
          return Promise.resolve(kept.value as T);
        }
        this.kept.delete(key);
      }
    }
    if (!this.makeRoom()) {
      if (this.listenerCount('overflowed') !== 0) this.emit('overflowed', { key });
      return callThrough(fn, context);
    }
    if (slot === undefined) slot = this.newSlot(key);
    this.live++;
    if (!context.abortable) {
      // A first caller who cannot abort holds the execution to its end: it needs no signal or
      // count of its own, so fn runs in the caller's context and the promise itself is shared.
      const shared = callThrough(fn, context);
      slot.entry = shared;
      shared.then(slot.fulfilled, slot.rejected);
      return shared;
    }
    const fresh = new Flight<T>(slot, context);
    slot.entry = fresh as Flight<unknown>;
    fresh.start(fn);
    return fresh.join(context);
  }

  /** Whether a new key fits, after dropping expired values and, if still full, the oldest kept one. */
  private makeRoom(): boolean {
    if (this.kept.size !== 0) {
      const now = (this.clock ?? systemClock).now();
      for (const [key, kept] of this.kept) {
        if (kept.expires > now) break;
        this.kept.delete(key);
      }
    }
    if (this.live + this.kept.size < this.maxKeys) return true;
    const oldest = this.kept.keys().next();
    if (oldest.done === true) return false;
    this.kept.delete(oldest.value);
    return true;
  }

  /** @internal The slot's execution settled: the slot empties, and a success is kept for `ttl`. */
  settled(slot: Slot, value: unknown, ok: boolean): void {
    this.vacate(slot);
    if (!ok || this.ttl === 0) return;
    this.kept.delete(slot.key);
    this.kept.set(slot.key, { value, expires: (this.clock ?? systemClock).now() + this.ttl });
  }

  /** @internal The slot's execution settled or was abandoned: the next call with its key starts afresh. */
  vacate(slot: Slot): void {
    slot.entry = undefined;
    this.live--;
  }

  /** A slot for a key not in the map, after sweeping the empty ones if they outnumber `maxKeys`. */
  private newSlot(key: string): Slot {
    if (this.flights.size - this.live >= this.maxKeys) {
      for (const [k, s] of this.flights) if (s.entry === undefined) this.flights.delete(k);
    }
    const slot = new Slot(this, key);
    this.flights.set(key, slot);
    return slot;
  }
}

/**
 * Shares one execution among concurrent calls with the same key (request coalescing, or
 * single-flight): while a call for `user:42` is in flight, further calls for `user:42` do
 * not run `fn` but get its value, or its error. The key is `ctx.key` (the `key` given to
 * `execute`) unless a `key` function says otherwise; calls without one run on their own.
 *
 * A caller that aborts is rejected with its own reason at once and leaves the others
 * waiting; the shared execution's signal aborts only when every caller has aborted. With
 * `ttl`, a success is reused for `ttl` ms after it settled (errors never are). At most
 * `maxKeys` keys are held.
 *
 * Place it outside `retry` to share the whole retried call, inside to share each attempt.
 *
 * @example
 * ```ts
 * const dedupe = coalesce({ ttl: 100 });
 * // Ten concurrent requests for one product make one query.
 * const product = await dedupe.execute(({ signal }) => db.product(id, { signal }), { key: `product:${id}`, signal });
 * ```
 */
export function coalesce(options?: CoalesceOptions): CoalescePolicy {
  return new CoalescePolicy(options);
}
