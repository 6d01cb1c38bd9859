/** A timer set through {@link Clock.setTimeout}, to cancel it before it fires. */
export interface TimerHandle {
  /** Cancels the timer; calling it again, or after the timer fired, does nothing. */
  clear(): void;
}

/**
 * The one source of time for every policy. Inject a {@link Clock} to make
 * time-dependent behaviour deterministic (see `ManualClock` in `breakwater/testing`).
 *
 * @example
 * ```ts
 * const breaker = new CircuitBreaker({ clock: new ManualClock() });
 * ```
 */
export interface Clock {
  /** Milliseconds since the epoch (or any fixed origin, as long as it only moves forward). */
  now(): number;
  /**
   * Calls `callback` once after `ms`. Policies set timers only for a call that waits on them
   * (a timeout, a retry delay) and clear them when that call settles.
   */
  setTimeout(callback: () => void, ms: number): TimerHandle;
}

/** A source of uniformly distributed numbers in `[0, 1)`, like `Math.random`. */
export type RandomSource = () => number;

const ORIGIN = performance.timeOrigin;

/**
 * The clock every policy uses unless given another: ref'd `setTimeout`, and a `now()` that
 * reads milliseconds since the epoch from the monotonic clock (`performance.timeOrigin +
 * performance.now()`). It never steps back or jumps when the wall clock is set (NTP, a VM
 * resumed), so deadlines and open timeouts keep their length; it still means the same across
 * processes, so a `snapshot()` taken in one can be restored in another (give or take clock
 * drift). Timers longer than 2^31 - 1 ms (about 24.8 days) are chained, not fired early.
 */
export const systemClock: Clock = {
  now: () => ORIGIN + performance.now(),
  setTimeout(callback, ms) {
    if (ms <= MAX_TIMER) {
      const timer = setTimeout(callback, ms);
      return { clear: () => clearTimeout(timer) };
    }
    return longTimer(callback, ms);
  },
};

/**
 * A timer for background work (sampling, syncing, polling) that keeps no process alive:
 * `unref`'d on the system clock; an injected clock's timers are used as that clock makes them.
 */
export function backgroundTimer(clock: Clock, callback: () => void, ms: number): TimerHandle {
  if (clock !== systemClock) return clock.setTimeout(callback, ms);
  const timer = setTimeout(callback, Math.min(ms, MAX_TIMER));
  timer.unref();
  return { clear: () => clearTimeout(timer) };
}

/**
 * @internal One timer for the calls of a policy whose deadlines it keeps in order: armed for
 * the earliest, and re-armed by its owner when it fires. On the system clock, once no call
 * waits on it ({@link idle}), it is unref'd and left to run out rather than cleared: a loop
 * of sequential calls then costs a ref toggle per call instead of a `setTimeout` and a
 * `clearTimeout` (which, as the last timer of its duration, also adds and removes a list in
 * Node's timer queue): ~0.45 µs a call. It fires at most once more, finding nothing due, and
 * holds no process open meanwhile. On any other clock it is cleared, as tests expect.
 */
export class DeadlineTimer {
  /** When the armed timer fires; `Infinity` when none is armed. */
  private due = Number.POSITIVE_INFINITY;
  private handle: TimerHandle | undefined = undefined;
  /** The system clock's timer, which can be unref'd. */
  private node: NodeJS.Timeout | undefined = undefined;
  /** Whether {@link node} holds the process open (a call waits on it). */
  private held = false;

  constructor(private readonly callback: () => void) {}

  /** Makes sure the timer fires by `due` (and no earlier than it), holding the process open until then. */
  arm(clock: Clock, due: number, now: number): void {
    if (this.due <= due) {
      if (this.node !== undefined && !this.held) {
        this.node.ref();
        this.held = true;
      }
      return;
    }
    this.clear();
    this.due = due;
    const ms = Math.max(0, due - now);
    if (clock === systemClock && ms <= MAX_TIMER) {
      // Whole ms, rounded up: Node truncates, and a timer that fires early must be set again.
      this.node = setTimeout(this.fired, Math.ceil(ms));
      this.held = true;
    } else {
      this.handle = clock.setTimeout(this.fired, ms);
    }
  }

  /** No call waits on the timer now. */
  idle(): void {
    if (this.node === undefined) this.clear();
    else if (this.held) {
      this.node.unref();
      this.held = false;
    }
  }

  clear(): void {
    if (this.node !== undefined) clearTimeout(this.node);
    this.handle?.clear();
    this.node = this.handle = undefined;
    this.due = Number.POSITIVE_INFINITY;
    this.held = false;
  }

  private readonly fired = (): void => {
    this.node = this.handle = undefined;
    this.due = Number.POSITIVE_INFINITY;
    this.held = false;
    this.callback();
  };
}

/** Node fires a timer of more than 2^31 - 1 ms after 1 ms; a longer wait is chained from shorter ones. */
const MAX_TIMER = 2 ** 31 - 1;

function longTimer(callback: () => void, ms: number): TimerHandle {
  const due = Date.now() + ms;
  let timer: NodeJS.Timeout;
  const arm = () => {
    const left = due - Date.now();
    timer = left > MAX_TIMER ? setTimeout(arm, MAX_TIMER) : setTimeout(callback, Math.max(0, left));
  };
  arm();
  return { clear: () => clearTimeout(timer) };
}
