import { Registry, register } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { injectFault, injectLatency, injectOutcome } from '../../src/chaos/index.js';
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
import { instrument } from '../../src/prometheus/index.js';
import { flushPromises, ManualClock } from '../../src/testing/index.js';
import { Scrape } from './exposition.js';

interface Deferred<T> {
  readonly promise: Promise<T>;
  resolve(value: T): void;
}

function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((res) => {
    resolve = res;
  });
  return { promise, resolve };
}

async function scrape(registry: Registry): Promise<Scrape> {
  return new Scrape(await registry.metrics());
}

/** An operation that takes `ms` by `clock` and returns `value`. */
function takes<T>(clock: ManualClock, ms: number, value: T): () => T {
  return () => {
    clock.advance(ms);
    return value;
  };
}

/** An operation that takes `ms` by `clock` and throws `error`. */
function failsAfter(clock: ManualClock, ms: number, error: unknown = new Error('boom')): () => never {
  return () => {
    clock.advance(ms);
    throw error;
  };
}

/** An operation that never settles until its signal aborts. */
function hangs({ signal }: ExecuteContext): Promise<never> {
  return new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason)));
}

const STATES = ['closed', 'open', 'half-open', 'isolated', 'disabled'];

/** The state gauge of one breaker as `{ state: value }`, every state present. */
function stateGauge(s: Scrape, name: string, prefix = 'breakwater'): Record<string, number> {
  return s.by(`${prefix}_circuit_state`, 'state', { name });
}

function onlyState(current: string): Record<string, number> {
  return Object.fromEntries(STATES.map((s) => [s, s === current ? 1 : 0]));
}

afterEach(() => {
  // Nothing in this file may touch prom-client's global registry.
  expect(register.getMetricsAsArray()).toEqual([]);
});

describe('prometheus: a whole pipeline under scripted traffic', () => {
  it('records every policy of a nested pipeline with values read back from the text exposition', async () => {
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
    // fallback > bulkhead > retry > breaker > timeout > chaos, across three levels of nesting.
    const policy = pipeline(fb, pipeline(bh, retries), pipeline(breaker, pipeline(to, chaos)));

    const registry = new Registry();
    const handle = instrument(policy, { registry });
    expect(handle.registry).toBe(registry);

    let s = await scrape(registry);
    expect(stateGauge(s, 'db')).toEqual(onlyState('closed'));
    expect(s.type('breakwater_circuit_state')).toBe('gauge');
    expect(s.type('breakwater_calls_total')).toBe('counter');
    expect(s.type('breakwater_call_duration_seconds')).toBe('histogram');
    expect(s.samples('breakwater_calls_total')).toEqual([]);

    // 1. Two successes, 5 ms and 15 ms by the breaker's clock, cached for keys a and b.
    await expect(policy.execute(takes(clock, 5, 'fresh-a'), { key: 'a' })).resolves.toBe('fresh-a');
    await expect(policy.execute(takes(clock, 15, 'fresh-b'), { key: 'b' })).resolves.toBe('fresh-b');

    // 2. Outage: chaos fails every call. Key a: two failures (a retry), served stale.
    outage = true;
    await expect(policy.execute(() => 'unreached', { key: 'a' })).resolves.toBe('fresh-a');
    // Key z: the third failure opens the circuit; its one retry is rejected; plain fallback.
    await expect(policy.execute(() => 'unreached', { key: 'z' })).resolves.toBe('fallback');
    expect(breaker.state).toBe('open');

    // 3. While open: rejected at once, served stale for b.
    await expect(policy.execute(() => 'unreached', { key: 'b' })).resolves.toBe('fresh-b');

    s = await scrape(registry);
    expect(stateGauge(s, 'db')).toEqual(onlyState('open'));
    expect(s.by('breakwater_calls_total', 'outcome', { name: 'db', policy: 'circuit-breaker' })).toEqual({
      success: 2,
      failure: 3,
      rejected: 2,
    });
    expect(s.value('breakwater_chaos_injections_total', { name: 'db-chaos', kind: 'fault' })).toBe(3);

    // 4. The outage ends; the probe hangs and times out after 100 ms, reopening the circuit.
    outage = false;
    clock.advance(1_000);
    const probe = policy.execute(hangs, { key: 'c' });
    clock.advance(100);
    await expect(probe).resolves.toBe('fallback');
    expect(breaker.state).toBe('open');

    // 5. Recovery: the next probe succeeds in 10 ms and closes the circuit.
    clock.advance(1_000);
    await expect(policy.execute(takes(clock, 10, 'fresh-d'), { key: 'd' })).resolves.toBe('fresh-d');
    expect(breaker.state).toBe('closed');

    // 6. The bulkhead: one call runs, one waits, the third is rejected (and falls back).
    const gate = deferred<string>();
    const first = policy.execute(() => gate.promise, { key: 'e' });
    const second = policy.execute(() => 'second', { key: 'f' });
    await expect(policy.execute(() => 'unreached', { key: 'g' })).resolves.toBe('fallback');
    s = await scrape(registry);
    expect(s.value('breakwater_bulkhead_in_flight', { name: 'db-bulkhead' })).toBe(1);
    expect(s.value('breakwater_bulkhead_queued', { name: 'db-bulkhead' })).toBe(1);
    expect(s.type('breakwater_bulkhead_in_flight')).toBe('gauge');
    gate.resolve('first');
    await expect(first).resolves.toBe('first');
    await expect(second).resolves.toBe('second');

    s = await scrape(registry);
    // Gauges read at scrape time: the bulkhead is empty again.
    expect(s.value('breakwater_bulkhead_in_flight', { name: 'db-bulkhead' })).toBe(0);
    expect(s.value('breakwater_bulkhead_queued', { name: 'db-bulkhead' })).toBe(0);
    expect(stateGauge(s, 'db')).toEqual(onlyState('closed'));

    // Every counter, by labels, exactly.
    const calls = s
      .samples('breakwater_calls_total')
      .map((x) => [x.labels.name, x.labels.policy, x.labels.outcome, x.value]);
    expect(calls).toEqual(
      expect.arrayContaining([
        ['db', 'circuit-breaker', 'success', 5],
        ['db', 'circuit-breaker', 'failure', 4],
        ['db', 'circuit-breaker', 'rejected', 3],
        ['db-timeout', 'timeout', 'timeout', 1],
        ['db-fallback', 'fallback', 'stale_fallback', 2],
        ['db-fallback', 'fallback', 'fallback', 3],
        ['db-bulkhead', 'bulkhead', 'rejected', 1],
      ]),
    );
    expect(calls).toHaveLength(7);

    expect(s.value('breakwater_retries_total', { name: 'db-retry' })).toBe(3);
    // Gave up after its one retry on key a; on keys z and c that retry was rejected by the open
    // circuit, and on key b the first error was a rejection (shouldRetry refuses rejections).
    expect(s.by('breakwater_retry_give_ups_total', 'reason', { name: 'db-retry' })).toEqual({
      'retries-exhausted': 1,
      'not-retryable': 3,
    });
    expect(s.samples('breakwater_chaos_injections_total')).toEqual([
      { name: 'breakwater_chaos_injections_total', labels: { name: 'db-chaos', kind: 'fault' }, value: 3 },
    ]);

    const transitions = s
      .samples('breakwater_circuit_transitions_total')
      .map((x) => `${x.labels.name} ${x.labels.from}->${x.labels.to} ${x.value}`)
      .sort();
    expect(transitions).toEqual([
      'db closed->open 1',
      'db half-open->closed 1',
      'db half-open->open 1',
      'db open->half-open 2',
    ]);

    // Durations by the breaker's clock, in seconds: successes 5, 15, 10, 0, 0 ms; failures 0, 0, 0, 100 ms.
    const h = 'breakwater_call_duration_seconds';
    expect(s.value(`${h}_count`, { name: 'db', outcome: 'success' })).toBe(5);
    expect(s.value(`${h}_sum`, { name: 'db', outcome: 'success' })).toBeCloseTo(0.03, 12);
    expect(s.value(`${h}_count`, { name: 'db', outcome: 'failure' })).toBe(4);
    expect(s.value(`${h}_sum`, { name: 'db', outcome: 'failure' })).toBeCloseTo(0.1, 12);
    expect(s.by(`${h}_bucket`, 'le', { name: 'db', outcome: 'success' })).toMatchObject({
      '0.001': 2,
      '0.005': 3,
      '0.01': 4,
      '0.025': 5,
      '10': 5,
      '+Inf': 5,
    });
    expect(s.by(`${h}_bucket`, 'le', { name: 'db', outcome: 'failure' })).toMatchObject({
      '0.001': 3,
      '0.05': 3,
      '0.1': 4,
      '+Inf': 4,
    });
    expect(clock.pendingTimers).toBe(0);
    handle.dispose();
  });
});

describe('prometheus: the circuit state gauge', () => {
  it('is 1 for the current state and 0 for the others, through every transition', async () => {
    const clock = new ManualClock();
    const breaker = new CircuitBreaker({ name: 'orders', failureThreshold: 1, openTimeout: 500, clock });
    const registry = new Registry();
    instrument(breaker, { registry });
    const seen: Record<string, number>[] = [stateGauge(await scrape(registry), 'orders')];
    const record = async () => seen.push(stateGauge(await scrape(registry), 'orders'));

    await expect(breaker.execute(failsAfter(clock, 1))).rejects.toThrow('boom');
    await record(); // open
    clock.advance(500);
    const probe = deferred<string>();
    const probing = breaker.execute(() => probe.promise);
    await record(); // half-open
    probe.resolve('ok');
    await probing;
    await record(); // closed
    breaker.isolate();
    await record();
    breaker.reset();
    await record();
    breaker.disable();
    await record();
    breaker.isolate();
    await record();

    expect(seen).toEqual(
      ['closed', 'open', 'half-open', 'closed', 'isolated', 'closed', 'disabled', 'isolated'].map(onlyState),
    );
    const s = await scrape(registry);
    expect(s.by('breakwater_circuit_transitions_total', 'to', { name: 'orders', from: 'closed' })).toEqual({
      open: 1,
      isolated: 1,
      disabled: 1,
    });
    expect(s.samples('breakwater_circuit_transitions_total').reduce((sum, x) => sum + x.value, 0)).toBe(
      seen.length - 1,
    );
  });

  it('starts from the state the breaker is in when instrumented', async () => {
    const breaker = new CircuitBreaker({ name: 'held', clock: new ManualClock() });
    breaker.isolate();
    const { registry } = instrument(breaker);
    const s = await scrape(registry);
    expect(stateGauge(s, 'held')).toEqual(onlyState('isolated'));
    expect(s.samples('breakwater_circuit_transitions_total')).toEqual([]);
  });
});

describe('prometheus: outcomes', () => {
  it('counts ignored calls (isFailure false, or the caller aborted) apart from failures', async () => {
    const clock = new ManualClock();
    class NotFound extends Error {}
    const breaker = new CircuitBreaker({
      name: 'users',
      failureThreshold: 2,
      isFailure: (e) => !(e instanceof NotFound),
      clock,
    });
    const { registry } = instrument(breaker);
    await expect(breaker.execute(failsAfter(clock, 3, new NotFound()))).rejects.toBeInstanceOf(NotFound);
    await expect(breaker.execute(failsAfter(clock, 3, new NotFound()))).rejects.toBeInstanceOf(NotFound);
    const abort = new AbortController();
    const call = breaker.execute(hangs, { signal: abort.signal });
    abort.abort(new Error('caller left'));
    await expect(call).rejects.toThrow('caller left');
    await expect(breaker.execute(failsAfter(clock, 7))).rejects.toThrow('boom');

    const s = await scrape(registry);
    expect(s.by('breakwater_calls_total', 'outcome', { name: 'users' })).toEqual({ ignored: 3, failure: 1 });
    expect(stateGauge(s, 'users')).toEqual(onlyState('closed'));
    // Ignored calls are not timed in the histogram; the one failure took 7 ms.
    expect(s.value('breakwater_call_duration_seconds_count', { name: 'users', outcome: 'failure' })).toBe(1);
    expect(s.value('breakwater_call_duration_seconds_sum', { name: 'users', outcome: 'failure' })).toBe(
      0.007,
    );
    expect(s.value('breakwater_call_duration_seconds_count', { name: 'users', outcome: 'success' })).toBe(
      undefined,
    );
  });

  it('counts an aggressive timeout and a bulkhead queue timeout', async () => {
    const clock = new ManualClock();
    const to = timeout({ ms: 50, strategy: 'aggressive', name: 't', clock });
    const bh = bulkhead({ name: 'b', maxConcurrent: 1, maxQueue: 1, queueTimeout: 20, clock });
    const { registry } = instrument(pipeline(bh, to));
    const gate = deferred<string>();
    const running = pipeline(bh, to).execute(() => gate.promise);
    const waiting = pipeline(bh, to).execute(() => 'never');
    let s = await scrape(registry);
    expect(s.value('breakwater_bulkhead_queued', { name: 'b' })).toBe(1);
    clock.advance(20);
    await expect(waiting).rejects.toMatchObject({ name: 'BulkheadRejectedError' });
    clock.advance(30);
    await expect(running).rejects.toMatchObject({ name: 'TimeoutError' });
    s = await scrape(registry);
    expect(s.value('breakwater_calls_total', { name: 'b', policy: 'bulkhead', outcome: 'rejected' })).toBe(1);
    expect(s.value('breakwater_calls_total', { name: 't', policy: 'timeout', outcome: 'timeout' })).toBe(1);
    expect(s.value('breakwater_bulkhead_in_flight', { name: 'b' })).toBe(0);
    expect(s.value('breakwater_bulkhead_queued', { name: 'b' })).toBe(0);
    gate.resolve('late');
  });

  it('counts retry give-ups by reason', async () => {
    const clock = new ManualClock();
    const exhausted = retry({ name: 'r', retries: 2, backoff: () => 0, clock });
    const picky = retry({ name: 'p', retries: 5, backoff: () => 0, shouldRetry: () => false, clock });
    const slow = retry({ name: 's', retries: 5, backoff: () => 40, maxElapsed: 100, clock });
    const { registry } = instrument([exhausted, picky, slow]);
    await expect(exhausted.execute(failsAfter(clock, 0))).rejects.toThrow('boom');
    await expect(picky.execute(failsAfter(clock, 0))).rejects.toThrow('boom');
    // Fails at 0, 40 and 80 ms; a third retry would end past maxElapsed.
    const slowCall = expect(slow.execute(failsAfter(clock, 0))).rejects.toThrow('boom');
    await clock.advanceAsync(200);
    await slowCall;
    const s = await scrape(registry);
    expect(s.by('breakwater_retries_total', 'name')).toEqual({ r: 2, s: 2 });
    expect(
      s
        .samples('breakwater_retry_give_ups_total')
        .map((x) => `${x.labels.name}:${x.labels.reason}=${x.value}`),
    ).toEqual(['r:retries-exhausted=1', 'p:not-retryable=1', 's:max-elapsed=1']);
  });

  it('counts chaos injections by kind', async () => {
    const clock = new ManualClock();
    const fault = injectFault({ name: 'c', rate: 1, clock });
    const latency = injectLatency({ name: 'c', rate: 1, latency: 10, clock });
    const outcome = injectOutcome({ name: 'c', rate: 1, outcome: 'made-up', clock });
    const { registry } = instrument(pipeline(latency, pipeline(outcome)));
    instrument(fault, { registry });
    await expect(fault.execute(() => 1)).rejects.toMatchObject({ name: 'InjectedFaultError' });
    for (let i = 0; i < 3; i++) {
      const call = pipeline(latency, outcome).execute(() => 'real');
      await clock.advanceAsync(10);
      await expect(call).resolves.toBe('made-up');
    }
    const s = await scrape(registry);
    expect(s.by('breakwater_chaos_injections_total', 'kind', { name: 'c' })).toEqual({
      fault: 1,
      latency: 3,
      outcome: 3,
    });
  });
});

describe('prometheus: registries and prefixes', () => {
  it('creates a new Registry when none is given, never the global one', async () => {
    const breaker = new CircuitBreaker({ name: 'own', clock: new ManualClock() });
    const a = instrument(breaker);
    const b = instrument(new CircuitBreaker({ name: 'other', clock: new ManualClock() }));
    expect(a.registry).toBeInstanceOf(Registry);
    expect(a.registry).not.toBe(register);
    expect(b.registry).not.toBe(a.registry);
    await breaker.execute(() => 1);
    expect(
      (await scrape(a.registry)).value('breakwater_calls_total', {
        name: 'own',
        policy: 'circuit-breaker',
        outcome: 'success',
      }),
    ).toBe(1);
    expect((await register.metrics()).trim()).toBe('');
    // No default process metrics either.
    expect((await a.registry.metrics()).includes('process_cpu')).toBe(false);
  });

  it('lets two instrument() calls share a registry, each breaker under its own name', async () => {
    const clock = new ManualClock();
    const registry = new Registry();
    const orders = new CircuitBreaker({ name: 'orders', failureThreshold: 1, clock });
    const search = new CircuitBreaker({ name: 'search', clock });
    instrument(orders, { registry });
    instrument(search, { registry });
    await orders.execute(takes(clock, 2, 1));
    await expect(orders.execute(failsAfter(clock, 4))).rejects.toThrow();
    await search.execute(takes(clock, 8, 1));
    await search.execute(takes(clock, 8, 1));

    const s = await scrape(registry);
    expect(s.families.get('breakwater_calls_total')!.samples).toHaveLength(3);
    expect(s.by('breakwater_calls_total', 'outcome', { name: 'orders' })).toEqual({ success: 1, failure: 1 });
    expect(s.by('breakwater_calls_total', 'outcome', { name: 'search' })).toEqual({ success: 2 });
    expect(stateGauge(s, 'orders')).toEqual(onlyState('open'));
    expect(stateGauge(s, 'search')).toEqual(onlyState('closed'));
    expect(s.value('breakwater_call_duration_seconds_sum', { name: 'search', outcome: 'success' })).toBe(
      0.016,
    );
    // Each metric appears once in the exposition.
    const types = s.text.split('\n').filter((l) => l.startsWith('# TYPE breakwater_calls_total '));
    expect(types).toHaveLength(1);
  });

  it('shares a registry between two bulkheads, each gauged under its own name', async () => {
    const registry = new Registry();
    const a = bulkhead({ name: 'a', maxConcurrent: 2 });
    const b = bulkhead({ name: 'b', maxConcurrent: 2 });
    instrument(a, { registry });
    const hb = instrument(b, { registry });
    const gate = deferred<void>();
    const calls = [
      a.execute(() => gate.promise),
      b.execute(() => gate.promise),
      b.execute(() => gate.promise),
    ];
    let s = await scrape(registry);
    expect(s.by('breakwater_bulkhead_in_flight', 'name')).toEqual({ a: 1, b: 2 });
    hb.dispose();
    s = await scrape(registry);
    expect(s.by('breakwater_bulkhead_in_flight', 'name')).toEqual({ a: 1 });
    gate.resolve();
    await Promise.all(calls);
  });

  it('uses a custom prefix for every metric', async () => {
    const clock = new ManualClock();
    const breaker = new CircuitBreaker({ name: 'pay', clock });
    const { registry } = instrument(pipeline(retry({ clock }), breaker, bulkhead({ maxConcurrent: 1 })), {
      prefix: 'shop_payments',
    });
    await breaker.execute(takes(clock, 1, 'ok'));
    const s = await scrape(registry);
    const names = [...s.families.keys()].sort();
    expect(names).toEqual([
      'shop_payments_adaptive_limit',
      'shop_payments_adaptive_limit_changes_total',
      'shop_payments_adaptive_limit_in_flight',
      'shop_payments_adaptive_limit_queued',
      'shop_payments_bulkhead_in_flight',
      'shop_payments_bulkhead_queued',
      'shop_payments_call_duration_seconds',
      'shop_payments_calls_total',
      'shop_payments_chaos_injections_total',
      'shop_payments_circuit_state',
      'shop_payments_circuit_transitions_total',
      'shop_payments_retries_total',
      'shop_payments_retry_give_ups_total',
      'shop_payments_shed_calls_total',
      'shop_payments_shedder_pressure',
      'shop_payments_shedder_shedding',
    ]);
    expect(
      s.value('shop_payments_calls_total', { name: 'pay', policy: 'circuit-breaker', outcome: 'success' }),
    ).toBe(1);
    expect(stateGauge(s, 'pay', 'shop_payments')).toEqual(onlyState('closed'));
  });

  it('rejects a bad prefix, a bad registry and unknown options', () => {
    const breaker = new CircuitBreaker({ clock: new ManualClock() });
    expect(() => instrument(breaker, { prefix: 'has-dash' })).toThrow(TypeError);
    expect(() => instrument(breaker, { prefix: '' })).toThrow(TypeError);
    expect(() => instrument(breaker, { registry: {} as Registry })).toThrow(TypeError);
    expect(() => instrument(breaker, { nope: 1 } as never)).toThrow(TypeError);
    expect(breaker.listenerCount('succeeded')).toBe(0);
  });
});

describe('prometheus: listeners', () => {
  const EVENTS = ['stateChanged', 'succeeded', 'failed', 'rejected', 'ignored'] as const;
  const counts = (b: CircuitBreaker) => EVENTS.map((e) => b.listenerCount(e));

  it('sees every event even when other listeners exist before and after', async () => {
    const clock = new ManualClock();
    const breaker = new CircuitBreaker({ name: 'shared', failureThreshold: 1, openTimeout: 100, clock });
    const user: string[] = [];
    breaker.on('failed', () => user.push('failed-before'));
    breaker.once('stateChanged', () => user.push('once'));
    breaker.on('rejected', () => user.push('rejected-before'));
    const { registry } = instrument(breaker);
    breaker.on('succeeded', () => user.push('succeeded-after'));

    await expect(breaker.execute(failsAfter(clock, 1))).rejects.toThrow();
    await expect(breaker.execute(() => 1)).rejects.toThrow();
    await expect(breaker.execute(() => 1)).rejects.toThrow();
    clock.advance(100);
    await breaker.execute(takes(clock, 1, 'ok'));

    expect(user).toEqual(['failed-before', 'once', 'rejected-before', 'rejected-before', 'succeeded-after']);
    const s = await scrape(registry);
    expect(s.by('breakwater_calls_total', 'outcome', { name: 'shared' })).toEqual({
      failure: 1,
      rejected: 2,
      success: 1,
    });
    expect(s.by('breakwater_circuit_transitions_total', 'to', { name: 'shared' })).toEqual({
      open: 1,
      'half-open': 1,
      closed: 1,
    });
  });

  it('dispose() removes exactly its listeners and stops recording', async () => {
    const clock = new ManualClock();
    const breaker = new CircuitBreaker({ name: 'd', failureThreshold: 1, clock });
    const r = retry({ retries: 1, backoff: () => 0, clock });
    const f = fallback('fb');
    const t = timeout({ ms: 10, clock });
    const b = bulkhead({ maxConcurrent: 1 });
    const c = injectFault({ rate: 0, clock });
    const userListener = () => {};
    breaker.on('succeeded', userListener);
    r.on('retried', userListener);
    const policy = pipeline(f, pipeline(r, breaker), pipeline(b, t, c));
    const emitters = [breaker, r, f, t, b, c] as const;
    const allCounts = () =>
      emitters.map((e) => (e.eventNames() as string[]).map((n) => `${n}:${e.listenerCount(n as never)}`));
    const before = allCounts();
    const breakerBefore = counts(breaker);

    const handle = instrument(policy);
    expect(counts(breaker)).toEqual(breakerBefore.map((n) => n + 1));
    await policy.execute(takes(clock, 2, 'ok'));
    const recorded = await handle.registry.metrics();

    handle.dispose();
    expect(allCounts()).toEqual(before);
    expect(counts(breaker)).toEqual(breakerBefore);
    expect(breaker.listeners('succeeded')).toEqual([userListener]);

    await policy.execute(takes(clock, 2, 'ok'));
    await expect(policy.execute(failsAfter(clock, 1))).resolves.toBe('fb');
    expect(breaker.state).toBe('open');
    const after = await scrape(handle.registry);
    // Every series of the disposed policies is gone (the state gauge's too), and nothing recorded since.
    expect(recorded).toMatch(
      /^breakwater_calls_total\{name="d",policy="circuit-breaker",outcome="success"\} 1$/m,
    );
    expect(after.text).toBe(recorded.replace(/^[^#\n].*\n/gm, ''));
    handle.dispose(); // twice is harmless
    expect(allCounts()).toEqual(before);
  });

  it('leaves a second instrumentation of the same policy recording when the first is disposed', async () => {
    const clock = new ManualClock();
    const breaker = new CircuitBreaker({ name: 'twice', clock });
    const first = instrument(breaker);
    const second = instrument(breaker);
    first.dispose();
    await breaker.execute(() => 1);
    expect(
      (await scrape(second.registry)).value('breakwater_calls_total', {
        name: 'twice',
        policy: 'circuit-breaker',
        outcome: 'success',
      }),
    ).toBe(1);
    expect((await scrape(first.registry)).samples('breakwater_calls_total')).toEqual([]);
  });
});

describe('prometheus: policies shared between instrumented pipelines', () => {
  it('counts each event of a shared breaker and bulkhead once per registry', async () => {
    const clock = new ManualClock();
    const breaker = new CircuitBreaker({ name: 'shared-db', clock });
    const pool = bulkhead({ name: 'shared-pool', maxConcurrent: 4 });
    const reads = pipeline(retry({ name: 'reads', clock }), pool, breaker);
    const writes = pipeline(fallback('w', { name: 'writes' }), pool, breaker);
    const registry = new Registry();
    const r = instrument(reads, { registry });
    const w = instrument(writes, { registry });
    await reads.execute(takes(clock, 4, 1));
    await writes.execute(takes(clock, 6, 1));
    let s = await scrape(registry);
    expect(
      s.value('breakwater_calls_total', { name: 'shared-db', policy: 'circuit-breaker', outcome: 'success' }),
    ).toBe(2);
    expect(s.value('breakwater_call_duration_seconds_count', { name: 'shared-db', outcome: 'success' })).toBe(
      2,
    );
    expect(s.value('breakwater_call_duration_seconds_sum', { name: 'shared-db', outcome: 'success' })).toBe(
      0.01,
    );
    const gate = deferred<void>();
    const running = reads.execute(() => gate.promise);
    s = await scrape(registry);
    expect(s.samples('breakwater_bulkhead_in_flight')).toEqual([
      { name: 'breakwater_bulkhead_in_flight', labels: { name: 'shared-pool' }, value: 1 },
    ]);

    // Disposing one leaves the other recording the shared policies.
    r.dispose();
    expect(breaker.listenerCount('succeeded')).toBe(1);
    gate.resolve();
    await running;
    await writes.execute(() => 1);
    s = await scrape(registry);
    expect(
      s.value('breakwater_calls_total', { name: 'shared-db', policy: 'circuit-breaker', outcome: 'success' }),
    ).toBe(4);
    expect(s.by('breakwater_bulkhead_in_flight', 'name')).toEqual({ 'shared-pool': 0 });
    w.dispose();
    expect(breaker.listenerCount('succeeded')).toBe(0);
    expect(pool.listenerCount('rejected')).toBe(0);
    s = await scrape(registry);
    expect(s.samples('breakwater_bulkhead_in_flight')).toEqual([]);
  });

  it('records a shared policy in each registry it is instrumented into', async () => {
    const breaker = new CircuitBreaker({ name: 'both', clock: new ManualClock() });
    const a = instrument(breaker);
    const b = instrument(breaker, { registry: a.registry, prefix: 'other' });
    const c = instrument(breaker);
    await breaker.execute(() => 1);
    const labels = { name: 'both', policy: 'circuit-breaker', outcome: 'success' };
    expect((await scrape(a.registry)).value('breakwater_calls_total', labels)).toBe(1);
    expect((await scrape(a.registry)).value('other_calls_total', labels)).toBe(1);
    expect((await scrape(c.registry)).value('breakwater_calls_total', labels)).toBe(1);
    for (const h of [a, b, c]) h.dispose();
    expect(breaker.listenerCount('succeeded')).toBe(0);
  });
});

describe('prometheus: arguments', () => {
  it('throws a TypeError for anything but a policy, pipeline or group, and leaves no listener behind', () => {
    const breaker = new CircuitBreaker({ clock: new ManualClock() });
    const notPolicies: unknown[] = [
      {},
      { kind: 'nope' },
      { execute: () => 1 },
      42,
      'breaker',
      null,
      undefined,
    ];
    for (const bad of notPolicies) {
      expect(() => instrument(bad as object), String(bad)).toThrow(TypeError);
      expect(() => instrument([breaker, bad as object]), String(bad)).toThrow(TypeError);
      // A policy of someone else's inside a pipeline: the pipeline is refused whole.
      const foreign = { execute: async (fn: (ctx: ExecuteContext) => unknown) => fn({} as ExecuteContext) };
      expect(() => instrument(pipeline(breaker, foreign as never))).toThrow(/expected a breakwater policy/);
    }
    expect(() => instrument({ execute: () => 1 })).toThrow(
      /expected a breakwater policy, pipeline or circuit breaker group/,
    );
    for (const event of ['stateChanged', 'succeeded', 'failed', 'rejected', 'ignored'] as const) {
      expect(breaker.listenerCount(event), event).toBe(0);
    }
  });

  it('instruments an empty pipeline and an array of policies', async () => {
    const clock = new ManualClock();
    expect(() => instrument(pipeline())).not.toThrow();
    const a = new CircuitBreaker({ name: 'a', clock });
    const b = new CircuitBreaker({ name: 'b', clock });
    const { registry } = instrument([a, pipeline(b, a)]);
    await a.execute(() => 1);
    await b.execute(() => 1);
    await flushPromises();
    const s = await scrape(registry);
    // A policy reached twice is observed once.
    expect(s.by('breakwater_calls_total', 'name')).toEqual({ a: 1, b: 1 });
  });
});

describe('calls_total, tallied outside prom-client', () => {
  const callsOf = async (registry: Registry, name: string) => {
    const match = new RegExp(
      `^breakwater_calls_total\\{name="${name}",policy="circuit-breaker",outcome="success"\\} (\\d+)$`,
      'm',
    ).exec(await registry.metrics());
    return match ? Number(match[1]) : undefined;
  };

  it('is reset by registry.resetMetrics(), like every other metric', async () => {
    const registry = new Registry();
    const breaker = new CircuitBreaker({ name: 'reset' });
    instrument(breaker, { registry });
    for (let i = 0; i < 5; i++) await breaker.execute(async () => i);
    expect(await callsOf(registry, 'reset')).toBe(5);
    registry.resetMetrics();
    await breaker.execute(async () => 1);
    expect(await callsOf(registry, 'reset')).toBe(1);
    await breaker.execute(async () => 1);
    expect(await callsOf(registry, 'reset')).toBe(2);
  });

  it('counts the calls of two copies of breakwater that write into one registry', async () => {
    // A second module instance of the adapter, as a second installed copy would be.
    const specifier = '../../src/prometheus/index.js?second-copy';
    const copy = (await import(
      /* @vite-ignore */ specifier
    )) as typeof import('../../src/prometheus/index.js');
    expect(copy.instrument).not.toBe(instrument);
    const registry = new Registry();
    const one = new CircuitBreaker({ name: 'one' });
    const two = new CircuitBreaker({ name: 'two' });
    instrument(one, { registry });
    copy.instrument(two, { registry });
    await one.execute(async () => 1);
    await two.execute(async () => 2);
    await two.execute(async () => 2);
    expect(await callsOf(registry, 'one')).toBe(1);
    expect(await callsOf(registry, 'two')).toBe(2);
  });
});
