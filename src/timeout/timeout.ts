import { EventEmitter } from 'eventemitter3';
import { type Clock, systemClock, type TimerHandle } from '../clock.js';
import { TimeoutError } from '../errors.js';
import {
  ADOPT_DEFAULTS,
  type AdoptsDefaults,
  CallContext,
  contextOf,
  type ExecuteContext,
  type ExecuteOptions,
  NEVER_ABORTED,
  type Operation,
  type Policy,
  type PolicyDefaults,
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

/** Bounds how long a call may run. See {@link timeout}. */
export class TimeoutPolicy extends EventEmitter<TimeoutEvents> implements Policy, AdoptsDefaults {
  readonly ms: number;
  readonly strategy: TimeoutStrategy;
  private clock: Clock | undefined;

  constructor(options: number | TimeoutOptions) {
    super();
    const o: TimeoutOptions =
      typeof options === 'number' ? { ms: options } : (v.object('timeout', options) as never);
    v.knownKeys('timeout', o, ['ms', 'strategy', 'clock']);
    this.ms = v.milliseconds('ms', o.ms);
    this.strategy = o.strategy ?? 'cooperative';
    if (this.strategy !== 'cooperative' && this.strategy !== 'aggressive') {
      throw new TypeError(`strategy must be "cooperative" or "aggressive", got ${v.show(this.strategy)}`);
    }
    this.clock = o.clock === undefined ? undefined : v.clock('clock', o.clock);
  }

  [ADOPT_DEFAULTS](defaults: PolicyDefaults): void {
    this.clock ??= defaults.clock;
  }

  execute<T>(fn: Operation<T>, options?: ExecuteOptions): Promise<T> {
    const parent = contextOf(options);
    const outer = parent.signal;
    if (outer.aborted) return Promise.reject(outer.reason);
    return new TimedCall(this, fn, parent).run(outer, this.clock ?? systemClock);
  }

  /** @internal */
  timedOut(): void {
    if (this.listenerCount('timedOut') !== 0)
      this.emit('timedOut', { timeout: this.ms, strategy: this.strategy });
  }
}

/**
 * One call under a timeout: its own controller, timer and link to the caller's signal,
 * all released the moment it settles. A class rather than closures, so a call allocates
 * one object for all of its handlers.
 */
class TimedCall<T> {
  private readonly controller = new AbortController();
  private readonly context: CallContext;
  private timer: TimerHandle | undefined;
  private outer: AbortSignal = NEVER_ABORTED;
  private fired = false;
  private settled = false;
  private resolve!: (value: T) => void;
  private reject!: (error: unknown) => void;

  constructor(
    private readonly policy: TimeoutPolicy,
    private readonly fn: Operation<T>,
    parent: ExecuteContext,
  ) {
    this.context = new CallContext(this.controller.signal, parent.attempt, parent.key);
  }

  run(outer: AbortSignal, clock: Clock): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
      this.timer = clock.setTimeout(this.onTimeout, this.policy.ms);
      if (outer !== NEVER_ABORTED) {
        this.outer = outer;
        outer.addEventListener('abort', this.onOuterAbort, { once: true });
      }
      let pending: PromiseLike<T> | T;
      try {
        pending = this.fn(this.context);
      } catch (error) {
        this.onRejected(error);
        return;
      }
      Promise.resolve(pending).then(this.onFulfilled, this.onRejected);
    });
  }

  private readonly onTimeout = (): void => {
    this.fired = true;
    this.timer = undefined;
    this.policy.timedOut();
    const error = new TimeoutError(this.policy.ms);
    this.controller.abort(error);
    if (this.policy.strategy === 'aggressive') this.settle(error, false);
  };

  private readonly onOuterAbort = (): void => {
    const reason = this.outer.reason;
    // The caller gave up first: this call can no longer time out, so its outcome is never a TimeoutError.
    this.timer?.clear();
    this.timer = undefined;
    this.controller.abort(reason);
    if (this.policy.strategy === 'aggressive') this.settle(reason, false);
  };

  private readonly onFulfilled = (value: T): void => {
    this.settle(value, true);
  };

  private readonly onRejected = (error: unknown): void => {
    this.settle(this.fired ? new TimeoutError(this.policy.ms, { cause: error }) : error, false);
  };

  private settle(value: unknown, ok: boolean): void {
    if (this.settled) return;
    this.settled = true;
    this.timer?.clear();
    this.outer.removeEventListener('abort', this.onOuterAbort);
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
