import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type AdaptiveLimitOptions, adaptiveLimit } from '../../src/adaptive-limit/index.js';
import { BrokenCircuitError, OverloadedError, PRIORITIES } from '../../src/index.js';
import { flushPromises, ManualClock } from '../../src/testing/index.js';

/** Limits and the algorithm's own settings, every combination valid. */
const optionsArb: fc.Arbitrary<Omit<AdaptiveLimitOptions, 'clock'>> = fc
  .record({
    minLimit: fc.integer({ min: 1, max: 30 }),
    span: fc.integer({ min: 0, max: 100 }),
    at: fc.double({ min: 0, max: 1, noNaN: true }),
    windowDuration: fc.integer({ min: 0, max: 200 }),
    minWindowSamples: fc.integer({ min: 1, max: 12 }),
    maxQueue: fc.integer({ min: 0, max: 20 }),
    gradient2: fc.record({
      tolerance: fc.double({ min: 1, max: 3, noNaN: true }),
      smoothing: fc.double({ min: 0.01, max: 1, noNaN: true }),
      queueSize: fc.double({ min: 0, max: 50, noNaN: true }),
      probeInterval: fc.integer({ min: 0, max: 2_000 }),
    }),
    aimd: fc.record({
      backoffRatio: fc.double({ min: 0.01, max: 0.99, noNaN: true }),
      increase: fc.double({ min: 0.01, max: 20, noNaN: true }),
      timeout: fc.integer({ min: 0, max: 500 }),
    }),
    useAimd: fc.boolean(),
  })
  .map(({ minLimit, span, at, useAimd, gradient2, aimd, ...rest }) => ({
    ...rest,
    minLimit,
    maxLimit: minLimit + span,
    initialLimit: minLimit + Math.round(at * span),
    ...(useAimd ? { algorithm: 'aimd' as const, ...aimd } : gradient2),
  }));

/** One step of traffic: calls started together, each with its latency and outcome. */
const stepArb = fc.record({
  calls: fc.array(
    fc.record({
      rtt: fc.integer({ min: 0, max: 1_000 }),
      outcome: fc.constantFrom('ok', 'error', 'broken', 'overloaded', 'abort'),
      priority: fc.constantFrom(...PRIORITIES),
    }),
    { minLength: 0, maxLength: 40 },
  ),
  advance: fc.integer({ min: 0, max: 1_500 }),
});

describe('property: adaptiveLimit', () => {
  it('keeps the limit an integer within [minLimit, maxLimit] for any traffic, and leaves no timer or call behind', async () => {
    await fc.assert(
      fc.asyncProperty(optionsArb, fc.array(stepArb, { maxLength: 25 }), async (options, steps) => {
        const clock = new ManualClock();
        const policy = adaptiveLimit({ clock, queueTimeout: 700, ...options });
        const seen: number[] = [];
        policy.on('limitChanged', ({ from, to }) => {
          expect(from).not.toBe(to);
          seen.push(to);
        });
        const within = () => {
          const { limit, minLimit, maxLimit } = policy;
          expect(Number.isInteger(limit)).toBe(true);
          expect(limit).toBeGreaterThanOrEqual(minLimit);
          expect(limit).toBeLessThanOrEqual(maxLimit);
        };
        const all: Promise<unknown>[] = [];
        for (const step of steps) {
          for (const c of step.calls) {
            const controller = new AbortController();
            const p = policy.execute(
              () =>
                new Promise((resolve, reject) => {
                  clock.setTimeout(() => {
                    if (c.outcome === 'ok') resolve(1);
                    else if (c.outcome === 'error') reject(new Error('failed'));
                    else if (c.outcome === 'broken') reject(new BrokenCircuitError('inner', 100));
                    else if (c.outcome === 'overloaded')
                      reject(new OverloadedError('pressure', 'low', 2, 10));
                    else controller.abort(new Error('caller left'));
                    if (c.outcome === 'abort') reject(controller.signal.reason);
                  }, c.rtt);
                }),
              { priority: c.priority, signal: controller.signal },
            );
            all.push(p.catch(() => {}));
          }
          await clock.advanceAsync(step.advance);
          within();
        }
        while (policy.inFlight + policy.queued > 0) await clock.advanceAsync(100);
        await Promise.all(all);
        await flushPromises();
        within();
        for (const to of seen) {
          expect(to).toBeGreaterThanOrEqual(policy.minLimit);
          expect(to).toBeLessThanOrEqual(policy.maxLimit);
        }
        expect(seen.at(-1) ?? options.initialLimit).toBe(policy.limit);
        expect(clock.pendingTimers).toBe(0);
      }),
      { numRuns: 100 },
    );
  });
});
