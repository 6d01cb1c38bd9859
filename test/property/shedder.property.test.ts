import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PRIORITIES, PRIORITY_RANK, type Priority } from '../../src/policy.js';
import { activeSamplers } from '../../src/shedder/sampler.js';
import { loadShedder, type SheddablePriority } from '../../src/shedder/shedder.js';
import { ManualClock } from '../../src/testing/index.js';

const RUNS = { numRuns: 200 };
const SHEDDABLE: readonly SheddablePriority[] = ['background', 'low', 'normal', 'high'];

/** Thresholds that do not decrease from background to high, and a hysteresis below the lowest. */
const config = fc
  .record({
    steps: fc.array(fc.double({ min: 0, max: 0.6, noNaN: true }), { minLength: 4, maxLength: 4 }),
    start: fc.double({ min: 0.05, max: 1, noNaN: true }),
    share: fc.double({ min: 0, max: 0.99, noNaN: true }),
  })
  .map(({ steps, start, share }) => {
    const thresholds = {} as Record<SheddablePriority, number>;
    let t = start;
    SHEDDABLE.forEach((p, i) => {
      t += i === 0 ? 0 : steps[i]!;
      thresholds[p] = t;
    });
    return { thresholds, hysteresis: start * share };
  });

/** Event-loop delays (ms) against a limit of 1 ms: the pressure is the reading itself. */
const readings = fc.array(fc.double({ min: 0, max: 3, noNaN: true }), { minLength: 1, maxLength: 60 });

function drive(
  c: { thresholds: Record<SheddablePriority, number>; hysteresis: number },
  delays: readonly number[],
  check: (shedding: readonly Priority[], pressure: number, before: readonly Priority[]) => void,
): number {
  const clock = new ManualClock();
  let delay = 0;
  const shedder = loadShedder({
    maxEventLoopDelay: 1,
    sampleInterval: 10,
    ...c,
    clock,
    probe: () => ({ eventLoopDelay: delay }),
  });
  let changes = 0;
  shedder.on('sheddingChanged', () => changes++);
  try {
    for (const d of delays) {
      const before = shedder.shedding;
      delay = d;
      clock.advance(10);
      check(shedder.shedding, shedder.pressure, before);
    }
  } finally {
    shedder.removeAllListeners(); // dispose's own sheddingChanged is not a change of the readings
    shedder.dispose();
  }
  return changes;
}

describe('property: loadShedder', () => {
  it('sheds in order for any sequence of readings: a shed priority implies every less important one; critical never', () => {
    fc.assert(
      fc.property(config, readings, (c, delays) => {
        drive(c, delays, (shedding, pressure) => {
          expect(shedding).not.toContain('critical');
          for (const p of shedding) {
            for (const q of PRIORITIES) {
              if (PRIORITY_RANK[q] > PRIORITY_RANK[p]) expect(shedding).toContain(q);
            }
          }
          // Whatever the history: at or above a threshold it is shed; below threshold - hysteresis it is not.
          for (const p of SHEDDABLE) {
            if (pressure >= c.thresholds[p]) expect(shedding).toContain(p);
            if (pressure < c.thresholds[p] - c.hysteresis) expect(shedding).not.toContain(p);
          }
        });
      }),
      RUNS,
    );
  });

  it('hysteresis: after a threshold is crossed, readings hovering within the margin below it change nothing', () => {
    fc.assert(
      fc.property(
        config,
        fc.constantFrom(...SHEDDABLE),
        fc.array(fc.double({ min: 0, max: 0.99, noNaN: true }), { minLength: 1, maxLength: 60 }),
        (c, priority, positions) => {
          const t = c.thresholds[priority];
          // Cross the threshold, then hover anywhere in (t - hysteresis, t].
          const hover = positions.map((x) => t - c.hysteresis * x);
          let first: readonly Priority[] | undefined;
          const changes = drive(c, [t, ...hover], (shedding) => {
            expect(shedding).toContain(priority);
            first ??= shedding;
            expect(shedding).toEqual(first);
          });
          expect(changes).toBe(1);
        },
      ),
      RUNS,
    );
  });

  it('with one threshold for every priority, a reading hovering around it sheds everything once and never flaps', () => {
    fc.assert(
      fc.property(
        fc.double({ min: 0.2, max: 2, noNaN: true }),
        fc.double({ min: 0.01, max: 0.19, noNaN: true }),
        fc.array(fc.double({ min: -1, max: 0.999, noNaN: true }), { minLength: 1, maxLength: 60 }),
        (t, hysteresis, offsets) => {
          const c = {
            thresholds: { background: t, low: t, normal: t, high: t },
            hysteresis,
          };
          // Readings in (t - hysteresis, t + hysteresis), the first at t: shed once, never released.
          const delays = [t, ...offsets.map((o) => t - o * hysteresis)];
          const changes = drive(c, delays, (shedding) => {
            expect(shedding).toEqual(['high', 'normal', 'low', 'background']);
          });
          expect(changes).toBe(1);
        },
      ),
      RUNS,
    );
    expect(activeSamplers()).toBe(0);
  });
});
