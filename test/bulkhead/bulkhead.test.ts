import { getEventListeners } from 'node:events';
import { describe, expect, it, vi } from 'vitest';
import {
  type BulkheadOptions,
  BulkheadRejectedError,
  type BulkheadRejectedEvent,
  bulkhead,
  isBulkheadRejectedError,
  isListenerError,
  type ListenerError,
} from '../../src/index.js';
import { flushPromises, ManualClock } from '../../src/testing/index.js';
import { type Deferred, deferred, track } from '../helpers/promises.js';
import { captureWarnings } from '../helpers/warnings.js';

/** A bulkhead on a manual clock, and calls that each hold their slot until finished by name. */
function setup(options: Omit<BulkheadOptions, 'clock'>) {
  const clock = new ManualClock();
  const policy = bulkhead({ clock, ...options });
  const rejected: BulkheadRejectedEvent[] = [];
  policy.on('rejected', (e) => rejected.push(e));
  const started: string[] = [];
  const work = new Map<string, Deferred<string>>();
  const call = (name: string, signal?: AbortSignal) => {
    const d = deferred();
    work.set(name, d);
    const p = policy.execute(
      () => {
        started.push(name);
        return d.promise;
      },
      { signal },
    );
    return { promise: p, settled: track(p) };
  };
  const finish = async (name: string, error?: unknown) => {
    const d = work.get(name)!;
    if (error === undefined) d.resolve(name);
    else d.reject(error);
    await flushPromises();
  };
  return { clock, policy, rejected, started, call, finish };
}

describe('bulkhead: concurrency', () => {
  it('runs at most maxConcurrent calls at once and rejects the rest when there is no queue', async () => {
    const { policy, started, call, finish, rejected } = setup({ maxConcurrent: 2 });
    const a = call('a');
    const b = call('b');
    const c = call('c');
    await flushPromises();
    expect(started).toEqual(['a', 'b']);
    expect(policy.inFlight).toBe(2);
    expect(policy.queued).toBe(0);
    const outcome = c.settled();
    expect(outcome.state).toBe('rejected');
    const error = (outcome as { value: BulkheadRejectedError }).value;
    expect(error).toBeInstanceOf(BulkheadRejectedError);
    expect(isBulkheadRejectedError(error)).toBe(true);
    expect(error.reason).toBe('full');
    expect(error.maxConcurrent).toBe(2);
    expect(error.maxQueue).toBe(0);
    expect(rejected).toEqual([{ reason: 'full' }]);
    await finish('a');
    expect(a.settled()).toEqual({ state: 'fulfilled', value: 'a' });
    expect(policy.inFlight).toBe(1);
    const d = call('d');
    await flushPromises();
    expect(started).toEqual(['a', 'b', 'd']);
    await finish('b');
    await finish('d');
    expect(b.settled().state).toBe('fulfilled');
    expect(d.settled().state).toBe('fulfilled');
    expect(policy.inFlight).toBe(0);
  });

  it('defaults maxQueue to 0', () => {
    const policy = bulkhead({ maxConcurrent: 1 });
    expect(policy.maxQueue).toBe(0);
    expect(policy.queueTimeout).toBeUndefined();
  });

  it('errors in the function, thrown or rejected, release the slot and pass through unchanged', async () => {
    const { policy } = setup({ maxConcurrent: 1 });
    const error = new Error('x');
    await expect(
      policy.execute(() => {
        throw error;
      }),
    ).rejects.toBe(error);
    expect(policy.inFlight).toBe(0);
    await expect(policy.execute(() => Promise.reject(error))).rejects.toBe(error);
    expect(policy.inFlight).toBe(0);
    await expect(policy.execute(() => 'ok')).resolves.toBe('ok');
  });

  it('an error in a running call hands its slot to the next queued call', async () => {
    const { policy, started, call, finish } = setup({ maxConcurrent: 1, maxQueue: 1 });
    const a = call('a');
    call('b');
    await flushPromises();
    const error = new Error('a failed');
    await finish('a', error);
    expect((a.settled() as { value: unknown }).value).toBe(error);
    expect(started).toEqual(['a', 'b']);
    expect(policy.inFlight).toBe(1);
    expect(policy.queued).toBe(0);
  });
});

describe('bulkhead: queue', () => {
  it('runs queued calls in FIFO order as slots free up', async () => {
    const { policy, started, call, finish } = setup({ maxConcurrent: 1, maxQueue: 4 });
    for (const name of ['a', 'b', 'c', 'd', 'e']) call(name);
    await flushPromises();
    expect(started).toEqual(['a']);
    expect(policy.queued).toBe(4);
    for (const name of ['a', 'b', 'c', 'd']) await finish(name);
    expect(started).toEqual(['a', 'b', 'c', 'd', 'e']);
    await finish('e');
    expect(policy.inFlight).toBe(0);
    expect(policy.queued).toBe(0);
  });

  it('rejects with reason "full" past maxQueue', async () => {
    const { policy, call, rejected } = setup({ maxConcurrent: 1, maxQueue: 2 });
    call('a');
    call('b');
    call('c');
    const d = call('d');
    await flushPromises();
    expect(policy.inFlight).toBe(1);
    expect(policy.queued).toBe(2);
    const error = (d.settled() as { value: BulkheadRejectedError }).value;
    expect(error).toBeInstanceOf(BulkheadRejectedError);
    expect(error.reason).toBe('full');
    expect(error.maxQueue).toBe(2);
    expect(rejected).toEqual([{ reason: 'full' }]);
  });

  it('hands a slot over to the first waiter: inFlight stays, and a newcomer cannot jump the queue', async () => {
    const { policy, started, call, finish } = setup({ maxConcurrent: 1, maxQueue: 1 });
    call('a');
    call('b');
    await flushPromises();
    expect([policy.inFlight, policy.queued]).toEqual([1, 1]);
    await finish('a');
    expect([policy.inFlight, policy.queued]).toEqual([1, 0]);
    const c = call('c');
    await flushPromises();
    expect(started).toEqual(['a', 'b']);
    expect(c.settled()).toEqual({ state: 'pending' });
    expect(policy.queued).toBe(1);
    await finish('b');
    expect(started).toEqual(['a', 'b', 'c']);
  });

  it('counts inFlight and queued as calls come and go', async () => {
    const { policy, call, finish } = setup({ maxConcurrent: 2, maxQueue: 2 });
    const counts = () => [policy.inFlight, policy.queued];
    expect(counts()).toEqual([0, 0]);
    call('a');
    expect(counts()).toEqual([1, 0]);
    call('b');
    call('c');
    expect(counts()).toEqual([2, 1]);
    call('d');
    call('e'); // rejected
    expect(counts()).toEqual([2, 2]);
    await flushPromises();
    await finish('a');
    expect(counts()).toEqual([2, 1]);
    await finish('b');
    expect(counts()).toEqual([2, 0]);
    await finish('c');
    expect(counts()).toEqual([1, 0]);
    await finish('d');
    expect(counts()).toEqual([0, 0]);
  });
});

describe('bulkhead: queueTimeout', () => {
  it('rejects a call that waited longer than queueTimeout with reason "queue-timeout", and it leaves the queue', async () => {
    const { clock, policy, started, call, finish, rejected } = setup({
      maxConcurrent: 1,
      maxQueue: 2,
      queueTimeout: 500,
    });
    call('a');
    const b = call('b');
    await flushPromises();
    expect(clock.pendingTimers).toBe(1);
    clock.advance(499);
    await flushPromises();
    expect(b.settled()).toEqual({ state: 'pending' });
    clock.advance(1);
    await flushPromises();
    const error = (b.settled() as { value: BulkheadRejectedError }).value;
    expect(error).toBeInstanceOf(BulkheadRejectedError);
    expect(error.reason).toBe('queue-timeout');
    expect(rejected).toEqual([{ reason: 'queue-timeout' }]);
    expect(policy.queued).toBe(0);
    expect(clock.pendingTimers).toBe(0);
    const c = call('c');
    await finish('a');
    expect(started).toEqual(['a', 'c']);
    expect(c.settled()).toEqual({ state: 'pending' });
  });

  it('clears the queue timer of a call that got a slot in time', async () => {
    const { clock, started, call, finish } = setup({ maxConcurrent: 1, maxQueue: 1, queueTimeout: 500 });
    call('a');
    const b = call('b');
    await flushPromises();
    await finish('a');
    expect(started).toEqual(['a', 'b']);
    expect(clock.pendingTimers).toBe(0);
    clock.advance(1_000);
    await finish('b');
    expect(b.settled()).toEqual({ state: 'fulfilled', value: 'b' });
  });

  it('sets no timer for a call that runs at once', async () => {
    const { clock, call } = setup({ maxConcurrent: 1, maxQueue: 1, queueTimeout: 500 });
    call('a');
    expect(clock.pendingTimers).toBe(0);
  });
});

describe('bulkhead: abort', () => {
  it('a queued call whose signal aborts leaves the queue at once and does not block the calls behind it', async () => {
    const { clock, policy, started, call, finish } = setup({
      maxConcurrent: 1,
      maxQueue: 3,
      queueTimeout: 10_000,
    });
    call('a');
    const controller = new AbortController();
    const b = call('b', controller.signal);
    const c = call('c');
    await flushPromises();
    expect(policy.queued).toBe(2);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(1);
    const reason = new Error('b gave up');
    controller.abort(reason);
    expect(policy.queued).toBe(1);
    await flushPromises();
    expect((b.settled() as { value: unknown }).value).toBe(reason);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
    expect(clock.pendingTimers).toBe(1); // c's queue timer only
    await finish('a');
    expect(started).toEqual(['a', 'c']);
    await finish('c');
    expect(c.settled()).toEqual({ state: 'fulfilled', value: 'c' });
    expect([policy.inFlight, policy.queued]).toEqual([0, 0]);
    expect(clock.pendingTimers).toBe(0);
  });

  it('aborting the head, middle or tail of the queue keeps the others in order', async () => {
    for (const victim of ['b', 'c', 'd']) {
      const { policy, started, call, finish } = setup({ maxConcurrent: 1, maxQueue: 3 });
      const controllers = new Map<string, AbortController>();
      call('a');
      for (const name of ['b', 'c', 'd']) {
        const controller = new AbortController();
        controllers.set(name, controller);
        call(name, controller.signal);
      }
      controllers.get(victim)!.abort();
      expect(policy.queued).toBe(2);
      const rest = ['b', 'c', 'd'].filter((n) => n !== victim);
      await finish('a');
      await finish(rest[0]!);
      await finish(rest[1]!);
      expect(started).toEqual(['a', ...rest]);
      expect([policy.inFlight, policy.queued]).toEqual([0, 0]);
    }
  });

  it('does not run a call whose signal was aborted before it started', async () => {
    const { policy } = setup({ maxConcurrent: 1 });
    const controller = new AbortController();
    const reason = new Error('already');
    controller.abort(reason);
    const fn = vi.fn(() => 1);
    await expect(policy.execute(fn, { signal: controller.signal })).rejects.toBe(reason);
    expect(fn).not.toHaveBeenCalled();
    expect(policy.inFlight).toBe(0);
  });

  it('a running call is not affected by the abort listener of the queue', async () => {
    const { policy, call, finish } = setup({ maxConcurrent: 1, maxQueue: 1 });
    const controller = new AbortController();
    const a = call('a', controller.signal);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
    controller.abort();
    await finish('a');
    expect(a.settled()).toEqual({ state: 'fulfilled', value: 'a' });
    expect(policy.inFlight).toBe(0);
  });

  it('passes the caller signal and key to the function', async () => {
    const { policy } = setup({ maxConcurrent: 1 });
    const controller = new AbortController();
    const ctx = await policy.execute((c) => c, { signal: controller.signal, key: 'k' });
    expect(ctx.signal).toBe(controller.signal);
    expect(ctx.key).toBe('k');
  });
});

describe('bulkhead: validation', () => {
  const cases: [string, () => unknown, ErrorConstructor, RegExp][] = [
    ['no options', () => bulkhead(undefined as never), TypeError, /bulkhead options.*undefined/],
    ['maxConcurrent missing', () => bulkhead({} as never), TypeError, /maxConcurrent.*undefined/],
    ['maxConcurrent 0', () => bulkhead({ maxConcurrent: 0 }), RangeError, /maxConcurrent.*0/],
    ['maxConcurrent 1.5', () => bulkhead({ maxConcurrent: 1.5 }), RangeError, /maxConcurrent.*1\.5/],
    ['maxQueue -1', () => bulkhead({ maxConcurrent: 1, maxQueue: -1 }), RangeError, /maxQueue.*-1/],
    [
      'maxQueue "1"',
      () => bulkhead({ maxConcurrent: 1, maxQueue: '1' as never }),
      TypeError,
      /maxQueue.*"1"/,
    ],
    [
      'queueTimeout -1',
      () => bulkhead({ maxConcurrent: 1, queueTimeout: -1 }),
      RangeError,
      /queueTimeout.*-1/,
    ],
    ['maxConcurrent NaN', () => bulkhead({ maxConcurrent: Number.NaN }), RangeError, /maxConcurrent.*NaN/],
    [
      'maxConcurrent null',
      () => bulkhead({ maxConcurrent: null as never }),
      TypeError,
      /maxConcurrent.*or Infinity, got null/,
    ],
    ['maxQueue NaN', () => bulkhead({ maxConcurrent: 1, maxQueue: Number.NaN }), RangeError, /maxQueue.*NaN/],
    [
      'maxQueue -Infinity',
      () => bulkhead({ maxConcurrent: 1, maxQueue: Number.NEGATIVE_INFINITY }),
      RangeError,
      /maxQueue.*-Infinity/,
    ],
    [
      'maxQueue null',
      () => bulkhead({ maxConcurrent: 1, maxQueue: null as never }),
      TypeError,
      /maxQueue.*null/,
    ],
    [
      'queueTimeout NaN',
      () => bulkhead({ maxConcurrent: 1, queueTimeout: Number.NaN }),
      RangeError,
      /queueTimeout.*or Infinity, got NaN/,
    ],
    [
      'queueTimeout null',
      () => bulkhead({ maxConcurrent: 1, queueTimeout: null as never }),
      TypeError,
      /queueTimeout.*null/,
    ],
    ['clock', () => bulkhead({ maxConcurrent: 1, clock: 5 as never }), TypeError, /clock.*5/],
    ['unknown', () => bulkhead({ maxConcurrent: 1, limit: 1 } as never), TypeError, /unknown option "limit"/],
  ];
  it.each(cases)('%s', (_name, create, type, message) => {
    expect(create).toThrow(type);
    expect(create).toThrow(message);
  });
});

describe('bulkhead: Infinity, no limit (issue 15 item 1)', () => {
  it('maxQueue: Infinity queues every call that finds no slot, and runs them in order', async () => {
    const { policy, started, call, finish, rejected } = setup({
      maxConcurrent: 1,
      maxQueue: Number.POSITIVE_INFINITY,
    });
    expect(policy.maxQueue).toBe(Number.POSITIVE_INFINITY);
    const names = Array.from({ length: 1_000 }, (_, i) => `c${i}`);
    const calls = names.map((name) => call(name));
    await flushPromises();
    expect([policy.inFlight, policy.queued]).toEqual([1, 999]);
    expect(rejected).toEqual([]);
    for (const name of names) await finish(name);
    expect(started).toEqual(names);
    expect(calls.every((c) => c.settled().state === 'fulfilled')).toBe(true);
    expect([policy.inFlight, policy.queued]).toEqual([0, 0]);
  });

  it('maxConcurrent: Infinity runs every call at once and never queues or rejects', async () => {
    const { policy, started, call, rejected } = setup({ maxConcurrent: Number.POSITIVE_INFINITY });
    expect(policy.maxConcurrent).toBe(Number.POSITIVE_INFINITY);
    for (let i = 0; i < 1_000; i++) call(`c${i}`);
    await flushPromises();
    expect(started).toHaveLength(1_000);
    expect([policy.inFlight, policy.queued]).toEqual([1_000, 0]);
    expect(rejected).toEqual([]);
  });

  it('queueTimeout: Infinity sets no timer: a queued call waits as long as it takes', async () => {
    const { clock, policy, started, call, finish } = setup({
      maxConcurrent: 1,
      maxQueue: 1,
      queueTimeout: Number.POSITIVE_INFINITY,
    });
    expect(policy.queueTimeout).toBe(Number.POSITIVE_INFINITY);
    call('a');
    const b = call('b');
    await flushPromises();
    expect(clock.pendingTimers).toBe(0);
    clock.advance(10 * 365 * 24 * 3_600_000);
    await flushPromises();
    expect(b.settled()).toEqual({ state: 'pending' });
    await finish('a');
    expect(started).toEqual(['a', 'b']);
  });
});

describe('bulkhead: abort at the hand-over (issue 15 item 6)', () => {
  it('a call aborted after its slot was handed over, before it resumed, never starts; the slot goes on', async () => {
    const { policy, started, call, finish } = setup({ maxConcurrent: 1, maxQueue: 2 });
    const a = call('a');
    const controller = new AbortController();
    const b = call('b', controller.signal);
    const c = call('c');
    await flushPromises();
    const reason = new Error('b gave up');
    // Finishing a's work lets a hand its slot to b in the next microtask; the abort below is
    // queued before b's resumption, so it lands between the hand-over and b's start.
    void finish('a');
    queueMicrotask(() => controller.abort(reason));
    await flushPromises();
    expect(b.settled()).toEqual({ state: 'rejected', value: reason });
    expect(started).toEqual(['a', 'c']);
    expect([policy.inFlight, policy.queued]).toEqual([1, 0]);
    await finish('c');
    expect(a.settled()).toEqual({ state: 'fulfilled', value: 'a' });
    expect(c.settled()).toEqual({ state: 'fulfilled', value: 'c' });
    expect([policy.inFlight, policy.queued]).toEqual([0, 0]);
  });

  it('with no one else waiting, the slot is freed', async () => {
    const { policy, started, call, finish } = setup({ maxConcurrent: 1, maxQueue: 1 });
    call('a');
    const controller = new AbortController();
    const b = call('b', controller.signal);
    await flushPromises();
    void finish('a');
    queueMicrotask(() => controller.abort(new Error('late')));
    await flushPromises();
    expect(b.settled().state).toBe('rejected');
    expect(started).toEqual(['a']);
    expect([policy.inFlight, policy.queued]).toEqual([0, 0]);
  });
});

describe('bulkhead: execute(non-function)', () => {
  it('rejects at once with the TypeError and takes no slot, even when full', async () => {
    const { policy, call, rejected } = setup({ maxConcurrent: 1, maxQueue: 1 });
    const check = async (fn: unknown) => {
      const p = policy.execute(fn as never);
      const settled = track(p);
      await Promise.resolve();
      const outcome = settled();
      expect(outcome.state).toBe('rejected');
      expect((outcome as { value: unknown }).value).toBeInstanceOf(TypeError);
      expect((outcome as { value: Error }).value.message).toBe(
        `execute: fn must be a function, got ${String(fn)}`,
      );
    };
    await check(undefined);
    expect([policy.inFlight, policy.queued]).toEqual([0, 0]);
    call('a');
    call('b');
    await check(7);
    expect([policy.inFlight, policy.queued]).toEqual([1, 1]);
    expect(rejected).toEqual([]);
  });
});

describe('bulkhead: a throwing rejected listener (issue 15 item 8)', () => {
  it('when queueTimeout fires: does not escape the timer, the call rejects with queue-timeout, others still hear', async () => {
    const warnings = captureWarnings();
    const { clock, policy, call, rejected, finish, started } = setup({
      maxConcurrent: 1,
      maxQueue: 1,
      queueTimeout: 100,
    });
    const thrown = new Error('listener bug');
    policy.on('rejected', () => {
      throw thrown;
    });
    const after: BulkheadRejectedEvent[] = [];
    policy.on('rejected', (e) => after.push(e)); // registered after the throwing one
    call('a');
    const b = call('b');
    await flushPromises();
    expect(() => clock.advance(100)).not.toThrow();
    await flushPromises();
    const error = (b.settled() as { value: BulkheadRejectedError }).value;
    expect(error).toBeInstanceOf(BulkheadRejectedError);
    expect(error.reason).toBe('queue-timeout');
    expect(rejected).toEqual([{ reason: 'queue-timeout' }]);
    expect(after).toEqual([{ reason: 'queue-timeout' }]);
    expect([policy.inFlight, policy.queued]).toEqual([1, 0]);
    expect(clock.pendingTimers).toBe(0);
    await finish('a');
    expect(started).toEqual(['a']);
    expect(warnings).toHaveLength(1);
    const warning = warnings[0] as ListenerError;
    expect(isListenerError(warning)).toBe(true);
    expect(warning.event).toBe('rejected');
    expect(warning.policy).toBe('bulkhead');
    expect(warning.cause).toBe(thrown);
  });

  it('when full: the call still rejects with the BulkheadRejectedError, not the listener error', async () => {
    const warnings = captureWarnings();
    const { policy, call, rejected } = setup({ maxConcurrent: 1 });
    const thrown = new Error('listener bug');
    policy.on('rejected', () => {
      throw thrown;
    });
    const after: BulkheadRejectedEvent[] = [];
    policy.on('rejected', (e) => after.push(e)); // registered after the throwing one
    call('a');
    const b = call('b');
    await flushPromises();
    const error = (b.settled() as { value: BulkheadRejectedError }).value;
    expect(error).toBeInstanceOf(BulkheadRejectedError);
    expect(error.reason).toBe('full');
    expect(rejected).toEqual([{ reason: 'full' }]);
    expect(after).toEqual([{ reason: 'full' }]);
    expect(policy.inFlight).toBe(1);
    expect(warnings.map((w) => (w as ListenerError).cause)).toEqual([thrown]);
  });
});
