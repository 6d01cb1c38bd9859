import { describe, expect, it } from 'vitest';
import { CountWindow } from '../../src/window/count-window.js';
import { FAILURE, SLOW, type SlidingWindow, SUCCESS } from '../../src/window/sliding-window.js';
import { TimeWindow } from '../../src/window/time-window.js';

function totals(w: SlidingWindow) {
  return { calls: w.calls, failures: w.failures, slowCalls: w.slowCalls };
}

/**
 * Both windows, each sized to hold `capacity` calls recorded at one instant, and a
 * way to push everything recorded so far out of it.
 */
const windows: { name: string; create(capacity: number): SlidingWindow; expire(w: SlidingWindow): void }[] = [
  {
    name: 'CountWindow',
    create: (capacity) => new CountWindow(capacity),
    // Pushes every earlier call out with successes.
    expire: (w) => {
      for (let i = 0; i < (w as CountWindow).size; i++) w.record(0, SUCCESS);
    },
  },
  {
    name: 'TimeWindow',
    create: () => new TimeWindow(1_000, 10),
    expire: (w) => w.advance(10_000),
  },
];

describe.each(windows)('$name (shared contract)', ({ create, expire }) => {
  it('starts empty', () => {
    expect(totals(create(5))).toEqual({ calls: 0, failures: 0, slowCalls: 0 });
  });

  it('counts each outcome into the running totals', () => {
    const w = create(10);
    w.record(0, SUCCESS);
    w.record(0, FAILURE);
    w.record(0, SLOW);
    w.record(0, FAILURE | SLOW);
    expect(totals(w)).toEqual({ calls: 4, failures: 2, slowCalls: 2 });
  });

  it('advance() to the time of the last record changes nothing', () => {
    const w = create(10);
    w.record(5, FAILURE);
    w.advance(5);
    w.advance(5);
    expect(totals(w)).toEqual({ calls: 1, failures: 1, slowCalls: 0 });
  });

  it('reset() forgets every call, and counting resumes from zero', () => {
    const w = create(10);
    for (let i = 0; i < 7; i++) w.record(0, FAILURE | SLOW);
    w.reset();
    expect(totals(w)).toEqual({ calls: 0, failures: 0, slowCalls: 0 });
    w.record(0, FAILURE);
    expect(totals(w)).toEqual({ calls: 1, failures: 1, slowCalls: 0 });
  });

  it('lets old calls fall out, and never goes negative', () => {
    const w = create(4);
    for (let i = 0; i < 4; i++) w.record(0, FAILURE | SLOW);
    expire(w);
    expect(w.failures).toBe(0);
    expect(w.slowCalls).toBe(0);
    expect(w.calls).toBeGreaterThanOrEqual(0);
    w.record(20_000, FAILURE);
    expect(w.failures).toBe(1);
  });
});

describe('CountWindow', () => {
  it('holds the last size calls, evicting the oldest first', () => {
    const w = new CountWindow(3);
    w.record(0, FAILURE);
    w.record(0, SLOW);
    w.record(0, SUCCESS);
    expect(totals(w)).toEqual({ calls: 3, failures: 1, slowCalls: 1 });
    w.record(0, SUCCESS); // evicts FAILURE
    expect(totals(w)).toEqual({ calls: 3, failures: 0, slowCalls: 1 });
    w.record(0, SUCCESS); // evicts SLOW
    expect(totals(w)).toEqual({ calls: 3, failures: 0, slowCalls: 0 });
  });

  it('keeps exact totals through many wraps of the ring', () => {
    const w = new CountWindow(7);
    const outcomes = [SUCCESS, FAILURE, SLOW, FAILURE | SLOW];
    const all: number[] = [];
    for (let i = 0; i < 100; i++) {
      const o = outcomes[(i * 7 + (i >> 2)) % 4]!;
      all.push(o);
      w.record(i, o);
    }
    const last = all.slice(-7);
    expect(totals(w)).toEqual({
      calls: 7,
      failures: last.filter((o) => o & FAILURE).length,
      slowCalls: last.filter((o) => o & SLOW).length,
    });
  });

  it('ignores time', () => {
    const w = new CountWindow(2);
    w.record(0, FAILURE);
    w.advance(1e12);
    w.record(1e12, FAILURE);
    expect(totals(w)).toEqual({ calls: 2, failures: 2, slowCalls: 0 });
  });

  it('after reset() refills before it evicts', () => {
    const w = new CountWindow(2);
    w.record(0, FAILURE);
    w.record(0, FAILURE);
    w.reset();
    w.record(0, SUCCESS);
    w.record(0, SUCCESS);
    expect(totals(w)).toEqual({ calls: 2, failures: 0, slowCalls: 0 });
    w.record(0, FAILURE);
    expect(totals(w)).toEqual({ calls: 2, failures: 1, slowCalls: 0 });
  });
});

describe('TimeWindow aging', () => {
  it('evicts a whole bucket once the window has moved past it', () => {
    const w = new TimeWindow(1_000, 10); // 100 ms buckets
    w.record(0, FAILURE); // bucket [0, 100)
    w.record(99, SLOW); // same bucket
    w.record(150, SUCCESS); // bucket [100, 200)
    w.advance(999);
    expect(totals(w)).toEqual({ calls: 3, failures: 1, slowCalls: 1 });
    w.advance(1_000); // bucket [0, 100) leaves
    expect(totals(w)).toEqual({ calls: 1, failures: 0, slowCalls: 0 });
    w.advance(1_099);
    expect(w.calls).toBe(1);
    w.advance(1_100);
    expect(w.calls).toBe(0);
  });

  it('spans between duration - one bucket and duration', () => {
    const w = new TimeWindow(1_000, 4); // 250 ms buckets
    w.record(249, FAILURE); // at the end of bucket 0
    w.advance(999); // 750 ms later: still in
    expect(w.failures).toBe(1);
    w.advance(1_000); // 751 ms later: out
    expect(w.failures).toBe(0);

    const v = new TimeWindow(1_000, 4);
    v.record(0, FAILURE); // at the start of bucket 0
    v.advance(999); // 999 ms later: still in
    expect(v.failures).toBe(1);
    v.advance(1_000);
    expect(v.failures).toBe(0);
  });

  it('evicts only the buckets time has passed over', () => {
    const w = new TimeWindow(1_000, 10);
    for (let t = 0; t < 1_000; t += 100) w.record(t, FAILURE); // one per bucket
    expect(w.calls).toBe(10);
    w.advance(1_350); // buckets 0..3 leave
    expect(totals(w)).toEqual({ calls: 6, failures: 6, slowCalls: 0 });
    w.record(1_350, SUCCESS);
    expect(totals(w)).toEqual({ calls: 7, failures: 6, slowCalls: 0 });
  });

  it('a long idle gap resets the window, however long', () => {
    const w = new TimeWindow(1_000, 10);
    for (let t = 0; t < 1_000; t += 10) w.record(t, FAILURE | SLOW);
    w.advance(1e15);
    expect(totals(w)).toEqual({ calls: 0, failures: 0, slowCalls: 0 });
    w.record(1e15, FAILURE);
    expect(totals(w)).toEqual({ calls: 1, failures: 1, slowCalls: 0 });
    w.advance(1e15 + 999);
    expect(w.calls).toBe(1);
  });

  it('a gap of exactly the duration empties it; one bucket less keeps the newest bucket', () => {
    const w = new TimeWindow(1_000, 10);
    w.record(0, FAILURE);
    w.record(900, FAILURE);
    w.advance(1_900);
    expect(w.calls).toBe(0);
    const v = new TimeWindow(1_000, 10);
    v.record(0, FAILURE);
    v.record(900, FAILURE);
    v.advance(1_899);
    expect(v.calls).toBe(1);
  });

  it('counts a call whose clock stepped back into the newest bucket', () => {
    const w = new TimeWindow(1_000, 10);
    w.record(500, FAILURE);
    w.record(300, FAILURE);
    expect(w.calls).toBe(2);
    w.advance(1_499);
    expect(w.calls).toBe(2);
    w.advance(1_500);
    expect(w.calls).toBe(0);
  });

  it('works with a clock that reads below zero', () => {
    const w = new TimeWindow(1_000, 10);
    w.record(-150, FAILURE); // bucket -2
    w.record(-50, SLOW); // bucket -1
    w.record(40, SUCCESS); // bucket 0
    expect(totals(w)).toEqual({ calls: 3, failures: 1, slowCalls: 1 });
    w.advance(800); // bucket -2 leaves
    expect(totals(w)).toEqual({ calls: 2, failures: 0, slowCalls: 1 });
    w.advance(900); // bucket -1 leaves
    expect(totals(w)).toEqual({ calls: 1, failures: 0, slowCalls: 0 });
    w.advance(1_000);
    expect(totals(w)).toEqual({ calls: 0, failures: 0, slowCalls: 0 });
  });

  it('handles buckets that do not divide the duration evenly', () => {
    const w = new TimeWindow(1_000, 3); // 333.3 ms buckets
    w.record(0, FAILURE);
    w.record(400, FAILURE); // bucket 1
    w.advance(999);
    expect(w.calls).toBe(2);
    w.advance(1_000); // bucket 3 begins at 1000: bucket 0 leaves
    expect(w.calls).toBe(1);
    w.advance(1_334); // bucket 4 begins at 1333.3: bucket 1 leaves
    expect(w.calls).toBe(0);
  });

  it('with one bucket, drops everything once per duration', () => {
    const w = new TimeWindow(100, 1);
    w.record(0, FAILURE);
    w.record(99, FAILURE);
    expect(w.calls).toBe(2);
    w.record(100, SUCCESS);
    expect(totals(w)).toEqual({ calls: 1, failures: 0, slowCalls: 0 });
  });

  it('reset() empties it and the next record starts a fresh window', () => {
    const w = new TimeWindow(1_000, 10);
    w.record(0, FAILURE);
    w.reset();
    w.record(50, SUCCESS);
    expect(totals(w)).toEqual({ calls: 1, failures: 0, slowCalls: 0 });
    w.advance(1_000);
    expect(w.calls).toBe(0);
  });
});
