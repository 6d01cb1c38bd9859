/**
 * The permit arithmetic of one rate-limit bucket, apart from its queue: pure state that
 * answers when the `q`-th next permit is free, so that the policy can decide at arrival
 * whether a call's wait fits in `maxWait` and arm one timer for the head of the queue.
 */
export interface Meter {
  /** The time at which the permit after `position` others (0: the next one) is free, `>= now`. */
  nextFree(now: number, position: number): number;
  /** Spends one permit at `now` (only when `nextFree(now, 0) <= now`). */
  take(now: number): void;
  /**
   * Spends one permit at `now` if one is free (`nextFree(now, 0) <= now`, give or take
   * {@link EPSILON}): the admission of a call that finds nobody waiting, in one step.
   */
  tryTake(now: number): boolean;
  /** Whether the bucket is back where an unused one starts: forgetting it changes nothing. */
  atRest(now: number): boolean;
  /** Permits that could be taken at `now`, back to back. */
  available(now: number): number;
}

/** Float sums (`interval / limit` is seldom exact) may leave a due permit a hair short: this much is forgiven. */
export const EPSILON = 1e-6;

/**
 * A token bucket of `burst` tokens refilled at `limit` per `interval`, kept as one number:
 * the generic cell rate algorithm's theoretical arrival time (`tat`). A permit is free at
 * `t` when `tat - (burst - 1) * T <= t`, where `T = interval / limit`; taking one moves
 * `tat` to `max(tat, t) + T`. Admissions within any `interval` stay within `burst + limit`.
 * O(1) time and 8 bytes of state per bucket.
 */
export class TokenBucket implements Meter {
  private tat = Number.NEGATIVE_INFINITY;
  private readonly spacing: number;
  private readonly tolerance: number;

  constructor(
    limit: number,
    interval: number,
    private readonly burst: number,
  ) {
    this.spacing = interval / limit;
    this.tolerance = (burst - 1) * this.spacing;
  }

  nextFree(now: number, position: number): number {
    const free = Math.max(this.tat, now) + position * this.spacing - this.tolerance;
    return Math.max(free, now);
  }

  take(now: number): void {
    this.tat = Math.max(this.tat, now) + this.spacing;
  }

  tryTake(now: number): boolean {
    const tat = Math.max(this.tat, now);
    if (tat - this.tolerance > now + EPSILON) return false;
    this.tat = tat + this.spacing;
    return true;
  }

  atRest(now: number): boolean {
    return this.tat <= now;
  }

  available(now: number): number {
    const tokens = Math.floor(
      (now + this.tolerance + this.spacing - Math.max(this.tat, now)) / this.spacing + EPSILON,
    );
    return Math.min(this.burst, Math.max(0, tokens));
  }
}

/**
 * An exact sliding window: the times of the last `limit` admissions in a ring. A permit is
 * free at `t` when the oldest of them is at least `interval` old, so no window of
 * `interval` ms (half open) ever holds more than `limit` admissions. O(1) time, and
 * `8 * limit` bytes per bucket.
 */
export class SlidingLog implements Meter {
  private readonly log: Float64Array;
  /** Index of the oldest admission in the ring. */
  private oldest = 0;

  constructor(
    private readonly limit: number,
    private readonly interval: number,
  ) {
    this.log = new Float64Array(limit).fill(Number.NEGATIVE_INFINITY);
  }

  nextFree(now: number, position: number): number {
    // The permit `position` is free one interval after the admission it replaces; past one lap
    // of the ring, after that of a waiter ahead, which is itself admitted no earlier than now.
    const lap = Math.floor(position / this.limit);
    const first = this.log[(this.oldest + (position % this.limit)) % this.limit]! + this.interval;
    return Math.max(first, now) + lap * this.interval;
  }

  take(now: number): void {
    this.log[this.oldest] = now;
    this.oldest = (this.oldest + 1) % this.limit;
  }

  tryTake(now: number): boolean {
    if (this.log[this.oldest]! + this.interval > now + EPSILON) return false;
    this.take(now);
    return true;
  }

  atRest(now: number): boolean {
    const newest = this.log[(this.oldest + this.limit - 1) % this.limit]!;
    return newest + this.interval <= now;
  }

  available(now: number): number {
    let n = 0;
    while (n < this.limit && this.log[(this.oldest + n) % this.limit]! + this.interval <= now + EPSILON) n++;
    return n;
  }
}
