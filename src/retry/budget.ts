import { type Clock, systemClock } from '../clock.js';
import { ADOPT_DEFAULTS, type AdoptsDefaults, type PolicyDefaults } from '../policy.js';
import * as v from '../validate.js';
import { FAILURE, SUCCESS } from '../window/sliding-window.js';
import { TimeWindow } from '../window/time-window.js';

/** Options of {@link RetryBudget}. */
export interface RetryBudgetOptions {
  /**
   * Retries allowed per first attempt, over the last `ttl` ms: with 0.2, a total outage
   * adds at most about 20 % more calls.
   * @default 0.2
   */
  ratio?: number;
  /**
   * Retries per second allowed whatever the ratio, so that low traffic can still retry.
   * @default 10
   */
  minPerSecond?: number;
  /**
   * How long (ms) a call counts toward the budget.
   * @default 10_000
   */
  ttl?: number;
  /**
   * Times the window of recent calls.
   * @default the clock of the first `retry` (or pipeline) using it that has one, else systemClock
   */
  clock?: Clock;
}

/**
 * Caps retries as a share of traffic (the retry budget of Finagle, gRPC and Envoy), so that
 * retries cannot multiply the load on a dependency that is already down. One budget can be
 * shared by many `retry` policies that call the same dependency.
 *
 * Over any `ttl`, retries stay within `ratio * firstAttempts + minPerSecond * ttl / 1000`.
 *
 * @example
 * ```ts
 * const budget = new RetryBudget({ ratio: 0.2, minPerSecond: 10 });
 * const a = retry({ budget }), b = retry({ budget });
 * ```
 */
export class RetryBudget implements AdoptsDefaults {
  /** Retries earned by each first attempt (see {@link RetryBudgetOptions.ratio}). */
  readonly ratio: number;
  /** Retries per second allowed whatever the traffic (see {@link RetryBudgetOptions.minPerSecond}). */
  readonly minPerSecond: number;
  /** How long (ms) a call counts toward the budget (see {@link RetryBudgetOptions.ttl}). */
  readonly ttl: number;
  private clock: Clock | undefined;
  private readonly reserve: number;
  /** A first attempt is counted as a call, a retry as a failed call: `failures` are retries. */
  private readonly window: TimeWindow;

  constructor(options: RetryBudgetOptions = {}) {
    const o = v.object('budget', options) as RetryBudgetOptions;
    v.knownKeys('RetryBudget', o, ['ratio', 'minPerSecond', 'ttl', 'clock']);
    this.ratio = o.ratio === undefined ? 0.2 : v.ratio('budget.ratio', o.ratio);
    this.minPerSecond =
      o.minPerSecond === undefined ? 10 : v.finite('budget.minPerSecond', o.minPerSecond, 0);
    // At least 10 ms: the window has 10 buckets of at least 1 ms each.
    this.ttl = o.ttl === undefined ? 10_000 : v.milliseconds('budget.ttl', o.ttl, 10, v.MAX_TIMER);
    this.clock = o.clock === undefined ? undefined : v.clock('budget.clock', o.clock);
    this.reserve = (this.minPerSecond * this.ttl) / 1000;
    this.window = new TimeWindow(this.ttl, 10);
  }

  /** @internal A budget given no clock takes the clock of the first pipeline that hands it one. */
  [ADOPT_DEFAULTS](defaults: PolicyDefaults): void {
    this.clock ??= defaults.clock;
  }

  private now(): number {
    return (this.clock ?? systemClock).now();
  }

  /** Counts a first attempt, which earns `ratio` of a retry. */
  deposit(): void {
    this.window.record(this.now(), SUCCESS);
  }

  /** Takes one retry from the budget; `false` when none is left. */
  tryWithdraw(): boolean {
    const w = this.window;
    w.advance(this.now());
    const retries = w.failures;
    if (retries + 1 > this.ratio * (w.calls - retries) + this.reserve) return false;
    w.record(this.now(), FAILURE);
    return true;
  }

  /**
   * Gives back a retry taken at `at` (clock time) that never ran, because its call was
   * aborted while waiting. Nothing is given back once that retry has left the window.
   * @internal
   */
  refund(at: number): void {
    this.window.forget(at, FAILURE);
  }

  /** Retries that could be taken right now. */
  get available(): number {
    const w = this.window;
    w.advance(this.now());
    return Math.max(0, Math.floor(this.ratio * (w.calls - w.failures) + this.reserve - w.failures));
  }
}

/**
 * @internal The `budget` option of a policy: a shared {@link RetryBudget} (which, given no
 * clock, counts time on the policy's clock), or options to build one from, or none.
 */
export function budgetOf(budget: unknown, clock: Clock | undefined): RetryBudget | undefined {
  if (v.isInstance('budget', budget, RetryBudget)) {
    if (clock !== undefined) (budget as RetryBudget)[ADOPT_DEFAULTS]({ clock });
    return budget as RetryBudget;
  }
  return budget === undefined ? undefined : new RetryBudget({ clock, ...v.object('budget', budget) });
}
