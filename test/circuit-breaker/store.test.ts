import { describe, expect, it } from 'vitest';
import { CircuitBreaker, type CircuitBreakerOptions } from '../../src/circuit-breaker/index.js';
import { BrokenCircuitError } from '../../src/errors.js';
import { flushPromises, ManualClock } from '../../src/testing/index.js';
import { recordEvents, transitions } from './helpers.js';
import { MemoryCircuitStore } from './memory-store.js';

const boom = new Error('boom');
const fail = () => Promise.reject(boom);
const ok = () => 'ok';

/** Two breakers ("processes") of one circuit on one store, on one manual clock. */
function setup(options: CircuitBreakerOptions = {}) {
  const clock = new ManualClock(1_000_000);
  const store = new MemoryCircuitStore(() => clock.now());
  const make = () =>
    new CircuitBreaker({ name: 'db', failureThreshold: 3, openTimeout: 1_000, clock, store, ...options });
  return { clock, store, a: make(), b: make() };
}

async function settle(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    (v) => v,
    (e: unknown) => e,
  );
}

describe('CircuitBreaker with a store', () => {
  it('batches outcomes: a closed circuit makes no store call per success, one flush per flushInterval', async () => {
    const { clock, store, a } = setup();
    await flushPromises();
    store.calls.length = 0;
    for (let i = 0; i < 50; i++) await a.execute(ok);
    expect(store.calls).toEqual([]);
    expect(clock.pendingTimers).toBe(2); // the flush timer and the sync timer
    clock.advance(100);
    expect(store.calls).toEqual(['report']);
    await flushPromises();
    clock.advance(100);
    expect(store.calls).toEqual(['report']); // nothing to flush: no report, no flush timer
  });

  it('counts failures from every process towards one circuit, and a transition reaches all', async () => {
    const { clock, a, b } = setup();
    const ea = recordEvents(a);
    const eb = recordEvents(b);
    await flushPromises();
    await settle(a.execute(fail));
    await settle(b.execute(fail));
    await settle(a.execute(fail));
    expect([a.state, b.state]).toEqual(['closed', 'closed']); // neither saw 3 in a row alone
    clock.advance(100);
    await flushPromises();
    expect([a.state, b.state]).toEqual(['open', 'open']);
    expect(transitions(ea)).toEqual(['closed>open:consecutive-failures']);
    expect(transitions(eb)).toEqual(['closed>open:consecutive-failures']);
    const changed = [...ea, ...eb].filter((e) => e.type === 'stateChanged');
    expect(changed.every((e) => e.type === 'stateChanged' && e.payload.source === 'remote')).toBe(true);
  });

  it('a local trip flushes at once instead of waiting for the interval', async () => {
    const { store, a } = setup();
    await flushPromises();
    store.calls.length = 0;
    for (let i = 0; i < 3; i++) await settle(a.execute(fail));
    expect(store.calls[0]).toBe('report');
    await flushPromises();
    expect(a.state).toBe('open');
    expect(store.calls.filter((c) => c === 'report')).toHaveLength(1); // then only reads, on the change notice
  });

  it('decides rejections while open locally, with no store call', async () => {
    const { clock, store, a } = setup();
    await flushPromises();
    for (let i = 0; i < 3; i++) await settle(a.execute(fail));
    await flushPromises();
    store.calls.length = 0;
    const error = await settle(a.execute(ok));
    expect(error).toBeInstanceOf(BrokenCircuitError);
    expect((error as BrokenCircuitError).retryAfter).toBe(1_000);
    expect(store.calls).toEqual([]);
    clock.advance(10);
  });

  it('lets exactly one probe through across processes, and its success closes every one', async () => {
    const { clock, a, b } = setup();
    const eb = recordEvents(b);
    await flushPromises();
    for (let i = 0; i < 3; i++) await settle(a.execute(fail));
    await flushPromises();
    clock.advance(1_000);
    let ran = 0;
    const probe = async () => {
      ran++;
      return 'probed';
    };
    const results = await Promise.all([a, b, a, b].map((x) => settle(x.execute(probe))));
    expect(ran).toBe(1);
    expect(results.filter((r) => r === 'probed')).toHaveLength(1);
    expect(results.filter((r) => r instanceof BrokenCircuitError)).toHaveLength(3);
    await flushPromises();
    expect([a.state, b.state]).toEqual(['closed', 'closed']);
    expect(transitions(eb)).toEqual(['closed>open:consecutive-failures', 'open>closed:probes-succeeded']);
  });

  it('a failed probe reopens every process for the next open timeout', async () => {
    const { clock, a, b } = setup();
    await flushPromises();
    for (let i = 0; i < 3; i++) await settle(a.execute(fail));
    await flushPromises();
    clock.advance(1_000);
    expect(await settle(b.execute(fail))).toBe(boom);
    await flushPromises();
    expect([a.state, b.state]).toEqual(['open', 'open']);
    expect(a.retryAfter).toBe(1_000);
  });

  it('isolate, disable and reset act on every process', async () => {
    const { a, b } = setup();
    await flushPromises();
    a.isolate();
    await flushPromises();
    expect(b.state).toBe('isolated');
    b.disable();
    await flushPromises();
    expect(a.state).toBe('disabled');
    b.reset();
    await flushPromises();
    expect(a.state).toBe('closed');
  });

  it('a breaker created while the shared circuit is open starts open and leaves the counts alone', async () => {
    const { clock, store, a } = setup();
    await flushPromises();
    for (let i = 0; i < 3; i++) await settle(a.execute(fail));
    await flushPromises();
    const late = new CircuitBreaker({ name: 'db', failureThreshold: 3, openTimeout: 1_000, clock, store });
    await flushPromises();
    expect(late.state).toBe('open');
    expect(store.model.read('db', clock.now()).opens).toBe(1);
  });

  it('snapshot() carries a state adopted from the store; a restored breaker then follows the store', async () => {
    const { clock, store, a, b } = setup();
    await flushPromises();
    for (let i = 0; i < 3; i++) await settle(a.execute(fail));
    await flushPromises();
    const snapshot = b.snapshot();
    expect(snapshot).toMatchObject({ state: 'open', openUntil: clock.now() + 1_000, consecutiveOpens: 1 });
    const alone = new CircuitBreaker({ name: 'db', clock, initialState: snapshot });
    expect(alone.state).toBe('open');
    const restored = new CircuitBreaker({ name: 'db', clock, store, initialState: snapshot });
    b.reset();
    await flushPromises();
    expect(restored.state).toBe('closed');
  });

  describe('when the store hangs or fails', () => {
    it('no call waits longer than commandTimeout, the breaker goes on locally, storeError fires once', async () => {
      const { clock, store, a } = setup();
      await flushPromises();
      const errors: unknown[] = [];
      a.on('storeError', (e) => errors.push(e.operation));
      store.mode = 'hang';
      for (let i = 0; i < 3; i++) await settle(a.execute(fail));
      expect(a.state).toBe('closed'); // the flush is on its way: the store decides while it may answer
      clock.advance(50); // commandTimeout
      expect(errors).toEqual(['report']);
      await settle(a.execute(fail));
      expect(a.state).toBe('open'); // alone now, on its own counts
      clock.advance(1_000);
      // A due probe goes on locally too: no lease to wait for.
      expect(await settle(a.execute(ok))).toBe('ok');
      expect(a.state).toBe('closed');
      expect(errors).toEqual(['report']);
    });

    it('a due probe waits at most commandTimeout for the lease, then probes locally', async () => {
      const { clock, store, a } = setup();
      await flushPromises();
      for (let i = 0; i < 3; i++) await settle(a.execute(fail));
      await flushPromises();
      clock.advance(1_000);
      store.mode = 'hang';
      const call = a.execute(ok);
      await flushPromises();
      clock.advance(50);
      expect(await call).toBe('ok');
      expect(a.state).toBe('closed');
    });

    it('adopts the shared state when the store answers again, and says so', async () => {
      const { clock, store, a, b } = setup();
      await flushPromises();
      const recovered: number[] = [];
      a.on('storeRecovered', (e) => recovered.push(e.downFor));
      store.mode = 'fail';
      a.execute(ok); // marks it in use: the sync timer runs
      clock.advance(1_000); // a sync read fails
      await flushPromises();
      expect(a.listenerCount('storeRecovered')).toBe(1);
      store.mode = 'up';
      clock.advance(300);
      b.isolate(); // the change notice makes a read, and the store answers
      await flushPromises();
      expect(recovered).toEqual([300]);
      expect(a.state).toBe('isolated');
    });

    it('pushes isolate() made during an outage when the store returns', async () => {
      const { clock, store, a, b } = setup();
      await flushPromises();
      store.mode = 'fail';
      a.execute(ok);
      clock.advance(1_000);
      await flushPromises();
      a.isolate();
      store.mode = 'up';
      clock.advance(1_000);
      await flushPromises();
      await flushPromises();
      b.execute(ok).catch(() => {});
      clock.advance(1_000);
      await flushPromises();
      expect(b.state).toBe('isolated');
    });
  });

  it('holds no timer once idle, and none after dispose', async () => {
    const { clock, a, b } = setup();
    await flushPromises();
    await a.execute(ok);
    await clock.advanceAsync(5_000);
    expect(clock.pendingTimers).toBe(0);
    b[Symbol.dispose]();
    a[Symbol.dispose]();
    await a.execute(ok);
    expect(clock.pendingTimers).toBe(0);
  });

  it('refuses a store without the CircuitStore methods, naming the option', () => {
    expect(() => new CircuitBreaker({ store: {} as never })).toThrow(/store must be a CircuitStore/);
    expect(() => new CircuitBreaker({ store: 42 as never })).toThrow(TypeError);
  });
});
