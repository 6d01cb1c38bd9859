import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { coalesce } from '../../src/coalesce/index.js';
import { ManualClock } from '../../src/testing/index.js';

const RUNS = { numRuns: 100 };

describe('property: coalesce', () => {
  it('runs fn once per key per overlap, and every caller gets the value of the execution it shared', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            gap: fc.integer({ min: 0, max: 50 }),
            key: fc.constantFrom('a', 'b', 'c'),
            duration: fc.integer({ min: 1, max: 120 }),
          }),
          { minLength: 1, maxLength: 40 },
        ),
        async (calls) => {
          const clock = new ManualClock();
          const policy = coalesce({ clock });
          let runs = 0;
          // The model: a call starts an execution unless one for its key is still in flight.
          const inFlight = new Map<string, { until: number; run: number }>();
          let expectedRuns = 0;
          const outcomes: Promise<void>[] = [];
          for (const { gap, key, duration } of calls) {
            await clock.advanceAsync(gap);
            const now = clock.now();
            const current = inFlight.get(key);
            let expected: number;
            if (current !== undefined && current.until > now) expected = current.run;
            else {
              expected = ++expectedRuns;
              inFlight.set(key, { until: now + duration, run: expected });
            }
            outcomes.push(
              policy
                .execute(
                  () => {
                    const run = ++runs;
                    return new Promise<number>((resolve) => clock.setTimeout(() => resolve(run), duration));
                  },
                  { key },
                )
                .then((run) => expect(run).toBe(expected)),
            );
          }
          await clock.advanceAsync(200);
          await Promise.all(outcomes);
          expect(runs).toBe(expectedRuns);
          expect(policy.inFlight).toBe(0);
        },
      ),
      RUNS,
    );
  });
});
