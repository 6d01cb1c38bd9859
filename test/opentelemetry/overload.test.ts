import { afterEach, describe, expect, it } from 'vitest';
import { CircuitBreaker } from '../../src/index.js';
import { instrument } from '../../src/opentelemetry/index.js';
import { type LoadShedderPolicy, loadShedder } from '../../src/shedder/index.js';
import { ManualClock } from '../../src/testing/index.js';
import { FakeLimit } from '../telemetry/fake-limit.js';
import { collect, setup } from './collected.js';

const shedders: LoadShedderPolicy[] = [];
afterEach(() => {
  for (const s of shedders.splice(0)) s.dispose();
});

function probed(name = 'api') {
  const clock = new ManualClock();
  let delay = 0;
  const shedder = loadShedder({
    name,
    maxEventLoopDelay: 1,
    sampleInterval: 10,
    clock,
    probe: () => ({ eventLoopDelay: delay }),
  });
  shedders.push(shedder);
  return {
    shedder,
    sample(pressure: number) {
      delay = pressure;
      clock.advance(10);
    },
  };
}

describe('opentelemetry: load shedders and adaptive limits', () => {
  it('records pressure, the shed priorities, and shed calls by priority', async () => {
    const { reader, meter } = setup();
    const { shedder, sample } = probed();
    instrument(shedder, { meter });
    sample(0.95);
    await expect(shedder.execute(() => 1, { priority: 'low' })).rejects.toThrow(/Overloaded/);
    await expect(shedder.execute(() => 1, { priority: 'normal' })).rejects.toThrow(/Overloaded/);
    await shedder.execute(() => 1, { priority: 'high' });
    const c = await collect(reader);
    expect(c.value('breakwater.shedder.pressure', { name: 'api' })).toBe(0.95);
    expect(c.by('breakwater.shedder.shedding', 'priority', { name: 'api' })).toEqual({
      critical: 0,
      high: 0,
      normal: 1,
      low: 1,
      background: 1,
    });
    expect(c.by('breakwater.shedder.shed', 'priority', { name: 'api' })).toEqual({ low: 1, normal: 1 });
    expect(c.value('breakwater.calls', { name: 'api', policy: 'load-shedder', outcome: 'rejected' })).toBe(2);
  });

  it('records an adaptive limit, and reports its gauges as 0 once after dispose', async () => {
    const { reader, meter } = setup();
    const limit = new FakeLimit('orders-db');
    const handle = instrument(limit, { meter });
    limit.inFlight = 4;
    limit.queued = 2;
    limit.move(12);
    limit.move(6);
    limit.emit('rejected', { priority: 'background', reason: 'queue-timeout' });
    let c = await collect(reader);
    expect(c.value('breakwater.adaptive.limit', { name: 'orders-db' })).toBe(6);
    expect(c.value('breakwater.adaptive.in_flight', { name: 'orders-db' })).toBe(4);
    expect(c.value('breakwater.adaptive.queued', { name: 'orders-db' })).toBe(2);
    expect(c.by('breakwater.adaptive.changes', 'direction', { name: 'orders-db' })).toEqual({
      up: 1,
      down: 1,
    });
    expect(
      c.value('breakwater.calls', { name: 'orders-db', policy: 'adaptive-limit', outcome: 'rejected' }),
    ).toBe(1);
    handle.dispose();
    expect(limit.eventNames()).toEqual([]);
    c = await collect(reader);
    expect(c.value('breakwater.adaptive.limit', { name: 'orders-db' })).toBe(0);
  });

  it('folds names past maxSeries into "other"; its state gauge counts breakers per state', async () => {
    const { reader, meter } = setup();
    const breakers = Array.from(
      { length: 6 },
      (_, i) => new CircuitBreaker({ name: `t${i}`, failureThreshold: 1 }),
    );
    for (const b of breakers) instrument(b, { meter, maxSeries: 2 });
    for (const b of breakers) await b.execute(() => 1);
    await expect(breakers[5]!.execute(() => Promise.reject(new Error('x')))).rejects.toThrow('x');
    const c = await collect(reader);
    expect(
      c.value('breakwater.calls', { name: 'other', policy: 'circuit-breaker', outcome: 'success' }),
    ).toBe(4);
    expect(c.by('breakwater.circuit.state', 'state', { name: 'other' })).toMatchObject({
      closed: 3,
      open: 1,
    });
    expect(c.by('breakwater.circuit.state', 'state', { name: 't0' })).toMatchObject({ closed: 1, open: 0 });
    expect(() => instrument(breakers[0]!, { meter, maxSeries: -1 })).toThrow(/maxSeries/);
  });
});
