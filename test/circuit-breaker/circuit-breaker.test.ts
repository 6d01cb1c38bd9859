import { describe, expect, it, vi } from 'vitest';
import {
  CircuitBreaker,
  type CircuitBreakerOptions,
  type CircuitSnapshot,
} from '../../src/circuit-breaker/index.js';
import {
  BreakwaterError,
  BrokenCircuitError,
  IsolatedCircuitError,
  isBreakwaterError,
  isBrokenCircuitError,
  isIsolatedCircuitError,
  isListenerError,
  type ListenerError,
} from '../../src/errors.js';
import { flushPromises, ManualClock } from '../../src/testing/index.js';
import { captureWarnings } from '../helpers/warnings.js';
import { deferred, recordEvents, transitions } from './helpers.js';

type ErrorsModule = typeof import('../../src/errors.js');

const boom = new Error('boom');

function setup(options: CircuitBreakerOptions = {}) {
  const clock = new ManualClock();
  const breaker = new CircuitBreaker({ name: 'db', clock, ...options });
  let calls = 0;
  const succeed = <T = string>(value: T = 'ok' as T) =>
    breaker.execute(() => {
      calls++;
      return value;
    });
  const fail = async (error: unknown = boom) => {
    await expect(
      breaker.execute(() => {
        calls++;
        throw error;
      }),
    ).rejects.toBe(error);
  };
  /** A call that takes `ms` by the manual clock, then succeeds (or fails with `error`). */
  const slow = (ms: number, error?: unknown) =>
    breaker.execute(() => {
      calls++;
      clock.advance(ms);
      if (error !== undefined) throw error;
      return 'slow';
    });
  /** Expects the next call to be rejected without running, and returns the rejection. */
  const rejected = async (): Promise<BrokenCircuitError> => {
    const before = calls;
    const error = await breaker
      .execute(() => {
        calls++;
        return 'ran';
      })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(calls).toBe(before);
    expect(error).toBeInstanceOf(BrokenCircuitError);
    return error as BrokenCircuitError;
  };
  return {
    clock,
    breaker,
    succeed,
    fail,
    slow,
    rejected,
    get calls() {
      return calls;
    },
  };
}

async function failTimes(fail: () => Promise<void>, n: number): Promise<void> {
  for (let i = 0; i < n; i++) await fail();
}

async function succeedTimes(succeed: () => Promise<unknown>, n: number): Promise<void> {
  for (let i = 0; i < n; i++) await succeed();
}

describe('consecutive mode', () => {
  it('passes results and errors through unchanged while closed', async () => {
    const t = setup();
    const value = { rows: [1, 2] };
    await expect(t.succeed(value)).resolves.toBe(value);
    await t.fail(boom);
    expect(t.breaker.state).toBe('closed');
  });

  it('opens after failureThreshold consecutive failures, not before', async () => {
    const t = setup({ failureThreshold: 3 });
    const events = recordEvents(t.breaker);
    await failTimes(t.fail, 2);
    expect(t.breaker.state).toBe('closed');
    await t.fail();
    expect(t.breaker.state).toBe('open');
    expect(transitions(events)).toEqual(['closed>open:consecutive-failures']);
  });

  it('defaults failureThreshold to 5', async () => {
    const t = setup();
    await failTimes(t.fail, 4);
    expect(t.breaker.state).toBe('closed');
    await t.fail();
    expect(t.breaker.state).toBe('open');
  });

  it('a success while closed resets the failure count', async () => {
    const t = setup({ failureThreshold: 3 });
    await failTimes(t.fail, 2);
    await t.succeed();
    await failTimes(t.fail, 2);
    expect(t.breaker.state).toBe('closed');
    await t.fail();
    expect(t.breaker.state).toBe('open');
  });

  it('counts a synchronous throw as a failure', async () => {
    const t = setup({ failureThreshold: 1 });
    await expect(
      t.breaker.execute(() => {
        throw boom;
      }),
    ).rejects.toBe(boom);
    expect(t.breaker.state).toBe('open');
  });
});

describe('open state', () => {
  it('rejects with BrokenCircuitError without calling the function', async () => {
    const t = setup({ failureThreshold: 1 });
    await t.fail();
    const fn = vi.fn(() => 'ran');
    await expect(t.breaker.execute(fn)).rejects.toBeInstanceOf(BrokenCircuitError);
    await expect(t.breaker.execute(fn)).rejects.toBeInstanceOf(BrokenCircuitError);
    expect(fn).not.toHaveBeenCalled();
  });

  it('carries retryAfter, the breaker name and the opening failure as cause', async () => {
    const t = setup({ name: 'orders-db', failureThreshold: 2, openTimeout: 1_000 });
    const first = new Error('first');
    const second = new Error('second');
    await t.fail(first);
    await t.fail(second);
    t.clock.advance(300);
    const error = await t.rejected();
    expect(error.retryAfter).toBe(700);
    expect(error.breaker).toBe('orders-db');
    expect(error.message).toContain('orders-db');
    expect(error.cause).toBe(second);
    expect(t.breaker.retryAfter).toBe(700);
    t.clock.advance(650);
    expect((await t.rejected()).retryAfter).toBe(50);
  });

  it('stays open until openTimeout has fully elapsed', async () => {
    const t = setup({ failureThreshold: 1, openTimeout: 1_000 });
    await t.fail();
    t.clock.advance(999);
    await t.rejected();
    expect(t.breaker.state).toBe('open');
    expect(t.breaker.retryAfter).toBe(1);
  });

  it('reads open with retryAfter 0 once the timeout has elapsed, until a call arrives', async () => {
    const t = setup({ failureThreshold: 1, openTimeout: 1_000 });
    await t.fail();
    t.clock.advance(5_000);
    expect(t.breaker.state).toBe('open');
    expect(t.breaker.retryAfter).toBe(0);
  });

  it('defaults openTimeout to 30 s', async () => {
    const t = setup({ failureThreshold: 1 });
    await t.fail();
    t.clock.advance(29_999);
    expect((await t.rejected()).retryAfter).toBe(1);
    t.clock.advance(1);
    await expect(t.succeed()).resolves.toBe('ok');
    expect(t.breaker.state).toBe('closed');
  });

  it('retryAfter reads 0 while closed', () => {
    const t = setup();
    expect(t.breaker.retryAfter).toBe(0);
  });

  it('sets no timer while open', async () => {
    const t = setup({ failureThreshold: 1 });
    await t.fail();
    expect(t.clock.pendingTimers).toBe(0);
  });
});

describe('half-open state', () => {
  it('admits the first call after openTimeout as a probe; a probe success closes', async () => {
    const t = setup({ failureThreshold: 1, openTimeout: 1_000 });
    const events = recordEvents(t.breaker);
    await t.fail();
    t.clock.advance(1_000);
    const probe = deferred();
    const call = t.breaker.execute(() => probe.promise);
    expect(t.breaker.state).toBe('half-open');
    probe.resolve('probed');
    await expect(call).resolves.toBe('probed');
    expect(t.breaker.state).toBe('closed');
    expect(transitions(events)).toEqual([
      'closed>open:consecutive-failures',
      'open>half-open:open-timeout-elapsed',
      'half-open>closed:probes-succeeded',
    ]);
  });

  it('closes only after successThreshold consecutive probe successes', async () => {
    const t = setup({ failureThreshold: 1, openTimeout: 1_000, successThreshold: 3 });
    await t.fail();
    t.clock.advance(1_000);
    await t.succeed();
    await t.succeed();
    expect(t.breaker.state).toBe('half-open');
    await t.succeed();
    expect(t.breaker.state).toBe('closed');
  });

  it('a probe failure reopens for a fresh openTimeout, even after some probe successes', async () => {
    const t = setup({ failureThreshold: 1, openTimeout: 1_000, successThreshold: 2 });
    const events = recordEvents(t.breaker);
    await t.fail();
    t.clock.advance(1_500);
    await t.succeed();
    const probeError = new Error('probe');
    await t.fail(probeError);
    expect(t.breaker.state).toBe('open');
    const rejection = await t.rejected();
    expect(rejection.retryAfter).toBe(1_000);
    expect(rejection.cause).toBe(probeError);
    t.clock.advance(999);
    await t.rejected();
    t.clock.advance(1);
    // The success count started over: one probe success is not enough.
    await t.succeed();
    expect(t.breaker.state).toBe('half-open');
    await t.succeed();
    expect(t.breaker.state).toBe('closed');
    expect(transitions(events)).toEqual([
      'closed>open:consecutive-failures',
      'open>half-open:open-timeout-elapsed',
      'half-open>open:probe-failed',
      'open>half-open:open-timeout-elapsed',
      'half-open>closed:probes-succeeded',
    ]);
  });

  it('admits one probe at a time by default and rejects the rest with retryAfter 0', async () => {
    const t = setup({ failureThreshold: 1, openTimeout: 1_000 });
    const events = recordEvents(t.breaker);
    await t.fail();
    t.clock.advance(1_000);
    const probe = deferred();
    const call = t.breaker.execute(() => probe.promise);
    const error = await t.rejected();
    expect(error.retryAfter).toBe(0);
    expect(error.cause).toBe(boom);
    expect(events.filter((e) => e.type === 'rejected').map((e) => e.payload)).toEqual([
      { reason: 'half-open', error },
    ]);
    probe.resolve('ok');
    await call;
    expect(t.breaker.state).toBe('closed');
  });

  it('admits up to halfOpenMaxCalls probes at once and frees a slot when one settles', async () => {
    const t = setup({ failureThreshold: 1, openTimeout: 1_000, halfOpenMaxCalls: 2, successThreshold: 3 });
    await t.fail();
    t.clock.advance(1_000);
    const a = deferred();
    const b = deferred();
    const callA = t.breaker.execute(() => a.promise);
    const callB = t.breaker.execute(() => b.promise);
    await t.rejected();
    a.resolve('a');
    await callA;
    expect(t.breaker.state).toBe('half-open');
    const c = deferred();
    const callC = t.breaker.execute(() => c.promise);
    await t.rejected();
    b.resolve('b');
    c.resolve('c');
    await Promise.all([callB, callC]);
    expect(t.breaker.state).toBe('closed');
  });

  it('probes run concurrently: the function of each admitted probe is called', async () => {
    const t = setup({ failureThreshold: 1, openTimeout: 10, halfOpenMaxCalls: 3 });
    await t.fail();
    t.clock.advance(10);
    const gates = [deferred(), deferred(), deferred()];
    const fn = vi.fn();
    const calls = gates.map((g) =>
      t.breaker.execute(() => {
        fn();
        return g.promise;
      }),
    );
    expect(fn).toHaveBeenCalledTimes(3);
    await t.rejected();
    for (const g of gates) g.resolve('x');
    await Promise.all(calls);
  });
});

describe('openTimeout as a function (backoff)', () => {
  it('is called with the number of consecutive opens and sets each open duration', async () => {
    const openTimeout = vi.fn((opens: number) => 100 * 2 ** (opens - 1));
    const t = setup({ failureThreshold: 1, openTimeout });
    await t.fail();
    expect(openTimeout).toHaveBeenLastCalledWith(1);
    expect((await t.rejected()).retryAfter).toBe(100);
    t.clock.advance(100);
    await t.fail(); // probe fails
    expect(openTimeout).toHaveBeenLastCalledWith(2);
    expect((await t.rejected()).retryAfter).toBe(200);
    t.clock.advance(200);
    await t.fail();
    expect(openTimeout).toHaveBeenLastCalledWith(3);
    expect((await t.rejected()).retryAfter).toBe(400);
    t.clock.advance(400);
    await t.succeed(); // closes
    await t.fail();
    expect(openTimeout).toHaveBeenLastCalledWith(1);
    expect((await t.rejected()).retryAfter).toBe(100);
  });

  it('counts opens again from 1 after reset()', async () => {
    const openTimeout = vi.fn((opens: number) => opens * 10);
    const t = setup({ failureThreshold: 1, openTimeout });
    await t.fail();
    t.clock.advance(10);
    await t.fail();
    expect(openTimeout).toHaveBeenLastCalledWith(2);
    t.breaker.reset();
    await t.fail();
    expect(openTimeout).toHaveBeenLastCalledWith(1);
  });
});

describe('isFailure', () => {
  class NotFound extends Error {}
  const notFound = new NotFound('missing');
  const isFailure = (error: unknown) => !(error instanceof NotFound);

  it('passes an ignored error through and emits ignored', async () => {
    const t = setup({ failureThreshold: 1, isFailure });
    const events = recordEvents(t.breaker);
    await expect(
      t.breaker.execute(() => {
        t.clock.advance(7);
        throw notFound;
      }),
    ).rejects.toBe(notFound);
    expect(t.breaker.state).toBe('closed');
    expect(events).toEqual([
      { type: 'ignored', payload: { error: notFound, reason: 'not-a-failure', duration: 7 } },
    ]);
  });

  it('receives the error thrown', async () => {
    const spy = vi.fn(() => true);
    const t = setup({ isFailure: spy });
    await t.fail(boom);
    expect(spy).toHaveBeenCalledWith(boom);
  });

  it('an ignored error counts neither as a failure nor as a success', async () => {
    const t = setup({ failureThreshold: 2, isFailure });
    await failTimes(() => t.fail(notFound), 10);
    expect(t.breaker.state).toBe('closed');
    await t.fail();
    // Does not reset the consecutive count either.
    await t.fail(notFound);
    await t.fail();
    expect(t.breaker.state).toBe('open');
  });

  it('an ignored probe neither closes nor reopens, and frees its slot', async () => {
    const t = setup({ failureThreshold: 1, openTimeout: 100, isFailure });
    await t.fail();
    t.clock.advance(100);
    await t.fail(notFound);
    expect(t.breaker.state).toBe('half-open');
    await t.succeed();
    expect(t.breaker.state).toBe('closed');
  });

  it('an ignored error in rate mode is not recorded in the window', async () => {
    const t = setup({ failureRateThreshold: 0.5, minimumCalls: 2, isFailure });
    await t.succeed();
    await t.fail(notFound);
    await t.fail(notFound);
    expect(t.breaker.state).toBe('closed');
    await t.fail();
    expect(t.breaker.state).toBe('open'); // 1 failure of 2 recorded calls
  });
});

describe('cancellation', () => {
  it('does not run a call whose signal was aborted before it started, and rejects with the reason', async () => {
    const t = setup({ failureThreshold: 1 });
    const events = recordEvents(t.breaker);
    const controller = new AbortController();
    const reason = new Error('caller gave up');
    controller.abort(reason);
    const fn = vi.fn(() => 'ran');
    await expect(t.breaker.execute(fn, { signal: controller.signal })).rejects.toBe(reason);
    expect(fn).not.toHaveBeenCalled();
    expect(t.breaker.state).toBe('closed');
    expect(events).toEqual([]);
  });

  it('hands the caller’s signal to the function', async () => {
    const t = setup();
    const controller = new AbortController();
    let seen: AbortSignal | undefined;
    await t.breaker.execute(
      ({ signal }) => {
        seen = signal;
      },
      { signal: controller.signal },
    );
    expect(seen).toBe(controller.signal);
  });

  it('hands a never-aborted signal when the caller gives none', async () => {
    const t = setup();
    await t.breaker.execute(({ signal }) => {
      expect(signal).toBeInstanceOf(AbortSignal);
      expect(signal.aborted).toBe(false);
    });
  });

  it('does not count the failure of a call aborted while running', async () => {
    const t = setup({ failureThreshold: 1 });
    const events = recordEvents(t.breaker);
    const controller = new AbortController();
    const call = t.breaker.execute(
      ({ signal }) =>
        new Promise((_, reject) => {
          signal.addEventListener('abort', () => {
            t.clock.advance(3);
            reject(signal.reason);
          });
        }),
      { signal: controller.signal },
    );
    const reason = new Error('stop');
    controller.abort(reason);
    await expect(call).rejects.toBe(reason);
    expect(t.breaker.state).toBe('closed');
    expect(events).toEqual([{ type: 'ignored', payload: { error: reason, reason: 'aborted', duration: 3 } }]);
  });

  it('an aborted probe neither closes nor reopens, and frees its slot', async () => {
    const t = setup({ failureThreshold: 1, openTimeout: 100 });
    await t.fail();
    t.clock.advance(100);
    const controller = new AbortController();
    const call = t.breaker.execute(
      ({ signal }) =>
        new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason))),
      { signal: controller.signal },
    );
    await t.rejected();
    controller.abort();
    await expect(call).rejects.toMatchObject({ name: 'AbortError' });
    expect(t.breaker.state).toBe('half-open');
    await t.succeed();
    expect(t.breaker.state).toBe('closed');
  });
});

describe('rate mode', () => {
  it('opens with a count window once the failure rate reaches the threshold over minimumCalls', async () => {
    const t = setup({ failureRateThreshold: 0.5, minimumCalls: 4, window: { type: 'count', size: 4 } });
    const events = recordEvents(t.breaker);
    await t.succeed();
    await t.fail();
    await t.succeed();
    await t.succeed(); // 1/4
    expect(t.breaker.state).toBe('closed');
    await t.fail(); // window [F S S F]: 2/4 = threshold
    expect(t.breaker.state).toBe('open');
    expect(transitions(events)).toEqual(['closed>open:failure-rate']);
  });

  it('a count window forgets calls older than its size', async () => {
    const t = setup({ failureRateThreshold: 0.5, minimumCalls: 4, window: { type: 'count', size: 4 } });
    await succeedTimes(t.succeed, 4);
    await t.fail(); // [S S S F]
    expect(t.breaker.state).toBe('closed');
    await t.fail(); // [S S F F]: 2/4, while 2/6 overall
    expect(t.breaker.state).toBe('open');
  });

  it('defaults the window to the last 100 calls', async () => {
    const t = setup({ failureRateThreshold: 0.5, minimumCalls: 1 });
    await succeedTimes(t.succeed, 100);
    await failTimes(t.fail, 49);
    expect(t.breaker.state).toBe('closed');
    await t.fail(); // 50 of the last 100
    expect(t.breaker.state).toBe('open');
  });

  it('needs minimumCalls calls in the window before it opens', async () => {
    const t = setup({ failureRateThreshold: 0.5, minimumCalls: 4, window: { type: 'count', size: 10 } });
    await failTimes(t.fail, 3);
    expect(t.breaker.state).toBe('closed');
    await t.fail();
    expect(t.breaker.state).toBe('open');
  });

  it('defaults minimumCalls to 10', async () => {
    const t = setup({ failureRateThreshold: 0.1 });
    await failTimes(t.fail, 9);
    expect(t.breaker.state).toBe('closed');
    await t.fail();
    expect(t.breaker.state).toBe('open');
  });

  it('defaults minimumCalls to the size of a smaller count window, so it can still open', async () => {
    const t = setup({ failureRateThreshold: 0.5, window: { type: 'count', size: 4 } });
    await failTimes(t.fail, 3);
    expect(t.breaker.state).toBe('closed');
    await t.fail();
    expect(t.breaker.state).toBe('open');
  });

  it('rate-only mode does not trip on consecutive failures below the rate', async () => {
    const t = setup({ failureRateThreshold: 0.9, minimumCalls: 10, window: { type: 'count', size: 50 } });
    await succeedTimes(t.succeed, 10);
    await failTimes(t.fail, 20); // 20 in a row, 20/30 < 0.9
    expect(t.breaker.state).toBe('closed');
  });

  it('with failureThreshold too, a run of failures opens it below the rate', async () => {
    const t = setup({
      failureThreshold: 3,
      failureRateThreshold: 0.5,
      minimumCalls: 4,
      window: { type: 'count', size: 100 },
    });
    const events = recordEvents(t.breaker);
    await succeedTimes(t.succeed, 10);
    await failTimes(t.fail, 2);
    expect(t.breaker.state).toBe('closed');
    await t.fail(); // 3 in a row, 3/13 by rate
    expect(transitions(events)).toEqual(['closed>open:consecutive-failures']);
  });

  it('with failureThreshold too, the rate rule opens without a run of failures', async () => {
    const t = setup({
      failureThreshold: 3,
      failureRateThreshold: 0.5,
      minimumCalls: 4,
      window: { type: 'count', size: 100 },
    });
    const events = recordEvents(t.breaker);
    await t.fail();
    await t.succeed();
    await t.fail();
    expect(t.breaker.state).toBe('closed');
    await t.succeed(); // 2/4
    expect(t.breaker.state).toBe('open');
    expect(transitions(events)).toEqual(['closed>open:failure-rate']);
  });

  it('a time window counts the calls of the last duration and ages them out by the clock', async () => {
    const t = setup({
      failureRateThreshold: 0.5,
      minimumCalls: 4,
      window: { type: 'time', duration: 1_000, buckets: 10 },
    });
    await failTimes(t.fail, 3);
    t.clock.advance(1_000); // those three age out
    await t.fail();
    await succeedTimes(t.succeed, 3); // 1/4
    expect(t.breaker.state).toBe('closed');
    t.clock.advance(500);
    await t.fail(); // 2/5
    expect(t.breaker.state).toBe('closed');
    await t.fail(); // 3/6
    expect(t.breaker.state).toBe('open');
  });

  it('a time window still holds calls younger than duration minus one bucket', async () => {
    const t = setup({
      failureRateThreshold: 1,
      minimumCalls: 2,
      window: { type: 'time', duration: 1_000, buckets: 10 },
    });
    await t.fail();
    t.clock.advance(899);
    await t.fail(); // the first is still in the window
    expect(t.breaker.state).toBe('open');
  });

  it('forgets the window when the state changes', async () => {
    const t = setup({
      failureRateThreshold: 0.5,
      minimumCalls: 2,
      openTimeout: 10,
      window: { type: 'count', size: 10 },
    });
    await t.fail();
    await t.fail();
    expect(t.breaker.state).toBe('open');
    t.clock.advance(10);
    await t.succeed(); // probe closes
    await t.succeed();
    await t.fail(); // 1/2 counted since closing; with the old calls it would be 3/5
    expect(t.breaker.state).toBe('open');
    t.breaker.reset();
    await t.succeed();
    await t.succeed();
    await t.fail(); // 1/3
    expect(t.breaker.state).toBe('closed');
  });
});

describe('slow calls', () => {
  const slowOptions: CircuitBreakerOptions = {
    slowCallDuration: 100,
    slowCallRateThreshold: 0.5,
    minimumCalls: 4,
    window: { type: 'count', size: 4 },
    openTimeout: 1_000,
  };

  it('opens when the share of slow calls reaches the threshold, successes included', async () => {
    const t = setup(slowOptions);
    const events = recordEvents(t.breaker);
    await t.succeed();
    await t.succeed();
    await expect(t.slow(101)).resolves.toBe('slow');
    expect(t.breaker.state).toBe('closed');
    await t.slow(150); // 2/4 slow
    expect(t.breaker.state).toBe('open');
    expect(transitions(events)).toEqual(['closed>open:slow-call-rate']);
    expect(events.filter((e) => e.type === 'succeeded').map((e) => e.payload)).toEqual([
      { duration: 0, slow: false },
      { duration: 0, slow: false },
      { duration: 101, slow: true },
      { duration: 150, slow: true },
    ]);
  });

  it('a call that takes exactly slowCallDuration is not slow', async () => {
    const t = setup(slowOptions);
    const events = recordEvents(t.breaker);
    for (let i = 0; i < 4; i++) await t.slow(100);
    expect(t.breaker.state).toBe('closed');
    expect(events.every((e) => e.type === 'succeeded' && !e.payload.slow)).toBe(true);
  });

  it('a slow failure counts as slow', async () => {
    const t = setup({ ...slowOptions, slowCallRateThreshold: 1, minimumCalls: 2, failureThreshold: 10 });
    const events = recordEvents(t.breaker);
    await expect(t.slow(200, boom)).rejects.toBe(boom);
    await expect(t.slow(200, boom)).rejects.toBe(boom);
    expect(t.breaker.state).toBe('open');
    expect(events[0]).toEqual({ type: 'failed', payload: { error: boom, duration: 200, slow: true } });
    expect(transitions(events)).toEqual(['closed>open:slow-call-rate']);
  });

  it('a slow probe reopens the circuit even though it succeeded', async () => {
    const t = setup(slowOptions);
    const events = recordEvents(t.breaker);
    for (let i = 0; i < 4; i++) await t.slow(200);
    expect(t.breaker.state).toBe('open');
    t.clock.advance(1_000);
    await expect(t.slow(200)).resolves.toBe('slow');
    expect(t.breaker.state).toBe('open');
    expect(transitions(events).slice(1)).toEqual([
      'open>half-open:open-timeout-elapsed',
      'half-open>open:probe-failed',
    ]);
    expect((await t.rejected()).retryAfter).toBe(1_000);
  });

  it('a fast probe closes it', async () => {
    const t = setup(slowOptions);
    for (let i = 0; i < 4; i++) await t.slow(200);
    t.clock.advance(1_000);
    await t.slow(50);
    expect(t.breaker.state).toBe('closed');
  });

  it('without slow-call options a long call is not slow', async () => {
    const t = setup({ failureThreshold: 1, openTimeout: 10 });
    const events = recordEvents(t.breaker);
    await t.fail();
    t.clock.advance(10);
    await t.slow(1_000_000);
    expect(t.breaker.state).toBe('closed');
    expect(events.find((e) => e.type === 'succeeded')?.payload).toEqual({ duration: 1_000_000, slow: false });
  });
});

describe('manual control', () => {
  it('isolate() rejects every call with IsolatedCircuitError without running it, until reset()', async () => {
    const t = setup({ name: 'payments' });
    const events = recordEvents(t.breaker);
    t.breaker.isolate();
    expect(t.breaker.state).toBe('isolated');
    expect(t.breaker.retryAfter).toBe(Number.POSITIVE_INFINITY);
    const error = await t.rejected();
    expect(error).toBeInstanceOf(IsolatedCircuitError);
    expect(error.breaker).toBe('payments');
    expect(error.retryAfter).toBe(Number.POSITIVE_INFINITY);
    expect(error.cause).toBeUndefined();
    t.clock.advance(10 * 365 * 24 * 3_600_000);
    await t.rejected();
    t.breaker.reset();
    expect(t.breaker.state).toBe('closed');
    await expect(t.succeed()).resolves.toBe('ok');
    expect(transitions(events)).toEqual(['closed>isolated:isolated', 'isolated>closed:reset']);
    expect(events.filter((e) => e.type === 'rejected').map((e) => e.payload)).toEqual([
      { reason: 'isolated', error },
      { reason: 'isolated', error: expect.any(IsolatedCircuitError) },
    ]);
  });

  it('isolate() holds an open circuit past its timeout', async () => {
    const t = setup({ failureThreshold: 1, openTimeout: 10 });
    await t.fail();
    t.breaker.isolate();
    t.clock.advance(10);
    expect(await t.rejected()).toBeInstanceOf(IsolatedCircuitError);
    expect(t.breaker.state).toBe('isolated');
  });

  it('disable() lets every call through uncounted until reset()', async () => {
    const t = setup({ failureThreshold: 2 });
    const events = recordEvents(t.breaker);
    t.breaker.disable();
    await failTimes(t.fail, 20);
    expect(t.breaker.state).toBe('disabled');
    await expect(t.succeed()).resolves.toBe('ok');
    t.breaker.reset();
    await t.fail(); // one failure since reset: still closed
    expect(t.breaker.state).toBe('closed');
    await t.fail();
    expect(t.breaker.state).toBe('open');
    expect(transitions(events)).toEqual([
      'closed>disabled:disabled',
      'disabled>closed:reset',
      'closed>open:consecutive-failures',
    ]);
  });

  it('disable() runs calls even when the circuit was open', async () => {
    const t = setup({ failureThreshold: 1 });
    await t.fail();
    t.breaker.disable();
    await expect(t.succeed()).resolves.toBe('ok');
  });

  it('reset() closes an open circuit at once with counts cleared', async () => {
    const t = setup({ failureThreshold: 2, openTimeout: 1_000 });
    const events = recordEvents(t.breaker);
    await failTimes(t.fail, 2);
    t.breaker.reset();
    expect(t.breaker.state).toBe('closed');
    expect(t.breaker.retryAfter).toBe(0);
    await t.fail();
    expect(t.breaker.state).toBe('closed');
    expect(transitions(events)).toEqual(['closed>open:consecutive-failures', 'open>closed:reset']);
  });

  it('reset() while closed clears the failure count without a state change', async () => {
    const t = setup({ failureThreshold: 3 });
    const events = recordEvents(t.breaker);
    await failTimes(t.fail, 2);
    t.breaker.reset();
    await failTimes(t.fail, 2);
    expect(t.breaker.state).toBe('closed');
    expect(transitions(events)).toEqual([]);
  });

  it('isolate() and disable() twice emit one change each', () => {
    const t = setup();
    const events = recordEvents(t.breaker);
    t.breaker.isolate();
    t.breaker.isolate();
    t.breaker.disable();
    t.breaker.disable();
    t.breaker.isolate();
    expect(transitions(events)).toEqual([
      'closed>isolated:isolated',
      'isolated>disabled:disabled',
      'disabled>isolated:isolated',
    ]);
  });
});

describe('snapshot and restore', () => {
  it('snapshots a closed breaker as plain JSON', () => {
    const t = setup();
    const snapshot = t.breaker.snapshot();
    expect(snapshot).toEqual({ version: 1, state: 'closed', openUntil: null, consecutiveOpens: 0 });
    expect(JSON.parse(JSON.stringify(snapshot))).toEqual(snapshot);
  });

  it('an open breaker restored before its timeout is still open, and probes after it', async () => {
    const t = setup({ failureThreshold: 1, openTimeout: 1_000 });
    t.clock.advance(5_000);
    await t.fail();
    t.clock.advance(400);
    const snapshot = JSON.parse(JSON.stringify(t.breaker.snapshot())) as CircuitSnapshot;
    expect(snapshot).toEqual({ version: 1, state: 'open', openUntil: 6_000, consecutiveOpens: 1 });

    const restored = new CircuitBreaker({ clock: t.clock, failureThreshold: 1, initialState: snapshot });
    expect(restored.state).toBe('open');
    expect(restored.retryAfter).toBe(600);
    const fn = vi.fn(() => 'ran');
    await expect(restored.execute(fn)).rejects.toMatchObject({ retryAfter: 600 });
    expect(fn).not.toHaveBeenCalled();
    t.clock.advance(600);
    await expect(restored.execute(fn)).resolves.toBe('ran');
    expect(restored.state).toBe('closed');
  });

  it('carries consecutiveOpens so backoff continues after a restore', async () => {
    const openTimeout = vi.fn((opens: number) => opens * 100);
    const t = setup({ failureThreshold: 1, openTimeout });
    await t.fail();
    t.clock.advance(100);
    await t.fail();
    const snapshot = t.breaker.snapshot();
    expect(snapshot.consecutiveOpens).toBe(2);
    const restored = new CircuitBreaker({
      clock: t.clock,
      failureThreshold: 1,
      openTimeout,
      initialState: snapshot,
    });
    t.clock.advance(200);
    await expect(restored.execute(() => Promise.reject(boom))).rejects.toBe(boom);
    expect(openTimeout).toHaveBeenLastCalledWith(3);
    expect(restored.retryAfter).toBe(300);
  });

  it('a half-open snapshot restores to a breaker whose next call is a probe', async () => {
    const t = setup({ failureThreshold: 1, openTimeout: 1_000 });
    await t.fail();
    t.clock.advance(1_000);
    const probe = deferred();
    const call = t.breaker.execute(() => probe.promise);
    const snapshot = t.breaker.snapshot();
    expect(snapshot).toEqual({ version: 1, state: 'half-open', openUntil: 1_000, consecutiveOpens: 1 });
    probe.resolve('done');
    await call;

    const restored = new CircuitBreaker({ clock: t.clock, initialState: snapshot });
    const events = recordEvents(restored);
    const gate = deferred();
    const probeCall = restored.execute(() => gate.promise);
    expect(restored.state).toBe('half-open');
    await expect(restored.execute(() => 'second')).rejects.toBeInstanceOf(BrokenCircuitError);
    gate.resolve('ok');
    await probeCall;
    expect(restored.state).toBe('closed');
    expect(transitions(events)).toEqual([
      'open>half-open:open-timeout-elapsed',
      'half-open>closed:probes-succeeded',
    ]);
  });

  it('restores isolated and disabled breakers', async () => {
    const isolated = new CircuitBreaker({
      initialState: { version: 1, state: 'isolated', openUntil: null, consecutiveOpens: 0 },
    });
    expect(isolated.state).toBe('isolated');
    await expect(isolated.execute(() => 1)).rejects.toBeInstanceOf(IsolatedCircuitError);
    const disabled = new CircuitBreaker({
      failureThreshold: 1,
      initialState: { version: 1, state: 'disabled', openUntil: null, consecutiveOpens: 0 },
    });
    await expect(disabled.execute(() => Promise.reject(boom))).rejects.toBe(boom);
    expect(disabled.state).toBe('disabled');
  });

  it('round-trips every state through snapshot()', async () => {
    const t = setup({ failureThreshold: 1 });
    const check = () => {
      const snapshot = t.breaker.snapshot();
      const again = new CircuitBreaker({ clock: t.clock, initialState: snapshot }).snapshot();
      // Half-open restores as open-and-due.
      expect(again).toEqual(snapshot.state === 'half-open' ? { ...snapshot, state: 'open' } : snapshot);
    };
    check();
    await t.fail();
    check();
    t.breaker.isolate();
    check();
    t.breaker.disable();
    check();
  });

  const valid = { version: 1, state: 'open', openUntil: 10, consecutiveOpens: 1 };
  const malformed: [string, unknown][] = [
    ['a string', 'open'],
    ['a number', 1],
    ['null', null],
    ['an array', [valid]],
    ['an unknown field', { ...valid, extra: 1 }],
    ['a symbol field', { ...valid, [Symbol('x')]: 1 }],
    ['a missing version', { state: 'closed', openUntil: null, consecutiveOpens: 0 }],
    ['another version', { ...valid, version: 2 }],
    ['a string version', { ...valid, version: '1' }],
    ['an unknown state', { ...valid, state: 'ajar' }],
    ['a state that is not a string', { ...valid, state: 1 }],
    ['open without openUntil', { ...valid, openUntil: null }],
    ['open with a string openUntil', { ...valid, openUntil: '10' }],
    ['open with NaN openUntil', { ...valid, openUntil: Number.NaN }],
    ['open with infinite openUntil', { ...valid, openUntil: Number.POSITIVE_INFINITY }],
    ['closed with an openUntil', { ...valid, state: 'closed', openUntil: 10 }],
    ['a negative consecutiveOpens', { ...valid, consecutiveOpens: -1 }],
    ['a fractional consecutiveOpens', { ...valid, consecutiveOpens: 1.5 }],
    ['a string consecutiveOpens', { ...valid, consecutiveOpens: '1' }],
    ['a missing consecutiveOpens', { version: 1, state: 'closed', openUntil: null }],
  ];
  it.each(malformed)('rejects an initialState with %s as a TypeError', (_, initialState) => {
    expect(() => new CircuitBreaker({ initialState: initialState as CircuitSnapshot })).toThrow(TypeError);
    expect(() => new CircuitBreaker({ initialState: initialState as CircuitSnapshot })).toThrow(
      /initialState/,
    );
  });

  it('rejects a JSON snapshot with a "__proto__" key and pollutes nothing', () => {
    const json =
      '{"version":1,"state":"closed","openUntil":null,"consecutiveOpens":0,"__proto__":{"polluted":true,"state":"open"}}';
    const parsed = JSON.parse(json) as CircuitSnapshot;
    expect(() => new CircuitBreaker({ initialState: parsed })).toThrow(TypeError);
    expect(() => new CircuitBreaker({ initialState: parsed })).toThrow(/__proto__/);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.hasOwn(Object.prototype, 'polluted')).toBe(false);
    expect(Object.hasOwn(Object.prototype, 'state')).toBe(false);
  });

  it('rejects a "constructor" or "prototype" key', () => {
    for (const key of ['constructor', 'prototype']) {
      const parsed = JSON.parse(
        `{"version":1,"state":"closed","openUntil":null,"consecutiveOpens":0,"${key}":{"prototype":{"polluted":true}}}`,
      ) as CircuitSnapshot;
      expect(() => new CircuitBreaker({ initialState: parsed })).toThrow(TypeError);
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('keeps nothing of the object it was given', async () => {
    const initialState = { version: 1, state: 'open', openUntil: 100, consecutiveOpens: 1 } as {
      -readonly [K in keyof CircuitSnapshot]: CircuitSnapshot[K];
    };
    const clock = new ManualClock();
    const breaker = new CircuitBreaker({ clock, initialState });
    initialState.openUntil = 0;
    initialState.state = 'closed';
    expect(breaker.state).toBe('open');
    expect(breaker.retryAfter).toBe(100);
    expect(Object.getPrototypeOf(breaker.snapshot())).toBe(Object.prototype);
  });
});

describe('events', () => {
  it('emits exact payloads across a full cycle', async () => {
    const t = setup({ failureThreshold: 1, openTimeout: 100 });
    const events = recordEvents(t.breaker);
    await t.slow(5);
    await expect(t.slow(8, boom)).rejects.toBe(boom);
    const rejection = await t.rejected();
    t.clock.advance(100);
    await t.succeed();
    expect(events).toEqual([
      { type: 'succeeded', payload: { duration: 5, slow: false } },
      { type: 'failed', payload: { error: boom, duration: 8, slow: false } },
      {
        type: 'stateChanged',
        payload: { from: 'closed', to: 'open', reason: 'consecutive-failures', source: 'local' },
      },
      { type: 'rejected', payload: { reason: 'open', error: rejection } },
      {
        type: 'stateChanged',
        payload: { from: 'open', to: 'half-open', reason: 'open-timeout-elapsed', source: 'local' },
      },
      { type: 'succeeded', payload: { duration: 0, slow: false } },
      {
        type: 'stateChanged',
        payload: { from: 'half-open', to: 'closed', reason: 'probes-succeeded', source: 'local' },
      },
    ]);
  });

  it('builds no payload when nobody listens', async () => {
    const t = setup({ failureThreshold: 1, openTimeout: 10 });
    const emit = vi.spyOn(t.breaker, 'emit');
    await t.succeed();
    await t.fail();
    await t.rejected();
    t.clock.advance(10);
    await t.succeed();
    t.breaker.isolate();
    expect(emit).not.toHaveBeenCalled();
  });

  it('Symbol.dispose removes every listener', async () => {
    const t = setup({ failureThreshold: 1 });
    const listener = vi.fn();
    t.breaker.on('stateChanged', listener).on('failed', listener).on('rejected', listener);
    t.breaker[Symbol.dispose]();
    expect(t.breaker.eventNames()).toEqual([]);
    await t.fail();
    await t.rejected();
    expect(listener).not.toHaveBeenCalled();
  });
});

describe('calls that outlive a state change', () => {
  it('a closed-state call failing after the circuit opened changes nothing', async () => {
    const t = setup({ failureThreshold: 1, openTimeout: 1_000 });
    const events = recordEvents(t.breaker);
    const late = deferred();
    const lateCall = t.breaker.execute(() => late.promise);
    await t.fail();
    t.clock.advance(500);
    late.reject(new Error('late'));
    await expect(lateCall).rejects.toThrow('late');
    expect(t.breaker.retryAfter).toBe(500); // openUntil not refreshed
    expect(transitions(events)).toEqual(['closed>open:consecutive-failures']);
    expect((await t.rejected()).cause).toBe(boom);
  });

  it('a closed-state call succeeding during half-open is not a probe success', async () => {
    const t = setup({ failureThreshold: 1, openTimeout: 100 });
    const late = deferred();
    const lateCall = t.breaker.execute(() => late.promise);
    await t.fail();
    t.clock.advance(100);
    const probe = deferred();
    const probeCall = t.breaker.execute(() => probe.promise);
    late.resolve('late');
    await lateCall;
    expect(t.breaker.state).toBe('half-open');
    await t.rejected(); // the probe's slot is still taken
    probe.resolve('probe');
    await probeCall;
    expect(t.breaker.state).toBe('closed');
  });

  it('a probe of an earlier half-open period neither counts nor frees a slot', async () => {
    const t = setup({ failureThreshold: 1, openTimeout: 100, halfOpenMaxCalls: 2, successThreshold: 2 });
    await t.fail();
    t.clock.advance(100);
    const old = deferred();
    const oldCall = t.breaker.execute(() => old.promise);
    await t.fail(); // second probe fails: open again
    t.clock.advance(100);
    const a = deferred();
    const b = deferred();
    const callA = t.breaker.execute(() => a.promise);
    const callB = t.breaker.execute(() => b.promise);
    old.resolve('old');
    await oldCall;
    await t.rejected(); // both slots still taken by this period's probes
    a.resolve('a');
    await callA;
    expect(t.breaker.state).toBe('half-open'); // one success of the two needed
    b.resolve('b');
    await callB;
    expect(t.breaker.state).toBe('closed');
  });

  it('a call from before reset() does not count after it', async () => {
    const t = setup({ failureThreshold: 1 });
    const late = deferred();
    const lateCall = t.breaker.execute(() => late.promise);
    t.breaker.isolate();
    t.breaker.reset();
    late.reject(boom);
    await expect(lateCall).rejects.toBe(boom);
    expect(t.breaker.state).toBe('closed');
  });

  it('a call from before reset() while closed does not count after it', async () => {
    const t = setup({ failureThreshold: 1 });
    const late = deferred();
    const lateCall = t.breaker.execute(() => late.promise);
    t.breaker.reset();
    late.reject(boom);
    await expect(lateCall).rejects.toBe(boom);
    expect(t.breaker.state).toBe('closed');
  });

  it('still emits succeeded/failed for a late call', async () => {
    const t = setup({ failureThreshold: 1 });
    const events = recordEvents(t.breaker);
    const late = deferred();
    const lateCall = t.breaker.execute(() => late.promise);
    t.breaker.isolate();
    late.resolve('x');
    await lateCall;
    expect(events.map((e) => e.type)).toEqual(['stateChanged', 'succeeded']);
  });
});

const listenerError = new Error('listener');

describe('user callbacks that throw', () => {
  async function halfOpen(options: CircuitBreakerOptions = {}) {
    const t = setup({ failureThreshold: 1, openTimeout: 10, ...options });
    await t.fail();
    t.clock.advance(10);
    return t;
  }

  it('an isFailure that throws counts the call as a failure with its own error, frees the probe slot, and warns', async () => {
    const warnings = captureWarnings();
    let broken = false;
    const t = await halfOpen({
      isFailure: () => {
        if (broken) throw listenerError;
        return true;
      },
    });
    broken = true;
    await expect(t.breaker.execute(() => Promise.reject(boom))).rejects.toBe(boom);
    expect(t.breaker.state).toBe('open');
    broken = false;
    t.clock.advance(10);
    await t.succeed();
    expect(t.breaker.state).toBe('closed');
    await flushPromises();
    expect(warnings.map((w) => [isListenerError(w), w.cause, w.message])).toEqual([
      [true, listenerError, 'isFailure of "db" threw'],
    ]);
    warnings.stop();
  });

  // Every event the breaker emits, with what must still happen when its listener throws.
  const cases: [event: string, run: () => Promise<void>][] = [
    [
      'succeeded',
      async () => {
        const t = await halfOpen();
        const order = listenTwice(t.breaker, 'succeeded');
        await expect(t.succeed()).resolves.toBe('ok');
        expect(t.breaker.state).toBe('closed');
        expect(order).toEqual(['second']);
      },
    ],
    [
      'failed',
      async () => {
        const t = await halfOpen();
        const order = listenTwice(t.breaker, 'failed');
        await expect(t.breaker.execute(() => Promise.reject(boom))).rejects.toBe(boom);
        expect(t.breaker.state).toBe('open');
        expect(order).toEqual(['second']);
      },
    ],
    [
      'ignored',
      async () => {
        const benign = new Error('benign');
        const t = await halfOpen({ isFailure: (error) => error !== benign });
        const order = listenTwice(t.breaker, 'ignored');
        await expect(t.breaker.execute(() => Promise.reject(benign))).rejects.toBe(benign);
        expect(t.breaker.state).toBe('half-open');
        expect(order).toEqual(['second']);
        await t.succeed(); // the probe slot was freed
        expect(t.breaker.state).toBe('closed');
      },
    ],
    [
      'rejected',
      async () => {
        const t = setup({ failureThreshold: 1 });
        await t.fail();
        const order = listenTwice(t.breaker, 'rejected');
        const error = await t.rejected();
        expect(error.retryAfter).toBe(30_000);
        expect(order).toEqual(['second']);
      },
    ],
    [
      'stateChanged',
      async () => {
        const t = setup({ failureThreshold: 2 });
        const order = listenTwice(t.breaker, 'stateChanged');
        await t.fail();
        await t.fail(); // the failure that opens it is still the caller's error
        expect(t.breaker.state).toBe('open');
        expect(order).toEqual(['second']);
        t.clock.advance(30_000);
        await expect(t.succeed()).resolves.toBe('ok'); // open -> half-open -> closed, each emitted
        expect(t.breaker.state).toBe('closed');
        expect(order).toEqual(['second', 'second', 'second']);
      },
    ],
  ];

  it.each(cases)(
    'a %s listener that throws changes neither the call nor the state, nor stops the next listener',
    async (event, run) => {
      const warnings = captureWarnings();
      await run();
      await flushPromises();
      expect(warnings.length).toBeGreaterThan(0);
      for (const warning of warnings) {
        expect(isListenerError(warning)).toBe(true);
        expect((warning as ListenerError).event).toBe(event);
        expect(warning.cause).toBe(listenerError);
      }
      warnings.stop();
    },
  );
});

/** A throwing listener, then one that records: the second must run whatever the first did. */
function listenTwice(
  breaker: CircuitBreaker,
  event: 'succeeded' | 'failed' | 'ignored' | 'rejected' | 'stateChanged',
) {
  const order: string[] = [];
  breaker.on(event, () => {
    throw listenerError;
  });
  breaker.on(event, () => order.push('second'));
  return order;
}

describe('errors', () => {
  async function rejections() {
    const t = setup({ failureThreshold: 1 });
    await t.fail();
    const broken = await t.rejected();
    t.breaker.isolate();
    const isolated = await t.rejected();
    return { broken, isolated };
  }

  it('are BreakwaterErrors with their own names', async () => {
    const { broken, isolated } = await rejections();
    expect(broken).toBeInstanceOf(BreakwaterError);
    expect(broken).toBeInstanceOf(Error);
    expect(broken.name).toBe('BrokenCircuitError');
    expect(isolated).toBeInstanceOf(BrokenCircuitError);
    expect(isolated.name).toBe('IsolatedCircuitError');
  });

  it('guards tell them apart', async () => {
    const { broken, isolated } = await rejections();
    expect(isBrokenCircuitError(broken)).toBe(true);
    expect(isIsolatedCircuitError(broken)).toBe(false);
    expect(isBreakwaterError(broken)).toBe(true);
    expect(isBrokenCircuitError(isolated)).toBe(true);
    expect(isIsolatedCircuitError(isolated)).toBe(true);
    expect(isBreakwaterError(isolated)).toBe(true);
    for (const other of [
      boom,
      null,
      undefined,
      'BrokenCircuitError',
      42,
      {},
      { name: 'BrokenCircuitError' },
    ]) {
      expect(isBrokenCircuitError(other)).toBe(false);
      expect(isIsolatedCircuitError(other)).toBe(false);
      expect(isBreakwaterError(other)).toBe(false);
    }
  });

  it('guards hold across two copies of the package', async () => {
    // A query string makes the module loader evaluate src/errors.ts a second time: a true second copy.
    const specifier = '../../src/errors.js?second-copy';
    const copy = (await import(/* @vite-ignore */ specifier)) as ErrorsModule;
    expect(copy.BrokenCircuitError).not.toBe(BrokenCircuitError);

    const { broken, isolated } = await rejections();
    expect(broken instanceof copy.BrokenCircuitError).toBe(false);
    expect(copy.isBrokenCircuitError(broken)).toBe(true);
    expect(copy.isBreakwaterError(broken)).toBe(true);
    expect(copy.isIsolatedCircuitError(broken)).toBe(false);
    expect(copy.isIsolatedCircuitError(isolated)).toBe(true);

    const foreign = new copy.IsolatedCircuitError('other');
    expect(isIsolatedCircuitError(foreign)).toBe(true);
    expect(isBrokenCircuitError(foreign)).toBe(true);
    expect(isBreakwaterError(foreign)).toBe(true);
    expect(isIsolatedCircuitError(new copy.BrokenCircuitError('other', 0))).toBe(false);
  });

  it('guards accept an object carrying the Symbol.for brand on its prototype', () => {
    const proto = Object.create(Error.prototype) as object;
    Object.defineProperty(proto, Symbol.for('breakwater.error'), { value: true });
    Object.defineProperty(proto, Symbol.for('breakwater.BrokenCircuitError'), { value: true });
    const fake = Object.create(proto) as unknown;
    expect(isBrokenCircuitError(fake)).toBe(true);
    expect(isBreakwaterError(fake)).toBe(true);
    expect(isIsolatedCircuitError(fake)).toBe(false);
  });

  it('rejections carry no stack frames and leave Error.stackTraceLimit as it was', async () => {
    const limit = Error.stackTraceLimit;
    const { broken, isolated } = await rejections();
    expect(Error.stackTraceLimit).toBe(limit);
    for (const error of [broken, isolated]) {
      expect(typeof error.stack).toBe('string');
      expect(error.stack).not.toMatch(/\n\s+at /);
      expect(error.stack).toContain(error.message);
    }
    expect(new Error('x').stack).toMatch(/\n\s+at /);
  });
});
