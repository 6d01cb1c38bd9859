import { getEventListeners } from 'node:events';
import { describe, expect, it } from 'vitest';
import {
  type CoalescedEvent,
  type CoalesceOptions,
  type CoalesceOverflowedEvent,
  coalesce,
} from '../../src/coalesce/index.js';
import type { ExecuteContext } from '../../src/index.js';
import { flushPromises, ManualClock } from '../../src/testing/index.js';
import { type Deferred, deferred, track } from '../helpers/promises.js';

function setup(options: Omit<CoalesceOptions, 'clock'> = {}) {
  const clock = new ManualClock();
  const policy = coalesce({ clock, ...options });
  const coalesced: CoalescedEvent[] = [];
  const overflowed: CoalesceOverflowedEvent[] = [];
  policy.on('coalesced', (e) => coalesced.push(e));
  policy.on('overflowed', (e) => overflowed.push(e));
  const runs: { ctx: ExecuteContext; work: Deferred<string> }[] = [];
  const call = (key: string | undefined, signal?: AbortSignal) =>
    track(
      policy.execute(
        (ctx) => {
          const work = deferred<string>();
          runs.push({ ctx, work });
          return work.promise;
        },
        { key, signal },
      ),
    );
  return { clock, policy, coalesced, overflowed, runs, call };
}

describe('coalesce', () => {
  it('runs fn once for three concurrent calls with one key, and all get its value', async () => {
    const { call, runs, coalesced, policy } = setup();
    const a = call('user:1');
    const b = call('user:1');
    const c = call('user:1');
    expect(runs).toHaveLength(1);
    expect(policy.inFlight).toBe(1);
    expect(coalesced).toEqual([
      { key: 'user:1', cached: false },
      { key: 'user:1', cached: false },
    ]);
    runs[0]!.work.resolve('ada');
    await flushPromises();
    for (const p of [a, b, c]) expect(p()).toEqual({ state: 'fulfilled', value: 'ada' });
    expect(policy.inFlight).toBe(0);
  });

  it('runs different keys apart, and calls without a key on their own', async () => {
    const { call, runs } = setup();
    call('a');
    call('b');
    call(undefined);
    call(undefined);
    expect(runs).toHaveLength(4);
  });

  it('shares a rejection with every caller but never reuses it', async () => {
    const { call, runs } = setup({ ttl: 1_000 });
    const a = call('k');
    const b = call('k');
    const boom = new Error('boom');
    runs[0]!.work.reject(boom);
    await flushPromises();
    expect(a()).toEqual({ state: 'rejected', value: boom });
    expect(b()).toEqual({ state: 'rejected', value: boom });
    const c = call('k');
    expect(runs).toHaveLength(2);
    runs[1]!.work.resolve('ok');
    await flushPromises();
    expect(c()).toEqual({ state: 'fulfilled', value: 'ok' });
  });

  it('runs fn again once the shared call settled (ttl 0 keeps nothing)', async () => {
    const { call, runs } = setup();
    call('k');
    runs[0]!.work.resolve('one');
    await flushPromises();
    const b = call('k');
    expect(runs).toHaveLength(2);
    runs[1]!.work.resolve('two');
    await flushPromises();
    expect(b()).toEqual({ state: 'fulfilled', value: 'two' });
  });

  it("rejects only the caller who aborts, with its reason; fn's signal aborts when every caller has", async () => {
    const { call, runs, policy } = setup();
    const first = new AbortController();
    const second = new AbortController();
    const a = call('k', first.signal);
    const b = call('k', second.signal);
    const signal = runs[0]!.ctx.signal;
    const reasonA = new Error('a left');
    first.abort(reasonA);
    await flushPromises();
    expect(a()).toEqual({ state: 'rejected', value: reasonA });
    expect(b().state).toBe('pending');
    expect(signal.aborted).toBe(false);
    expect(policy.inFlight).toBe(1);
    const reasonB = new Error('b left');
    second.abort(reasonB);
    await flushPromises();
    expect(b()).toEqual({ state: 'rejected', value: reasonB });
    expect(signal.aborted).toBe(true);
    expect(signal.reason).toBe(reasonB);
    // The abandoned execution is not joined: a newcomer starts afresh.
    expect(policy.inFlight).toBe(0);
    const c = call('k');
    expect(runs).toHaveLength(2);
    runs[0]!.work.reject(reasonB); // the abandoned call settling late changes nothing, and is handled
    runs[1]!.work.resolve('fresh');
    await flushPromises();
    expect(c()).toEqual({ state: 'fulfilled', value: 'fresh' });
  });

  it('an abandoned execution settling late leaves the newer one with its key in flight, joinable, and kept', async () => {
    const { call, runs, policy } = setup({ ttl: 1_000 });
    const controller = new AbortController();
    call('k', controller.signal);
    controller.abort(new Error('left'));
    await flushPromises();
    const b = call('k'); // a fresh execution, whose caller cannot abort
    expect(runs).toHaveLength(2);
    runs[0]!.work.resolve('stale');
    await flushPromises();
    expect(policy.inFlight).toBe(1);
    expect(policy.cached).toBe(0);
    const c = call('k');
    expect(runs).toHaveLength(2); // c joined b's execution
    runs[1]!.work.resolve('fresh');
    await flushPromises();
    expect(b()).toEqual({ state: 'fulfilled', value: 'fresh' });
    expect(c()).toEqual({ state: 'fulfilled', value: 'fresh' });
    expect(policy.inFlight).toBe(0);
    const d = call('k');
    await flushPromises();
    expect(runs).toHaveLength(2);
    expect(d()).toEqual({ state: 'fulfilled', value: 'fresh' });
  });

  it('never aborts the shared execution while a caller without a signal waits on it', async () => {
    const { call, runs } = setup();
    const controller = new AbortController();
    const a = call('k', controller.signal);
    const b = call('k');
    controller.abort();
    await flushPromises();
    expect(a().state).toBe('rejected');
    expect(runs[0]!.ctx.signal.aborted).toBe(false);
    runs[0]!.work.resolve('v');
    await flushPromises();
    expect(b()).toEqual({ state: 'fulfilled', value: 'v' });
  });

  it('a caller aborted before it starts neither runs nor joins', async () => {
    const { call, runs } = setup();
    const controller = new AbortController();
    controller.abort(new Error('early'));
    const a = call('k', controller.signal);
    await flushPromises();
    expect(a().state).toBe('rejected');
    expect(runs).toHaveLength(0);
  });

  it('with ttl 100 reuses a success until 100 ms after it settled, without a timer', async () => {
    const { clock, call, runs, coalesced, policy } = setup({ ttl: 100 });
    call('k');
    runs[0]!.work.resolve('v');
    await flushPromises();
    expect(policy.cached).toBe(1);
    expect(clock.pendingTimers).toBe(0);
    clock.advance(99);
    const b = call('k');
    await flushPromises();
    expect(b()).toEqual({ state: 'fulfilled', value: 'v' });
    expect(runs).toHaveLength(1);
    expect(coalesced).toEqual([{ key: 'k', cached: true }]);
    clock.advance(1);
    call('k');
    expect(runs).toHaveLength(2);
  });

  it('with every place in flight, runs a new key uncoalesced and says so', async () => {
    const { call, runs, overflowed, policy } = setup({ maxKeys: 2 });
    call('a');
    call('b');
    call('c');
    call('c');
    expect(runs).toHaveLength(4);
    expect(overflowed).toEqual([{ key: 'c' }, { key: 'c' }]);
    expect(policy.inFlight).toBe(2);
  });

  it('pushes out the oldest kept value to make room for a new key', async () => {
    const { call, runs, policy } = setup({ maxKeys: 2, ttl: 10_000 });
    call('a');
    runs[0]!.work.resolve('A');
    await flushPromises();
    call('b');
    runs[1]!.work.resolve('B');
    await flushPromises();
    expect(policy.cached).toBe(2);
    call('c'); // in flight; a is pushed out
    expect(policy.cached).toBe(1);
    call('b'); // still kept
    expect(runs).toHaveLength(3);
    call('a'); // pushed out earlier, and b goes now
    expect(runs).toHaveLength(4);
    expect(policy.cached + policy.inFlight).toBeLessThanOrEqual(2);
  });

  it('keeps memory bounded by maxKeys across many distinct keys', async () => {
    const policy = coalesce({ maxKeys: 4 });
    for (let i = 0; i < 100; i++) await policy.execute(() => i, { key: `k${i}` });
    const held = (policy as unknown as { flights: Map<string, unknown> }).flights.size;
    expect(held).toBeLessThanOrEqual(8);
    expect(policy.inFlight).toBe(0);
  });

  it('shares a synchronous throw', async () => {
    const policy = coalesce();
    const boom = new Error('sync');
    await expect(
      policy.execute(
        () => {
          throw boom;
        },
        { key: 'k' },
      ),
    ).rejects.toBe(boom);
  });

  it('uses the key function, rejecting with what it throws and a TypeError for a non-string', async () => {
    const byUser = coalesce({ key: (ctx) => (ctx.key === undefined ? undefined : `user:${ctx.key}`) });
    let runs = 0;
    const work = () => {
      runs++;
      return new Promise((r) => setImmediate(() => r(runs)));
    };
    await Promise.all([byUser.execute(work, { key: '1' }), byUser.execute(work, { key: '1' })]);
    expect(runs).toBe(1);
    const boom = new Error('key');
    const throwing = coalesce({
      key: () => {
        throw boom;
      },
    });
    await expect(throwing.execute(() => 1)).rejects.toBe(boom);
    const numeric = coalesce({ key: () => 1 as unknown as string });
    await expect(numeric.execute(() => 1)).rejects.toThrow(/key must answer a string or undefined, got 1/);
  });

  it('leaves no listener on a shared caller signal after 2,000 calls', async () => {
    const policy = coalesce();
    const controller = new AbortController();
    for (let i = 0; i < 2_000; i++) {
      await policy.execute(({ signal }) => signal.aborted, { key: `k${i % 3}`, signal: controller.signal });
    }
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
    expect(policy.inFlight).toBe(0);
  });

  it('never throws synchronously and reports its kind', async () => {
    const policy = coalesce();
    await expect(policy.execute(null as never)).rejects.toThrow(TypeError);
    expect(policy.kind).toBe('coalesce');
    expect(policy.name).toBe('coalesce');
    expect(policy.ttl).toBe(0);
    expect(policy.maxKeys).toBe(10_000);
  });

  it.each([
    [{ ttl: -1 }, RangeError, /ttl must be a number of ms in \[0, 2147483647\] or Infinity, got -1/],
    [{ maxKeys: 0 }, RangeError, /maxKeys must be an integer >= 1, got 0/],
    [{ key: 'k' }, TypeError, /key must be a function, got "k"/],
    [{ name: 3 }, TypeError, /name must be a non-empty string, got 3/],
    [{ tll: 5 }, TypeError, /coalesce: unknown option "tll"/],
  ])('%o throws a named error', (options, type, message) => {
    expect(() => coalesce(options as unknown as CoalesceOptions)).toThrow(type);
    expect(() => coalesce(options as unknown as CoalesceOptions)).toThrow(message);
  });
});
