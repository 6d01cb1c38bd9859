import { CountWindow } from '../window/count-window.js';
import { FAILURE, type Outcome, type SlidingWindow, type WindowOptions } from '../window/sliding-window.js';
import { TimeWindow } from '../window/time-window.js';
import type { TripReason } from './state.js';

/**
 * Decides, from the calls counted while closed, when the circuit should open.
 * The state machine owns the states; a strategy owns its counts.
 */
export interface TripStrategy {
  /** Counts one call; returns why the circuit should open now, or `undefined`. */
  record(now: number, outcome: Outcome): TripReason | undefined;
  /** Forgets every count (on each state change). */
  reset(): void;
}

/** Opens after `threshold` failures in a row; any success starts the count again. */
export class ConsecutiveFailures implements TripStrategy {
  /** @param failures failures in a row already counted (kept across `configure`). */
  constructor(
    readonly threshold: number,
    private failures = 0,
  ) {}

  /** Failures in a row counted so far. */
  get count(): number {
    return this.failures;
  }

  record(_now: number, outcome: Outcome): TripReason | undefined {
    if ((outcome & FAILURE) === 0) {
      this.failures = 0;
      return undefined;
    }
    return ++this.failures >= this.threshold ? 'consecutive-failures' : undefined;
  }

  reset(): void {
    this.failures = 0;
  }
}

/** Opens when, over a window with at least `minimumCalls` calls, the failure or slow-call rate reaches its threshold. */
export class RateThresholds implements TripStrategy {
  constructor(
    readonly window: SlidingWindow,
    readonly minimumCalls: number,
    /** Above 1 when only slow calls are watched. */
    readonly failureRate: number,
    /** Above 1 when slow calls are not watched. */
    readonly slowCallRate: number,
    /** What `window` was made from: `configure` keeps the window (and its counts) while these stay the same. */
    readonly windowOptions?: WindowOptions,
  ) {}

  record(now: number, outcome: Outcome): TripReason | undefined {
    const w = this.window;
    w.record(now, outcome);
    if (w.calls < this.minimumCalls) return undefined;
    if (w.failures / w.calls >= this.failureRate) return 'failure-rate';
    if (w.slowCalls / w.calls >= this.slowCallRate) return 'slow-call-rate';
    return undefined;
  }

  reset(): void {
    this.window.reset();
  }
}

/** Opens when either strategy says so; both see every call. */
export class EitherStrategy implements TripStrategy {
  constructor(
    readonly first: TripStrategy,
    readonly second: TripStrategy,
  ) {}

  record(now: number, outcome: Outcome): TripReason | undefined {
    const a = this.first.record(now, outcome);
    const b = this.second.record(now, outcome);
    return a ?? b;
  }

  reset(): void {
    this.first.reset();
    this.second.reset();
  }
}

/** The parts of a strategy, to carry their counts into a reconfigured one. */
function partsOf(strategy: TripStrategy): { consecutive?: ConsecutiveFailures; rate?: RateThresholds } {
  if (strategy instanceof EitherStrategy) return { ...partsOf(strategy.first), ...partsOf(strategy.second) };
  if (strategy instanceof ConsecutiveFailures) return { consecutive: strategy };
  if (strategy instanceof RateThresholds) return { rate: strategy };
  return {};
}

/** What a strategy is built from: the resolved thresholds. */
export interface StrategyOptions {
  readonly failureThreshold: number | undefined;
  readonly window: WindowOptions | undefined;
  readonly minimumCalls: number;
  readonly failureRateThreshold: number | undefined;
  readonly slowCallRateThreshold: number | undefined;
}

/**
 * The strategy for `o`. Given the `previous` one (on `configure`), it keeps the failures in a
 * row, and the window with its calls while the window's type and size stay the same.
 */
export function buildStrategy(o: StrategyOptions, previous?: TripStrategy): TripStrategy {
  const before = previous === undefined ? {} : partsOf(previous);
  const consecutive =
    o.failureThreshold === undefined
      ? undefined
      : new ConsecutiveFailures(o.failureThreshold, before.consecutive?.count ?? 0);
  let rate: RateThresholds | undefined;
  if (o.window !== undefined) {
    const kept = before.rate;
    const same = kept !== undefined && JSON.stringify(kept.windowOptions) === JSON.stringify(o.window);
    rate = new RateThresholds(
      same ? kept.window : createWindow(o.window),
      o.minimumCalls,
      o.failureRateThreshold ?? Number.POSITIVE_INFINITY,
      o.slowCallRateThreshold ?? Number.POSITIVE_INFINITY,
      o.window,
    );
  }
  return consecutive && rate
    ? new EitherStrategy(consecutive, rate)
    : (consecutive ?? (rate as TripStrategy));
}

export function createWindow(options: WindowOptions): SlidingWindow {
  return options.type === 'count'
    ? new CountWindow(options.size)
    : new TimeWindow(options.duration, options.buckets ?? 10);
}
