import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LatencyRing, select } from '../../src/hedge/latency.js';

describe('hedge: latency percentile', () => {
  it('select answers what a sort would put at k, duplicates and all', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 30 }), { minLength: 1, maxLength: 300 }),
        fc.nat(),
        fc.integer({ min: 0, max: 3 }),
        (values, seed, maxRounds) => {
          const k = seed % values.length;
          const sorted = Float64Array.from(values).sort();
          expect(select(Float64Array.from(values), values.length, k)).toBe(sorted[k]);
          // Cut short after a few rounds, the rest is sorted: the same answer.
          expect(select(Float64Array.from(values), values.length, k, maxRounds)).toBe(sorted[k]);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('select still answers when the pivots keep failing (sorted, reversed, organ-pipe, all equal)', () => {
    const n = 5_000;
    const shapes = [
      Float64Array.from({ length: n }, (_, i) => i),
      Float64Array.from({ length: n }, (_, i) => n - i),
      Float64Array.from({ length: n }, (_, i) => Math.min(i, n - i)),
      new Float64Array(n).fill(7),
    ];
    for (const shape of shapes) {
      const sorted = Float64Array.from(shape).sort();
      for (const k of [0, 1, n >> 1, n - 2, n - 1]) {
        expect(select(Float64Array.from(shape), n, k)).toBe(sorted[k]);
      }
    }
  });

  it('select looks at the first n values only', () => {
    const a = Float64Array.from([5, 1, 4, -100, -200]);
    expect(select(a, 3, 0)).toBe(1);
    expect(select(a, 3, 2)).toBe(5);
  });

  it('the ring answers the nearest-rank percentile of its latest samples, refreshed every tenth of the ring', () => {
    const ring = new LatencyRing(20, 0.9, 5);
    for (let i = 1; i <= 4; i++) ring.record(i);
    expect(ring.value()).toBeUndefined();
    ring.record(5);
    expect(ring.value()).toBe(5); // ceil(0.9 * 5) = 5th smallest of 1..5
    for (let i = 6; i <= 40; i++) ring.record(i);
    // The ring holds 21..40: the 18th smallest is 38.
    expect(ring.value()).toBe(38);
    expect(ring.length).toBe(20);
    ring.record(100); // one fresh sample of the two that trigger a refresh: the cached value stays
    expect(ring.value()).toBe(38);
    ring.record(100);
    // 23..40 and two 100s: the 18th smallest is 40.
    expect(ring.value()).toBe(40);
  });
});
