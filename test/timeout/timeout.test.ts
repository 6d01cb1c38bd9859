import { getEventListeners } from 'node:events';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  type ExecuteContext,
  isTimeoutError,
  type TimedOutEvent,
  TimeoutError,
  type TimeoutStrategy,
  timeout,
} from '../../src/index.js';
import { flushPromises, ManualClock } from '../../src/testing/index.js';
import { deferred, track } from '../helpers/promises.js';

const STRATEGIES: TimeoutStrategy[] = ['cooperative', 'aggressive'];

let unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);
beforeEach(() => {
  unhandled = [];
  process.on('unhandledRejection', onUnhandled);
});
afterEach(() => {
  process.off('unhandledRejection', onUnhandled);
});

describe('timeout: cooperative', () => {
  it('aborts the call signal with a TimeoutError when the timer fires and waits for the function', async () => {
    const clock = new ManualClock();
    const policy = timeout({ ms: 1_000, clock });
    const work = deferred();
    let seen: AbortSignal | undefined;
    const p = policy.execute(({ signal }) => {
      seen = signal;
      return work.promise;
    });
    const settled = track(p);
    clock.advance(999);
    await flushPromises();
    expect(seen?.aborted).toBe(false);
    clock.advance(1);
    expect(seen?.aborted).toBe(true);
    expect(seen?.reason).toBeInstanceOf(TimeoutError);
    await flushPromises();
    expect(settled()).toEqual({ state: 'pending' });
    const cause = new Error('aborted by signal');
    work.reject(cause);
    await flushPromises();
    const outcome = settled();
    expect(outcome.state).toBe('rejected');
    const error = (outcome as { value: TimeoutError }).value;
    expect(error).toBeInstanceOf(TimeoutError);
    expect(isTimeoutError(error)).toBe(true);
    expect(error.cause).toBe(cause);
    expect(error.timeout).toBe(1_000);
    expect(clock.pendingTimers).toBe(0);
  });

  it('is the default strategy, also for timeout(ms)', () => {
    expect(timeout(5).strategy).toBe('cooperative');
    expect(timeout({ ms: 5 }).strategy).toBe('cooperative');
    expect(timeout(5).ms).toBe(5);
  });

  it('returns a success that arrives after the timeout', async () => {
    const clock = new ManualClock();
    const policy = timeout({ ms: 100, clock });
    const work = deferred();
    const p = policy.execute(() => work.promise);
    clock.advance(500);
    work.resolve('late but fine');
    await expect(p).resolves.toBe('late but fine');
    expect(clock.pendingTimers).toBe(0);
  });

  it('passes a success or failure before the timeout through unchanged and clears the timer', async () => {
    const clock = new ManualClock();
    const policy = timeout({ ms: 100, clock });
    await expect(policy.execute(() => 'fast')).resolves.toBe('fast');
    expect(clock.pendingTimers).toBe(0);
    const error = new Error('fast failure');
    await expect(
      policy.execute(async () => {
        throw error;
      }),
    ).rejects.toBe(error);
    expect(clock.pendingTimers).toBe(0);
    await expect(
      policy.execute(() => {
        throw error;
      }),
    ).rejects.toBe(error);
    expect(clock.pendingTimers).toBe(0);
  });

  it('a rejection that is not caused by the abort still becomes a TimeoutError once the timer fired', async () => {
    const clock = new ManualClock();
    const policy = timeout({ ms: 10, clock });
    const work = deferred();
    const p = policy.execute(() => work.promise);
    clock.advance(10);
    const cause = new Error('unrelated');
    work.reject(cause);
    await expect(p).rejects.toSatisfy((e: unknown) => e instanceof TimeoutError && e.cause === cause);
  });
});

describe('timeout: aggressive', () => {
  it('rejects at once with a TimeoutError; the function keeps its aborted signal', async () => {
    const clock = new ManualClock();
    const policy = timeout({ ms: 50, strategy: 'aggressive', clock });
    const work = deferred();
    let seen: AbortSignal | undefined;
    const p = policy.execute(({ signal }) => {
      seen = signal;
      return work.promise;
    });
    const settled = track(p);
    clock.advance(50);
    await flushPromises();
    const outcome = settled();
    expect(outcome.state).toBe('rejected');
    const error = (outcome as { value: TimeoutError }).value;
    expect(error).toBeInstanceOf(TimeoutError);
    expect(error.cause).toBeUndefined();
    expect(seen?.aborted).toBe(true);
    expect(seen?.reason).toBe(error);
    expect(clock.pendingTimers).toBe(0);
  });

  it("the function's late rejection causes no unhandled rejection, and a late success is dropped", async () => {
    const clock = new ManualClock();
    const policy = timeout({ ms: 50, strategy: 'aggressive', clock });
    const rejecting = deferred();
    const resolving = deferred();
    const p1 = policy.execute(() => rejecting.promise);
    const p2 = policy.execute(() => resolving.promise);
    const s1 = track(p1);
    const s2 = track(p2);
    clock.advance(50);
    await flushPromises();
    rejecting.reject(new Error('late failure'));
    resolving.resolve('late success');
    await flushPromises();
    await flushPromises();
    expect(unhandled).toEqual([]);
    expect((s1() as { value: unknown }).value).toBeInstanceOf(TimeoutError);
    expect((s2() as { value: unknown }).value).toBeInstanceOf(TimeoutError);
  });

  it('passes results before the timeout through unchanged', async () => {
    const clock = new ManualClock();
    const policy = timeout({ ms: 50, strategy: 'aggressive', clock });
    await expect(policy.execute(async () => 7)).resolves.toBe(7);
    const error = new Error('x');
    await expect(policy.execute(() => Promise.reject(error))).rejects.toBe(error);
    expect(clock.pendingTimers).toBe(0);
  });
});

describe('timeout: caller abort', () => {
  it.each(STRATEGIES)('%s: propagates signal.reason, not a TimeoutError', async (strategy) => {
    const clock = new ManualClock();
    const policy = timeout({ ms: 1_000, strategy, clock });
    const { timedOut } = recordTimedOut(policy);
    const controller = new AbortController();
    let inner: AbortSignal | undefined;
    const p = policy.execute(
      ({ signal }) =>
        new Promise<never>((_, reject) => {
          inner = signal;
          signal.addEventListener('abort', () => reject(signal.reason), { once: true });
        }),
      { signal: controller.signal },
    );
    const settled = track(p);
    clock.advance(100);
    const reason = new Error('caller gave up');
    controller.abort(reason);
    await flushPromises();
    expect(settled()).toEqual({ state: 'rejected', value: reason });
    expect((settled() as { value: unknown }).value).toBe(reason);
    expect(inner?.aborted).toBe(true);
    expect(inner?.reason).toBe(reason);
    expect(clock.pendingTimers).toBe(0);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
    clock.advance(5_000);
    expect(timedOut).toEqual([]);
  });

  it('aggressive: rejects with signal.reason at once even if the function ignores the abort', async () => {
    const clock = new ManualClock();
    const policy = timeout({ ms: 1_000, strategy: 'aggressive', clock });
    const controller = new AbortController();
    const p = policy.execute(() => new Promise(() => {}), { signal: controller.signal });
    const settled = track(p);
    const reason = new Error('stop');
    controller.abort(reason);
    await flushPromises();
    expect((settled() as { value: unknown }).value).toBe(reason);
    expect(clock.pendingTimers).toBe(0);
  });

  it('cooperative: a caller abort before the timer means no TimeoutError, even if the function settles after the limit', async () => {
    const clock = new ManualClock();
    const policy = timeout({ ms: 1_000, strategy: 'cooperative', clock });
    const { timedOut } = recordTimedOut(policy);
    const controller = new AbortController();
    const work = deferred();
    const p = policy.execute(() => work.promise, { signal: controller.signal });
    const settled = track(p);
    const reason = new Error('caller gave up');
    controller.abort(reason);
    expect(clock.pendingTimers).toBe(0);
    clock.advance(2_000); // past the limit, the function still running
    work.reject(reason);
    await flushPromises();
    expect((settled() as { value: unknown }).value).toBe(reason);
    expect(timedOut).toEqual([]);
  });

  it('a caller abort after the timer fired leaves the TimeoutError', async () => {
    const clock = new ManualClock();
    const policy = timeout({ ms: 10, clock });
    const controller = new AbortController();
    const work = deferred();
    const p = policy.execute(() => work.promise, { signal: controller.signal });
    clock.advance(10);
    controller.abort(new Error('too late'));
    work.reject(new Error('x'));
    await expect(p).rejects.toBeInstanceOf(TimeoutError);
  });

  it('does not run a call whose signal is already aborted', async () => {
    const clock = new ManualClock();
    const policy = timeout({ ms: 10, clock });
    const controller = new AbortController();
    const reason = new Error('already');
    controller.abort(reason);
    const fn = vi.fn(() => 1);
    await expect(policy.execute(fn, { signal: controller.signal })).rejects.toBe(reason);
    expect(fn).not.toHaveBeenCalled();
    expect(clock.pendingTimers).toBe(0);
  });
});

describe('timeout: cleanup', () => {
  type Outcome = 'resolve' | 'reject' | 'throw' | 'timeout' | 'caller-abort';
  const outcomes: Outcome[] = ['resolve', 'reject', 'throw', 'timeout', 'caller-abort'];
  const cases = STRATEGIES.flatMap((s) => outcomes.map((o) => [s, o] as const));

  it.each(cases)(
    '%s, %s: no timer and no caller-signal listener remain once settled',
    async (strategy, how) => {
      const clock = new ManualClock();
      const policy = timeout({ ms: 100, strategy, clock });
      const controller = new AbortController();
      const add = vi.spyOn(controller.signal, 'addEventListener');
      const remove = vi.spyOn(controller.signal, 'removeEventListener');
      const fn = ({ signal }: ExecuteContext) => {
        if (how === 'resolve') return Promise.resolve('ok');
        if (how === 'reject') return Promise.reject(new Error('no'));
        if (how === 'throw') throw new Error('sync');
        return new Promise<string>((_, reject) => {
          signal.addEventListener('abort', () => reject(signal.reason), { once: true });
        });
      };
      const p = policy.execute(fn, { signal: controller.signal });
      const settled = track(p);
      if (how !== 'throw') {
        // A synchronous throw settles inside execute; every other call is live here.
        expect(getEventListeners(controller.signal, 'abort')).toHaveLength(1);
        expect(clock.pendingTimers).toBe(1);
      }
      if (how === 'timeout') clock.advance(100);
      if (how === 'caller-abort') controller.abort(new Error('bye'));
      await flushPromises();
      expect(settled().state).toBe(how === 'resolve' ? 'fulfilled' : 'rejected');
      expect(clock.pendingTimers).toBe(0);
      expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
      expect(add).toHaveBeenCalledTimes(1);
      const listener = add.mock.calls[0]![1];
      if (how !== 'caller-abort') expect(remove).toHaveBeenCalledWith('abort', listener);
    },
  );

  it('adds no listener when the caller gave no signal', async () => {
    const clock = new ManualClock();
    const policy = timeout({ ms: 100, clock });
    await expect(policy.execute(() => 1)).resolves.toBe(1);
    expect(clock.pendingTimers).toBe(0);
  });

  it('gives each call its own signal', async () => {
    const clock = new ManualClock();
    const policy = timeout({ ms: 100, clock });
    const signals: AbortSignal[] = [];
    const controller = new AbortController();
    await policy.execute(({ signal }) => signals.push(signal), { signal: controller.signal });
    await policy.execute(({ signal }) => signals.push(signal), { signal: controller.signal });
    expect(signals[0]).not.toBe(signals[1]);
    expect(signals[0]).not.toBe(controller.signal);
  });

  it('passes attempt and key through to the function', async () => {
    const clock = new ManualClock();
    const policy = timeout({ ms: 100, clock });
    const ctx = await policy.execute((c) => ({ attempt: c.attempt, key: c.key }), { key: 'k' });
    expect(ctx).toEqual({ attempt: 0, key: 'k' });
  });
});

describe('timeout: events', () => {
  it.each(STRATEGIES)('%s: emits timedOut {timeout, strategy} when its timer fires', async (strategy) => {
    const clock = new ManualClock();
    const policy = timeout({ ms: 30, strategy, clock });
    const { timedOut } = recordTimedOut(policy);
    const p = policy.execute(
      ({ signal }) =>
        new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason))),
    );
    clock.advance(30);
    await expect(p).rejects.toBeInstanceOf(TimeoutError);
    expect(timedOut).toEqual([{ timeout: 30, strategy }]);
  });
});

describe('timeout: validation', () => {
  const cases: [string, () => unknown, ErrorConstructor, RegExp][] = [
    ['ms -1', () => timeout(-1), RangeError, /ms.*-1/],
    ['ms NaN', () => timeout(Number.NaN), RangeError, /ms.*NaN/],
    ['ms Infinity', () => timeout({ ms: Number.POSITIVE_INFINITY }), RangeError, /ms.*Infinity/],
    ['ms missing', () => timeout({} as never), TypeError, /ms.*undefined/],
    ['ms "5"', () => timeout({ ms: '5' as never }), TypeError, /ms.*"5"/],
    ['options "5"', () => timeout('5' as never), TypeError, /timeout.*"5"/],
    ['strategy', () => timeout({ ms: 5, strategy: 'eager' as never }), TypeError, /strategy.*"eager"/],
    ['clock', () => timeout({ ms: 5, clock: { now: () => 0 } as never }), TypeError, /clock/],
    ['unknown option', () => timeout({ ms: 5, timeout: 5 } as never), TypeError, /unknown option "timeout"/],
  ];
  it.each(cases)('%s', (_name, create, type, message) => {
    expect(create).toThrow(type);
    expect(create).toThrow(message);
  });
});

function recordTimedOut(policy: ReturnType<typeof timeout>) {
  const timedOut: TimedOutEvent[] = [];
  policy.on('timedOut', (e) => timedOut.push(e));
  return { timedOut };
}
