import { setMaxListeners } from 'node:events';
import { type Clock, DeadlineTimer, systemClock } from '../clock.js';
import { Emitter } from '../emitter.js';
import { TimeoutError } from '../errors.js';
import {
  ADOPT_DEFAULTS,
  type AdoptsDefaults,
  Context,
  callThrough,
  type ExecuteOptions,
  notAFunction,
  type Operation,
  type Policy,
  type PolicyDefaults,
  type Priority,
  tryContextOf,
} from '../policy.js';
import * as v from '../validate.js';

/**
 * - `cooperative`: on timeout, abort the call's signal and wait for the function to settle;
 *   a rejection then becomes a {@link TimeoutError} (its `cause` the function's error), a late result is returned.
 * - `aggressive`: on timeout, reject at once with a {@link TimeoutError}; the function keeps running
 *   with its signal aborted, and whatever it settles with later is dropped.
 */
export type TimeoutStrategy = 'cooperative' | 'aggressive';

/** Options of {@link timeout}. */
export interface TimeoutOptions {
  /**
   * The limit (ms): a number in [0, 2^31 - 1], or `Infinity` for none (no timer; the call
   * passes through, though an aggressive timeout still rejects at once when the caller aborts).
   */
  ms: number;
  /** @default 'cooperative' */
  strategy?: TimeoutStrategy;
  /** Names the policy in metrics. @default 'timeout' */
  name?: string;
  /** @default systemClock, or the pipeline's clock */
  clock?: Clock;
}

/** Payload of the {@link TimeoutEvents.timedOut | timedOut} event. */
export interface TimedOutEvent {
  /** The policy's limit (ms) that the call exceeded. */
  readonly timeout: number;
  /** The policy's strategy: whether the call was rejected at once or is left to settle. */
  readonly strategy: TimeoutStrategy;
}

/** The events of a {@link TimeoutPolicy}, each with one payload object. */
export interface TimeoutEvents {
  /**
   * A call's deadline passed and its signal was aborted; fired once per call, after every
   * call due at the same time was aborted (an aggressive one already rejected). A cooperative
   * call may still resolve late. A caller's own abort never fires this.
   */
  timedOut: [TimedOutEvent];
}

/**
 * Bounds how long a call may run. See {@link timeout}.
 *
 * All calls of one policy share one timer: their deadlines are `now + ms` with the same
 * `ms`, so they queue in deadline order and the timer is armed for the earliest. A call
 * costs a link in that list instead of a `setTimeout`/`clearTimeout` pair (~0.4 µs). Once
 * no call is pending, the timer no longer holds the process open: on the system clock it is
 * unref'd and left to run out (it fires once more, finding nothing due), so that the next
 * call can take it back; on an injected clock it is cleared.
 *
 * Signals are built only when the function reads `ctx.signal`, and shared: an AbortSignal
 * costs 3 to 10 µs to create on Node 20 (Node makes an EventTarget, swaps its prototype
 * and then adds fields, a slow path in V8), several times what the rest of a call costs.
 * Deadlines are rounded up to the whole ms, so the calls started within one ms share a
 * deadline and one AbortController, which aborts when that deadline passes with one of
 * them still pending. Calls that a caller can abort share one only with calls of the same
 * caller (the same caller's signal, or the same outer call): that caller's abort is theirs
 * alike, and the signal aborts with it too.
 */
export class TimeoutPolicy extends Emitter<TimeoutEvents> implements Policy, AdoptsDefaults {
  /** Names the policy in metrics. */
  readonly name: string;
  /** The limit (ms) on each call; `Infinity` when there is none. */
  readonly ms: number;
  /** What happens to a call that times out (see {@link TimeoutStrategy}). */
  readonly strategy: TimeoutStrategy;
  private clock: Clock | undefined;
  /** Pending calls, earliest deadline first. */
  private head: TimedCall<unknown> | undefined;
  private tail: TimedCall<unknown> | undefined;
  private readonly timer = new DeadlineTimer(() => this.onTimer());
  /** Set while expired calls are being aborted: their listeners may start calls, which must not arm the timer. */
  private firing = false;
  /** The latest deadline whose signal calls may still share; kept after its calls settle, for the next in the same ms. */
  private deadline: Deadline | undefined;
  /** The same for calls that a caller can abort: shared only by calls with the same caller. */
  private byCaller: Deadline | undefined;

  constructor(options: number | TimeoutOptions) {
    super();
    if (
      typeof options !== 'number' &&
      (typeof options !== 'object' ||
        options === null ||
        v.readable('timeout options', () => Array.isArray(options)))
    )
      throw new TypeError(
        `timeout options must be a number of ms or an options object, got ${v.show(options)}`,
      );
    const o: Record<string, unknown> =
      typeof options === 'number' ? { ms: options } : v.object('timeout options', options);
    v.knownKeys('timeout', o, ['ms', 'strategy', 'name', 'clock']);
    this.ms = v.msOrUnlimited('ms', o.ms);
    const strategy = o.strategy === undefined ? 'cooperative' : o.strategy;
    if (strategy !== 'cooperative' && strategy !== 'aggressive') {
      throw new TypeError(`strategy must be "cooperative" or "aggressive", got ${v.show(strategy)}`);
    }
    this.strategy = strategy;
    this.name = o.name === undefined ? 'timeout' : v.string('name', o.name);
    this.clock = o.clock === undefined ? undefined : v.clock('clock', o.clock);
  }

  /** What this policy is, for adapters that walk a pipeline. */
  get kind(): 'timeout' {
    return 'timeout';
  }

  /** @internal */
  [ADOPT_DEFAULTS](defaults: PolicyDefaults): void {
    this.clock ??= defaults.clock;
  }

  /**
   * Runs `fn` with a signal that aborts at its deadline (`ms` from now, rounded up to the
   * whole ms) or with the caller's signal, whichever comes first.
   *
   * @throws {@link TimeoutError} when this policy's deadline passed: at once (aggressive), or
   * when `fn` rejects after it (cooperative, with `fn`'s error as `cause`).
   * @throws the caller's `signal.reason`, never a TimeoutError, when the caller aborted the
   * call before it started or (aggressive) while it ran; a cooperative call settles as `fn` does.
   * @throws whatever `fn` threw before its deadline, unchanged.
   */
  execute<T>(fn: Operation<T>, options?: ExecuteOptions): Promise<T> {
    if (typeof fn !== 'function') return Promise.reject(notAFunction(fn));
    const parent = tryContextOf(options);
    if (parent instanceof TypeError) return Promise.reject(parent);
    if (parent.aborted) return Promise.reject(parent.signal.reason);
    if (this.ms === Number.POSITIVE_INFINITY && (this.strategy === 'cooperative' || !parent.abortable)) {
      return callThrough(fn, parent); // no limit: nothing to time, so the call runs in its caller's context
    }
    const call = new TimedCall<T>(this, parent);
    // With no limit, an aggressive call is still rejected at once by its caller's abort, but never times out.
    if (this.ms !== Number.POSITIVE_INFINITY) this.track(call as TimedCall<unknown>);
    return call.run(fn, parent);
  }

  /** @internal Queues a call by its deadline and makes sure the timer is armed. */
  track(call: TimedCall<unknown>): void {
    const clock = this.clock ?? systemClock;
    const now = clock.now();
    // Rounded up, never down: a call may time out up to 1 ms late (as timers do), never early.
    call.deadline = Math.ceil(now + this.ms);
    // Deadlines arrive in order unless the clock stepped back; walk back from the tail if it did.
    let after = this.tail;
    while (after !== undefined && after.deadline > call.deadline) after = after.prev;
    call.prev = after;
    call.next = after === undefined ? this.head : after.next;
    if (call.next === undefined) this.tail = call;
    else call.next.prev = call;
    if (after === undefined) this.head = call;
    else after.next = call;
    call.tracked = true;
    if (!this.firing) this.timer.arm(clock, this.head!.deadline, now);
  }

  /** @internal Drops a call that settled or can no longer time out; the timer goes with the last one. */
  untrack(call: TimedCall<unknown>): void {
    if (!call.tracked) return;
    call.tracked = false;
    if (call.prev === undefined) this.head = call.next;
    else call.prev.next = call.next;
    if (call.next === undefined) this.tail = call.prev;
    else call.next.prev = call.prev;
    call.prev = call.next = undefined;
    if (this.head === undefined && !this.firing) this.timer.idle();
  }

  /** @internal The shared signal of the calls due at `deadline`: the current one, or a new one if none is. */
  deadlineAt(deadline: number): Deadline {
    const current = this.deadline;
    if (current !== undefined && current.deadline === deadline && current.reason === undefined)
      return current;
    const fresh = new Deadline(deadline, undefined);
    // A call that reads its signal late (its deadline is past the current one's) does not evict the current one.
    if (current === undefined || current.reason !== undefined || deadline > current.deadline)
      this.deadline = fresh;
    return fresh;
  }

  /**
   * @internal The shared signal of the calls due at `deadline` whose caller's abort is
   * `source`'s: they would all abort with it anyway (a request's calls, say).
   */
  callerDeadlineAt(deadline: number, source: object): Deadline {
    const current = this.byCaller;
    if (current !== undefined && current.deadline === deadline && current.source === source && current.open)
      return current;
    const fresh = new Deadline(deadline, source);
    this.byCaller = fresh;
    return fresh;
  }

  /** Expires every call whose deadline has passed, then re-arms for the next one. */
  private onTimer(): void {
    const clock = this.clock ?? systemClock;
    const now = clock.now();
    this.firing = true;
    // Calls that expiring ones start are due no earlier than now + ms: stop at the last call
    // queued before this firing, or a zero ms timeout on a still clock would loop forever.
    const last = this.tail;
    let expired = 0;
    let shared: Deadline[] | undefined;
    try {
      for (let call = this.head; call !== undefined && call.deadline <= now; call = this.head) {
        this.untrack(call);
        const deadline = call.expire();
        expired++;
        if (deadline !== undefined) {
          if (deadline === this.deadline) this.deadline = undefined;
          if (deadline === this.byCaller) this.byCaller = undefined;
          if (shared === undefined) shared = [deadline];
          else shared.push(deadline);
        }
        if (call === last) break;
      }
    } finally {
      // A shared signal aborts once every call sharing it is marked aborted, so that its
      // listeners find each call's `aborted` and its signal in agreement.
      if (shared !== undefined) for (const deadline of shared) deadline.abort();
      this.firing = false;
      if (this.head !== undefined) this.timer.arm(clock, this.head.deadline, now);
    }
    // Events carry nothing per call, so they go out once the calls are settled and the timer re-armed.
    if (this.listenerCount('timedOut') !== 0)
      for (let i = 0; i < expired; i++) this.emit('timedOut', { timeout: this.ms, strategy: this.strategy });
  }
}

/**
 * One AbortController for the calls of a policy that are due at the same (whole ms)
 * deadline, built when the first of them reads its signal. It aborts only when one of
 * them expires, which is at that deadline: never before a call's own deadline. A call
 * that settled before it keeps the signal, which then aborts at its deadline if another
 * call sharing it is still pending.
 */
class Deadline {
  /** The error every call sharing this signal times out with; set when the first of them expires. */
  reason: TimeoutError | undefined = undefined;
  private controller: AbortController | undefined = undefined;
  /** Set when the calls' common caller aborted them (a deadline with a `source` only). */
  private callerAbort: { readonly reason: unknown } | undefined = undefined;

  /** @param source what aborts every call sharing it (their caller's signal), or none. */
  constructor(
    readonly deadline: number,
    readonly source: object | undefined,
  ) {}

  /** Whether more calls may take this signal: it has not aborted. */
  get open(): boolean {
    return this.reason === undefined && this.callerAbort === undefined;
  }

  get signal(): AbortSignal {
    if (this.controller === undefined) {
      this.controller = new AbortController();
      // Many concurrent calls may listen on it (say, each passes it to fetch): no MaxListenersExceededWarning.
      setMaxListeners(0, this.controller.signal);
      if (this.callerAbort !== undefined) this.controller.abort(this.callerAbort.reason);
    }
    return this.controller.signal;
  }

  abort(): void {
    this.controller?.abort(this.reason);
  }

  /** The caller of every call sharing this signal aborted: so are they all. */
  abortForCaller(reason: unknown): void {
    if (this.callerAbort !== undefined) return;
    this.callerAbort = { reason };
    this.controller?.abort(reason);
  }
}

/**
 * One call under a timeout, and the context its function receives: the signal is built on
 * first access, already aborted if the call was. Settling releases the deadline, the
 * link to the caller's signal, and with the last pending call the policy's timer.
 */
class TimedCall<T> extends Context {
  readonly attempt: number;
  readonly key: string | undefined;
  readonly priority: Priority;
  deadline = 0;
  prev: TimedCall<unknown> | undefined = undefined;
  next: TimedCall<unknown> | undefined = undefined;
  tracked = false;
  /** This call's signal, once read: its own, or its deadline's (see {@link Deadline}). */
  private ownSignal: AbortSignal | undefined = undefined;
  private controller: AbortController | undefined = undefined;
  private shared: Deadline | undefined = undefined;
  private abortReason: unknown = undefined;
  private isAborted = false;
  private fired = false;
  private settled = false;
  /** Whether the caller can abort this call: then it shares a signal only with calls of the same caller. */
  private readonly followsCaller: boolean;
  /** What aborts this call besides its deadline (see {@link Context.abortSource}), when something can. */
  private readonly source: object | undefined;
  private unfollow: (() => void) | undefined = undefined;
  /** Calls nested in this one (an inner timeout, a retry delay, a queued bulkhead call) that abort with it. */
  private followers: Set<(reason: unknown) => void> | undefined = undefined;
  private resolve!: (value: T) => void;
  private reject!: (error: unknown) => void;

  constructor(
    private readonly policy: TimeoutPolicy,
    parent: Context,
  ) {
    super();
    this.attempt = parent.attempt;
    this.key = parent.key;
    this.priority = parent.priority;
    this.followsCaller = parent.abortable;
    this.source = this.followsCaller ? parent.abortSource : undefined;
  }

  get signal(): AbortSignal {
    if (this.ownSignal !== undefined) return this.ownSignal;
    if (this.tracked && !this.isAborted) {
      this.shared =
        this.source === undefined
          ? this.policy.deadlineAt(this.deadline)
          : this.policy.callerDeadlineAt(this.deadline, this.source);
      this.ownSignal = this.shared.signal;
    } else {
      // Settled (its signal must never abort now), or aborted: a signal of its own.
      this.controller = new AbortController();
      if (this.isAborted) this.controller.abort(this.abortReason);
      this.ownSignal = this.controller.signal;
    }
    return this.ownSignal;
  }

  override get aborted(): boolean {
    return this.isAborted;
  }

  override get abortable(): boolean {
    return true;
  }

  override onAbort(callback: (reason: unknown) => void): () => void {
    if (this.followers === undefined) this.followers = new Set();
    const followers = this.followers;
    followers.add(callback);
    return () => {
      followers.delete(callback);
    };
  }

  run(fn: Operation<T>, parent: Context): Promise<T> {
    if (this.policy.strategy === 'aggressive') return this.race(fn, parent);
    // Cooperative: only `fn` settles the call, so its own promise carries the outcome.
    if (this.followsCaller) this.follow(parent);
    try {
      return Promise.resolve(fn(this)).then(
        (value) => {
          this.release();
          return value;
        },
        (error: unknown) => {
          this.release();
          throw this.fired ? this.timeoutError(error) : error;
        },
      );
    } catch (error) {
      // A synchronous throw, or a result whose `constructor` getter throws: settled at once.
      this.release();
      return Promise.reject(error);
    }
  }

  /** An aggressive call: settled by `fn`, its deadline or its caller's abort, whichever comes first. */
  private race(fn: Operation<T>, parent: Context): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
      if (this.followsCaller) this.follow(parent);
      let pending: PromiseLike<T> | T;
      try {
        pending = fn(this);
        Promise.resolve(pending).then(
          (value) => this.settle(value, true),
          (error: unknown) => this.settle(this.fired ? this.timeoutError(error) : error, false),
        );
      } catch (error) {
        this.settle(error, false);
      }
    });
  }

  /** What a call that failed after its deadline rejects with: the policy's own error, never wrapped twice. */
  private timeoutError(error: unknown): unknown {
    return error === this.abortReason ? error : new TimeoutError(this.policy.ms, { cause: error });
  }

  /**
   * The deadline passed. Answers the shared signal this call holds if it is the first of its
   * sharers to expire, for the policy to abort once every call due now is marked; all of
   * them time out with one error, the signal's reason.
   */
  expire(): Deadline | undefined {
    this.fired = true;
    const shared = this.shared;
    const first = shared !== undefined && shared.reason === undefined;
    let error: TimeoutError;
    if (shared === undefined) error = new TimeoutError(this.policy.ms);
    else {
      shared.reason ??= new TimeoutError(this.policy.ms);
      error = shared.reason;
    }
    this.abort(error);
    if (this.policy.strategy === 'aggressive') this.settle(error, false);
    return first ? shared : undefined;
  }

  /** Aborts this call when the caller's does, without building the caller's signal. */
  private follow(parent: Context): void {
    this.unfollow = parent.onAbort((reason) => {
      // The caller gave up first: this call can no longer time out, so its outcome is never a TimeoutError.
      this.policy.untrack(this as TimedCall<unknown>);
      this.abort(reason);
      // Every call sharing its signal follows the same caller: they all abort now.
      this.shared?.abortForCaller(reason);
      if (this.policy.strategy === 'aggressive') this.settle(reason, false);
    });
  }

  private abort(reason: unknown): void {
    if (this.isAborted) return;
    this.isAborted = true;
    this.abortReason = reason;
    this.controller?.abort(reason);
    if (this.followers !== undefined) for (const follower of this.followers) follower(reason);
  }

  private settle(value: unknown, ok: boolean): void {
    if (this.settled) return;
    this.release();
    if (ok) this.resolve(value as T);
    else this.reject(value);
  }

  /** Lets go of the deadline, the timer and the caller's signal: the call is over. */
  private release(): void {
    this.settled = true;
    this.policy.untrack(this as TimedCall<unknown>);
    this.unfollow?.();
  }
}

/**
 * Bounds how long a call may run: aborts the call's signal after `ms` and, by strategy,
 * waits for it to settle or rejects at once. A {@link TimeoutError} is raised only when
 * this policy's own timer fired; a caller's abort passes through as the caller's reason.
 * `timeout(Infinity)` sets no timer: the call passes through.
 *
 * A call's `ctx.signal` aborts at its deadline (rounded up to the whole ms) or with its
 * caller's signal, never earlier. Calls started in the same ms share one signal when the same
 * thing can abort them (no caller's signal, or the same caller's): one that settled early may
 * still see it abort at its own deadline, if another call sharing it is still running then,
 * or when their caller aborts. Use the signal within the call (read a response body inside
 * the function, not after it returned).
 *
 * @example
 * ```ts
 * const policy = timeout({ ms: 2_000, strategy: 'cooperative' });
 * const rows = await policy.execute(({ signal }) => db.query(sql, { signal }));
 * ```
 */
export function timeout(options: number | TimeoutOptions): TimeoutPolicy {
  return new TimeoutPolicy(options);
}
