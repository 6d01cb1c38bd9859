import { FAILURE, type Outcome, SLOW, type SlidingWindow } from './sliding-window.js';

/**
 * The last `size` calls, in a ring of one byte per call. Recording costs O(1): the
 * outcome it overwrites is subtracted from the running totals.
 */
export class CountWindow implements SlidingWindow {
  calls = 0;
  failures = 0;
  slowCalls = 0;
  private readonly ring: Uint8Array;
  private next = 0;

  constructor(readonly size: number) {
    this.ring = new Uint8Array(size);
  }

  record(_now: number, outcome: Outcome): void {
    const index = this.next;
    if (this.calls === this.ring.length) {
      const evicted = this.ring[index]!;
      this.failures -= evicted & FAILURE;
      this.slowCalls -= (evicted & SLOW) >> 1;
    } else {
      this.calls++;
    }
    this.ring[index] = outcome;
    this.failures += outcome & FAILURE;
    this.slowCalls += (outcome & SLOW) >> 1;
    this.next = index + 1 === this.ring.length ? 0 : index + 1;
  }

  advance(_now: number): void {}

  reset(): void {
    this.calls = this.failures = this.slowCalls = this.next = 0;
  }
}
