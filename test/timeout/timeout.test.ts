import { getEventListeners } from 'node:events';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  type ExecuteContext,
  isListenerError,
  isTimeoutError,
  type ListenerError,
  type TimedOutEvent,
  TimeoutError,
  type TimeoutStrategy,
  timeout,
} from '../../src/index.js';
import type { Context } from '../../src/policy.js';
import { flushPromises, ManualClock } from '../../src/testing/index.js';
import { deferred, track } from '../helpers/promises.js';
import { captureWarnings } from '../helpers/warnings.js';

const STRATEGIES: TimeoutStrategy[] = ['cooperative', 'aggressive'];

/** A function that settles only when its signal aborts, rejecting with the reason. */
function hangs({ signal }: ExecuteContext): Promise<never> {
  return new Promise((_, reject) =>
    signal.addEventListener('abort', () => reject(signal.reason), { once: true }),
  );
}

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

  it('shares a signal only among calls of the same caller due in the same ms', async () => {
    const clock = new ManualClock();
    const policy = timeout({ ms: 100, clock });
    const signals: AbortSignal[] = [];
    const read = ({ signal }: ExecuteContext) => signals.push(signal);
    const caller = new AbortController();
    const other = new AbortController();
    await policy.execute(read, { signal: caller.signal });
    await policy.execute(read, { signal: caller.signal });
    await policy.execute(read, { signal: other.signal });
    await policy.execute(read);
    clock.advance(1);
    await policy.execute(read, { signal: caller.signal });
    expect(signals[0]).toBe(signals[1]);
    expect(new Set(signals).size).toBe(4);
    expect(signals).not.toContain(caller.signal);
    expect(signals).not.toContain(other.signal);
  });

  it("a caller's abort aborts the signal its calls share, and only theirs", async () => {
    const clock = new ManualClock();
    const policy = timeout({ ms: 100, clock });
    const caller = new AbortController();
    const other = new AbortController();
    let first!: AbortSignal;
    let otherSignal!: AbortSignal;
    await policy.execute(
      ({ signal }) => {
        first = signal;
      },
      { signal: caller.signal },
    );
    const pending = track(policy.execute(hangs, { signal: caller.signal }));
    await policy.execute(
      ({ signal }) => {
        otherSignal = signal;
      },
      { signal: other.signal },
    );
    const reason = new Error('request closed');
    caller.abort(reason);
    await flushPromises();
    expect(pending()).toEqual({ state: 'rejected', value: reason });
    expect(first.aborted).toBe(true); // settled early, as a shared deadline signal may
    expect(first.reason).toBe(reason);
    expect(otherSignal.aborted).toBe(false);
    expect(clock.pendingTimers).toBe(0);
  });

  it('calls of one caller that share a signal time out together at their deadline, with one error', async () => {
    const clock = new ManualClock();
    const policy = timeout({ ms: 100, clock });
    const caller = new AbortController();
    const a = track(policy.execute(hangs, { signal: caller.signal }));
    const b = track(policy.execute(hangs, { signal: caller.signal }));
    await clock.advanceAsync(99);
    expect(a().state).toBe('pending');
    await clock.advanceAsync(1);
    const ea = (a() as { value: unknown }).value;
    expect(isTimeoutError(ea)).toBe(true);
    expect((b() as { value: unknown }).value).toBe(ea);
    expect(caller.signal.aborted).toBe(false);
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
    ['ms -Infinity', () => timeout(Number.NEGATIVE_INFINITY), RangeError, /ms.*-Infinity/],
    ['ms past the longest timer', () => timeout(2 ** 31), RangeError, /ms.*or Infinity, got 2147483648/],
    ['ms null', () => timeout({ ms: null as never }), TypeError, /ms.*null/],
    ['ms missing', () => timeout({} as never), TypeError, /ms.*undefined/],
    ['ms "5"', () => timeout({ ms: '5' as never }), TypeError, /ms.*"5"/],
    ['options "5"', () => timeout('5' as never), TypeError, /timeout.*"5"/],
    [
      'options "2s" (issue 16)',
      () => timeout('2s' as never),
      TypeError,
      /^timeout options must be a number of ms or an options object, got "2s"$/,
    ],
    ['options null', () => timeout(null as never), TypeError, /number of ms or an options object, got null/],
    ['strategy null', () => timeout({ ms: 5, strategy: null as never }), TypeError, /strategy.*null/],
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

describe('timeout: Infinity, no limit (issue 15 item 1)', () => {
  it.each([
    ['timeout(Infinity)', () => timeout(Number.POSITIVE_INFINITY)],
    ['timeout({ ms: Infinity })', () => timeout({ ms: Number.POSITIVE_INFINITY })],
  ])('%s is accepted', (_name, create) => {
    expect(create().ms).toBe(Number.POSITIVE_INFINITY);
  });

  it.each(STRATEGIES)('%s: sets no timer, never times out, and passes the call through', async (strategy) => {
    const clock = new ManualClock();
    const policy = timeout({ ms: Number.POSITIVE_INFINITY, strategy, clock });
    const { timedOut } = recordTimedOut(policy);
    const work = deferred();
    let seen: ExecuteContext | undefined;
    const p = policy.execute((ctx) => {
      seen = ctx;
      return work.promise;
    });
    const settled = track(p);
    expect(clock.pendingTimers).toBe(0);
    clock.advance(10 * 365 * 24 * 3_600_000);
    await flushPromises();
    expect(settled()).toEqual({ state: 'pending' });
    expect(seen?.signal.aborted).toBe(false);
    work.resolve('done');
    await expect(p).resolves.toBe('done');
    expect(timedOut).toEqual([]);
  });

  it("cooperative: the function gets its caller's signal, and a caller's abort passes through", async () => {
    const policy = timeout(Number.POSITIVE_INFINITY);
    const controller = new AbortController();
    let seen: AbortSignal | undefined;
    const p = policy.execute(
      ({ signal }) =>
        new Promise((_, reject) => {
          seen = signal;
          signal.addEventListener('abort', () => reject(signal.reason), { once: true });
        }),
      { signal: controller.signal },
    );
    expect(seen).toBe(controller.signal);
    const reason = new Error('caller gave up');
    controller.abort(reason);
    await expect(p).rejects.toBe(reason);
  });

  it("aggressive: still rejects at once with the caller's reason when the function ignores the abort", async () => {
    const clock = new ManualClock();
    const policy = timeout({ ms: Number.POSITIVE_INFINITY, strategy: 'aggressive', clock });
    const controller = new AbortController();
    let seen: AbortSignal | undefined;
    const p = policy.execute(
      ({ signal }) => {
        seen = signal;
        return new Promise(() => {});
      },
      { signal: controller.signal },
    );
    const settled = track(p);
    expect(clock.pendingTimers).toBe(0);
    const reason = new Error('stop');
    controller.abort(reason);
    await flushPromises();
    expect(settled()).toEqual({ state: 'rejected', value: reason });
    expect(seen?.aborted).toBe(true);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
  });

  it('passes errors, thrown or rejected, through unchanged', async () => {
    const policy = timeout(Number.POSITIVE_INFINITY);
    const error = new Error('x');
    await expect(
      policy.execute(() => {
        throw error;
      }),
    ).rejects.toBe(error);
    await expect(policy.execute(() => Promise.reject(error))).rejects.toBe(error);
  });
});

describe('timeout: execute(non-function)', () => {
  it.each([
    ['cooperative', 100],
    ['aggressive', 100],
    ['cooperative', Number.POSITIVE_INFINITY],
  ] as const)('%s, ms %s: rejects at once with the TypeError, sets no timer', async (strategy, ms) => {
    const clock = new ManualClock();
    const policy = timeout({ ms, strategy, clock });
    const p = policy.execute(42 as never);
    const settled = track(p);
    await Promise.resolve();
    const outcome = settled();
    expect(outcome.state).toBe('rejected');
    const error = (outcome as { value: unknown }).value;
    expect(error).toBeInstanceOf(TypeError);
    expect((error as Error).message).toBe('execute: fn must be a function, got 42');
    expect(clock.pendingTimers).toBe(0);
  });

  it('rejects with that TypeError before looking at bad options', async () => {
    const policy = timeout(100);
    await expect(policy.execute(null as never, 5 as never)).rejects.toThrow(
      /fn must be a function, got null/,
    );
  });
});

describe('timeout: a throwing timedOut listener (issue 15 item 8)', () => {
  it.each(STRATEGIES)(
    '%s: does not escape the timer, the call settles with its TimeoutError, other listeners still run',
    async (strategy) => {
      const warnings = captureWarnings();
      const clock = new ManualClock();
      const policy = timeout({ ms: 100, strategy, clock });
      const thrown = new Error('listener bug');
      policy.on('timedOut', () => {
        throw thrown;
      });
      const { timedOut } = recordTimedOut(policy);
      const p = policy.execute(
        ({ signal }) =>
          new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason))),
      );
      const settled = track(p);
      expect(() => clock.advance(100)).not.toThrow();
      await flushPromises();
      const outcome = settled();
      expect(outcome.state).toBe('rejected');
      expect((outcome as { value: unknown }).value).toBeInstanceOf(TimeoutError);
      expect(timedOut).toEqual([{ timeout: 100, strategy }]);
      expect(clock.pendingTimers).toBe(0);
      expect(warnings).toHaveLength(1);
      const warning = warnings[0] as ListenerError;
      expect(isListenerError(warning)).toBe(true);
      expect(warning.event).toBe('timedOut');
      expect(warning.policy).toBe('timeout');
      expect(warning.cause).toBe(thrown);
    },
  );

  it('later calls still time out', async () => {
    const warnings = captureWarnings();
    const clock = new ManualClock();
    const policy = timeout({ ms: 10, strategy: 'aggressive', clock });
    policy.on('timedOut', () => {
      throw new Error('again');
    });
    for (let i = 0; i < 3; i++) {
      const p = policy.execute(() => new Promise(() => {}));
      clock.advance(10);
      await expect(p).rejects.toBeInstanceOf(TimeoutError);
    }
    await flushPromises();
    expect(warnings).toHaveLength(3);
  });
});

describe('timeout: shared signals', () => {
  /** What nested policies read to know a call was aborted, without building its signal. */
  const abortedOf = (ctx: ExecuteContext | undefined) => (ctx as Context).aborted;

  /** A call that holds until told, and records its signal and when that signal aborted. */
  function holder(
    policy: ReturnType<typeof timeout>,
    clock: ManualClock,
    options?: { signal?: AbortSignal },
  ) {
    const work = deferred();
    const rec: { signal?: AbortSignal; abortedAt?: number; ctx?: ExecuteContext } = {};
    const p = policy.execute((ctx) => {
      rec.ctx = ctx;
      rec.signal = ctx.signal;
      rec.signal.addEventListener('abort', () => {
        rec.abortedAt = clock.now();
      });
      return work.promise;
    }, options);
    return { ...rec, rec, work, p, settled: track(p) };
  }

  it('calls started in the same ms share one signal, aborted at their deadline and not before', async () => {
    const clock = new ManualClock();
    const policy = timeout({ ms: 1_000, clock });
    const a = holder(policy, clock);
    const b = holder(policy, clock);
    expect(a.rec.signal).toBe(b.rec.signal);
    clock.advance(999);
    expect(a.rec.signal?.aborted).toBe(false);
    clock.advance(1);
    expect(a.rec.abortedAt).toBe(1_000);
    expect(b.rec.abortedAt).toBe(1_000);
    a.work.reject(a.rec.signal?.reason);
    b.work.reject(new Error('other'));
    await flushPromises();
    const ea = (a.settled() as { value: TimeoutError }).value;
    const eb = (b.settled() as { value: TimeoutError }).value;
    expect(ea).toBeInstanceOf(TimeoutError);
    expect(ea.cause).toBeUndefined(); // the signal's own reason is not wrapped again
    expect(eb).toBeInstanceOf(TimeoutError);
    expect((eb.cause as Error).message).toBe('other');
    expect(clock.pendingTimers).toBe(0);
  });

  it('a call that settles early aborts nothing: the others keep running until their deadline', async () => {
    const clock = new ManualClock();
    const policy = timeout({ ms: 1_000, clock });
    const a = holder(policy, clock);
    const b = holder(policy, clock);
    a.work.resolve('a');
    await flushPromises();
    expect(a.settled()).toEqual({ state: 'fulfilled', value: 'a' });
    expect(b.rec.signal?.aborted).toBe(false);
    expect(abortedOf(b.rec.ctx)).toBe(false);
    expect(clock.pendingTimers).toBe(1);
    b.work.resolve('b');
    await flushPromises();
    expect(b.settled()).toEqual({ state: 'fulfilled', value: 'b' });
    expect(clock.pendingTimers).toBe(0);
    clock.advance(5_000);
    expect(b.rec.signal?.aborted).toBe(false);
  });

  it('a call that settled early sees its shared signal abort at its own deadline, not before, if another is still running', async () => {
    const clock = new ManualClock();
    const policy = timeout({ ms: 1_000, clock });
    const a = holder(policy, clock);
    const b = holder(policy, clock);
    a.work.resolve('a');
    await flushPromises();
    clock.advance(999);
    expect(a.rec.signal?.aborted).toBe(false);
    clock.advance(1);
    expect(a.rec.abortedAt).toBe(1_000);
    expect(b.rec.abortedAt).toBe(1_000);
    expect(a.settled()).toEqual({ state: 'fulfilled', value: 'a' }); // its outcome stays
  });

  it("a caller's abort reaches only its own call, not the calls started in the same ms", async () => {
    const clock = new ManualClock();
    const policy = timeout({ ms: 1_000, clock });
    const c1 = new AbortController();
    const c2 = new AbortController();
    const a = holder(policy, clock, { signal: c1.signal });
    const b = holder(policy, clock, { signal: c2.signal });
    const c = holder(policy, clock);
    const d = holder(policy, clock);
    const reason = new Error('a gave up');
    c1.abort(reason);
    expect(a.rec.signal?.aborted).toBe(true);
    expect(a.rec.signal?.reason).toBe(reason);
    for (const other of [b, c, d]) {
      expect(other.rec.signal?.aborted).toBe(false);
      expect(abortedOf(other.rec.ctx)).toBe(false);
    }
    a.work.reject(reason);
    await flushPromises();
    expect(a.settled()).toEqual({ state: 'rejected', value: reason });
    clock.advance(1_000);
    for (const other of [b, c, d]) expect(other.rec.abortedAt).toBe(1_000);
  });

  it('inside an abort listener, every call sharing the signal already reads ctx.aborted', () => {
    const clock = new ManualClock();
    const policy = timeout({ ms: 10, clock });
    const a = holder(policy, clock);
    const b = holder(policy, clock);
    const seen: boolean[] = [];
    a.rec.signal?.addEventListener('abort', () => seen.push(abortedOf(a.rec.ctx), abortedOf(b.rec.ctx)));
    clock.advance(10);
    expect(seen).toEqual([true, true]);
  });

  it('a signal first read after its call settled never aborts', async () => {
    const clock = new ManualClock();
    const policy = timeout({ ms: 100, clock });
    let kept: ExecuteContext | undefined;
    await policy.execute((ctx) => {
      kept = ctx;
      return 'done';
    });
    const other = holder(policy, clock);
    const late = kept!.signal;
    expect(late).not.toBe(other.rec.signal);
    clock.advance(100);
    expect(other.rec.signal?.aborted).toBe(true);
    expect(late.aborted).toBe(false);
  });

  it('a signal first read after its call timed out is already aborted with that call’s error', async () => {
    const clock = new ManualClock();
    const policy = timeout({ ms: 100, strategy: 'aggressive', clock });
    let kept: ExecuteContext | undefined;
    const p = policy.execute((ctx) => {
      kept = ctx;
      return new Promise(() => {});
    });
    clock.advance(100);
    const error = await p.catch((e: unknown) => e);
    expect(kept!.signal.aborted).toBe(true);
    expect(kept!.signal.reason).toBe(error);
  });

  it('calls with different deadlines do not share: fractional start times round up, never down', () => {
    const clock = new ManualClock();
    const policy = timeout({ ms: 10, clock });
    const a = holder(policy, clock); // due at 10
    clock.advance(0.5);
    const b = holder(policy, clock); // due at 10.5, rounded up to 11
    expect(b.rec.signal).not.toBe(a.rec.signal);
    clock.advance(9.5);
    expect(a.rec.abortedAt).toBe(10);
    expect(b.rec.signal?.aborted).toBe(false);
    clock.advance(0.5);
    expect(b.rec.signal?.aborted).toBe(false);
    clock.advance(0.5);
    expect(b.rec.abortedAt).toBe(11);
  });

  it('never aborts a signal before its own call’s deadline, nor leaves a pending call past it (property)', async () => {
    const ms = 10;
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            start: fc.integer({ min: 0, max: 40 }), // quarter ms
            runs: fc.option(fc.integer({ min: 0, max: 60 }), { nil: undefined }), // quarter ms; undefined: never settles
            callerAbort: fc.option(fc.integer({ min: 0, max: 60 }), { nil: undefined }),
          }),
          { minLength: 1, maxLength: 12 },
        ),
        async (specs) => {
          const clock = new ManualClock();
          const policy = timeout({ ms, clock });
          const calls: {
            start: number;
            settleAt?: number;
            abortAt?: number;
            controller?: AbortController;
            h?: ReturnType<typeof holder>;
          }[] = specs
            .map((s) => ({
              start: s.start / 4,
              settleAt: s.runs === undefined ? undefined : (s.start + s.runs) / 4,
              abortAt: s.callerAbort === undefined ? undefined : (s.start + s.callerAbort) / 4,
            }))
            .sort((x, y) => x.start - y.start);
          for (let t = 0; t <= 30; t += 0.25) {
            if (t > 0) clock.advance(0.25);
            for (const c of calls) {
              if (c.start === t) {
                c.controller = c.abortAt === undefined ? undefined : new AbortController();
                c.h = holder(policy, clock, { signal: c.controller?.signal });
              }
              if (c.h !== undefined && c.settleAt === t) c.h.work.resolve('ok');
              if (c.controller !== undefined && c.abortAt === t) c.controller.abort(new Error('caller'));
            }
            await flushPromises();
            for (const c of calls) {
              if (c.h === undefined) continue;
              const { abortedAt } = c.h.rec;
              const callerAborted = c.abortAt !== undefined && c.abortAt <= t;
              // Never before its own deadline, unless its own caller aborted it.
              if (abortedAt !== undefined && !(c.abortAt !== undefined && c.abortAt <= abortedAt))
                expect(abortedAt).toBeGreaterThanOrEqual(c.start + ms);
              // A call still pending a whole ms past its deadline has been aborted.
              const pending = c.settleAt === undefined || c.settleAt > t;
              if (pending && !callerAborted && t >= c.start + ms + 1) expect(abortedAt).toBeDefined();
            }
          }
        },
      ),
      { numRuns: 150 },
    );
  });

  it('many calls listening on one shared signal raise no MaxListenersExceededWarning', async () => {
    const warnings = captureWarnings();
    const clock = new ManualClock();
    const policy = timeout({ ms: 100, clock });
    const calls = Array.from({ length: 50 }, () => holder(policy, clock));
    expect(new Set(calls.map((c) => c.rec.signal)).size).toBe(1);
    for (const c of calls) c.work.resolve('ok');
    await flushPromises();
    expect(warnings).toEqual([]);
  });

  it('an idle policy keeps no timer, and the next ms gets a new signal', async () => {
    const clock = new ManualClock();
    const policy = timeout({ ms: 100, clock });
    const a = holder(policy, clock);
    a.work.resolve('a');
    await flushPromises();
    expect(clock.pendingTimers).toBe(0);
    clock.advance(1);
    const b = holder(policy, clock);
    expect(b.rec.signal).not.toBe(a.rec.signal);
    b.work.resolve('b');
    await flushPromises();
    expect(clock.pendingTimers).toBe(0);
  });
});

describe('timeout: its one timer on the system clock', () => {
  const refdTimeouts = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

  afterEach(() => {
    vi.useRealTimers();
  });

  it('holds the process open only while a call is pending, and takes its timer back for the next call', async () => {
    const policy = timeout(60_000);
    const before = refdTimeouts();
    const first = deferred<string>();
    const pending = policy.execute(() => first.promise);
    expect(refdTimeouts()).toBe(before + 1);
    first.resolve('a');
    await expect(pending).resolves.toBe('a');
    // Left to run out unref'd: nothing holds the process for a call that is over.
    expect(refdTimeouts()).toBe(before);
    const second = deferred<string>();
    const again = policy.execute(() => second.promise);
    expect(refdTimeouts()).toBe(before + 1);
    second.resolve('b');
    await expect(again).resolves.toBe('b');
    expect(refdTimeouts()).toBe(before);
  });

  it('a timer left to run out finds nothing due, and a later call still times out at its own deadline', async () => {
    vi.useFakeTimers();
    const policy = timeout(100);
    let timedOut = 0;
    policy.on('timedOut', () => timedOut++);
    await expect(policy.execute(async () => 'fast')).resolves.toBe('fast');
    expect(vi.getTimerCount()).toBe(1); // left to run out, for the next call to take back
    await vi.advanceTimersByTimeAsync(60);
    let aborted = -1;
    const started = Date.now();
    const slow = track(
      policy.execute(
        ({ signal }) =>
          new Promise((_, reject) =>
            signal.addEventListener('abort', () => {
              aborted = Date.now() - started;
              reject(signal.reason);
            }),
          ),
      ),
    );
    // The first call's timer fires at 100 ms with nothing due, and is set again for the second call.
    await vi.advanceTimersByTimeAsync(45);
    expect(timedOut).toBe(0);
    expect(slow()).toEqual({ state: 'pending' });
    await vi.advanceTimersByTimeAsync(56);
    expect(timedOut).toBe(1);
    expect(aborted).toBeGreaterThanOrEqual(100);
    expect(aborted).toBeLessThanOrEqual(101);
    expect(isTimeoutError((slow() as { value?: unknown }).value)).toBe(true);
    expect(vi.getTimerCount()).toBe(0);
  });
});
