/** A timer set through a {@link Clock}; `clear()` is idempotent. */
export interface TimerHandle {
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

/**
 * The wall clock: `Date.now()` and ref'd `setTimeout`. Wall time (not a monotonic
 * clock) so that a `snapshot()` taken in one process means the same in another.
 */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout(callback, ms) {
    if (ms <= MAX_TIMER) {
      const timer = setTimeout(callback, ms);
      return { clear: () => clearTimeout(timer) };
    }
    return longTimer(callback, ms);
  },
};

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
