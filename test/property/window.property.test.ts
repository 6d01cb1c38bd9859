import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CountWindow } from '../../src/window/count-window.js';
import { FAILURE, type Outcome, SLOW, type SlidingWindow } from '../../src/window/sliding-window.js';
import { TimeWindow } from '../../src/window/time-window.js';

type Step =
  | { readonly kind: 'record'; readonly dt: number; readonly outcome: Outcome }
  | { readonly kind: 'advance'; readonly dt: number };

const outcomeArb = fc.constantFrom<Outcome>(0, FAILURE, SLOW, FAILURE | SLOW);
/** Mostly forward steps of various sizes, sometimes a clock that steps back a little. */
const dtArb = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: 0, max: 50 }) },
  { weight: 2, arbitrary: fc.integer({ min: 0, max: 3_000 }) },
  { weight: 1, arbitrary: fc.integer({ min: -40, max: -1 }) },
);
const stepArb: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({ kind: fc.constant('record' as const), dt: dtArb, outcome: outcomeArb }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('advance' as const), dt: dtArb }) },
);

interface Entry {
  readonly outcome: Outcome;
  /** CountWindow: sequence number; TimeWindow: the bucket the call was counted in. */
  readonly key: number;
  readonly time: number;
}

function recount(entries: readonly Entry[]) {
  return {
    calls: entries.length,
    failures: entries.filter((e) => e.outcome & FAILURE).length,
    slowCalls: entries.filter((e) => e.outcome & SLOW).length,
  };
}

function totals(w: SlidingWindow) {
  return { calls: w.calls, failures: w.failures, slowCalls: w.slowCalls };
}

describe('window running totals equal a naive recount', () => {
  it('CountWindow: the last `size` records', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 12 }),
        fc.array(stepArb, { maxLength: 120 }),
        fc.integer({ min: 0, max: 20 }),
        (size, steps, resetAt) => {
          const w = new CountWindow(size);
          let all: Entry[] = [];
          let now = 0;
          steps.forEach((step, i) => {
            now += step.dt;
            if (i === resetAt) {
              w.reset();
              all = [];
            }
            if (step.kind === 'record') {
              w.record(now, step.outcome);
              all.push({ outcome: step.outcome, key: all.length, time: now });
            } else {
              w.advance(now);
            }
            expect(totals(w)).toEqual(recount(all.slice(-size)));
          });
        },
      ),
      { numRuns: 300 },
    );
  });

  it('TimeWindow: the calls of the last `buckets` buckets, with any clock', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 5_000 }),
        fc.integer({ min: 1, max: 12 }),
        fc.integer({ min: -5_000, max: 5_000 }),
        fc.array(stepArb, { maxLength: 120 }),
        fc.integer({ min: 0, max: 20 }),
        (duration, buckets, start, steps, resetAt) => {
          const w = new TimeWindow(duration, buckets);
          const bucketMs = duration / buckets;
          let entries: Entry[] = [];
          let head = Number.NEGATIVE_INFINITY; // newest bucket seen
          let now = start;
          steps.forEach((step, i) => {
            now += step.dt;
            if (i === resetAt) {
              w.reset();
              entries = [];
              head = Number.NEGATIVE_INFINITY;
            }
            head = Math.max(head, Math.floor(now / bucketMs));
            if (step.kind === 'record') {
              w.record(now, step.outcome);
              // A call from a clock that stepped back is counted in the newest bucket.
              entries.push({ outcome: step.outcome, key: head, time: now });
            } else {
              w.advance(now);
            }
            expect(totals(w)).toEqual(recount(entries.filter((e) => e.key > head - buckets)));
          });
        },
      ),
      { numRuns: 300 },
    );
  });

  it('TimeWindow with a forward clock: holds every call younger than duration - bucket, none as old as duration', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 200 }),
        fc.integer({ min: 1, max: 12 }),
        fc.array(
          fc.record({ dt: fc.integer({ min: 0, max: 500 }), outcome: outcomeArb, record: fc.boolean() }),
          { maxLength: 100 },
        ),
        (bucketMs, buckets, steps) => {
          const duration = bucketMs * buckets;
          const w = new TimeWindow(duration, buckets);
          const entries: Entry[] = [];
          let now = 0;
          for (const step of steps) {
            now += step.dt;
            if (step.record) {
              w.record(now, step.outcome);
              entries.push({ outcome: step.outcome, key: 0, time: now });
            } else {
              w.advance(now);
            }
            const surely = recount(entries.filter((e) => now - e.time < duration - bucketMs));
            const possibly = recount(entries.filter((e) => now - e.time < duration));
            expect(w.calls).toBeGreaterThanOrEqual(surely.calls);
            expect(w.calls).toBeLessThanOrEqual(possibly.calls);
            expect(w.failures).toBeGreaterThanOrEqual(surely.failures);
            expect(w.failures).toBeLessThanOrEqual(possibly.failures);
            expect(w.slowCalls).toBeGreaterThanOrEqual(surely.slowCalls);
            expect(w.slowCalls).toBeLessThanOrEqual(possibly.slowCalls);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
