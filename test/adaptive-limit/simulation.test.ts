import { describe, expect, it } from 'vitest';
import { adaptiveLimit } from '../../src/adaptive-limit/index.js';
import { ManualClock } from '../../src/testing/index.js';
import { Dependency, drive } from './simulation.js';

/**
 * The limit against a dependency of fixed capacity (c calls served at once in 10 ms on
 * average, the rest queued inside it), driven by 300 closed-loop clients, all on a
 * ManualClock: 12 s at c, then 8 s at c/2. Windows of 100 ms (10 round trips) instead of
 * the default 1 s keep the run short; probes every 3 s (30 windows; the default is 60). A
 * limit started above twice the capacity comes down over a few probes, hence 12 s.
 */
async function run(initialLimit: number, capacity: number) {
  const clock = new ManualClock();
  const limit = adaptiveLimit({
    clock,
    initialLimit,
    windowDuration: 100,
    probeInterval: 3_000,
    maxQueue: Number.POSITIVE_INFINITY,
  });
  const dependency = new Dependency(clock, capacity, 10);
  const before: number[] = [];
  const after: number[] = [];
  // Served in the settled stretches, to check that the dependency was kept busy there.
  const served = { before: 0, after: 0 };
  await drive(clock, limit, dependency, {
    clients: 300,
    ms: 20_000,
    each: (t) => {
      if (t === 9_000) served.before = -dependency.served;
      if (t === 12_000) {
        served.before += dependency.served;
        dependency.capacity = capacity / 2;
      }
      if (t === 17_000) served.after = -dependency.served;
      if (t === 19_999) served.after += dependency.served;
      // Settled: the last 3 s of each part, read every 10 ms.
      if (t % 10 === 0 && t >= 9_000 && t < 12_000) before.push(limit.limit);
      if (t % 10 === 0 && t >= 17_000) after.push(limit.limit);
    },
  });
  return { before, after, served, clock, limit };
}

describe('adaptiveLimit (gradient2, defaults) against a dependency of fixed capacity', () => {
  for (const [initialLimit, capacity] of [
    [1, 40],
    [20, 40],
    [200, 40],
    [200, 100],
    [60, 16],
  ] as const) {
    it(`from initialLimit ${initialLimit}, settles within ±25% of c = ${capacity}, and of c/2 after c halves`, async () => {
      const { before, after, served, clock, limit } = await run(initialLimit, capacity);
      expect(Math.min(...before)).toBeGreaterThanOrEqual(0.75 * capacity);
      expect(Math.max(...before)).toBeLessThanOrEqual(1.25 * capacity);
      expect(Math.min(...after)).toBeGreaterThanOrEqual(0.75 * (capacity / 2));
      expect(Math.max(...after)).toBeLessThanOrEqual(1.25 * (capacity / 2));
      // Goodput once settled: at least 90 % of what the dependency can serve (3 s at c calls per 10 ms, then at c/2), probes included.
      expect(served.before).toBeGreaterThanOrEqual(0.9 * capacity * 300);
      expect(served.after).toBeGreaterThanOrEqual(0.9 * (capacity / 2) * 300);
      expect(clock.pendingTimers).toBe(0);
      expect(limit.inFlight + limit.queued).toBe(0);
    }, 20_000);
  }
});
