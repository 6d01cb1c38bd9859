import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  type HedgedEvent,
  type HedgeFailedEvent,
  type HedgeOptions,
  type HedgeSkippedEvent,
  type HedgeWonEvent,
  hedge,
} from '../../src/hedge/index.js';
import { type ExecuteContext, isTimeoutError, pipeline, RetryBudget, timeout } from '../../src/index.js';
import { flushPromises, ManualClock } from '../../src/testing/index.js';
import { type Deferred, deferred, track } from '../helpers/promises.js';

function setup(options: Omit<HedgeOptions, 'clock'>) {
  const clock = new ManualClock();
  const policy = hedge({ clock, ...options });
  const hedged: HedgedEvent[] = [];
  const won: HedgeWonEvent[] = [];
  const failed: HedgeFailedEvent[] = [];
  const skipped: HedgeSkippedEvent[] = [];
  policy.on('hedged', (e) => hedged.push(e));
  policy.on('won', (e) => won.push(e));
  policy.on('failed', (e) => failed.push(e));
  policy.on('skipped', (e) => skipped.push(e));
  const attempts: { ctx: ExecuteContext; work: Deferred<string>; at: number }[] = [];
  const call = (signal?: AbortSignal) =>
    track(
      policy.execute(
        (ctx) => {
          const work = deferred<string>();
          attempts.push({ ctx, work, at: clock.now() });
          return work.promise;
        },
        { signal },
      ),
    );
  return { clock, policy, hedged, won, failed, skipped, attempts, call };
}

describe('hedge: fixed delay', () => {
  it('runs fn once when it settles before the delay, and clears its timer as it settles', async () => {
    const { clock, call, attempts, won, hedged } = setup({ delay: 100 });
    const p = call();
    clock.advance(40);
    attempts[0]!.work.resolve('fast');
    await flushPromises();
    expect(clock.pendingTimers).toBe(0);
    expect(p()).toEqual({ state: 'fulfilled', value: 'fast' });
    expect(attempts).toHaveLength(1);
    expect(hedged).toEqual([]);
    expect(won).toEqual([{ attempt: 0, attempts: 1, duration: 40 }]);
    expect(clock.pendingTimers).toBe(0);
    clock.advance(1_000);
    expect(attempts).toHaveLength(1);
  });

  it("starts a hedge after the delay; the hedge's win aborts the first attempt's signal", async () => {
    const { clock, call, attempts, hedged, won } = setup({ delay: 100 });
    const p = call();
    clock.advance(99);
    expect(attempts).toHaveLength(1);
    clock.advance(1);
    expect(attempts).toHaveLength(2);
    expect(attempts[1]!.at).toBe(100);
    expect(attempts.map((a) => a.ctx.attempt)).toEqual([0, 1]);
    expect(hedged).toEqual([{ attempt: 1, reason: 'delay' }]);
    const first = attempts[0]!.ctx.signal;
    clock.advance(20);
    attempts[1]!.work.resolve('hedge');
    await flushPromises();
    expect(p()).toEqual({ state: 'fulfilled', value: 'hedge' });
    expect(first.aborted).toBe(true);
    expect((first.reason as DOMException).name).toBe('AbortError');
    expect(attempts[1]!.ctx.signal.aborted).toBe(false);
    expect(won).toEqual([{ attempt: 1, attempts: 2, duration: 120 }]);
    attempts[0]!.work.resolve('late'); // dropped
    await flushPromises();
    await flushPromises();
    expect(p()).toEqual({ state: 'fulfilled', value: 'hedge' });
    expect(clock.pendingTimers).toBe(0);
  });

  it('a failure starts the next hedge at once; when all fail the call rejects with the first attempt’s error', async () => {
    const { clock, call, attempts, hedged, failed } = setup({ delay: 100 });
    const p = call();
    clock.advance(10);
    const first = new Error('first');
    attempts[0]!.work.reject(first);
    await flushPromises();
    expect(attempts).toHaveLength(2);
    expect(attempts[1]!.at).toBe(10);
    expect(hedged).toEqual([{ attempt: 1, reason: 'failure' }]);
    const second = new Error('second');
    attempts[1]!.work.reject(second);
    await flushPromises();
    expect(p()).toEqual({ state: 'rejected', value: first });
    expect(failed).toEqual([{ attempts: 2, error: first, errors: [first, second] }]);
    await flushPromises();
    expect(clock.pendingTimers).toBe(0);
  });

  it('rejects with the first attempt’s error even when a hedge failed before it', async () => {
    const { clock, call, attempts } = setup({ delay: 100 });
    const p = call();
    clock.advance(100);
    const second = new Error('second');
    attempts[1]!.work.reject(second);
    await flushPromises();
    expect(p().state).toBe('pending');
    const first = new Error('first');
    attempts[0]!.work.reject(first);
    await flushPromises();
    expect(p()).toEqual({ state: 'rejected', value: first });
  });

  it('never runs more than 1 + maxHedges attempts, each a delay after the last', async () => {
    const { clock, call, attempts } = setup({ delay: 50, maxHedges: 2 });
    const p = call();
    clock.advance(1_000);
    expect(attempts.map((a) => a.at)).toEqual([0, 50, 100]);
    attempts[2]!.work.resolve('third');
    await flushPromises();
    expect(p()).toEqual({ state: 'fulfilled', value: 'third' });
    expect(attempts[0]!.ctx.signal.aborted).toBe(true);
    expect(attempts[1]!.ctx.signal.aborted).toBe(true);
  });

  it('delay 0 starts every attempt at once', async () => {
    const { call, attempts } = setup({ delay: 0, maxHedges: 2 });
    call();
    expect(attempts.map((a) => a.at)).toEqual([0, 0, 0]);
  });

  it("a caller's abort aborts every attempt, rejects at once, and starts no new attempt", async () => {
    const { clock, call, attempts } = setup({ delay: 100, maxHedges: 3 });
    const controller = new AbortController();
    const p = call(controller.signal);
    clock.advance(100);
    const reason = new Error('caller left');
    controller.abort(reason);
    await flushPromises();
    expect(p()).toEqual({ state: 'rejected', value: reason });
    expect(attempts.map((a) => a.ctx.signal.reason)).toEqual([reason, reason]);
    clock.advance(1_000);
    expect(attempts).toHaveLength(2);
    await flushPromises();
    await flushPromises();
    expect(clock.pendingTimers).toBe(0);
  });

  it('a call aborted before it starts runs nothing', async () => {
    const { call, attempts } = setup({ delay: 100 });
    const controller = new AbortController();
    controller.abort(new Error('early'));
    const p = call(controller.signal);
    await flushPromises();
    expect(p().state).toBe('rejected');
    expect(attempts).toHaveLength(0);
  });

  it('an inner timeout on the first attempt does not cancel the hedge', async () => {
    const clock = new ManualClock();
    const policy = pipeline({ clock }, hedge({ delay: 30 }), timeout(50));
    const started: number[] = [];
    let timedOut = false;
    const p = track(
      policy.execute(({ signal }) => {
        const at = clock.now();
        started.push(at);
        return new Promise<string>((resolve, reject) => {
          if (at === 0)
            signal.addEventListener('abort', () => {
              timedOut = isTimeoutError(signal.reason);
              reject(signal.reason);
            });
          else clock.setTimeout(() => resolve('hedge'), 30);
        });
      }),
    );
    await clock.advanceAsync(50);
    expect(started).toEqual([0, 30]);
    expect(timedOut).toBe(true);
    expect(p().state).toBe('pending');
    await clock.advanceAsync(10);
    expect(p()).toEqual({ state: 'fulfilled', value: 'hedge' });
  });

  it('shouldHedge false starts no further attempt: the call settles with those running', async () => {
    const notFound = (n: number) => Object.assign(new Error(`404 from ${n}`), { status: 404 });
    const { clock, call, attempts, hedged } = setup({
      delay: 10,
      maxHedges: 3,
      shouldHedge: (error) => (error as { status?: number }).status !== 404,
    });
    const p = call();
    clock.advance(10);
    attempts[1]!.work.reject(notFound(1));
    await flushPromises();
    expect(p().state).toBe('pending');
    clock.advance(100);
    expect(attempts).toHaveLength(2); // no hedge on failure, nor on time
    const first = notFound(0);
    attempts[0]!.work.reject(first);
    await flushPromises();
    expect(p()).toEqual({ state: 'rejected', value: first });
    expect(hedged).toEqual([{ attempt: 1, reason: 'delay' }]);
  });

  it('shouldHedge false on a lone attempt rejects at once, leaving no timer', async () => {
    const limited = new Error('limited');
    const { clock, call, attempts } = setup({ delay: 10, shouldHedge: (error) => error !== limited });
    const p = call();
    attempts[0]!.work.reject(limited);
    await flushPromises();
    expect(p()).toEqual({ state: 'rejected', value: limited });
    await flushPromises();
    expect(clock.pendingTimers).toBe(0);
    clock.advance(100);
    expect(attempts).toHaveLength(1);
  });

  it('rejects with what shouldHedge throws', async () => {
    const boom = new Error('predicate');
    const { call, attempts } = setup({
      delay: 10,
      shouldHedge: () => {
        throw boom;
      },
    });
    const p = call();
    attempts[0]!.work.reject(new Error('x'));
    await flushPromises();
    expect(p()).toEqual({ state: 'rejected', value: boom });
  });
});

describe('hedge: budget', () => {
  it('skips a hedge the budget refuses, and starts no later one for that call', async () => {
    const budget = new RetryBudget({ ratio: 0, minPerSecond: 0 });
    const { clock, call, attempts, skipped, hedged } = setup({ delay: 10, maxHedges: 2, budget });
    const p = call();
    clock.advance(100);
    expect(attempts).toHaveLength(1);
    expect(hedged).toEqual([]);
    expect(skipped).toEqual([{ attempt: 1, reason: 'budget' }]);
    const error = new Error('only');
    attempts[0]!.work.reject(error);
    await flushPromises();
    expect(p()).toEqual({ state: 'rejected', value: error });
  });

  it('takes hedges from the budget: at ratio 0.5 and no reserve, one call in two is hedged', async () => {
    const { clock, call, attempts } = setup({
      delay: 10,
      budget: new RetryBudget({ ratio: 0.5, minPerSecond: 0 }),
    });
    for (let i = 0; i < 4; i++) call();
    clock.advance(10);
    expect(attempts).toHaveLength(6);
  });
});

describe('hedge: percentile delay', () => {
  it('hedges on time only after minSamples latencies, at their percentile', async () => {
    const { clock, call, attempts, policy } = setup({ delay: { percentile: 0.5, minSamples: 4 } });
    expect(policy.delay).toBeUndefined();
    for (const ms of [10, 20, 30, 40]) {
      const p = call();
      clock.advance(ms);
      attempts.at(-1)!.work.resolve('ok');
      await flushPromises();
      expect(p().state).toBe('fulfilled');
    }
    expect(attempts).toHaveLength(4); // no hedge before the samples were in
    expect(policy.samples).toBe(4);
    expect(policy.delay).toBe(20);
    call();
    clock.advance(20);
    expect(attempts).toHaveLength(6);
    expect(attempts[5]!.at - attempts[4]!.at).toBe(20);
  });

  it('clamps the learned delay to [minDelay, maxDelay] and uses maxDelay before minSamples', async () => {
    const { clock, call, attempts, policy } = setup({
      delay: { percentile: 0.9, minDelay: 15, maxDelay: 25, minSamples: 2, samples: 4 },
    });
    expect(policy.delay).toBe(25);
    for (let i = 0; i < 4; i++) {
      call();
      clock.advance(1);
      attempts.at(-1)!.work.resolve('ok');
      await flushPromises();
    }
    expect(policy.delay).toBe(15);
    expect(policy.samples).toBe(4);
  });

  it('remembers at most `samples` latencies', async () => {
    const { clock, call, attempts, policy } = setup({
      delay: { percentile: 0.5, samples: 3, minSamples: 1 },
    });
    for (const ms of [100, 100, 100, 1, 1, 1]) {
      call();
      clock.advance(ms);
      attempts.at(-1)!.work.resolve('ok');
      await flushPromises();
    }
    expect(policy.samples).toBe(3);
    expect(policy.delay).toBe(1);
  });
});

describe('hedge: options', () => {
  it('reports its kind and defaults', () => {
    const policy = hedge({ delay: 100 });
    expect(policy.kind).toBe('hedge');
    expect(policy.name).toBe('hedge');
    expect(policy.maxHedges).toBe(1);
    expect(policy.fixedDelay).toBe(100);
    expect(policy.budget).toBeUndefined();
  });

  it('never throws synchronously', async () => {
    await expect(hedge({ delay: 1 }).execute(undefined as never)).rejects.toThrow(TypeError);
  });

  it.each([
    [{}, TypeError, /delay must be a number of ms in \[0, 2147483647\], got undefined/],
    [{ delay: -1 }, RangeError, /delay must be a finite number of ms in \[0, /],
    [{ delay: 'fast' }, TypeError, /delay must be an object, got "fast"/],
    [{ delay: { percentile: 1 } }, RangeError, /delay.percentile must be a number in \(0, 1\), got 1/],
    [{ delay: { percentile: '95' } }, TypeError, /delay.percentile must be a number in \(0, 1\), got "95"/],
    [{ delay: { percentile: 0.9, p: 1 } }, TypeError, /hedge delay: unknown option "p"/],
    [
      { delay: { percentile: 0.9, minDelay: 50, maxDelay: 10 } },
      RangeError,
      /delay.maxDelay must be a finite number of ms in \[50, /,
    ],
    [
      { delay: { percentile: 0.9, samples: 0 } },
      RangeError,
      /delay.samples must be an integer in \[1, 100000\], got 0/,
    ],
    [
      { delay: { percentile: 0.9, samples: 10, minSamples: 11 } },
      RangeError,
      /delay.minSamples must be an integer in \[1, 10\], got 11/,
    ],
    [{ delay: 1, maxHedges: 0 }, RangeError, /maxHedges must be an integer in \[1, 100\], got 0/],
    [{ delay: 1, shouldHedge: true }, TypeError, /shouldHedge must be a function, got true/],
    [{ delay: 1, budget: 5 }, TypeError, /budget must be an object, got 5/],
    [{ delay: 1, budget: { ratio: 2 } }, RangeError, /budget.ratio must be a number in \[0, 1\], got 2/],
    [{ delay: 1, hedges: 2 }, TypeError, /hedge: unknown option "hedges"/],
  ])('%o throws a named error', (options, type, message) => {
    expect(() => hedge(options as unknown as HedgeOptions)).toThrow(type);
    expect(() => hedge(options as unknown as HedgeOptions)).toThrow(message);
  });
});

describe('hedge: its one timer on the system clock', () => {
  const refdTimeouts = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

  afterEach(() => {
    vi.useRealTimers();
  });

  it('holds the process open only while a call waits for its hedge, and takes the timer back for the next call', async () => {
    const policy = hedge({ delay: 60_000 });
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
    expect(policy.pending).toBe(0);
  });

  it('a timer left to run out finds nothing due, and a later call is still hedged at its own delay', async () => {
    vi.useFakeTimers();
    const policy = hedge({ delay: 100 });
    const hedged: HedgedEvent[] = [];
    policy.on('hedged', (e) => hedged.push(e));
    await expect(policy.execute(async () => 'fast')).resolves.toBe('fast');
    expect(vi.getTimerCount()).toBe(1); // left to run out, for the next call to take back
    await vi.advanceTimersByTimeAsync(60);
    const started: number[] = [];
    const origin = Date.now();
    const slow = track(
      policy.execute(({ signal, attempt }) => {
        started.push(Date.now() - origin);
        return new Promise<string>((resolve, reject) => {
          if (attempt === 1) setTimeout(() => resolve('hedge'), 5);
          signal.addEventListener('abort', () => reject(signal.reason));
        });
      }),
    );
    // The first call's timer fires at 100 ms with nothing due, and is set again for the second call.
    await vi.advanceTimersByTimeAsync(45);
    expect(started).toEqual([0]);
    expect(hedged).toEqual([]);
    await vi.advanceTimersByTimeAsync(55);
    expect(started).toEqual([0, 100]);
    expect(hedged).toEqual([{ attempt: 1, reason: 'delay' }]);
    await vi.advanceTimersByTimeAsync(5);
    expect(slow()).toEqual({ state: 'fulfilled', value: 'hedge' });
    expect(policy.pending).toBe(0);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(vi.getTimerCount()).toBe(0);
  });
});
