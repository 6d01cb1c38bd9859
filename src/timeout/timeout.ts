import { EventEmitter } from 'eventemitter3';
import { type Clock, systemClock, type TimerHandle } from '../clock.js';
import { TimeoutError } from '../errors.js';
import {
  ADOPT_DEFAULTS,
  type AdoptsDefaults,
  Context,
  type ExecuteOptions,
  type Operation,
  type Policy,
  type PolicyDefaults,
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
  /** The limit (ms). */
  ms: number;
  /** @default 'cooperative' */
  strategy?: TimeoutStrategy;
  /** Names the policy in metrics. @default 'timeout' */
  name?: string;
  /** @default systemClock, or the pipeline's clock */
  clock?: Clock;
}

export interface TimedOutEvent {
  readonly timeout: number;
  readonly strategy: TimeoutStrategy;
}

export interface TimeoutEvents {
  timedOut: [TimedOutEvent];
}

/**
 * Bounds how long a call may run. See {@link timeout}.
 *
 * All calls of one policy share one timer: their deadlines are `now + ms` with the same
 * `ms`, so they queue in deadline order and the timer is armed for the earliest. A call
 * costs a link in that list instead of a `setTimeout`/`clearTimeout` pair (~0.4 µs), and
 * its AbortSignal is built only if the function asks for it (~3 µs). The timer is
 * cleared as soon as no call is pending.
 */
export class TimeoutPolicy extends EventEmitter<TimeoutEvents> implements Policy, AdoptsDefaults {
  readonly name: string;
  readonly ms: number;
  readonly strategy: TimeoutStrategy;
  private clock: Clock | undefined;
  /** Pending calls, earliest deadline first. */
  private head: TimedCall<unknown> | undefined;
  private tail: TimedCall<unknown> | undefined;
  private timer: TimerHandle | undefined;
  /** Set while expired calls are being aborted: their listeners may start calls, which must not arm the timer. */
  private firing = false;

  constructor(options: number | TimeoutOptions) {
    super();
    const o: TimeoutOptions =
      typeof options === 'number' ? { ms: options } : (v.object('timeout', options) as never);
    v.knownKeys('timeout', o, ['ms', 'strategy', 'name', 'clock']);
    this.ms = v.milliseconds('ms', o.ms);
    this.strategy = o.strategy ?? 'cooperative';
    if (this.strategy !== 'cooperative' && this.strategy !== 'aggressive') {
      throw new TypeError(`strategy must be "cooperative" or "aggressive", got ${v.show(this.strategy)}`);
    }
    this.name = o.name === undefined ? 'timeout' : v.string('name', o.name);
    this.clock = o.clock === undefined ? undefined : v.clock('clock', o.clock);
  }

  /** What this policy is, for adapters that walk a pipeline. */
  get kind(): 'timeout' {
    return 'timeout';
  }

  [ADOPT_DEFAULTS](defaults: PolicyDefaults): void {
    this.clock ??= defaults.clock;
  }

  execute<T>(fn: Operation<T>, options?: ExecuteOptions): Promise<T> {
    const parent = tryContextOf(options);
    if (parent instanceof TypeError) return Promise.reject(parent);
    if (parent.aborted) return Promise.reject(parent.signal.reason);
    const call = new TimedCall<T>(this, parent);
    this.track(call as TimedCall<unknown>);
    return call.run(fn, parent);
  }

  /** @internal Queues a call by its deadline and makes sure the timer is armed. */
  track(call: TimedCall<unknown>): void {
    const clock = this.clock ?? systemClock;
    const now = clock.now();
    call.deadline = now + this.ms;
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
    if (this.timer === undefined && !this.firing)
      this.timer = clock.setTimeout(this.onTimer, this.head!.deadline - now);
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
    if (this.head === undefined && this.timer !== undefined && !this.firing) {
      this.timer.clear();
      this.timer = undefined;
    }
  }

  /** Expires every call whose deadline has passed, then re-arms for the next one. */
  private readonly onTimer = (): void => {
    this.timer = undefined;
    const clock = this.clock ?? systemClock;
    const now = clock.now();
    this.firing = true;
    // Calls that expiring ones start are due no earlier than now + ms: stop at the last call
    // queued before this firing, or a zero ms timeout on a still clock would loop forever.
    const last = this.tail;
    try {
      for (let call = this.head; call !== undefined && call.deadline <= now; call = this.head) {
        this.untrack(call);
        call.expire(); // before the event: a throwing listener must not leave the call pending
        if (this.listenerCount('timedOut') !== 0)
          this.emit('timedOut', { timeout: this.ms, strategy: this.strategy });
        if (call === last) break;
      }
    } finally {
      this.firing = false;
      if (this.head !== undefined)
        this.timer = clock.setTimeout(this.onTimer, Math.max(0, this.head.deadline - now));
    }
  };
}

/**
 * One call under a timeout, and the context its function receives: the signal is built on
 * first access, already aborted if the call was. Settling releases the deadline, the
 * link to the caller's signal, and with the last pending call the policy's timer.
 */
class TimedCall<T> extends Context {
  readonly attempt: number;
  readonly key: string | undefined;
  deadline = 0;
  prev: TimedCall<unknown> | undefined = undefined;
  next: TimedCall<unknown> | undefined = undefined;
  tracked = false;
  private controller: AbortController | undefined = undefined;
  private abortReason: unknown = undefined;
  private isAborted = false;
  private fired = false;
  private settled = false;
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
  }

  get signal(): AbortSignal {
    if (this.controller === undefined) {
      this.controller = new AbortController();
      if (this.isAborted) this.controller.abort(this.abortReason);
    }
    return this.controller.signal;
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
    return new Promise<T>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
      if (parent.abortable) this.follow(parent);
      let pending: PromiseLike<T> | T;
      try {
        pending = fn(this);
      } catch (error) {
        this.settle(error, false);
        return;
      }
      Promise.resolve(pending).then(
        (value) => this.settle(value, true),
        (error: unknown) => this.settle(this.fired ? this.timeoutError(error) : error, false),
      );
    });
  }

  /** What a call that failed after its deadline rejects with: the policy's own error, never wrapped twice. */
  private timeoutError(error: unknown): unknown {
    return error === this.abortReason ? error : new TimeoutError(this.policy.ms, { cause: error });
  }

  /** The deadline passed. */
  expire(): void {
    this.fired = true;
    const error = new TimeoutError(this.policy.ms);
    this.abort(error);
    if (this.policy.strategy === 'aggressive') this.settle(error, false);
  }

  /** Aborts this call when the caller's does, without building the caller's signal. */
  private follow(parent: Context): void {
    this.unfollow = parent.onAbort((reason) => {
      // The caller gave up first: this call can no longer time out, so its outcome is never a TimeoutError.
      this.policy.untrack(this as TimedCall<unknown>);
      this.abort(reason);
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
    this.settled = true;
    this.policy.untrack(this as TimedCall<unknown>);
    this.unfollow?.();
    if (ok) this.resolve(value as T);
    else this.reject(value);
  }
}

/**
 * Bounds how long a call may run: aborts the call's signal after `ms` and, by strategy,
 * waits for it to settle or rejects at once. A {@link TimeoutError} is raised only when
 * this policy's own timer fired; a caller's abort passes through as the caller's reason.
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
