import { type Clock, systemClock, type TimerHandle } from '../clock.js';
import { Emitter } from '../emitter.js';
import {
  isBrokenCircuitError,
  isBulkheadRejectedError,
  isOverloadedError,
  isRateLimitedError,
  OverloadedError,
  withoutStack,
} from '../errors.js';
import {
  ADOPT_DEFAULTS,
  type AdoptsDefaults,
  type Context,
  contextOf,
  type ExecuteOptions,
  notAFunction,
  type Operation,
  type Policy,
  type PolicyDefaults,
  PRIORITIES,
  PRIORITY_RANK,
  type Priority,
  ROOT,
} from '../policy.js';
import * as v from '../validate.js';
import {
  Aimd,
  clamp,
  DROPPED,
  FAILED,
  Gradient2,
  IGNORED,
  type LimitAlgorithm,
  type Outcome,
  SUCCEEDED,
  UNTIMED,
} from './algorithms.js';

/** Options of {@link adaptiveLimit}. Options of the algorithm not chosen are errors. */
export interface AdaptiveLimitOptions {
  /**
   * How the limit moves. `gradient2`: with latency (Netflix's Gradient2: the limit shrinks
   * when the recent RTT rises past `tolerance` times the no-load RTT, and grows by the
   * headroom while it does not). `aimd`: with failures (halved on a drop, one more per
   * window without one).
   * @default 'gradient2'
   */
  algorithm?: 'gradient2' | 'aimd';
  /** The limit to start from: an integer in [minLimit, maxLimit]. @default 20, clamped into [minLimit, maxLimit] */
  initialLimit?: number;
  /** The lowest the limit goes: an integer >= 1. @default 1 */
  minLimit?: number;
  /** The highest the limit goes: an integer >= minLimit. @default 200 */
  maxLimit?: number;
  /**
   * The shortest window (ms) over which samples are gathered before the limit moves; a window
   * closes when a call settles after it, holding at least `minWindowSamples` samples.
   * @default 1000
   */
  windowDuration?: number;
  /** Samples a window needs before it may close: an integer >= 1. @default 10 */
  minWindowSamples?: number;
  /**
   * `gradient2`: how far (as a multiple of the no-load RTT) the window's median RTT may rise
   * before the limit shrinks: a number >= 1. Netflix uses 1.5; 1.1 keeps the dependency's
   * own queue near 10 % of its capacity at steady state.
   * @default 1.1
   */
  tolerance?: number;
  /** `gradient2`: the weight of each window's new limit against the old one, in (0, 1]. @default 0.2 */
  smoothing?: number;
  /**
   * `gradient2`: the headroom added while no queueing is seen (how fast the limit probes
   * upwards): a number >= 0, or a function of the current limit.
   * @default 4
   */
  queueSize?: number | ((limit: number) => number);
  /**
   * `gradient2`: how often (ms) the no-load RTT is re-measured, by one window of calls
   * admitted at half the limit (the first runs at start); `Infinity` to keep the first
   * measurement. A limit started above twice the capacity comes down by halves, one probe
   * each.
   * @default 60000
   */
  probeInterval?: number;
  /** `aimd`: what a drop multiplies the limit by, in (0, 1). @default 0.5 */
  backoffRatio?: number;
  /** `aimd`: what a window without a drop adds: a number > 0. @default 1 */
  increase?: number;
  /** `aimd`: a call slower than this (ms) counts as a drop even when it succeeds. @default 5000 */
  timeout?: number;
  /**
   * `aimd`: which failures are drops. Caller aborts and rejections by inner breakwater
   * policies (open breaker, full bulkhead, overload, rate limit) are never samples at all.
   * @default every other failure
   */
  isDrop?: (error: unknown) => boolean;
  /**
   * Calls that may wait for a slot, served by priority then arrival; past that, calls are
   * rejected. A full queue gives a higher-priority arrival the place of its newest
   * lowest-priority waiter. An integer >= 0, or `Infinity`.
   * @default 0
   */
  maxQueue?: number;
  /**
   * How long (ms) a call may wait in the queue before it is rejected (reason
   * `queue-timeout`): a number in [0, 2^31 - 1], or `Infinity`.
   * @default no limit
   */
  queueTimeout?: number;
  /** Names the policy in metrics and health reports. @default 'adaptive-limit' */
  name?: string;
  /** Measures latency and times `queueTimeout`. @default systemClock, or the pipeline's clock */
  clock?: Clock;
}

/** Payload of the {@link AdaptiveLimitEvents.limitChanged | limitChanged} event. */
export interface LimitChangedEvent {
  /** The limit before (an integer). */
  readonly from: number;
  /** The limit now (an integer in [minLimit, maxLimit]). */
  readonly to: number;
}

/** Payload of the {@link AdaptiveLimitEvents.rejected | rejected} event. */
export interface AdaptiveLimitRejectedEvent {
  /** The rejected call's priority. */
  readonly priority: Priority;
  /** `limit`: no slot and no queue place (or its place went to a higher priority); `queue-timeout`: waited too long. */
  readonly reason: 'limit' | 'queue-timeout';
}

/** The events of an {@link AdaptiveLimitPolicy}, each with one payload object. */
export interface AdaptiveLimitEvents {
  /** The (integer) limit moved: resize a connection pool from here. */
  limitChanged: [LimitChangedEvent];
  /** A call was turned away with an {@link OverloadedError}, just before its promise rejects. */
  rejected: [AdaptiveLimitRejectedEvent];
}

/** A queued call: a node of its priority's doubly linked list, so leaving from anywhere is O(1). */
class Waiter {
  prev: Waiter | undefined;
  next: Waiter | undefined;
  timer: TimerHandle | undefined;
  unfollow: (() => void) | undefined;

  constructor(
    readonly policy: AdaptiveLimitPolicy,
    readonly rank: number,
    readonly priority: Priority,
    readonly resolve: () => void,
    readonly reject: (error: unknown) => void,
  ) {}

  readonly onAbort = (reason: unknown): void => {
    this.policy.leave(this);
    this.reject(reason);
  };

  readonly onTimeout = (): void => {
    this.timer = undefined;
    this.policy.leave(this);
    this.reject(this.policy.rejection('queue-timeout', this.priority));
  };
}

const GRADIENT2_KEYS = ['tolerance', 'smoothing', 'queueSize', 'probeInterval'] as const;
const AIMD_KEYS = ['backoffRatio', 'increase', 'timeout', 'isDrop'] as const;
const COMMON_KEYS = [
  'algorithm',
  'initialLimit',
  'minLimit',
  'maxLimit',
  'windowDuration',
  'minWindowSamples',
  'maxQueue',
  'queueTimeout',
  'name',
  'clock',
] as const;

const everyFailure = (): boolean => true;

/** Rejections by breakwater policies inside this one: the dependency was never called, so no sample. */
function notRun(error: unknown): boolean {
  return (
    isBrokenCircuitError(error) ||
    isOverloadedError(error) ||
    isBulkheadRejectedError(error) ||
    isRateLimitedError(error)
  );
}

/** A concurrency limit that follows the dependency's capacity. See {@link adaptiveLimit}. */
export class AdaptiveLimitPolicy extends Emitter<AdaptiveLimitEvents> implements Policy, AdoptsDefaults {
  /** Names the policy in metrics and health reports. */
  readonly name: string;
  /** The algorithm that moves the limit. */
  readonly algorithm: 'gradient2' | 'aimd';
  /** The lowest the limit goes. */
  readonly minLimit: number;
  /** The highest the limit goes. */
  readonly maxLimit: number;
  /** Calls that may wait for a slot. */
  readonly maxQueue: number;
  /** The queue's time limit as given; `undefined` and `Infinity` both mean none. */
  readonly queueTimeout: number | undefined;
  private clock: Clock | undefined;
  private readonly isDrop: (error: unknown) => boolean;
  private readonly strategy: LimitAlgorithm;
  private estimate: number;
  private cap: number;
  private running = 0;
  private waiting = 0;
  /** One FIFO list per priority rank, most important first. */
  private readonly heads: (Waiter | undefined)[] = [undefined, undefined, undefined, undefined, undefined];
  private readonly tails: (Waiter | undefined)[] = [undefined, undefined, undefined, undefined, undefined];

  constructor(options: AdaptiveLimitOptions = {}) {
    super();
    const o = v.object('adaptiveLimit options', options);
    const algorithm = o.algorithm === undefined ? 'gradient2' : o.algorithm;
    if (algorithm !== 'gradient2' && algorithm !== 'aimd') {
      throw new TypeError(`algorithm must be "gradient2" or "aimd", got ${v.show(algorithm)}`);
    }
    this.algorithm = algorithm;
    const own = algorithm === 'gradient2' ? GRADIENT2_KEYS : AIMD_KEYS;
    const other = algorithm === 'gradient2' ? AIMD_KEYS : GRADIENT2_KEYS;
    for (const key of other) {
      if (o[key] !== undefined) {
        throw new TypeError(
          `adaptiveLimit: option ${key} applies to algorithm "${algorithm === 'gradient2' ? 'aimd' : 'gradient2'}", not "${algorithm}"`,
        );
      }
    }
    v.knownKeys('adaptiveLimit', o, [...COMMON_KEYS, ...own]);
    this.name = o.name === undefined ? 'adaptive-limit' : v.string('name', o.name);
    this.minLimit = o.minLimit === undefined ? 1 : v.integer('minLimit', o.minLimit, 1);
    this.maxLimit =
      o.maxLimit === undefined
        ? Math.max(200, this.minLimit)
        : v.integer('maxLimit', o.maxLimit, this.minLimit);
    const initial =
      o.initialLimit === undefined
        ? clamp(20, this.minLimit, this.maxLimit)
        : v.integer('initialLimit', o.initialLimit, this.minLimit, this.maxLimit);
    const bounds = {
      minLimit: this.minLimit,
      maxLimit: this.maxLimit,
      windowDuration:
        o.windowDuration === undefined ? 1_000 : v.milliseconds('windowDuration', o.windowDuration, 0),
      minWindowSamples:
        o.minWindowSamples === undefined ? 10 : v.integer('minWindowSamples', o.minWindowSamples, 1),
    };
    if (algorithm === 'gradient2') {
      const queueSize = o.queueSize === undefined ? 4 : o.queueSize;
      const probeInterval =
        o.probeInterval === undefined ? 60_000 : v.msOrUnlimited('probeInterval', o.probeInterval, 0);
      this.strategy = new Gradient2(
        {
          ...bounds,
          tolerance: o.tolerance === undefined ? 1.1 : v.finite('tolerance', o.tolerance, 1),
          smoothing: o.smoothing === undefined ? 0.2 : v.ratio('smoothing', o.smoothing, true),
          queueSize:
            typeof queueSize === 'function'
              ? (queueSize as (limit: number) => number)
              : constant(v.finite('queueSize', queueSize, 0)),
          probeInterval,
        },
        initial,
      );
      this.isDrop = everyFailure;
    } else {
      const backoffRatio = o.backoffRatio === undefined ? 0.5 : v.ratio('backoffRatio', o.backoffRatio, true);
      if (backoffRatio === 1) throw new RangeError('backoffRatio must be a number in (0, 1), got 1');
      const increase = o.increase === undefined ? 1 : v.finite('increase', o.increase, 0);
      if (increase === 0) throw new RangeError('increase must be a finite number > 0, got 0');
      this.strategy = new Aimd({
        ...bounds,
        backoffRatio,
        increase,
        timeout: o.timeout === undefined ? 5_000 : v.msOrUnlimited('timeout', o.timeout, 0),
      });
      this.isDrop = o.isDrop === undefined ? everyFailure : v.func('isDrop', o.isDrop);
    }
    this.estimate = initial;
    this.cap = initial;
    this.maxQueue = o.maxQueue === undefined ? 0 : v.countOrUnlimited('maxQueue', o.maxQueue, 0);
    this.queueTimeout =
      o.queueTimeout === undefined ? undefined : v.msOrUnlimited('queueTimeout', o.queueTimeout);
    this.clock = o.clock === undefined ? undefined : v.clock('clock', o.clock);
  }

  /** What this policy is, for adapters that walk a pipeline. */
  get kind(): 'adaptive-limit' {
    return 'adaptive-limit';
  }

  /** @internal */
  [ADOPT_DEFAULTS](defaults: PolicyDefaults): void {
    this.clock ??= defaults.clock;
  }

  /** The current limit: an integer in [minLimit, maxLimit]. */
  get limit(): number {
    return Math.floor(this.estimate);
  }

  /** Calls running now (may exceed `limit` for a while after it fell: running calls are never aborted). */
  get inFlight(): number {
    return this.running;
  }

  /** Calls waiting for a slot. */
  get queued(): number {
    return this.waiting;
  }

  /**
   * Runs `fn` once the number of calls in flight is below the limit, and learns from how
   * long it took. Results and errors pass through unchanged.
   *
   * @throws {@link OverloadedError} without calling `fn`: `reason: 'limit'` when no slot and
   * no queue place is free, `'queue-timeout'` when it waited past `queueTimeout`.
   * @throws the caller's `signal.reason` without calling `fn` when the signal aborts before
   * the call starts, queued or not.
   */
  execute<T>(fn: Operation<T>, options?: ExecuteOptions): Promise<T> {
    // Not an async function, and small enough for V8 to inline into the caller: the frame of
    // an async function, and the promise an `await` of fn's result adds, were most of this
    // policy's cost on the success path. Errors before the call still reject, not throw.
    if (typeof fn !== 'function') return Promise.reject(notAFunction(fn));
    let context: Context;
    if (options === undefined) context = ROOT;
    else {
      try {
        context = contextOf(options);
      } catch (error) {
        return Promise.reject(error);
      }
      if (context.abortable && context.aborted) return Promise.reject(context.signal.reason);
    }
    if (this.running >= this.cap || this.waiting !== 0) return this.afterQueue(fn, context);
    const tag = this.strategy.admit(++this.running);
    if (tag !== UNTIMED || context.abortable) return this.run(fn, context, tag);
    // Most calls, once a window holds enough RTTs: nothing of the call is needed when it
    // settles (not even whether its caller aborted: nothing can abort it), so the handlers
    // are the policy's own, and the call allocates nothing but the promise it returns.
    let result: PromiseLike<T> | T;
    try {
      result = fn(context);
    } catch (error) {
      return this.untimedThrew(error);
    }
    return Promise.resolve(result).then(this.untimedSuccess as (value: T) => T, this.untimedFailure);
  }

  /** The slow path: waits in the queue for a slot, then runs `fn` as {@link run} does. */
  private async afterQueue<T>(fn: Operation<T>, context: Context): Promise<T> {
    await this.enqueue(context);
    // Handed a slot, but the caller may have aborted before this resumed: pass it on.
    if (context.aborted) {
      this.release();
      throw context.signal.reason;
    }
    // Awaited in this frame rather than through run(), which would add a tick to every queued call.
    const clock = this.clock ?? systemClock;
    const tag = this.strategy.admit(this.running);
    const start = tag === UNTIMED ? Number.NaN : clock.now();
    let outcome: Outcome = SUCCEEDED;
    try {
      return await fn(context);
    } catch (error) {
      outcome = this.outcomeOf(context.aborted, error);
      throw error;
    } finally {
      this.settle(clock, start, outcome, tag);
    }
  }

  /** Runs `fn` in a slot already taken when the call is timed, or may be aborted. */
  private run<T>(fn: Operation<T>, context: Context, tag: number): Promise<T> {
    const clock = this.clock ?? systemClock;
    const start = tag === UNTIMED ? Number.NaN : clock.now();
    let result: PromiseLike<T> | T;
    try {
      result = fn(context);
    } catch (error) {
      try {
        this.settle(clock, start, this.outcomeOf(context.aborted, error), tag);
      } catch (thrown) {
        return Promise.reject(thrown);
      }
      return Promise.reject(error);
    }
    // One reaction on fn's own promise (`await` would take the same tick, inside a frame).
    return Promise.resolve(result).then(
      (value) => {
        this.settle(clock, start, SUCCEEDED, tag);
        return value;
      },
      (error: unknown) => {
        this.settle(clock, start, this.outcomeOf(context.aborted, error), tag);
        throw error;
      },
    );
  }

  /** An untimed success teaches the algorithm nothing (its in-flight counted at admission): it only frees its slot. */
  private readonly untimedSuccess = (value: unknown): unknown => {
    this.release();
    return value;
  };

  private readonly untimedFailure = (error: unknown): never => {
    this.settle(systemClock, Number.NaN, this.outcomeOf(false, error), UNTIMED);
    throw error;
  };

  private untimedThrew<T>(error: unknown): Promise<T> {
    try {
      this.settle(systemClock, Number.NaN, this.outcomeOf(false, error), UNTIMED);
    } catch (thrown) {
      return Promise.reject(thrown);
    }
    return Promise.reject(error);
  }

  /** How a failed call counts: not at all when its caller aborted or an inner policy refused it unrun. */
  private outcomeOf(aborted: boolean, error: unknown): Outcome {
    if (aborted || notRun(error)) return IGNORED;
    try {
      return this.isDrop(error) === true ? DROPPED : FAILED;
    } catch {
      return DROPPED; // an isDrop that throws must not swallow the caller's error
    }
  }

  /** Gives the call's sample to the algorithm (`clock` unread for an untimed call) and frees its slot. */
  private settle(clock: Clock, start: number, outcome: Outcome, tag: number): void {
    try {
      const running = this.running - 1;
      if (tag === UNTIMED && outcome === SUCCEEDED) return; // see untimedSuccess
      const before = this.limit;
      const now = tag === UNTIMED ? Number.NaN : clock.now();
      this.estimate = this.strategy.sample(now - start, outcome, now, this.estimate, tag, running);
      this.cap = this.strategy.admission(this.estimate);
      const after = this.limit;
      if (after !== before && this.listenerCount('limitChanged') !== 0) {
        this.emit('limitChanged', { from: before, to: after });
      }
    } finally {
      this.release();
    }
  }

  /** Waits until a slot is handed over, or rejects when there is no place. */
  private enqueue(context: Context): Promise<void> {
    const priority = context.priority;
    const rank = PRIORITY_RANK[priority];
    if (this.waiting >= this.maxQueue && !this.evictBelow(rank)) {
      return Promise.reject(this.rejection('limit', priority));
    }
    return new Promise<void>((resolve, reject) => {
      const waiter = new Waiter(this, rank, priority, resolve, reject);
      const tail = this.tails[rank];
      if (tail === undefined) this.heads[rank] = waiter;
      else {
        tail.next = waiter;
        waiter.prev = tail;
      }
      this.tails[rank] = waiter;
      this.waiting++;
      if (context.abortable) waiter.unfollow = context.onAbort(waiter.onAbort);
      if (this.queueTimeout !== undefined && this.queueTimeout !== Number.POSITIVE_INFINITY) {
        waiter.timer = (this.clock ?? systemClock).setTimeout(waiter.onTimeout, this.queueTimeout);
      }
    });
  }

  /** Rejects the newest waiter of the lowest priority below `rank`, if any, to make room. */
  private evictBelow(rank: number): boolean {
    for (let r = PRIORITIES.length - 1; r > rank; r--) {
      const victim = this.tails[r];
      if (victim === undefined) continue;
      this.leave(victim);
      victim.reject(this.rejection('limit', victim.priority));
      return true;
    }
    return false;
  }

  private release(): void {
    if (--this.running >= this.cap || this.waiting === 0) return;
    while (this.running < this.cap) {
      const next = this.first();
      if (next === undefined) return;
      this.leave(next);
      this.running++;
      next.resolve();
    }
  }

  private first(): Waiter | undefined {
    if (this.waiting === 0) return undefined;
    for (const head of this.heads) if (head !== undefined) return head;
    return undefined;
  }

  /** @internal Unlinks a waiter and drops its timer and abort listener. */
  leave(waiter: Waiter): void {
    const rank = waiter.rank;
    if (waiter.prev === undefined) this.heads[rank] = waiter.next;
    else waiter.prev.next = waiter.next;
    if (waiter.next === undefined) this.tails[rank] = waiter.prev;
    else waiter.next.prev = waiter.prev;
    waiter.prev = waiter.next = undefined;
    this.waiting--;
    waiter.timer?.clear();
    waiter.unfollow?.();
  }

  /** @internal */
  rejection(reason: 'limit' | 'queue-timeout', priority: Priority): OverloadedError {
    if (this.listenerCount('rejected') !== 0) this.emit('rejected', { priority, reason });
    const limit = this.limit;
    const retryAfter = Math.ceil(this.strategy.typicalRtt);
    // Rejections are the hot path under overload: no stack trace (see withoutStack).
    return withoutStack(
      () =>
        new OverloadedError(
          reason,
          priority,
          this.running / limit,
          retryAfter,
          reason === 'limit'
            ? `Adaptive limit "${this.name}" is full (${this.running} in flight, limit ${limit}, ${this.waiting} queued); ${priority} call refused`
            : `A ${priority} call waited too long for adaptive limit "${this.name}"`,
        ),
    );
  }
}

function constant(n: number): () => number {
  return () => n;
}

/**
 * A concurrency limit that finds the dependency's capacity and follows it: the limit
 * shrinks when latency rises (`gradient2`) or calls fail (`aimd`), and grows while the
 * dependency keeps up. Calls over the limit wait in a bounded queue, most important
 * first (`priority` in `execute`'s options), or are rejected with {@link OverloadedError}.
 * A caller's abort, and a rejection by a policy inside this one (an open breaker), teach
 * it nothing. It holds no timer while idle; `limitChanged` is where a connection pool is
 * resized.
 *
 * @example
 * ```ts
 * const limit = adaptiveLimit({ maxLimit: 50, maxQueue: 100, queueTimeout: 1_000 });
 * limit.on('limitChanged', ({ to }) => console.log(`limit now ${to}`));
 * const policy = pipeline(limit, new CircuitBreaker(), timeout(2_000));
 * const rows = await policy.execute(({ signal }) => db.query(sql, { signal }), { priority: 'high' });
 * ```
 */
export function adaptiveLimit(options?: AdaptiveLimitOptions): AdaptiveLimitPolicy {
  return new AdaptiveLimitPolicy(options);
}
