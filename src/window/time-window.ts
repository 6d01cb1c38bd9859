import { FAILURE, type Outcome, SLOW, type SlidingWindow } from './sliding-window.js';

/**
 * Calls of the last `duration` ms, in `buckets` slices. Each slice keeps its own
 * counts and the window keeps running totals; when time moves on, the slices it
 * passes are subtracted and cleared. A record costs O(1) amortized (at most
 * `buckets` slices are cleared, however long the window sat idle) and holds no timer.
 */
export class TimeWindow implements SlidingWindow {
  calls = 0;
  failures = 0;
  slowCalls = 0;
  private readonly bucketCalls: Uint32Array;
  private readonly bucketFailures: Uint32Array;
  private readonly bucketSlow: Uint32Array;
  private readonly bucketMs: number;
  /** Index (time / bucketMs) of the newest bucket; -Infinity until the first call. */
  private head = Number.NEGATIVE_INFINITY;
  /**
   * The ring slot of the newest bucket. Tracked apart from `head` (rather than `head % buckets`)
   * so that a clock reading below 0 cannot yield a negative index.
   */
  private headSlot = 0;

  constructor(
    readonly duration: number,
    readonly buckets: number,
  ) {
    this.bucketMs = duration / buckets;
    this.bucketCalls = new Uint32Array(buckets);
    this.bucketFailures = new Uint32Array(buckets);
    this.bucketSlow = new Uint32Array(buckets);
  }

  record(now: number, outcome: Outcome): void {
    this.advance(now);
    const slot = this.headSlot;
    const failed = outcome & FAILURE;
    const slow = (outcome & SLOW) >> 1;
    this.bucketCalls[slot]!++;
    this.bucketFailures[slot]! += failed;
    this.bucketSlow[slot]! += slow;
    this.calls++;
    this.failures += failed;
    this.slowCalls += slow;
  }

  advance(now: number): void {
    const epoch = Math.floor(now / this.bucketMs);
    if (epoch <= this.head) return; // same bucket, or a clock that stepped back
    if (epoch - this.head >= this.buckets) {
      this.reset(); // every slot is empty: any one can be the newest
    } else {
      let slot = this.headSlot;
      for (let e = this.head; e < epoch; e++) {
        slot = slot + 1 === this.buckets ? 0 : slot + 1;
        this.evict(slot);
      }
      this.headSlot = slot;
    }
    this.head = epoch;
  }

  /** Takes back one outcome recorded at `at`, unless its bucket has already left the window. */
  forget(at: number, outcome: Outcome): void {
    const epoch = Math.floor(at / this.bucketMs);
    if (epoch > this.head || this.head - epoch >= this.buckets) return;
    let slot = this.headSlot - (this.head - epoch);
    if (slot < 0) slot += this.buckets;
    if (this.bucketCalls[slot] === 0) return;
    const failed = outcome & FAILURE;
    const slow = (outcome & SLOW) >> 1;
    if (this.bucketFailures[slot]! < failed || this.bucketSlow[slot]! < slow) return;
    this.bucketCalls[slot]!--;
    this.bucketFailures[slot]! -= failed;
    this.bucketSlow[slot]! -= slow;
    this.calls--;
    this.failures -= failed;
    this.slowCalls -= slow;
  }

  reset(): void {
    this.bucketCalls.fill(0);
    this.bucketFailures.fill(0);
    this.bucketSlow.fill(0);
    this.calls = this.failures = this.slowCalls = this.headSlot = 0;
    this.head = Number.NEGATIVE_INFINITY;
  }

  private evict(slot: number): void {
    this.calls -= this.bucketCalls[slot]!;
    this.failures -= this.bucketFailures[slot]!;
    this.slowCalls -= this.bucketSlow[slot]!;
    this.bucketCalls[slot] = this.bucketFailures[slot] = this.bucketSlow[slot] = 0;
  }
}
