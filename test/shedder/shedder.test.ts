import { afterEach, describe, expect, it } from 'vitest';
import {
  isBreakwaterError,
  isOverloadedError,
  type OverloadedError,
  type Priority,
  pipeline,
  timeout,
} from '../../src/index.js';
import { activeSamplers, type PressureReadings } from '../../src/shedder/sampler.js';
import {
  type LoadShedderOptions,
  type LoadShedderPolicy,
  loadShedder,
  type PressureChangedEvent,
  type SheddingChangedEvent,
  type ShedEvent,
} from '../../src/shedder/shedder.js';
import { flushPromises, ManualClock } from '../../src/testing/index.js';
import { captureWarnings } from '../helpers/warnings.js';

const created: LoadShedderPolicy[] = [];
afterEach(() => {
  for (const s of created.splice(0)) s.dispose();
});

/** A shedder on a manual clock whose probe reads `now`: set a reading, then `sample()`. */
function setup(options: Omit<LoadShedderOptions, 'clock' | 'probe'> = { maxEventLoopDelay: 100 }) {
  const clock = new ManualClock();
  const now: { -readonly [K in keyof PressureReadings]?: number } = {};
  let probes = 0;
  const probe = () => {
    probes++;
    return { ...now };
  };
  const shedder = loadShedder({ sampleInterval: 100, ...options, clock, probe });
  created.push(shedder);
  const events = {
    pressure: [] as PressureChangedEvent[],
    shedding: [] as SheddingChangedEvent[],
    shed: [] as ShedEvent[],
  };
  shedder.on('pressureChanged', (e) => events.pressure.push(e));
  shedder.on('sheddingChanged', (e) => events.shedding.push(e));
  shedder.on('shed', (e) => events.shed.push(e));
  const sample = (delay: number) => {
    now.eventLoopDelay = delay;
    clock.advance(shedder.sampleInterval);
  };
  return { clock, now, shedder, events, sample, probes: () => probes };
}

const run = (shedder: LoadShedderPolicy, priority: Priority) => {
  let ran = false;
  const result = shedder.execute(
    () => {
      ran = true;
      return 'ok';
    },
    { priority },
  );
  return result.then(
    (value) => ({ ran, value, error: undefined as OverloadedError | undefined }),
    (error: OverloadedError) => ({ ran, value: undefined, error }),
  );
};

describe('loadShedder with a probe on a manual clock', () => {
  it('admits every call while the pressure is low', async () => {
    const { shedder, sample } = setup();
    sample(10);
    expect(shedder.pressure).toBeCloseTo(0.1);
    expect(shedder.shedding).toEqual([]);
    for (const p of ['critical', 'high', 'normal', 'low', 'background'] as const) {
      expect(await run(shedder, p)).toMatchObject({ ran: true, value: 'ok' });
    }
  });

  it('refuses every call but critical at pressure 3, without running it, with an OverloadedError', async () => {
    const { shedder, sample, events } = setup();
    sample(300);
    expect(shedder.pressure).toBe(3);
    expect(shedder.shedding).toEqual(['high', 'normal', 'low', 'background']);
    for (const p of ['high', 'normal', 'low', 'background'] as const) {
      const { ran, error } = await run(shedder, p);
      expect(ran).toBe(false);
      expect(isOverloadedError(error)).toBe(true);
      expect(isBreakwaterError(error)).toBe(true);
      expect(error).toMatchObject({ reason: 'pressure', priority: p, pressure: 3, retryAfter: 100 });
    }
    expect(await run(shedder, 'critical')).toMatchObject({ ran: true, value: 'ok' });
    expect(events.shed).toEqual([
      { priority: 'high', pressure: 3 },
      { priority: 'normal', pressure: 3 },
      { priority: 'low', pressure: 3 },
      { priority: 'background', pressure: 3 },
    ]);
  });

  it('sheds priorities in order as the pressure rises past each default threshold', () => {
    const { shedder, sample } = setup();
    const steps: [number, Priority[]][] = [
      [59, []],
      [60, ['background']],
      [74, ['background']],
      [75, ['low', 'background']],
      [90, ['normal', 'low', 'background']],
      [99, ['normal', 'low', 'background']],
      [100, ['high', 'normal', 'low', 'background']],
    ];
    for (const [delay, shed] of steps) {
      sample(delay);
      expect(shedder.shedding, `at ${delay} ms`).toEqual(shed);
      for (const p of ['critical', 'high', 'normal', 'low', 'background'] as const) {
        expect(shedder.isShedding(p)).toBe(shed.includes(p));
      }
    }
  });

  it('admits a shed priority again only once the pressure falls hysteresis below its threshold', () => {
    const { shedder, sample, events } = setup();
    sample(95); // normal, low, background shed
    sample(81); // 0.81 >= 0.9 - 0.1: normal still shed
    expect(shedder.isShedding('normal')).toBe(true);
    sample(89);
    expect(shedder.isShedding('normal')).toBe(true);
    sample(79); // below 0.8: normal admitted; low (0.75 - 0.1 = 0.65) still shed
    expect(shedder.shedding).toEqual(['low', 'background']);
    sample(64);
    expect(shedder.shedding).toEqual(['background']);
    sample(49);
    expect(shedder.shedding).toEqual([]);
    expect(events.shedding.map((e) => [e.from, e.to])).toEqual([
      [[], ['normal', 'low', 'background']],
      [
        ['normal', 'low', 'background'],
        ['low', 'background'],
      ],
      [['low', 'background'], ['background']],
      [['background'], []],
    ]);
  });

  it('does not flap while a reading hovers at a threshold', () => {
    const { shedder, sample, events } = setup();
    for (let i = 0; i < 50; i++) sample(i % 2 === 0 ? 91 : 85);
    expect(shedder.shedding).toEqual(['normal', 'low', 'background']);
    expect(events.shedding).toHaveLength(1);
  });

  it('treats a call with no options as normal', async () => {
    const { shedder, sample } = setup();
    sample(85); // low and background shed
    await expect(shedder.execute(() => 'ran')).resolves.toBe('ran');
    sample(95);
    await expect(shedder.execute(() => 'ran')).rejects.toMatchObject({
      priority: 'normal',
      reason: 'pressure',
    });
    await expect(shedder.execute(42 as never)).rejects.toThrow(TypeError);
  });

  it('reads the probe once per sample interval; a new reading takes effect only at the next sample', async () => {
    const { shedder, now, clock, probes } = setup();
    const before = probes(); // one sample at construction
    expect(before).toBe(1);
    now.eventLoopDelay = 500;
    expect((await run(shedder, 'normal')).ran).toBe(true);
    clock.advance(99);
    expect(shedder.pressure).toBe(0);
    expect(probes()).toBe(1);
    clock.advance(1);
    expect(probes()).toBe(2);
    expect(shedder.pressure).toBe(5);
    expect((await run(shedder, 'normal')).ran).toBe(false);
    for (let i = 0; i < 100; i++) await run(shedder, 'normal'); // calls never sample
    expect(probes()).toBe(2);
  });

  it('samples at construction, so a shedder made under pressure sheds at once', async () => {
    const clock = new ManualClock();
    const shedder = loadShedder({ maxHeapUsedBytes: 1_000, clock, probe: () => ({ heapUsedBytes: 2_000 }) });
    created.push(shedder);
    expect(shedder.pressure).toBe(2);
    expect((await run(shedder, 'high')).ran).toBe(false);
  });

  it('takes the pressure as the highest ratio among the configured limits only', () => {
    const { shedder, now, clock } = setup({
      maxEventLoopDelay: 100,
      maxHeapUsedBytes: 1_000,
      maxRssBytes: 10_000,
    });
    Object.assign(now, { eventLoopDelay: 20, eventLoopUtilization: 1, heapUsedBytes: 500, rssBytes: 7_000 });
    clock.advance(100);
    expect(shedder.pressure).toBe(0.7); // rss; utilization has no limit here
    expect(shedder.readings).toEqual({
      eventLoopDelay: 20,
      eventLoopUtilization: 1,
      heapUsedBytes: 500,
      rssBytes: 7_000,
    });
    expect(shedder.limits).toEqual({ eventLoopDelay: 100, heapUsedBytes: 1_000, rssBytes: 10_000 });
  });

  it('emits pressureChanged with from, to and readings when a sample moves the pressure, and not otherwise', () => {
    const { sample, events } = setup();
    sample(50);
    sample(50);
    sample(20);
    expect(events.pressure.map((e) => [e.from, e.to])).toEqual([
      [0, 0.5],
      [0.5, 0.2],
    ]);
    expect(events.pressure[0]!.readings).toMatchObject({ eventLoopDelay: 50 });
  });

  it('honours thresholds and hysteresis of your own', () => {
    const { shedder, sample } = setup({
      maxEventLoopDelay: 100,
      thresholds: { background: 0.2, normal: 1.5, high: 2 },
      hysteresis: 0,
    });
    expect(shedder.thresholds).toEqual({ background: 0.2, low: 0.75, normal: 1.5, high: 2 });
    sample(20);
    expect(shedder.shedding).toEqual(['background']);
    sample(19.9);
    expect(shedder.shedding).toEqual([]);
    sample(149);
    expect(shedder.shedding).toEqual(['low', 'background']);
  });

  it('uses retryAfter when given', async () => {
    const { shedder, sample } = setup({ maxEventLoopDelay: 100, retryAfter: 5_000 });
    sample(200);
    expect((await run(shedder, 'low')).error?.retryAfter).toBe(5_000);
  });

  it('composes in a pipeline, reading the priority from the context, and adopts the pipeline clock', async () => {
    const clock = new ManualClock();
    let delay = 0;
    const shedder = loadShedder({
      maxEventLoopDelay: 100,
      sampleInterval: 50,
      probe: () => ({ eventLoopDelay: delay }),
    });
    created.push(shedder);
    const policy = pipeline({ clock }, timeout(1_000), shedder);
    delay = 300;
    clock.advance(50); // sampled on the pipeline's clock
    expect(shedder.pressure).toBe(3);
    await expect(policy.execute(() => 1, { priority: 'low' })).rejects.toMatchObject({ reason: 'pressure' });
    await expect(policy.execute(() => 1, { priority: 'critical' })).resolves.toBe(1);
  });

  it('rejects bad execute arguments and an aborted signal without running fn', async () => {
    const { shedder } = setup();
    await expect(shedder.execute(42 as never)).rejects.toThrow(TypeError);
    await expect(shedder.execute(() => 1, { priority: 'urgent' as never })).rejects.toThrow(/priority/);
    const aborted = AbortSignal.abort(new Error('gone'));
    let ran = false;
    await expect(
      shedder.execute(
        () => {
          ran = true;
        },
        { signal: aborted },
      ),
    ).rejects.toThrow('gone');
    expect(ran).toBe(false);
  });

  it('passes the function result and error through unchanged', async () => {
    const { shedder } = setup();
    const boom = new Error('boom');
    await expect(
      shedder.execute(() => {
        throw boom;
      }),
    ).rejects.toBe(boom);
    await expect(shedder.execute(async () => 7)).resolves.toBe(7);
  });

  it('keeps the previous readings and warns when the probe throws or answers nonsense', async () => {
    const warnings = captureWarnings();
    const clock = new ManualClock();
    let answer: () => unknown = () => ({ eventLoopDelay: 200 });
    const shedder = loadShedder({
      maxEventLoopDelay: 100,
      clock,
      sampleInterval: 10,
      probe: () => answer() as never,
    });
    created.push(shedder);
    expect(shedder.pressure).toBe(2);
    answer = () => {
      throw new Error('probe broke');
    };
    clock.advance(10);
    answer = () => ({ eventLoopDelay: Number.NaN });
    clock.advance(10);
    answer = () => 'high';
    clock.advance(10);
    expect(shedder.pressure).toBe(2);
    await flushPromises();
    expect(warnings).toHaveLength(3);
    expect(warnings.map((w) => (w.cause as Error).message)).toEqual([
      'probe broke',
      'probe: eventLoopDelay must be a finite number >= 0, got NaN',
      'probe must return an object of readings, got "high"',
    ]);
  });
});

describe('sharing and stopping the sampler', () => {
  it('shares one sampler among shedders of one probe and clock, at the shortest interval, and stops it with the last', () => {
    const clock = new ManualClock();
    let reads = 0;
    const probe = () => {
      reads++;
      return { eventLoopDelay: 0 };
    };
    const before = activeSamplers();
    const a = loadShedder({ maxEventLoopDelay: 10, sampleInterval: 100, clock, probe });
    const b = loadShedder({ maxEventLoopDelay: 10, sampleInterval: 30, clock, probe });
    expect(activeSamplers()).toBe(before + 1);
    reads = 0;
    clock.advance(90);
    expect(reads).toBe(3);
    b.dispose();
    clock.advance(30); // the timer armed at 30 fires once more, then re-arms at 100
    expect(reads).toBe(4);
    clock.advance(100);
    expect(reads).toBe(5);
    a.dispose();
    expect(activeSamplers()).toBe(before);
    expect(clock.pendingTimers).toBe(0);
    clock.advance(1_000);
    expect(reads).toBe(5);
  });

  it('dispose admits every call again, emits sheddingChanged, and is idempotent; Symbol.dispose too', async () => {
    const { shedder, sample, events, clock } = setup();
    sample(500);
    shedder.dispose();
    expect(shedder.disposed).toBe(true);
    expect(shedder.shedding).toEqual([]);
    expect(events.shedding.at(-1)!.to).toEqual([]);
    expect((await run(shedder, 'background')).ran).toBe(true);
    shedder.dispose();
    expect(events.shedding).toHaveLength(2);
    expect(clock.pendingTimers).toBe(0);
    {
      using other = loadShedder({ maxEventLoopDelay: 10, clock, probe: () => ({}) });
      expect(other.disposed).toBe(false);
      expect(clock.pendingTimers).toBe(1);
    }
    expect(clock.pendingTimers).toBe(0);
  });

  it('a listener that disposes another shedder during a sample does not break the round', () => {
    const clock = new ManualClock();
    let delay = 0;
    const probe = () => ({ eventLoopDelay: delay });
    const a = loadShedder({ maxEventLoopDelay: 10, sampleInterval: 10, clock, probe });
    const b = loadShedder({ maxEventLoopDelay: 10, sampleInterval: 10, clock, probe });
    created.push(a, b);
    a.on('pressureChanged', () => b.dispose());
    delay = 50;
    clock.advance(10);
    expect(b.disposed).toBe(true);
    expect(a.pressure).toBe(5);
    expect(b.pressure).toBe(0);
  });

  it('the process sampler reads real values on its own unref’d timer and stops with the last shedder', async () => {
    const before = activeSamplers();
    const shedder = loadShedder({ maxRssBytes: 1e15, sampleInterval: 20 });
    expect(activeSamplers()).toBe(before + 1);
    expect(shedder.readings.rssBytes).toBeGreaterThan(0);
    expect(shedder.readings.heapUsedBytes).toBeGreaterThan(0);
    const sampled = new Promise<PressureChangedEvent>((resolve) => shedder.once('pressureChanged', resolve));
    const e = await sampled;
    expect(e.readings.eventLoopUtilization).toBeGreaterThanOrEqual(0);
    expect(e.readings.eventLoopUtilization).toBeLessThanOrEqual(1);
    shedder.dispose();
    expect(activeSamplers()).toBe(before);
  });
});

describe('loadShedder options', () => {
  const probe = () => ({});
  const cases: [string, Record<string, unknown>, RegExp, ErrorConstructor][] = [
    ['no limit', {}, /at least one of maxEventLoopDelay/, TypeError],
    ['unknown option', { maxEventLoopDelay: 1, maxLag: 3 }, /unknown option "maxLag"/, TypeError],
    [
      'maxEventLoopDelay 0',
      { maxEventLoopDelay: 0 },
      /maxEventLoopDelay must be a finite number of ms > 0, got 0/,
      RangeError,
    ],
    [
      'maxEventLoopDelay string',
      { maxEventLoopDelay: '100' },
      /maxEventLoopDelay must be a number/,
      TypeError,
    ],
    [
      'maxEventLoopUtilization 1.5',
      { maxEventLoopUtilization: 1.5 },
      /maxEventLoopUtilization must be a number in \(0, 1\], got 1.5/,
      RangeError,
    ],
    ['maxHeapUsedBytes -1', { maxHeapUsedBytes: -1 }, /maxHeapUsedBytes .* got -1/, RangeError],
    ['maxRssBytes NaN', { maxRssBytes: Number.NaN }, /maxRssBytes .* got NaN/, RangeError],
    [
      'sampleInterval 5',
      { maxRssBytes: 1, sampleInterval: 5 },
      /sampleInterval must be a finite number of ms in \[10, 2147483647\], got 5/,
      RangeError,
    ],
    [
      'thresholds not an object',
      { maxRssBytes: 1, thresholds: 3 },
      /thresholds must be an object, got 3/,
      TypeError,
    ],
    [
      'threshold for critical',
      { maxRssBytes: 1, thresholds: { critical: 2 } },
      /unknown option "critical"/,
      TypeError,
    ],
    [
      'threshold 0',
      { maxRssBytes: 1, thresholds: { low: 0 } },
      /thresholds.low must be a finite number > 0, got 0/,
      RangeError,
    ],
    [
      'threshold string',
      { maxRssBytes: 1, thresholds: { low: 'x' } },
      /thresholds.low must be a number/,
      TypeError,
    ],
    [
      'thresholds out of order',
      { maxRssBytes: 1, thresholds: { normal: 0.5 } },
      /normal \(0.5\) is below low \(0.75\)/,
      RangeError,
    ],
    [
      'hysteresis -0.1',
      { maxRssBytes: 1, hysteresis: -0.1 },
      /hysteresis must be a finite number >= 0, got -0.1/,
      RangeError,
    ],
    [
      'hysteresis too large',
      { maxRssBytes: 1, hysteresis: 0.6 },
      /hysteresis must be smaller than the lowest threshold \(0.6\), got 0.6/,
      RangeError,
    ],
    ['retryAfter -1', { maxRssBytes: 1, retryAfter: -1 }, /retryAfter .* got -1/, RangeError],
    ['probe not a function', { maxRssBytes: 1, probe: 3 }, /probe must be a function, got 3/, TypeError],
    ['clock not a clock', { maxRssBytes: 1, clock: {} }, /clock must have now\(\)/, TypeError],
    ['name empty', { maxRssBytes: 1, name: '' }, /name must be a non-empty string/, TypeError],
  ];
  for (const [what, options, message, type] of cases) {
    it(`rejects ${what} with a ${type.name} naming it`, () => {
      const before = activeSamplers();
      expect(() => loadShedder({ probe, ...options } as LoadShedderOptions)).toThrow(type);
      expect(() => loadShedder({ probe, ...options } as LoadShedderOptions)).toThrow(message);
      expect(activeSamplers()).toBe(before); // nothing started
    });
  }

  it('rejects options that are not an object', () => {
    expect(() => loadShedder(undefined as never)).toThrow(TypeError);
  });

  it('has documented defaults', () => {
    const shedder = loadShedder({ maxEventLoopDelay: 100, probe, clock: new ManualClock() });
    created.push(shedder);
    expect(shedder).toMatchObject({
      name: 'load-shedder',
      kind: 'load-shedder',
      sampleInterval: 1_000,
      retryAfter: 1_000,
      hysteresis: 0.1,
      thresholds: { background: 0.6, low: 0.75, normal: 0.9, high: 1 },
    });
  });
});
