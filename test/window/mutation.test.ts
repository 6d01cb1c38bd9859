import { describe, expect, it } from 'vitest';
import { FAILURE, SLOW, type SlidingWindow, SUCCESS } from '../../src/window/sliding-window.js';
import { TimeWindow } from '../../src/window/time-window.js';

// TimeWindow.forget() takes back one outcome recorded earlier (RetryBudget.refund uses it).
// A window of 1 000 ms in 10 buckets: bucket n holds the times [100 n, 100 n + 100).

function totals(w: SlidingWindow) {
  return { calls: w.calls, failures: w.failures, slowCalls: w.slowCalls };
}

const window = () => new TimeWindow(1_000, 10);

describe('TimeWindow.forget', () => {
  it('record then forget gives back the earlier counts', () => {
    const w = window();
    w.record(0, SUCCESS);
    w.record(50, FAILURE | SLOW);
    w.forget(50, FAILURE | SLOW);
    expect(totals(w)).toEqual({ calls: 1, failures: 0, slowCalls: 0 });
  });

  it('takes back an outcome from an older bucket still in the window', () => {
    const w = window();
    w.record(100, FAILURE); // the first bucket of this window
    w.record(300, SUCCESS); // two buckets later
    w.forget(150, FAILURE);
    expect(totals(w)).toEqual({ calls: 1, failures: 0, slowCalls: 0 });
  });

  it('takes back an outcome after the clock has run far past zero', () => {
    const w = window();
    w.record(1_200, SUCCESS);
    w.record(1_250, FAILURE);
    w.record(1_500, SLOW);
    w.forget(1_500, SLOW);
    w.forget(1_250, FAILURE); // an older bucket than the newest, far from time 0
    expect(totals(w)).toEqual({ calls: 1, failures: 0, slowCalls: 0 });
  });

  it('forgets in the bucket of its own time when the ring has wrapped below slot 0', () => {
    const w = window();
    w.record(0, SUCCESS);
    w.record(800, FAILURE);
    w.record(1_200, SUCCESS); // the ring wrapped: the newest bucket sits in a low slot
    w.forget(800, FAILURE);
    expect(totals(w)).toEqual({ calls: 1, failures: 0, slowCalls: 0 });
    // When the bucket of 800 leaves the window, nothing more is subtracted for it.
    w.advance(1_800);
    expect(totals(w)).toEqual({ calls: 1, failures: 0, slowCalls: 0 });
    w.advance(2_250); // and the call at 1 200 leaves too
    expect(totals(w)).toEqual({ calls: 0, failures: 0, slowCalls: 0 });
  });

  it('once an outcome is forgotten, the bucket expires with only what remains in it', () => {
    const w = window();
    w.record(0, FAILURE | SLOW);
    w.record(0, FAILURE | SLOW);
    w.record(0, SUCCESS);
    w.record(500, SUCCESS);
    w.forget(0, FAILURE | SLOW);
    expect(totals(w)).toEqual({ calls: 3, failures: 1, slowCalls: 1 });
    w.advance(1_000); // the bucket of time 0 leaves the window; the one of 500 stays
    expect(totals(w)).toEqual({ calls: 1, failures: 0, slowCalls: 0 });
  });

  it('forgetting more outcomes than a bucket recorded stops at what it held', () => {
    const w = window();
    w.record(0, FAILURE);
    w.record(500, SUCCESS);
    w.forget(0, FAILURE);
    w.forget(0, FAILURE);
    w.forget(0, SUCCESS);
    expect(totals(w)).toEqual({ calls: 1, failures: 0, slowCalls: 0 });
    w.advance(1_000);
    expect(totals(w)).toEqual({ calls: 1, failures: 0, slowCalls: 0 });
  });

  it('forgetting in a bucket that recorded nothing changes nothing', () => {
    const w = window();
    w.record(0, SUCCESS);
    w.record(300, SUCCESS);
    w.forget(150, SUCCESS);
    expect(totals(w)).toEqual({ calls: 2, failures: 0, slowCalls: 0 });
    w.advance(1_350); // both buckets expire; the totals come back to exactly zero
    expect(totals(w)).toEqual({ calls: 0, failures: 0, slowCalls: 0 });
  });

  it('does not forget a failure from a bucket that recorded only successes', () => {
    const w = window();
    w.record(0, SUCCESS);
    w.forget(0, FAILURE);
    expect(totals(w)).toEqual({ calls: 1, failures: 0, slowCalls: 0 });
  });

  it('does not forget a slow call from a bucket that recorded no slow call', () => {
    const w = window();
    w.record(0, FAILURE);
    w.forget(0, SLOW);
    w.forget(0, FAILURE | SLOW);
    expect(totals(w)).toEqual({ calls: 1, failures: 1, slowCalls: 0 });
  });

  it('ignores a time after the newest bucket', () => {
    const w = window();
    w.record(0, FAILURE | SLOW);
    w.forget(150, FAILURE | SLOW); // the next bucket, not yet reached
    w.forget(1_500, FAILURE | SLOW); // far ahead
    expect(totals(w)).toEqual({ calls: 1, failures: 1, slowCalls: 1 });
  });

  it('ignores an outcome whose bucket has left the window, even if its ring slot is reused', () => {
    const w = window();
    w.record(0, FAILURE);
    w.record(500, SUCCESS);
    w.record(1_000, FAILURE); // bucket 10 reuses the ring slot of bucket 0, which expired
    w.forget(0, FAILURE);
    expect(totals(w)).toEqual({ calls: 2, failures: 1, slowCalls: 0 });
  });

  it('ignores an outcome from before the first record (an empty window)', () => {
    const w = window();
    w.forget(0, FAILURE);
    expect(totals(w)).toEqual({ calls: 0, failures: 0, slowCalls: 0 });
  });
});
