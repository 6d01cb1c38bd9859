import { Counter, Gauge, Histogram, Registry, register } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { injectFault } from '../../src/chaos/index.js';
import {
  bulkhead,
  CircuitBreaker,
  fallback,
  isBrokenCircuitError,
  pipeline,
  retry,
  timeout,
} from '../../src/index.js';
import { instrument } from '../../src/prometheus/index.js';
import { ManualClock } from '../../src/testing/index.js';
import { Scrape } from './exposition.js';

async function scrape(registry: Registry): Promise<Scrape> {
  return new Scrape(await registry.metrics());
}

/** The sample lines of an exposition (what is left once HELP and TYPE lines are dropped). */
function sampleLines(s: Scrape): string[] {
  return s.text.split('\n').filter((line) => line !== '' && !line.startsWith('#'));
}

/** The `le` bounds of a breaker's success histogram, in exposition order. */
function bounds(s: Scrape, name: string): string[] {
  return s
    .samples('breakwater_call_duration_seconds_bucket')
    .filter((x) => x.labels.name === name && x.labels.outcome === 'success')
    .map((x) => x.labels.le!);
}

/** What `instrument` keeps on the `calls_total` counter, shared by every copy of breakwater. */
interface Book {
  readonly tallies: Map<string, unknown>;
  readonly roster: Map<string, unknown>;
}

function bookOf(registry: Registry, prefix = 'breakwater'): Book {
  const calls = registry.getSingleMetric(`${prefix}_calls_total`) as unknown as Record<symbol, Book>;
  return calls[Symbol.for('breakwater.prometheus.book')]!;
}

/** Every event of every policy, with its number of listeners, for "nothing attached" checks. */
function listenerCounts(...emitters: { eventNames(): (string | symbol)[] }[]): number {
  return emitters.reduce((n, e) => n + e.eventNames().length, 0);
}

const boom = () => Promise.reject(new Error('boom'));

afterEach(() => {
  expect(register.getMetricsAsArray()).toEqual([]);
});

describe('prometheus: dispose() removes the series of its policies', () => {
  it('leaves no sample and no tally of a whole pipeline once disposed, the circuit_state series included', async () => {
    const clock = new ManualClock();
    const breaker = new CircuitBreaker({ name: 'db', failureThreshold: 1, openTimeout: 100, clock });
    const policy = pipeline(
      fallback('fb', { name: 'db-fallback' }),
      bulkhead({ name: 'db-bulkhead', maxConcurrent: 1 }),
      retry({ name: 'db-retry', retries: 1, backoff: () => 0, clock }),
      breaker,
      timeout({ name: 'db-timeout', ms: 50, clock }),
      injectFault({ name: 'db-chaos', rate: 1, enabled: () => false, clock }),
    );
    const registry = new Registry();
    const handle = instrument(policy, { registry });
    await policy.execute(() => 'ok');
    await expect(policy.execute(boom)).resolves.toBe('fb'); // fails, opens, retry rejected, falls back
    clock.advance(100);
    await policy.execute(() => 'ok'); // half-open -> closed

    let s = await scrape(registry);
    // Every metric but the chaos counter (nothing was injected) has series for these policies.
    const withSamples = [...s.families].filter(([, f]) => f.samples.length > 0).map(([name]) => name);
    expect(withSamples.sort()).toEqual([
      'breakwater_bulkhead_in_flight',
      'breakwater_bulkhead_queued',
      'breakwater_call_duration_seconds',
      'breakwater_calls_total',
      'breakwater_circuit_state',
      'breakwater_circuit_transitions_total',
      'breakwater_retries_total',
      'breakwater_retry_give_ups_total',
    ]);
    expect(bookOf(registry).tallies.size).toBeGreaterThan(0);

    handle.dispose();
    s = await scrape(registry);
    expect(sampleLines(s)).toEqual([]);
    expect(s.samples('breakwater_circuit_state')).toEqual([]);
    expect(bookOf(registry).tallies.size).toBe(0);
    expect(bookOf(registry).roster.size).toBe(0);
    // The metrics stay registered, empty, for the next instrument() call.
    expect(s.type('breakwater_calls_total')).toBe('counter');

    // Calls after dispose bring nothing back.
    await policy.execute(() => 'ok');
    await expect(policy.execute(boom)).resolves.toBe('fb');
    expect(sampleLines(await scrape(registry))).toEqual([]);
  });

  it('removes the chaos series and every give-up reason', async () => {
    const clock = new ManualClock();
    const chaos = injectFault({ name: 'c', rate: 1, clock });
    const r = retry({ name: 'r', retries: 1, backoff: () => 0, clock });
    const registry = new Registry();
    const handle = instrument(pipeline(r, chaos), { registry });
    await expect(pipeline(r, chaos).execute(() => 1)).rejects.toThrow();
    let s = await scrape(registry);
    expect(s.value('breakwater_chaos_injections_total', { name: 'c', kind: 'fault' })).toBe(2);
    expect(s.value('breakwater_retry_give_ups_total', { name: 'r', reason: 'retries-exhausted' })).toBe(1);
    handle.dispose();
    s = await scrape(registry);
    expect(sampleLines(s)).toEqual([]);
  });

  it('leaves the exposition of 2,000 instrumented and disposed breakers as empty as before', async () => {
    const registry = new Registry();
    const anchor = instrument(new CircuitBreaker({ name: 'anchor' }), { registry });
    anchor.dispose();
    const empty = await registry.metrics();
    const breakers = Array.from({ length: 2_000 }, (_, i) => new CircuitBreaker({ name: `b${i}` }));
    const handles = breakers.map((b) => instrument(b, { registry, maxSeries: Number.POSITIVE_INFINITY }));
    for (const b of breakers) {
      await b.execute(() => 1);
      await expect(b.execute(boom)).rejects.toThrow('boom');
    }
    const live = await registry.metrics();
    expect(live.length).toBeGreaterThan(2_000 * 2_000); // ~2.9 KB of samples per breaker
    for (const h of handles) h.dispose();
    expect(await registry.metrics()).toBe(empty);
    expect(bookOf(registry).tallies.size).toBe(0);
    for (const b of breakers) expect(b.eventNames()).toEqual([]);
  });

  it('keeps the series of a policy that another instrumentation into the same metrics still holds', async () => {
    const breaker = new CircuitBreaker({ name: 'shared' });
    const registry = new Registry();
    const reads = instrument(pipeline(retry({ name: 'reads' }), breaker), { registry });
    const writes = instrument(pipeline(fallback(0, { name: 'writes' }), breaker), { registry });
    await breaker.execute(() => 1);
    reads.dispose();
    await breaker.execute(() => 1);
    let s = await scrape(registry);
    expect(s.by('breakwater_calls_total', 'outcome', { name: 'shared' })).toEqual({ success: 2 });
    expect(s.by('breakwater_circuit_state', 'state', { name: 'shared' })).toMatchObject({ closed: 1 });
    writes.dispose();
    s = await scrape(registry);
    expect(sampleLines(s)).toEqual([]);
  });

  it('starts a breaker instrumented under a disposed one’s name from zero', async () => {
    const registry = new Registry();
    const old = new CircuitBreaker({ name: 'orders', failureThreshold: 1 });
    const first = instrument(old, { registry });
    await expect(old.execute(boom)).rejects.toThrow('boom');
    first.dispose();
    const fresh = new CircuitBreaker({ name: 'orders' });
    instrument(fresh, { registry });
    await fresh.execute(() => 1);
    const s = await scrape(registry);
    expect(s.by('breakwater_calls_total', 'outcome', { name: 'orders' })).toEqual({ success: 1 });
    expect(s.by('breakwater_circuit_state', 'state', { name: 'orders' })).toMatchObject({
      closed: 1,
      open: 0,
    });
    expect(s.samples('breakwater_circuit_transitions_total')).toEqual([]);
  });
});

describe('prometheus: the state gauge of a disabled or isolated breaker', () => {
  it('says disabled, and counts no call while disabled (the breaker emits no outcome then)', async () => {
    const breaker = new CircuitBreaker({ name: 'off', failureThreshold: 1 });
    const { registry } = instrument(breaker);
    await breaker.execute(() => 1);
    breaker.disable();
    await breaker.execute(() => 1);
    await expect(breaker.execute(boom)).rejects.toThrow('boom');
    let s = await scrape(registry);
    expect(s.by('breakwater_circuit_state', 'state', { name: 'off' })).toEqual({
      closed: 0,
      open: 0,
      'half-open': 0,
      isolated: 0,
      disabled: 1,
    });
    expect(s.by('breakwater_calls_total', 'outcome', { name: 'off' })).toEqual({ success: 1 });
    breaker.reset();
    await breaker.execute(() => 1);
    s = await scrape(registry);
    expect(s.by('breakwater_calls_total', 'outcome', { name: 'off' })).toEqual({ success: 2 });
    expect(s.by('breakwater_circuit_state', 'state', { name: 'off' })).toMatchObject({
      closed: 1,
      disabled: 0,
    });
  });

  it('says isolated, and counts the calls it rejects', async () => {
    const breaker = new CircuitBreaker({ name: 'iso' });
    const { registry } = instrument(breaker);
    breaker.isolate();
    await expect(breaker.execute(() => 1)).rejects.toSatisfy(isBrokenCircuitError);
    const s = await scrape(registry);
    expect(s.by('breakwater_circuit_state', 'state', { name: 'iso' })).toMatchObject({
      isolated: 1,
      closed: 0,
    });
    expect(s.by('breakwater_calls_total', 'outcome', { name: 'iso' })).toEqual({ rejected: 1 });
  });
});

describe('prometheus: conflicts in one registry', () => {
  it.each([
    [
      'breakwater_calls_total',
      () => new Counter({ name: 'breakwater_calls_total', help: 'mine', registers: [] }),
    ],
    [
      'breakwater_circuit_state',
      () => new Gauge({ name: 'breakwater_circuit_state', help: 'mine', registers: [] }),
    ],
    [
      'breakwater_call_duration_seconds',
      () => new Histogram({ name: 'breakwater_call_duration_seconds', help: 'mine', registers: [] }),
    ],
    [
      'breakwater_bulkhead_queued',
      () =>
        new Gauge({ name: 'breakwater_bulkhead_queued', help: 'mine', labelNames: ['name'], registers: [] }),
    ],
  ])('refuses a user metric named %s, registering and attaching nothing', (name, create) => {
    const registry = new Registry();
    const mine = create();
    registry.registerMetric(mine);
    const breaker = new CircuitBreaker({ name: 'x' });
    const pool = bulkhead({ maxConcurrent: 1 });
    expect(() => instrument([breaker, pool], { registry })).toThrow(
      new TypeError(
        `instrument: the registry already has a metric named "${name}" that breakwater did not create; give breakwater another prefix`,
      ),
    );
    expect(registry.getMetricsAsArray()).toEqual([mine]);
    expect(listenerCounts(breaker, pool)).toBe(0);
    // Another prefix is the way out.
    expect(() => instrument(breaker, { registry, prefix: 'resilience' })).not.toThrow();
  });

  it('refuses other buckets for a histogram the registry already has, naming both', async () => {
    const registry = new Registry();
    const a = new CircuitBreaker({ name: 'a' });
    const b = new CircuitBreaker({ name: 'b' });
    instrument(a, { registry, buckets: [0.1, 1] });
    expect(() => instrument(b, { registry, buckets: [0.5, 5] })).toThrow(
      new TypeError(
        'instrument: buckets [0.5, 5] differ from the buckets [0.1, 1] of "breakwater_call_duration_seconds", ' +
          'already in this registry; pass the same buckets, or another prefix',
      ),
    );
    // Omitted buckets are the defaults, which differ too.
    expect(() => instrument(b, { registry })).toThrow(
      /buckets \[0\.001, 0\.005, .*, 10\] differ from the buckets \[0\.1, 1\]/,
    );
    expect(b.eventNames()).toEqual([]);
    // The same buckets share the histogram.
    instrument(b, { registry, buckets: [0.1, 1] });
    await b.execute(() => 1);
    const s = await scrape(registry);
    expect(bounds(s, 'b')).toEqual(['0.1', '1', '+Inf']);
  });

  it('refuses a second breaker of the same name, in one call or two, attaching nothing', async () => {
    const registry = new Registry();
    const first = new CircuitBreaker({ name: 'db', failureThreshold: 1 });
    const second = new CircuitBreaker({ name: 'db' });
    const r = retry({ name: 'r' });
    const message =
      'instrument: two circuit breakers are named "db" in the metrics "breakwater_*" of this registry; ' +
      'give each breaker its own name (the state gauge shows one state per name)';

    expect(() => instrument(pipeline(r, first, second), { registry })).toThrow(new TypeError(message));
    expect(registry.getMetricsAsArray()).toEqual([]);
    expect(listenerCounts(first, second, r)).toBe(0);

    const handle = instrument(first, { registry });
    expect(() => instrument(pipeline(r, second), { registry })).toThrow(new TypeError(message));
    expect(listenerCounts(second, r)).toBe(0);
    // The first keeps its series to itself.
    await expect(first.execute(boom)).rejects.toThrow('boom');
    await second.execute(() => 1);
    let s = await scrape(registry);
    expect(s.by('breakwater_calls_total', 'outcome', { name: 'db' })).toEqual({ failure: 1 });
    expect(s.by('breakwater_circuit_state', 'state', { name: 'db' })).toMatchObject({ open: 1 });

    // The same breaker again is no conflict; another prefix or registry neither; a disposed name is free.
    expect(() => instrument(first, { registry })).not.toThrow();
    expect(() => instrument(second, { registry, prefix: 'other' })).not.toThrow();
    expect(() => instrument(second)).not.toThrow();
    handle.dispose();
    expect(() => instrument(second, { registry })).toThrow(TypeError); // the second instrument(first) holds it
    s = await scrape(registry);
    expect(s.by('breakwater_calls_total', 'outcome', { name: 'db' })).toEqual({ failure: 1 });
  });

  it('frees a breaker’s name once every instrumentation holding it is disposed', () => {
    const registry = new Registry();
    const a = instrument(new CircuitBreaker({ name: 'db' }), { registry });
    a.dispose();
    expect(() => instrument(new CircuitBreaker({ name: 'db' }), { registry })).not.toThrow();
  });

  it('adds policies of one kind that share a name into one series, the bulkhead gauges summed', async () => {
    const clock = new ManualClock();
    const registry = new Registry();
    const t1 = timeout({ ms: 10, strategy: 'aggressive', clock });
    const t2 = timeout({ ms: 10, strategy: 'aggressive', clock });
    const b1 = bulkhead({ maxConcurrent: 2 });
    const b2 = bulkhead({ maxConcurrent: 2 });
    const h1 = instrument(pipeline(b1, t1), { registry });
    const h2 = instrument(pipeline(b2, t2), { registry });
    const hang = () => new Promise<never>(() => {});
    const timedOut = [t1.execute(hang), t2.execute(hang), t2.execute(hang)];
    clock.advance(10);
    await Promise.allSettled(timedOut);
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const running = [b1.execute(() => gate), b2.execute(() => gate), b2.execute(() => gate)];
    let s = await scrape(registry);
    expect(
      s.value('breakwater_calls_total', { name: 'timeout', policy: 'timeout', outcome: 'timeout' }),
    ).toBe(3);
    expect(s.value('breakwater_bulkhead_in_flight', { name: 'bulkhead' })).toBe(3);

    // One of them disposed: the series stays for the other, which goes on counting into it.
    h2.dispose();
    s = await scrape(registry);
    expect(s.value('breakwater_bulkhead_in_flight', { name: 'bulkhead' })).toBe(1);
    const more = t1.execute(hang);
    clock.advance(10);
    await expect(more).rejects.toThrow();
    s = await scrape(registry);
    expect(
      s.value('breakwater_calls_total', { name: 'timeout', policy: 'timeout', outcome: 'timeout' }),
    ).toBe(4);
    h1.dispose();
    expect(sampleLines(await scrape(registry))).toEqual([]);
    release();
    await Promise.all(running);
  });

  it('sees the breaker names and bulkheads of another copy of breakwater in the same registry', async () => {
    const specifier = '../../src/prometheus/index.js?conflict-copy';
    const copy = (await import(
      /* @vite-ignore */ specifier
    )) as typeof import('../../src/prometheus/index.js');
    const registry = new Registry();
    instrument(new CircuitBreaker({ name: 'db' }), { registry });
    const other = new CircuitBreaker({ name: 'db' });
    expect(() => copy.instrument(other, { registry })).toThrow(/two circuit breakers are named "db"/);
    expect(other.eventNames()).toEqual([]);
    const pool = bulkhead({ name: 'pool', maxConcurrent: 1 });
    const handle = copy.instrument(pool, { registry });
    let done!: () => void;
    const running = pool.execute(() => new Promise<void>((resolve) => (done = resolve)));
    expect((await scrape(registry)).value('breakwater_bulkhead_in_flight', { name: 'pool' })).toBe(1);
    handle.dispose();
    expect((await scrape(registry)).samples('breakwater_bulkhead_in_flight')).toEqual([]);
    done();
    await running;
  });
});

describe('prometheus: instrument() checks everything before attaching anything', () => {
  it('throws for [breaker, notAPolicy] with no listener on any policy and no metric registered', () => {
    const clock = new ManualClock();
    const breaker = new CircuitBreaker({ name: 'b', clock });
    const r = retry({ clock });
    const pool = bulkhead({ maxConcurrent: 1 });
    const chaos = injectFault({ rate: 0, clock });
    const registry = new Registry();
    for (const bad of [{}, null, 42, { kind: 'circuit-breaker-ish' }]) {
      expect(() => instrument([breaker, pipeline(r, pool, chaos), bad as object], { registry })).toThrow(
        /^instrument: expected a breakwater policy, pipeline or circuit breaker group, got /,
      );
      expect(listenerCounts(breaker, r, pool, chaos)).toBe(0);
      expect(registry.getMetricsAsArray()).toEqual([]);
    }
    // A bad option after a good target: the same.
    expect(() => instrument([breaker, pool], { registry, buckets: [1, 0.5] })).toThrow(RangeError);
    expect(listenerCounts(breaker, pool)).toBe(0);
    expect(registry.getMetricsAsArray()).toEqual([]);
  });
});

describe('prometheus: instrument() options', () => {
  const breaker = () => new CircuitBreaker({ name: 'opt' });
  const cases: [string, unknown, ErrorConstructor, RegExp][] = [
    ['options null', null, TypeError, /^instrument options must be an object, got null$/],
    ['options 42', 42, TypeError, /^instrument options must be an object, got 42$/],
    ['options an array', [], TypeError, /^instrument options must be an object, got an array$/],
    ['an unknown option', { registy: new Registry() }, TypeError, /unknown option "registy"/],
    ['registry null', { registry: null }, TypeError, /^registry must be a prom-client Registry, got null$/],
    ['registry {}', { registry: {} }, TypeError, /^registry must be a prom-client Registry, got an object$/],
    ['registry a string', { registry: 'r' }, TypeError, /^registry must be a prom-client Registry, got "r"$/],
    ['prefix null', { prefix: null }, TypeError, /^prefix must be a string, got null$/],
    ['prefix NaN', { prefix: Number.NaN }, TypeError, /^prefix must be a string, got NaN$/],
    ['prefix an array', { prefix: ['abc'] }, TypeError, /^prefix must be a string, got an array$/],
    [
      'prefix ""',
      { prefix: '' },
      TypeError,
      /^prefix must be a valid Prometheus metric name prefix .*, got ""$/,
    ],
    ['prefix with a dash', { prefix: 'has-dash' }, TypeError, /^prefix must be .*, got "has-dash"$/],
    ['prefix with a leading digit', { prefix: '1st' }, TypeError, /^prefix must be .*, got "1st"$/],
    ['buckets null', { buckets: null }, TypeError, /^buckets must be an array .*, got null$/],
    ['buckets NaN', { buckets: Number.NaN }, TypeError, /^buckets must be an array .*, got NaN$/],
    ['buckets a string', { buckets: '0.1,1' }, TypeError, /^buckets must be an array .*, got "0\.1,1"$/],
    ['buckets []', { buckets: [] }, RangeError, /^buckets must hold at least one bound, got \[\]$/],
    [
      'a NaN bucket',
      { buckets: [0.1, Number.NaN] },
      RangeError,
      /^buckets\[1\] must be .* > 0, got NaN in \[0\.1, NaN\]$/,
    ],
    [
      'a null bucket',
      { buckets: [0.1, null] },
      TypeError,
      /^buckets\[1\] must be a number of seconds, got null in \[0\.1, null\]$/,
    ],
    [
      'a string bucket',
      { buckets: ['1'] },
      TypeError,
      /^buckets\[0\] must be a number of seconds, got "1" in \["1"\]$/,
    ],
    [
      'an Infinity bucket',
      { buckets: [1, Number.POSITIVE_INFINITY] },
      RangeError,
      /^buckets\[1\] .*, got Infinity/,
    ],
    [
      'a zero bucket',
      { buckets: [0, 1] },
      RangeError,
      /^buckets\[0\] must be a finite number of seconds > 0, got 0/,
    ],
    [
      'decreasing buckets',
      { buckets: [0.1, 0.05] },
      RangeError,
      /^buckets must be increasing, got 0\.05 after 0\.1/,
    ],
    [
      'a repeated bucket',
      { buckets: [0.1, 0.1] },
      RangeError,
      /^buckets must be increasing, got 0\.1 after 0\.1/,
    ],
  ];
  it.each(cases)('rejects %s', (_, options, type, message) => {
    const b = breaker();
    let thrown: unknown;
    try {
      instrument(b, options as never);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(type);
    expect((thrown as Error).message).toMatch(message);
    expect(b.eventNames()).toEqual([]);
  });

  it('accepts a registry of another copy of prom-client (duck-typed) and copies the buckets it is given', async () => {
    const registry = new Registry();
    const lookalike = {
      getSingleMetric: registry.getSingleMetric.bind(registry),
      registerMetric: registry.registerMetric.bind(registry),
    };
    const buckets = [0.5, 1];
    const b = breaker();
    instrument(b, { registry: lookalike as unknown as Registry, buckets });
    buckets.push(0.25); // no effect on the histogram, nor on the next check
    instrument(new CircuitBreaker({ name: 'other' }), { registry, buckets: [0.5, 1] });
    await b.execute(() => 1);
    const s = await scrape(registry);
    expect(bounds(s, 'opt')).toEqual(['0.5', '1', '+Inf']);
  });
});
