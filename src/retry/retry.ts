import { type Clock, type RandomSource, systemClock } from '../clock.js';
import { delay } from '../delay.js';
import { Emitter } from '../emitter.js';
import {
  ADOPT_DEFAULTS,
  type AdoptsDefaults,
  AttemptContext,
  type Context,
  type ExecuteOptions,
  notAFunction,
  type Operation,
  type Policy,
  type PolicyDefaults,
  tryContextOf,
} from '../policy.js';
import * as v from '../validate.js';
import { MAX_TIMER } from '../validate.js';
import { type Backoff, exponential } from './backoff.js';
import { budgetOf, type RetryBudget, type RetryBudgetOptions } from './budget.js';

/** Options of {@link retry}. */
export interface RetryOptions {
  /**
   * Retries after the first attempt: a function that always fails is called `retries + 1` times.
   * `Infinity` retries until the call succeeds, and is accepted only with a `maxElapsed` or a
   * `budget` to bound it.
   * @default 3
   */
  retries?: number;
  /**
   * The delay before each retry: `constant(ms)`, `exponential(...)`, or `(attempt, error) => ms`.
   * @default exponential({ initial: 100, max: 30_000, jitter: 'full' })
   */
  backoff?: Backoff;
  /**
   * Whether an error is worth another attempt (`attempt` is the number of the attempt that failed, 0 first).
   * Errors that carry `retryAfter: Infinity` (an isolated circuit) and calls whose signal was
   * aborted are never retried.
   * @default () => true
   * @example
   * ```ts
   * shouldRetry: (error) => !(error instanceof ValidationError)
   * ```
   */
  shouldRetry?: (error: unknown, attempt: number) => boolean;
  /**
   * Cap on the time (ms) from the first attempt: no retry is started, and no delay begun,
   * that would end past it.
   * @default Infinity
   * @example
   * ```ts
   * maxElapsed: 2_000 // a caller waits at most about 2 s plus one attempt
   * ```
   */
  maxElapsed?: number;
  /**
   * The longest `retryAfter` (ms) from an error that is waited out. An error that asks for
   * more, such as a {@link BrokenCircuitError} of a circuit that has just opened, is not
   * retried: the caller gets it at once (`gaveUp` reason `retry-after-too-long`), so an open
   * circuit fails fast through `retry`. `Infinity` waits out any `retryAfter`.
   * @default 1_000
   * @example
   * ```ts
   * maxRetryAfter: Infinity // honour every Retry-After, however long (bound it with maxElapsed)
   * ```
   */
  maxRetryAfter?: number;
  /**
   * A {@link RetryBudget} (to share one among policies) or its options: retries beyond it give up.
   * @example
   * ```ts
   * budget: { ratio: 0.2, minPerSecond: 10 }
   * ```
   */
  budget?: RetryBudget | RetryBudgetOptions;
  /** Names the policy in metrics. @default 'retry' */
  name?: string;
  /** @default systemClock, or the pipeline's clock */
  clock?: Clock;
  /** Source of jitter. @default Math.random, or the pipeline's random source */
  random?: RandomSource;
}

/** Payload of the {@link RetryEvents.retried | retried} event. */
export interface RetriedEvent {
  /** The retry about to run (1 for the first retry). */
  readonly attempt: number;
  /** ms waited before it. */
  readonly delay: number;
  /** The error of the attempt before it. */
  readonly error: unknown;
}

/** Payload of the {@link RetryEvents.gaveUp | gaveUp} event. */
export interface GaveUpEvent {
  /** Attempts made, the first included. */
  readonly attempts: number;
  /** The last error, which the caller receives unchanged. */
  readonly error: unknown;
  /**
   * Why, checked in this order, the first that applies winning:
   * - `not-retryable`: `shouldRetry` refused the error, or it carries `retryAfter: Infinity`
   *   (an isolated circuit); this wins even on the last allowed attempt, since more
   *   retries would not have retried it either;
   * - `retries-exhausted`: `retries` retries were made;
   * - `retry-after-too-long`: the error's `retryAfter` exceeds `maxRetryAfter`;
   * - `max-elapsed`: the next delay would end past `maxElapsed`;
   * - `budget-exhausted`: the {@link RetryBudget} has no retry left.
   */
  readonly reason:
    | 'retries-exhausted'
    | 'not-retryable'
    | 'retry-after-too-long'
    | 'max-elapsed'
    | 'budget-exhausted';
}

/** The events of a {@link RetryPolicy}, each with one payload object. */
export interface RetryEvents {
  /**
   * An attempt failed and a retry was granted (by `shouldRetry`, `retries`, `maxElapsed` and
   * the budget): fired before its delay begins. The call may still be aborted during the delay.
   */
  retried: [RetriedEvent];
  /**
   * An attempt failed and no retry follows: fired just before the call rejects with its
   * error. A call its caller aborted, or one that succeeded, never fires this.
   */
  gaveUp: [GaveUpEvent];
}

const DEFAULT_BACKOFF = exponential({ initial: 100, max: 30_000, jitter: 'full' });
const KEYS = [
  'name',
  'retries',
  'backoff',
  'shouldRetry',
  'maxElapsed',
  'maxRetryAfter',
  'budget',
  'clock',
  'random',
];

/** Reads the `retryAfter` (ms) an error carries, such as a `BrokenCircuitError` or a user's HTTP 429 error. */
function retryAfterOf(error: unknown): number {
  if (typeof error !== 'object' || error === null) return 0;
  const after = (error as { retryAfter?: unknown }).retryAfter;
  return typeof after === 'number' && after > 0 ? after : 0;
}

/**
 * Runs a call again when it fails. See {@link retry}.
 *
 * The loop is breakwater's own rather than p-retry's: p-retry sleeps on the global
 * timers (no injected clock), knows no budget or `retryAfter`, and costs ~10 µs even
 * when the first attempt succeeds.
 */
export class RetryPolicy extends Emitter<RetryEvents> implements Policy, AdoptsDefaults {
  /** Names the policy in metrics. */
  readonly name: string;
  /** Retries allowed after the first attempt (`Infinity` for no limit). */
  readonly retries: number;
  /** The budget retries are drawn from, shared or built from the options; `undefined` when none. */
  readonly budget: RetryBudget | undefined;
  private readonly backoff: Backoff;
  private readonly shouldRetry: ((error: unknown, attempt: number) => boolean) | undefined;
  private readonly maxElapsed: number;
  private readonly maxRetryAfter: number;
  private clock: Clock | undefined;
  private random: RandomSource | undefined;

  constructor(options: RetryOptions = {}) {
    super();
    const o = v.object('retry options', options) as RetryOptions;
    v.knownKeys('retry', o, KEYS);
    this.name = o.name === undefined ? 'retry' : v.string('name', o.name);
    this.retries = o.retries === undefined ? 3 : v.countOrUnlimited('retries', o.retries, 0);
    this.backoff = o.backoff === undefined ? DEFAULT_BACKOFF : v.func<Backoff>('backoff', o.backoff);
    this.shouldRetry = o.shouldRetry === undefined ? undefined : v.func('shouldRetry', o.shouldRetry);
    this.maxElapsed =
      o.maxElapsed === undefined ? Number.POSITIVE_INFINITY : v.msOrUnlimited('maxElapsed', o.maxElapsed);
    this.maxRetryAfter =
      o.maxRetryAfter === undefined ? 1_000 : v.msOrUnlimited('maxRetryAfter', o.maxRetryAfter);
    this.clock = o.clock === undefined ? undefined : v.clock('clock', o.clock);
    this.random = o.random === undefined ? undefined : v.random('random', o.random);
    const budget = o.budget;
    if (
      this.retries === Number.POSITIVE_INFINITY &&
      this.maxElapsed === Number.POSITIVE_INFINITY &&
      budget === undefined
    ) {
      throw new RangeError('retries: Infinity needs maxElapsed or budget to bound it, got neither');
    }
    this.budget = budgetOf(budget, this.clock);
  }

  /** What this policy is, for adapters that walk a pipeline. */
  get kind(): 'retry' {
    return 'retry';
  }

  /** @internal */
  [ADOPT_DEFAULTS](defaults: PolicyDefaults): void {
    this.clock ??= defaults.clock;
    this.random ??= defaults.random;
    this.budget?.[ADOPT_DEFAULTS](defaults);
  }

  /**
   * Runs `fn`, and again after a delay each time it fails, until it succeeds or a rule
   * gives up (see {@link GaveUpEvent.reason}). `ctx.attempt` tells `fn` which attempt it is
   * (0 first). A delay is cut short by the caller's abort.
   *
   * @throws the last attempt's error, unchanged, when retrying gives up.
   * @throws the caller's `signal.reason` when the call is aborted before an attempt starts
   * or during a delay.
   */
  execute<T>(fn: Operation<T>, options?: ExecuteOptions): Promise<T> {
    if (typeof fn !== 'function') return Promise.reject(notAFunction(fn));
    const context = tryContextOf(options);
    if (context instanceof TypeError) return Promise.reject(context);
    if (context.aborted) return Promise.reject(context.signal.reason);
    let start: number;
    let pending: Promise<T>;
    try {
      this.budget?.deposit();
      // maxElapsed counts from the first attempt; read the clock only when there is a cap.
      start = this.maxElapsed === Number.POSITIVE_INFINITY ? 0 : (this.clock ?? systemClock).now();
    } catch (error) {
      return Promise.reject(error); // an injected clock that throws
    }
    try {
      pending = Promise.resolve(fn(context));
    } catch (error) {
      return this.retryAfterFailure(fn, context, error, start);
    }
    // A `then` rather than an async frame: a first attempt that succeeds costs one promise.
    return pending.then(undefined, (error: unknown) => this.retryAfterFailure(fn, context, error, start));
  }

  /** The slow path, apart so that a first-try success pays for none of it. */
  private async retryAfterFailure<T>(
    fn: Operation<T>,
    parent: Context,
    firstError: unknown,
    start: number,
  ): Promise<T> {
    const clock = this.clock ?? systemClock;
    const random = this.random ?? Math.random;
    let error = firstError;
    let previousDelay = 0;
    for (let attempt = 1; ; attempt++) {
      if (parent.aborted) throw parent.signal.reason;
      let giveUp = this.refusal(error, attempt);
      let wait = 0;
      if (giveUp === undefined) {
        const after = retryAfterOf(error);
        wait = this.backoff(attempt, error, previousDelay, random);
        // Checked before the retryAfter max, which would hide a negative delay.
        if (!(wait >= 0 && wait <= MAX_TIMER)) {
          throw new RangeError(`backoff returned ${String(wait)} for attempt ${attempt}`, { cause: error });
        }
        if (after > this.maxRetryAfter || after > MAX_TIMER) giveUp = 'retry-after-too-long';
        else if (clock.now() - start + Math.max(wait, after) > this.maxElapsed) giveUp = 'max-elapsed';
        else if (this.budget !== undefined && !this.budget.tryWithdraw()) giveUp = 'budget-exhausted';
        wait = Math.max(wait, after);
      }
      if (giveUp !== undefined) {
        if (this.listenerCount('gaveUp') !== 0)
          this.emit('gaveUp', { attempts: attempt, error, reason: giveUp });
        throw error;
      }
      const withdrawnAt = this.budget === undefined ? 0 : clock.now();
      if (this.listenerCount('retried') !== 0) this.emit('retried', { attempt, delay: wait, error });
      previousDelay = wait;
      try {
        if (wait > 0) await delay(clock, wait, parent);
        // Whatever ran since the last attempt (a `retried` listener, the delay) may have aborted the call.
        if (parent.aborted) throw parent.signal.reason;
      } catch (reason) {
        this.budget?.refund(withdrawnAt); // the retry it paid for never ran
        throw reason;
      }
      try {
        return await fn(new AttemptContext(parent, attempt));
      } catch (next) {
        error = next;
      }
    }
  }

  /** Why `error` ends the retrying before any delay is computed, if it does. */
  private refusal(error: unknown, attempt: number): GaveUpEvent['reason'] | undefined {
    if (retryAfterOf(error) === Number.POSITIVE_INFINITY) return 'not-retryable';
    if (this.shouldRetry !== undefined && !this.shouldRetry(error, attempt - 1)) return 'not-retryable';
    if (attempt > this.retries) return 'retries-exhausted';
    return undefined;
  }
}

/**
 * Retries a failing call with backoff, honouring `retryAfter` on errors, a retry budget,
 * `maxElapsed` and the call's signal. The last error is rethrown unchanged.
 *
 * @example
 * ```ts
 * const policy = retry({ retries: 3, backoff: exponential({ initial: 100, max: 5_000, jitter: 'decorrelated' }) });
 * const user = await policy.execute(({ signal, attempt }) => fetchUser(id, { signal }));
 * ```
 */
export function retry(options?: RetryOptions): RetryPolicy {
  return new RetryPolicy(options);
}
