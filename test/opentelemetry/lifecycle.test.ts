import { metrics } from '@opentelemetry/api';
import {
  AggregationTemporality,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics';
import { afterEach, describe, expect, it } from 'vitest';
import { injectFault } from '../../src/chaos/index.js';
import { bulkhead, CircuitBreaker, isBrokenCircuitError, pipeline, retry } from '../../src/index.js';
import { instrument } from '../../src/opentelemetry/index.js';
import { Collected, collect, recording, setup } from './collected.js';

const STATES = ['closed', 'open', 'half-open', 'isolated', 'disabled'];
const onlyState = (current: string) => Object.fromEntries(STATES.map((s) => [s, s === current ? 1 : 0]));
const boom = () => Promise.reject(new Error('boom'));

const providers: MeterProvider[] = [];
function meterProvider() {
  const made = setup();
  providers.push(made.provider);
  return made;
}
afterEach(async () => {
  for (const p of providers.splice(0)) await p.shutdown();
  metrics.disable();
});

function listenerCounts(...emitters: { eventNames(): (string | symbol)[] }[]): number {
  return emitters.reduce((n, e) => n + e.eventNames().length, 0);
}

describe('opentelemetry: dispose()', () => {
  it('reports a breaker instrumented under a disposed one’s name, not the disposed one’s 0', async () => {
    const { reader, meter } = meterProvider();
    const old = new CircuitBreaker({ name: 'orders' });
    const first = instrument(old, { meter });
    await collect(reader);
    first.dispose();
    const fresh = new CircuitBreaker({ name: 'orders', failureThreshold: 1 });
    instrument(fresh, { meter });
    await expect(fresh.execute(boom)).rejects.toThrow('boom');
    const c = await collect(reader);
    expect(c.by('breakwater.circuit.state', 'state', { name: 'orders' })).toEqual(onlyState('open'));
  });

  it('lets a delta reader stop exporting the series of disposed policies (a cumulative one cannot)', async () => {
    const exporter = new InMemoryMetricExporter(AggregationTemporality.DELTA);
    const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 60_000 });
    const provider = new MeterProvider({ readers: [reader] });
    providers.push(provider);
    const breaker = new CircuitBreaker({ name: 'gone' });
    const handle = instrument(breaker, { meter: provider.getMeter('t') });
    await breaker.execute(() => 1);
    await reader.forceFlush();
    handle.dispose();
    await breaker.execute(() => 1);
    await reader.forceFlush(); // the gauges' last report, 0
    await reader.forceFlush(); // nothing left to export
    const exports = exporter
      .getMetrics()
      .map((rm) => new Collected(rm.scopeMetrics.flatMap((s) => s.metrics)));
    expect(exports).toHaveLength(2);
    expect(exports[0]!.by('breakwater.calls', 'outcome', { name: 'gone' })).toEqual({ success: 1 });
    expect(exports[0]!.by('breakwater.circuit.state', 'state', { name: 'gone' })).toEqual(
      onlyState('closed'),
    );
    expect(exports[1]!.names).toEqual(['breakwater.circuit.state']);
    expect(exports[1]!.by('breakwater.circuit.state', 'state', { name: 'gone' })).toEqual(onlyState('none'));
  });
});

describe('opentelemetry: the state of a disabled or isolated breaker', () => {
  it('reads disabled, counting no call while disabled; isolated, counting its rejections', async () => {
    const { reader, meter } = meterProvider();
    const breaker = new CircuitBreaker({ name: 'b' });
    instrument(breaker, { meter });
    breaker.disable();
    await breaker.execute(() => 1);
    await expect(breaker.execute(boom)).rejects.toThrow('boom');
    let c = await collect(reader);
    expect(c.by('breakwater.circuit.state', 'state', { name: 'b' })).toEqual(onlyState('disabled'));
    expect(c.points('breakwater.calls')).toEqual([]);
    breaker.isolate();
    await expect(breaker.execute(() => 1)).rejects.toSatisfy(isBrokenCircuitError);
    c = await collect(reader);
    expect(c.by('breakwater.circuit.state', 'state', { name: 'b' })).toEqual(onlyState('isolated'));
    expect(c.by('breakwater.calls', 'outcome', { name: 'b' })).toEqual({ rejected: 1 });
  });
});

describe('opentelemetry: conflicts on one meter and prefix', () => {
  it('refuses a second breaker of the same name, in one call or two, creating and attaching nothing', async () => {
    const { reader, meter: sdkMeter } = meterProvider();
    const { meter, calls } = recording(sdkMeter);
    const first = new CircuitBreaker({ name: 'db', failureThreshold: 1 });
    const second = new CircuitBreaker({ name: 'db' });
    const r = retry({ name: 'r' });
    const message =
      'instrument: two circuit breakers are named "db" in the instruments "breakwater.*" of this meter; ' +
      'give each breaker its own name (the state gauge shows one state per name)';
    expect(() => instrument(pipeline(r, first, second), { meter })).toThrow(new TypeError(message));
    expect(calls).toEqual([]);
    expect(listenerCounts(first, second, r)).toBe(0);

    instrument(first, { meter });
    expect(() => instrument(pipeline(r, second), { meter })).toThrow(new TypeError(message));
    expect(listenerCounts(second, r)).toBe(0);
    await expect(first.execute(boom)).rejects.toThrow('boom');
    await second.execute(() => 1);
    const c = await collect(reader);
    expect(c.by('breakwater.circuit.state', 'state', { name: 'db' })).toEqual(onlyState('open'));
    expect(c.by('breakwater.calls', 'outcome', { name: 'db' })).toEqual({ failure: 1 });
    // Another prefix is another set of instruments.
    expect(() => instrument(second, { meter, prefix: 'other' })).not.toThrow();
  });

  it('sums bulkheads that share a name, and frees a breaker’s name once disposed', async () => {
    const { reader, meter } = meterProvider();
    const a = bulkhead({ maxConcurrent: 2 });
    const b = bulkhead({ maxConcurrent: 2 });
    instrument(a, { meter });
    const hb = instrument(b, { meter });
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const running = [a.execute(() => gate), b.execute(() => gate), b.execute(() => gate)];
    let c = await collect(reader);
    expect(c.points('breakwater.bulkhead.in_flight')).toHaveLength(1);
    expect(c.value('breakwater.bulkhead.in_flight', { name: 'bulkhead' })).toBe(3);
    hb.dispose();
    c = await collect(reader);
    expect(c.value('breakwater.bulkhead.in_flight', { name: 'bulkhead' })).toBe(1);
    release();
    await Promise.all(running);

    const handle = instrument(new CircuitBreaker({ name: 'x' }), { meter });
    handle.dispose();
    expect(() => instrument(new CircuitBreaker({ name: 'x' }), { meter })).not.toThrow();
  });
});

describe('opentelemetry: instrument() checks everything before attaching anything', () => {
  it('throws for [breaker, notAPolicy] with no listener on any policy and no instrument created', () => {
    const { meter: sdkMeter } = meterProvider();
    const { meter, calls } = recording(sdkMeter);
    const breaker = new CircuitBreaker({ name: 'b' });
    const r = retry();
    const pool = bulkhead({ maxConcurrent: 1 });
    const chaos = injectFault({ rate: 0 });
    for (const bad of [{}, null, 42, { kind: 'nope' }]) {
      expect(() => instrument([breaker, pipeline(r, pool, chaos), bad as object], { meter })).toThrow(
        /^instrument: expected a breakwater policy, pipeline or circuit breaker group, got /,
      );
    }
    expect(() => instrument([breaker, pool], { meter, prefix: 'bad prefix' })).toThrow(TypeError);
    expect(listenerCounts(breaker, r, pool, chaos)).toBe(0);
    expect(calls).toEqual([]);
  });
});

describe('opentelemetry: instrument() options', () => {
  const cases: [string, unknown, ErrorConstructor, RegExp][] = [
    ['options null', null, TypeError, /^instrument options must be an object, got null$/],
    ['options "x"', 'x', TypeError, /^instrument options must be an object, got "x"$/],
    ['an unknown option', { metre: {} }, TypeError, /unknown option "metre"/],
    ['meter null', { meter: null }, TypeError, /^meter must be an OpenTelemetry Meter, got null$/],
    ['meter {}', { meter: {} }, TypeError, /^meter must be an OpenTelemetry Meter, got an object$/],
    ['meter NaN', { meter: Number.NaN }, TypeError, /^meter must be an OpenTelemetry Meter, got NaN$/],
    ['prefix null', { prefix: null }, TypeError, /^prefix must be a string, got null$/],
    ['prefix NaN', { prefix: Number.NaN }, TypeError, /^prefix must be a string, got NaN$/],
    ['prefix an array', { prefix: ['shop'] }, TypeError, /^prefix must be a string, got an array$/],
    [
      'prefix ""',
      { prefix: '' },
      TypeError,
      /^prefix must be a valid OpenTelemetry instrument name prefix .*, got ""$/,
    ],
    ['prefix with a space', { prefix: 'my shop' }, TypeError, /^prefix must be .*, got "my shop"$/],
    ['prefix with a leading digit', { prefix: '1shop' }, TypeError, /^prefix must be .*, got "1shop"$/],
    [
      'a prefix too long',
      { prefix: 'p'.repeat(236) },
      RangeError,
      /^prefix must be at most 235 characters, got 236$/,
    ],
  ];
  it.each(cases)('rejects %s', (_, options, type, message) => {
    const breaker = new CircuitBreaker({ name: 'opt' });
    let thrown: unknown;
    try {
      instrument(breaker, options as never);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(type);
    expect((thrown as Error).message).toMatch(message);
    expect(breaker.eventNames()).toEqual([]);
  });

  it('accepts the longest prefix and the characters OpenTelemetry allows', async () => {
    const { reader, meter } = meterProvider();
    const breaker = new CircuitBreaker({ name: 'ok' });
    const prefix = `a_b.c-d/${'e'.repeat(227)}`;
    instrument(breaker, { meter, prefix });
    await breaker.execute(() => 1);
    const c = await collect(reader);
    expect(c.names).toContain(`${prefix}.circuit.state`);
    expect(c.value(`${prefix}.calls`, { name: 'ok', policy: 'circuit-breaker', outcome: 'success' })).toBe(1);
  });
});
