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
  private failures = 0;

  constructor(readonly threshold: number) {}

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

export function createWindow(options: WindowOptions): SlidingWindow {
  return options.type === 'count'
    ? new CountWindow(options.size)
    : new TimeWindow(options.duration, options.buckets ?? 10);
}
