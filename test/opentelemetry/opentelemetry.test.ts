import { metrics } from '@opentelemetry/api';
import {
  AggregationTemporality,
  DataPointType,
  type Histogram,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics';
import { afterEach, describe, expect, it } from 'vitest';
import { injectFault } from '../../src/chaos/index.js';
import {
  bulkhead,
  CircuitBreaker,
  type ExecuteContext,
  fallback,
  isBrokenCircuitError,
  pipeline,
  retry,
  timeout,
} from '../../src/index.js';
import { instrument } from '../../src/opentelemetry/index.js';
import { ManualClock } from '../../src/testing/index.js';
import { Collected, collect, recording, setup } from './collected.js';

function deferred<T>(): { promise: Promise<T>; resolve(value: T): void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((res) => {
    resolve = res;
  });
  return { promise, resolve };
}

function takes<T>(clock: ManualClock, ms: number, value: T): () => T {
  return () => {
    clock.advance(ms);
    return value;
  };
}

function hangs({ signal }: ExecuteContext): Promise<never> {
  return new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason)));
}

const STATES = ['closed', 'open', 'half-open', 'isolated', 'disabled'];
const onlyState = (current: string) => Object.fromEntries(STATES.map((s) => [s, s === current ? 1 : 0]));

const providers: MeterProvider[] = [];
afterEach(async () => {
  for (const p of providers.splice(0)) await p.shutdown();
  metrics.disable();
});

describe('opentelemetry: a whole pipeline read back through a metric reader', () => {
  it('records counters, the duration histogram and the observable gauges with their values', async () => {
    const { reader, provider, meter } = setup();
    providers.push(provider);
    const clock = new ManualClock();
    let outage = false;
    const chaos = injectFault({ name: 'db-chaos', rate: 1, enabled: () => outage, clock });
    const breaker = new CircuitBreaker({ name: 'db', failureThreshold: 3, openTimeout: 1_000, clock });
    const retries = retry({
      name: 'db-retry',
      retries: 1,
      backoff: () => 0,
      shouldRetry: (error) => !isBrokenCircuitError(error),
      clock,
    });
    const fb = fallback(() => 'fallback', { name: 'db-fallback', staleIfError: { maxAge: 60_000 }, clock });
    const bh = bulkhead({ name: 'db-bulkhead', maxConcurrent: 1, maxQueue: 1, clock });
    const to = timeout({ ms: 100, name: 'db-timeout', clock });
    const policy = pipeline(fb, pipeline(bh, retries), pipeline(breaker, pipeline(to, chaos)));
    instrument(policy, { meter });

    let c = await collect(reader);
    expect(c.by('breakwater.circuit.state', 'state', { name: 'db' })).toEqual(onlyState('closed'));
    expect(c.value('breakwater.bulkhead.in_flight', { name: 'db-bulkhead' })).toBe(0);

    await expect(policy.execute(takes(clock, 5, 'fresh-a'), { key: 'a' })).resolves.toBe('fresh-a');
    await expect(policy.execute(takes(clock, 15, 'fresh-b'), { key: 'b' })).resolves.toBe('fresh-b');
    outage = true;
    await expect(policy.execute(() => 'unreached', { key: 'a' })).resolves.toBe('fresh-a');
    await expect(policy.execute(() => 'unreached', { key: 'z' })).resolves.toBe('fallback');
    await expect(policy.execute(() => 'unreached', { key: 'b' })).resolves.toBe('fresh-b');

    c = await collect(reader);
    expect(c.by('breakwater.circuit.state', 'state', { name: 'db' })).toEqual(onlyState('open'));

    outage = false;
    clock.advance(1_000);
    const probe = policy.execute(hangs, { key: 'c' });
    clock.advance(100);
    await expect(probe).resolves.toBe('fallback');
    clock.advance(1_000);
    await expect(policy.execute(takes(clock, 10, 'fresh-d'), { key: 'd' })).resolves.toBe('fresh-d');

    const gate = deferred<string>();
    const first = policy.execute(() => gate.promise, { key: 'e' });
    const second = policy.execute(() => 'second', { key: 'f' });
    await expect(policy.execute(() => 'unreached', { key: 'g' })).resolves.toBe('fallback');
    c = await collect(reader);
    expect(c.value('breakwater.bulkhead.in_flight', { name: 'db-bulkhead' })).toBe(1);
    expect(c.value('breakwater.bulkhead.queued', { name: 'db-bulkhead' })).toBe(1);
    expect(c.metric('breakwater.bulkhead.in_flight')?.dataPointType).toBe(DataPointType.GAUGE);
    gate.resolve('first');
    await expect(first).resolves.toBe('first');
    await expect(second).resolves.toBe('second');

    c = await collect(reader);
    expect(c.value('breakwater.bulkhead.in_flight', { name: 'db-bulkhead' })).toBe(0);
    expect(c.value('breakwater.bulkhead.queued', { name: 'db-bulkhead' })).toBe(0);
    expect(c.by('breakwater.circuit.state', 'state', { name: 'db' })).toEqual(onlyState('closed'));

    const calls = c.metric('breakwater.calls');
    expect(calls?.dataPointType).toBe(DataPointType.SUM);
    expect(calls?.aggregationTemporality).toBe(AggregationTemporality.CUMULATIVE);
    expect(
      c
        .points('breakwater.calls')
        .map((p) => `${p.attributes.name}/${p.attributes.policy}/${p.attributes.outcome}=${p.value}`)
        .sort(),
    ).toEqual([
      'db-bulkhead/bulkhead/rejected=1',
      'db-fallback/fallback/fallback=3',
      'db-fallback/fallback/stale_fallback=2',
      'db-timeout/timeout/timeout=1',
      'db/circuit-breaker/failure=4',
      'db/circuit-breaker/rejected=3',
      'db/circuit-breaker/success=5',
    ]);
    expect(c.value('breakwater.retries', { name: 'db-retry' })).toBe(3);
    // As in the Prometheus test: exhausted on key a; rejected by the open circuit on z, b and c.
    expect(c.by('breakwater.retry.give_ups', 'reason', { name: 'db-retry' })).toEqual({
      'retries-exhausted': 1,
      'not-retryable': 3,
    });
    expect(c.value('breakwater.chaos.injections', { name: 'db-chaos', kind: 'fault' })).toBe(3);
    expect(
      c
        .points('breakwater.circuit.transitions')
        .map((p) => `${p.attributes.from}->${p.attributes.to}=${p.value}`)
        .sort(),
    ).toEqual(['closed->open=1', 'half-open->closed=1', 'half-open->open=1', 'open->half-open=2']);

    const duration = c.metric('breakwater.call.duration');
    expect(duration?.dataPointType).toBe(DataPointType.HISTOGRAM);
    expect(duration?.descriptor.unit).toBe('s');
    const success = c.value<Histogram>('breakwater.call.duration', { name: 'db', outcome: 'success' })!;
    expect(success.count).toBe(5);
    expect(success.sum).toBeCloseTo(0.03, 12);
    expect(success.min).toBe(0);
    // The same buckets (seconds) as the Prometheus histogram, not the SDK's default bounds for milliseconds.
    expect(success.buckets.boundaries).toEqual([
      0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
    ]);
    expect(success.buckets.counts.slice(0, 4)).toEqual([2, 1, 1, 1]);
    expect(success.max).toBe(0.015);
    const failure = c.value<Histogram>('breakwater.call.duration', { name: 'db', outcome: 'failure' })!;
    expect(failure.count).toBe(4);
    expect(failure.sum).toBeCloseTo(0.1, 12);
    expect(failure.max).toBe(0.1);
    expect(clock.pendingTimers).toBe(0);
  });
});

describe('opentelemetry: instrument()', () => {
  it('uses the global meter provider when no meter is given, under a custom prefix', async () => {
    const { reader, provider } = setup();
    providers.push(provider);
    metrics.setGlobalMeterProvider(provider);
    const clock = new ManualClock();
    const breaker = new CircuitBreaker({ name: 'pay', failureThreshold: 1, clock });
    const handle = instrument(breaker, { prefix: 'shop' });
    await breaker.execute(takes(clock, 2, 1));
    await expect(breaker.execute(() => Promise.reject(new Error('down')))).rejects.toThrow('down');
    const c = await collect(reader);
    expect(c.names).toEqual([
      'shop.call.duration',
      'shop.calls',
      'shop.circuit.state',
      'shop.circuit.transitions',
    ]);
    expect(c.metrics.every((m) => !m.descriptor.name.startsWith('breakwater'))).toBe(true);
    expect(c.by('shop.calls', 'outcome', { name: 'pay' })).toEqual({ success: 1, failure: 1 });
    expect(c.by('shop.circuit.state', 'state', { name: 'pay' })).toEqual(onlyState('open'));
    handle.dispose();
  });

  it('dispose() stops recording, reports the gauges as 0 once, then removes the observable callback', async () => {
    const { reader, provider, meter: sdkMeter } = setup();
    providers.push(provider);
    const { meter, calls } = recording(sdkMeter);
    const clock = new ManualClock();
    const breaker = new CircuitBreaker({ name: 'd', failureThreshold: 1, clock });
    const pool = bulkhead({ name: 'p', maxConcurrent: 1 });
    const mine = () => {};
    breaker.on('failed', mine);
    const before = breaker.eventNames().map((e) => `${String(e)}:${breaker.listenerCount(e)}`);
    const handle = instrument(pipeline(pool, breaker), { meter });
    await pipeline(pool, breaker).execute(takes(clock, 3, 1));
    const gate = deferred<void>();
    const running = pool.execute(() => gate.promise);
    let c = await collect(reader);
    expect(c.value('breakwater.calls', { name: 'd', policy: 'circuit-breaker', outcome: 'success' })).toBe(1);
    expect(c.by('breakwater.circuit.state', 'state', { name: 'd' })).toEqual(onlyState('closed'));
    expect(c.value('breakwater.bulkhead.in_flight', { name: 'p' })).toBe(1);

    handle.dispose();
    expect(breaker.eventNames().map((e) => `${String(e)}:${breaker.listenerCount(e)}`)).toEqual(before);
    expect(pool.listenerCount('rejected')).toBe(0);
    await breaker.execute(() => 1);
    await expect(breaker.execute(() => Promise.reject(new Error('x')))).rejects.toThrow('x');
    expect(breaker.state).toBe('open');
    // The callback stays until it has reported the disposed policies once.
    expect(calls.filter((k) => k === 'removeBatchObservableCallback')).toHaveLength(0);
    c = await collect(reader);
    // Counters and histograms: the API cannot delete a series, and this cumulative reader keeps the last values.
    expect(c.by('breakwater.calls', 'outcome', { name: 'd' })).toEqual({ success: 1 });
    expect(c.points('breakwater.circuit.transitions')).toEqual([]);
    expect(c.value<Histogram>('breakwater.call.duration', { name: 'd', outcome: 'success' })?.count).toBe(1);
    // Gauges: 0 for every state, and nothing in flight, rather than the stale closed and 1
    // (nor the live open and 1: the breaker and the bulkhead are no longer read).
    expect(c.by('breakwater.circuit.state', 'state', { name: 'd' })).toEqual(onlyState('none'));
    expect(c.value('breakwater.bulkhead.in_flight', { name: 'p' })).toBe(0);
    expect(calls.filter((k) => k === 'removeBatchObservableCallback')).toHaveLength(1);
    c = await collect(reader);
    expect(c.by('breakwater.circuit.state', 'state', { name: 'd' })).toEqual(onlyState('none'));
    gate.resolve();
    await running;
    handle.dispose(); // twice is harmless
    expect(calls.filter((k) => k === 'removeBatchObservableCallback')).toHaveLength(1);
  });

  it('counts a breaker shared by two instrumented pipelines on one meter once', async () => {
    const { reader, provider, meter } = setup();
    providers.push(provider);
    const clock = new ManualClock();
    const breaker = new CircuitBreaker({ name: 's', clock });
    const a = instrument(pipeline(retry({ clock }), breaker), { meter });
    const b = instrument(pipeline(fallback(0), breaker), { meter });
    await breaker.execute(takes(clock, 1, 1));
    let c = await collect(reader);
    expect(c.value('breakwater.calls', { name: 's', policy: 'circuit-breaker', outcome: 'success' })).toBe(1);
    expect(c.by('breakwater.circuit.state', 'state', { name: 's' })).toEqual(onlyState('closed'));
    a.dispose();
    await breaker.execute(takes(clock, 1, 1));
    c = await collect(reader);
    expect(c.value('breakwater.calls', { name: 's', policy: 'circuit-breaker', outcome: 'success' })).toBe(2);
    expect(c.points('breakwater.circuit.state')).toHaveLength(5);
    b.dispose();
    expect(breaker.listenerCount('succeeded')).toBe(0);
  });

  it('throws a TypeError for anything but a policy, leaving no listener behind', () => {
    const { meter } = setup();
    const breaker = new CircuitBreaker({ clock: new ManualClock() });
    for (const bad of [{}, null, 7, { kind: 'other' }]) {
      expect(() => instrument(bad as object, { meter })).toThrow(TypeError);
      expect(() => instrument([breaker, bad as object], { meter })).toThrow(TypeError);
    }
    expect(() => instrument(breaker, { meter, nope: true } as never)).toThrow(TypeError);
    expect(breaker.listenerCount('succeeded')).toBe(0);
  });

  it('exports through a PeriodicExportingMetricReader into an InMemoryMetricExporter', async () => {
    const exporter = new InMemoryMetricExporter(AggregationTemporality.DELTA);
    const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 60_000 });
    const provider = new MeterProvider({ readers: [reader] });
    providers.push(provider);
    const clock = new ManualClock();
    const breaker = new CircuitBreaker({ name: 'x', clock });
    instrument(breaker, { meter: provider.getMeter('t') });
    await breaker.execute(takes(clock, 4, 1));
    await breaker.execute(takes(clock, 6, 1));
    await reader.forceFlush();
    await breaker.execute(takes(clock, 1, 1));
    await reader.forceFlush();
    const exported = exporter
      .getMetrics()
      .map((rm) => new Collected(rm.scopeMetrics.flatMap((s) => s.metrics)));
    expect(exported).toHaveLength(2);
    const labels = { name: 'x', policy: 'circuit-breaker', outcome: 'success' };
    // Delta temporality: each export holds the calls since the one before.
    expect(exported.map((c) => c.value('breakwater.calls', labels))).toEqual([2, 1]);
    expect(
      exported.map(
        (c) => c.value<Histogram>('breakwater.call.duration', { name: 'x', outcome: 'success' })?.sum,
      ),
    ).toEqual([0.01, 0.001]);
  });
});
