import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { CircuitBreaker } from '../../src/index.js';
import { instrument } from '../../src/prometheus/index.js';
import { type LoadShedderPolicy, loadShedder } from '../../src/shedder/index.js';
import { ManualClock } from '../../src/testing/index.js';
import { FakeLimit } from '../telemetry/fake-limit.js';
import { Scrape } from './exposition.js';

const shedders: LoadShedderPolicy[] = [];
afterEach(() => {
  for (const s of shedders.splice(0)) s.dispose();
});

async function scrape(registry: Registry): Promise<Scrape> {
  return new Scrape(await registry.metrics());
}

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

describe('prometheus: load shedders and adaptive limits', () => {
  it('records pressure, the shed priorities, and shed calls by priority', async () => {
    const { shedder, sample } = probed();
    const { registry } = instrument(shedder, { registry: new Registry() });
    sample(0.8);
    await expect(shedder.execute(() => 1, { priority: 'low' })).rejects.toThrow(/Overloaded/);
    await expect(shedder.execute(() => 1, { priority: 'background' })).rejects.toThrow(/Overloaded/);
    await expect(shedder.execute(() => 1, { priority: 'low' })).rejects.toThrow(/Overloaded/);
    await shedder.execute(() => 1, { priority: 'normal' });
    const s = await scrape(registry);
    expect(s.value('breakwater_shedder_pressure', { name: 'api' })).toBe(0.8);
    expect(s.by('breakwater_shedder_shedding', 'priority', { name: 'api' })).toEqual({
      critical: 0,
      high: 0,
      normal: 0,
      low: 1,
      background: 1,
    });
    expect(s.by('breakwater_shed_calls_total', 'priority', { name: 'api' })).toEqual({
      low: 2,
      background: 1,
    });
    expect(
      s.value('breakwater_calls_total', { name: 'api', policy: 'load-shedder', outcome: 'rejected' }),
    ).toBe(3);
  });

  it('records an adaptive limit: limit, in flight, queued (read at scrape time), moves and rejections', async () => {
    const limit = new FakeLimit('orders-db');
    const { registry, dispose } = instrument(limit, { registry: new Registry() });
    limit.inFlight = 7;
    limit.queued = 3;
    limit.move(8);
    limit.move(4);
    limit.move(5);
    limit.emit('rejected', { priority: 'low', reason: 'limit' });
    let s = await scrape(registry);
    expect(s.value('breakwater_adaptive_limit', { name: 'orders-db' })).toBe(5);
    expect(s.value('breakwater_adaptive_limit_in_flight', { name: 'orders-db' })).toBe(7);
    expect(s.value('breakwater_adaptive_limit_queued', { name: 'orders-db' })).toBe(3);
    expect(s.by('breakwater_adaptive_limit_changes_total', 'direction', { name: 'orders-db' })).toEqual({
      up: 1,
      down: 2,
    });
    expect(
      s.value('breakwater_calls_total', { name: 'orders-db', policy: 'adaptive-limit', outcome: 'rejected' }),
    ).toBe(1);
    dispose();
    expect(limit.eventNames()).toEqual([]);
    s = await scrape(registry);
    expect(s.samples('breakwater_adaptive_limit')).toEqual([]);
    expect(s.samples('breakwater_adaptive_limit_changes_total')).toEqual([]);
  });

  it('drops a disposed shedder’s series', async () => {
    const { shedder, sample } = probed('gone');
    const registry = new Registry();
    const handle = instrument(shedder, { registry });
    sample(2);
    await expect(shedder.execute(() => 1)).rejects.toThrow();
    handle.dispose();
    const s = await scrape(registry);
    expect(s.samples('breakwater_shedder_pressure')).toEqual([]);
    expect(s.samples('breakwater_shedder_shedding')).toEqual([]);
    expect(s.samples('breakwater_shed_calls_total')).toEqual([]);
  });
});

describe('prometheus: maxSeries caps the names recorded', () => {
  it('folds the names past maxSeries into "other": counters add up, the state gauge counts breakers per state', async () => {
    const registry = new Registry();
    const breakers = Array.from(
      { length: 10 },
      (_, i) => new CircuitBreaker({ name: `tenant-${i}`, failureThreshold: 1 }),
    );
    const handles = breakers.map((b) => instrument(b, { registry, maxSeries: 3 }));
    for (const b of breakers) await b.execute(() => 1);
    await expect(breakers[9]!.execute(() => Promise.reject(new Error('x')))).rejects.toThrow('x');
    await expect(breakers[8]!.execute(() => Promise.reject(new Error('x')))).rejects.toThrow('x');
    const s = await scrape(registry);
    const names = new Set(s.samples('breakwater_calls_total').map((x) => x.labels.name));
    expect([...names].sort()).toEqual(['other', 'tenant-0', 'tenant-1', 'tenant-2']);
    expect(
      s.value('breakwater_calls_total', { name: 'other', policy: 'circuit-breaker', outcome: 'success' }),
    ).toBe(7);
    expect(s.by('breakwater_circuit_state', 'state', { name: 'other' })).toMatchObject({
      closed: 5,
      open: 2,
    });
    expect(s.by('breakwater_circuit_state', 'state', { name: 'tenant-0' })).toMatchObject({
      closed: 1,
      open: 0,
    });
    for (const h of handles) h.dispose();
    expect((await scrape(registry)).samples('breakwater_circuit_state')).toEqual([]);
  });

  it('defaults to 1000 names, takes Infinity, and rejects a bad maxSeries naming it', () => {
    const registry = new Registry();
    const breakers = Array.from({ length: 1_001 }, (_, i) => new CircuitBreaker({ name: `b${i}` }));
    for (const b of breakers) instrument(b, { registry });
    const last = new CircuitBreaker({ name: 'b1000' });
    // b1000 is folded into "other", so another breaker of that name does not clash with it.
    expect(() => instrument(last, { registry })).not.toThrow();
    expect(() => instrument(new CircuitBreaker({ name: 'b0' }), { registry })).toThrow(
      /two circuit breakers/,
    );
    expect(() => instrument(last, { maxSeries: 0 })).toThrow(
      /maxSeries must be an integer >= 1 or Infinity, got 0/,
    );
    expect(() => instrument(last, { maxSeries: 'x' as never })).toThrow(TypeError);
    expect(() => instrument(last, { maxSeries: Number.POSITIVE_INFINITY })).not.toThrow();
  });
});
