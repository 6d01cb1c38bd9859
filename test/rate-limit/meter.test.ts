import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EPSILON, type Meter, SlidingLog, TokenBucket } from '../../src/rate-limit/meter.js';

/** Admission in two steps, as the queue's drain does it. */
function takeIfFree(meter: Meter, now: number): boolean {
  if (meter.nextFree(now, 0) > now + EPSILON) return false;
  meter.take(now);
  return true;
}

describe('rate limit: tryTake', () => {
  it.each([
    [
      'token bucket',
      (limit: number, interval: number, burst: number) => new TokenBucket(limit, interval, burst),
    ],
    ['sliding window', (limit: number, interval: number) => new SlidingLog(limit, interval)],
  ])('%s: admits exactly when nextFree says a permit is free, and spends it the same way', (_, make) => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 1, max: 1_000 }),
        fc.integer({ min: 1, max: 5 }),
        fc.array(fc.double({ min: 0, max: 400, noNaN: true }), { minLength: 1, maxLength: 60 }),
        (limit, interval, burst, gaps) => {
          const fast = make(limit, interval, burst);
          const slow = make(limit, interval, burst);
          let now = 1_000;
          for (const gap of gaps) {
            now += gap;
            expect(fast.tryTake(now)).toBe(takeIfFree(slow, now));
            expect(fast.nextFree(now, 0)).toBe(slow.nextFree(now, 0));
            expect(fast.available(now)).toBe(slow.available(now));
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});
