import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isRateLimitedError } from '../../src/index.js';
import { rateLimit } from '../../src/rate-limit/index.js';
import { ManualClock } from '../../src/testing/index.js';

const RUNS = { numRuns: 100 };

const scenario = fc.record({
  strategy: fc.constantFrom('token-bucket' as const, 'sliding-window' as const),
  limit: fc.integer({ min: 1, max: 5 }),
  interval: fc.integer({ min: 1, max: 1_000 }),
  burst: fc.integer({ min: 1, max: 6 }),
  maxWait: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 2_000 })),
  arrivals: fc.array(
    fc.record({
      gap: fc.integer({ min: 0, max: 400 }),
      abortAfter: fc.option(fc.integer({ min: 0, max: 1_500 }), { nil: undefined }),
    }),
    { minLength: 1, maxLength: 30 },
  ),
});

/** Admissions in the window of `interval` ms starting at each admission: half open, or closed. */
function busiest(times: readonly number[], interval: number, closed: boolean): number {
  let most = 0;
  for (const start of times) {
    const n = times.filter(
      (t) => t >= start && (closed ? t <= start + interval : t < start + interval),
    ).length;
    most = Math.max(most, n);
  }
  return most;
}

describe('property: rateLimit', () => {
  it('never admits more than limit + burst (token bucket) or limit (sliding window) in any interval', async () => {
    await fc.assert(
      fc.asyncProperty(scenario, async ({ strategy, limit, interval, burst, maxWait, arrivals }) => {
        const clock = new ManualClock();
        const policy = rateLimit({
          limit,
          interval,
          maxWait,
          strategy,
          clock,
          ...(strategy === 'token-bucket' ? { burst } : {}),
        });
        const admitted: number[] = [];
        const outcomes: Promise<unknown>[] = [];
        const aborts: { at: number; controller: AbortController }[] = [];
        let rejected = 0;
        for (const { gap, abortAfter } of arrivals) {
          await clock.advanceAsync(gap);
          for (const a of aborts.filter((x) => x.at <= clock.now())) a.controller.abort();
          const controller = new AbortController();
          if (abortAfter !== undefined) aborts.push({ at: clock.now() + abortAfter, controller });
          outcomes.push(
            policy
              .execute(
                () => {
                  admitted.push(clock.now());
                },
                { signal: controller.signal },
              )
              .catch((error: unknown) => {
                if (isRateLimitedError(error)) {
                  rejected++;
                  expect(error.retryAfter).toBeGreaterThan(0);
                }
              }),
          );
        }
        // Let every waiter be served or leave.
        for (let i = 0; i < 10 && policy.queued > 0; i++) {
          await clock.advanceAsync(Math.max(interval, maxWait === Number.POSITIVE_INFINITY ? 0 : maxWait));
          for (const a of aborts) a.controller.abort();
        }
        await Promise.all(outcomes);
        const most = strategy === 'token-bucket' ? limit + burst : limit;
        expect(busiest(admitted, interval, strategy === 'token-bucket')).toBeLessThanOrEqual(most);
        expect(admitted.length + rejected).toBeLessThanOrEqual(arrivals.length);
        expect(policy.queued).toBe(0);
        expect(clock.pendingTimers).toBe(0);
      }),
      RUNS,
    );
  });

  it('admits every call when they come no faster than limit per interval', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 10 }),
        fc.integer({ min: 1, max: 1_000 }),
        fc.array(fc.integer({ min: 0, max: 2_000 }), { minLength: 1, maxLength: 20 }),
        fc.constantFrom('token-bucket' as const, 'sliding-window' as const),
        async (limit, interval, extras, strategy) => {
          const clock = new ManualClock();
          const policy = rateLimit({ limit, interval, strategy, clock });
          for (const extra of extras) {
            // A call every interval / limit ms, or slower, never finds the limit reached.
            clock.advance(Math.ceil(interval / limit) + extra);
            await expect(policy.execute(() => 'ok')).resolves.toBe('ok');
          }
        },
      ),
      RUNS,
    );
  });
});
