import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { hedge } from '../../src/hedge/index.js';
import { flushPromises, ManualClock } from '../../src/testing/index.js';

const RUNS = { numRuns: 100 };

describe('property: hedge', () => {
  it('never runs more than 1 + maxHedges attempts, settles as the first success (or attempt 0’s error), and leaves no timer', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          maxHedges: fc.integer({ min: 1, max: 4 }),
          delay: fc.integer({ min: 0, max: 100 }),
          abortAt: fc.option(fc.integer({ min: 0, max: 400 }), { nil: undefined, freq: 4 }),
          attempts: fc.array(fc.record({ duration: fc.integer({ min: 0, max: 300 }), fails: fc.boolean() }), {
            minLength: 5,
            maxLength: 5,
          }),
        }),
        async ({ maxHedges, delay, abortAt, attempts }) => {
          const clock = new ManualClock();
          const policy = hedge({ delay, maxHedges, clock });
          const started: { at: number; signal: AbortSignal; settledAt: number; fails: boolean }[] = [];
          const errors = attempts.map((_, i) => new Error(`attempt ${i}`));
          const controller = new AbortController();
          if (abortAt !== undefined) clock.setTimeout(() => controller.abort('caller'), abortAt);
          let outcome: { ok: boolean; value: unknown } | undefined;
          policy
            .execute(
              ({ attempt, signal }) => {
                const plan = attempts[attempt]!;
                started.push({
                  at: clock.now(),
                  signal,
                  settledAt: clock.now() + plan.duration,
                  fails: plan.fails,
                });
                return new Promise<number>((resolve, reject) => {
                  clock.setTimeout(
                    () => (plan.fails ? reject(errors[attempt]) : resolve(attempt)),
                    plan.duration,
                  );
                });
              },
              { signal: controller.signal },
            )
            .then(
              (value) => {
                outcome = { ok: true, value };
              },
              (value: unknown) => {
                outcome = { ok: false, value };
              },
            );
          await clock.advanceAsync(2_000);
          await flushPromises();
          expect(started.length).toBeLessThanOrEqual(1 + maxHedges);
          expect(outcome).toBeDefined();
          expect(clock.pendingTimers).toBe(0);
          if (outcome!.ok) {
            const winner = outcome!.value as number;
            expect(started[winner]!.fails).toBe(false);
            // No attempt succeeded earlier than the winner.
            for (const s of started)
              if (!s.fails) expect(s.settledAt).toBeGreaterThanOrEqual(started[winner]!.settledAt);
            started.forEach((s, i) => {
              if (i !== winner && s.settledAt > started[winner]!.settledAt)
                expect(s.signal.aborted).toBe(true);
            });
          } else if (outcome!.value === 'caller') {
            expect(abortAt).toBeDefined();
          } else {
            expect(outcome!.value).toBe(errors[0]);
            expect(started.every((s) => s.fails)).toBe(true);
          }
        },
      ),
      RUNS,
    );
  });
});
