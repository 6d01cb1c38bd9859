import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  type ChaosPolicy,
  type InjectedEvent,
  InjectedFaultError,
  injectBehavior,
  injectFault,
  injectLatency,
  injectOutcome,
  isInjectedFaultError,
} from '../../src/chaos/index.js';
import {
  BreakwaterError,
  isBreakwaterError,
  isListenerError,
  isTimeoutError,
  ListenerError,
  TimeoutError,
} from '../../src/errors.js';
import { pipeline } from '../../src/pipeline/index.js';
import { type ExecuteContext, notAFunction } from '../../src/policy.js';
import { flushPromises, ManualClock, seededRandom } from '../../src/testing/index.js';
import { timeout } from '../../src/timeout/index.js';
import { captureWarnings } from '../helpers/warnings.js';

const CALLS = 10_000;
const MADE_UP = Symbol('made-up');

/** Whether `count` injections out of `n` calls lie within 4 standard deviations of `n * rate`. */
function expectBinomial(count: number, n: number, rate: number): void {
  const sigma = Math.sqrt(n * rate * (1 - rate));
  expect(Math.abs(count - n * rate)).toBeLessThanOrEqual(4 * sigma);
}

/** Records every `injected` event of `policy`. */
function recordInjected(policy: ChaosPolicy<unknown>): InjectedEvent[] {
  const events: InjectedEvent[] = [];
  policy.on('injected', (event) => events.push(event));
  return events;
}

/** Settles every promise and tells which were rejected with an InjectedFaultError. */
async function countFaults(calls: Promise<unknown>[]): Promise<number> {
  const settled = await Promise.allSettled(calls);
  return settled.filter((s) => s.status === 'rejected' && isInjectedFaultError(s.reason)).length;
}

const ok = () => Promise.resolve('real');

describe('injection rate over 10,000 calls', () => {
  const rates = [0.01, 0.05, 0.1, 0.5, 0.9];

  it.each(rates)('injectFault fails a share of calls within 4 sigma of rate %s', async (rate) => {
    const policy = injectFault({ rate, random: seededRandom(1) });
    const fn = vi.fn(ok);
    const calls = Array.from({ length: CALLS }, () => policy.execute(fn));
    const faults = await countFaults(calls);
    expectBinomial(faults, CALLS, rate);
    expect(fn).toHaveBeenCalledTimes(CALLS - faults);
  });

  it.each(rates)('injectOutcome answers a share of calls within 4 sigma of rate %s', async (rate) => {
    const policy = injectOutcome({ rate, outcome: MADE_UP, random: seededRandom(2) });
    const fn = vi.fn(ok);
    const results = await Promise.all(Array.from({ length: CALLS }, () => policy.execute(fn)));
    const madeUp = results.filter((r) => r === MADE_UP).length;
    expectBinomial(madeUp, CALLS, rate);
    expect(results.filter((r) => r === 'real')).toHaveLength(CALLS - madeUp);
    expect(fn).toHaveBeenCalledTimes(CALLS - madeUp);
  });

  it.each(rates)('injectBehavior runs before a share of calls within 4 sigma of rate %s', async (rate) => {
    const behavior = vi.fn();
    const policy = injectBehavior({ rate, behavior, random: seededRandom(3) });
    const fn = vi.fn(ok);
    const results = await Promise.all(Array.from({ length: CALLS }, () => policy.execute(fn)));
    expectBinomial(behavior.mock.calls.length, CALLS, rate);
    expect(results.every((r) => r === 'real')).toBe(true);
    expect(fn).toHaveBeenCalledTimes(CALLS);
  });

  it.each(rates)('injectLatency delays a share of calls within 4 sigma of rate %s', async (rate) => {
    const clock = new ManualClock();
    const policy = injectLatency({ rate, latency: 50, clock, random: seededRandom(4) });
    const fn = vi.fn(ok);
    let settled = 0;
    const calls = Array.from({ length: CALLS }, () => policy.execute(fn).finally(() => settled++));
    await flushPromises();
    const delayed = clock.pendingTimers;
    expectBinomial(delayed, CALLS, rate);
    expect(settled).toBe(CALLS - delayed);
    expect(fn).toHaveBeenCalledTimes(CALLS - delayed);
    clock.advance(50);
    expect(await Promise.all(calls)).toEqual(Array.from({ length: CALLS }, () => 'real'));
    expect(fn).toHaveBeenCalledTimes(CALLS);
    expect(clock.pendingTimers).toBe(0);
  });

  it('holds for several seeds, and the events count the same calls', async () => {
    for (const seed of [11, 12, 13, 14, 15]) {
      const policy = injectFault({ rate: 0.2, random: seededRandom(seed) });
      const events = recordInjected(policy);
      const faults = await countFaults(Array.from({ length: CALLS }, () => policy.execute(ok)));
      expectBinomial(faults, CALLS, 0.2);
      expect(events).toHaveLength(faults);
    }
  });

  it('rate 1 injects into every call and rate 0 into none', async () => {
    const always = injectFault({ rate: 1, random: seededRandom(5) });
    const never = injectFault({ rate: 0, random: seededRandom(5) });
    expect(await countFaults(Array.from({ length: 1_000 }, () => always.execute(ok)))).toBe(1_000);
    expect(await countFaults(Array.from({ length: 1_000 }, () => never.execute(ok)))).toBe(0);
  });

  it('compares random() < rate: a draw equal to the rate is not injected', async () => {
    const fn = vi.fn(ok);
    await expect(injectFault({ rate: 0.5, random: () => 0.5 }).execute(fn)).resolves.toBe('real');
    await expect(injectFault({ rate: 0.5, random: () => 0.4999 }).execute(fn)).rejects.toBeInstanceOf(
      InjectedFaultError,
    );
    expect(fn).toHaveBeenCalledTimes(1);
  });
});

describe('rate as a function of the context', () => {
  it('gets the key given to execute and decides per call', async () => {
    const rate = vi.fn((ctx: ExecuteContext) => (ctx.key?.startsWith('orders:') ? 1 : 0));
    const policy = injectFault({ rate, random: seededRandom(6) });
    await expect(policy.execute(ok, { key: 'orders:1' })).rejects.toBeInstanceOf(InjectedFaultError);
    await expect(policy.execute(ok, { key: 'users:1' })).resolves.toBe('real');
    await expect(policy.execute(ok)).resolves.toBe('real');
    expect(rate.mock.calls.map(([ctx]) => ctx.key)).toEqual(['orders:1', 'users:1', undefined]);
  });

  it('gives each key its own share over 10,000 calls', async () => {
    const policy = injectFault({
      rate: (ctx) => (ctx.key === 'hot' ? 0.3 : 0.02),
      random: seededRandom(7),
    });
    const hot = await countFaults(Array.from({ length: CALLS }, () => policy.execute(ok, { key: 'hot' })));
    const cold = await countFaults(Array.from({ length: CALLS }, () => policy.execute(ok, { key: 'cold' })));
    expectBinomial(hot, CALLS, 0.3);
    expectBinomial(cold, CALLS, 0.02);
  });

  it('rejects the call when the function returns a rate outside [0, 1], naming it and the value', async () => {
    const fn = vi.fn(ok);
    const policy = injectFault({ rate: () => 1.5 });
    await expect(policy.execute(fn)).rejects.toThrow(RangeError);
    await expect(policy.execute(fn)).rejects.toThrow(/rate\(context\).*1\.5/);
    await expect(injectFault({ rate: () => Number.NaN }).execute(fn)).rejects.toThrow(/NaN/);
    expect(fn).not.toHaveBeenCalled();
  });

  it('a rate function that throws rejects the call instead of throwing from execute', async () => {
    const boom = new Error('rate broke');
    const policy = injectFault({
      rate: () => {
        throw boom;
      },
    });
    let result: Promise<unknown> | undefined;
    expect(() => {
      result = policy.execute(ok);
    }).not.toThrow();
    await expect(result).rejects.toBe(boom);
  });
});

describe('enabled', () => {
  it('false never injects and never draws a random number', async () => {
    const random = vi.fn(() => 0);
    const policy = injectFault({ rate: 1, enabled: false, random });
    for (let i = 0; i < 100; i++) await expect(policy.execute(ok)).resolves.toBe('real');
    expect(random).not.toHaveBeenCalled();
  });

  it('a function switches injection on and off, taking effect on the next call', async () => {
    let on = false;
    const enabled = vi.fn(() => on);
    const policy = injectFault({ rate: 1, enabled, random: seededRandom(8) });
    await expect(policy.execute(ok)).resolves.toBe('real');
    on = true;
    await expect(policy.execute(ok)).rejects.toBeInstanceOf(InjectedFaultError);
    await expect(policy.execute(ok)).rejects.toBeInstanceOf(InjectedFaultError);
    on = false;
    await expect(policy.execute(ok)).resolves.toBe('real');
    expect(enabled).toHaveBeenCalledTimes(4);
  });

  it('is read when each call starts: a call already waiting is not affected by a later switch', async () => {
    const clock = new ManualClock();
    let on = true;
    const policy = injectLatency({ rate: 1, latency: 100, enabled: () => on, clock });
    let firstDone = false;
    const first = policy.execute(ok).then((r) => {
      firstDone = true;
      return r;
    });
    on = false;
    await expect(policy.execute(ok)).resolves.toBe('real');
    await flushPromises();
    expect(firstDone).toBe(false);
    clock.advance(100);
    await expect(first).resolves.toBe('real');
  });

  it('the function gets the call context, so a key can be exempted', async () => {
    const policy = injectFault({ rate: 1, enabled: (ctx) => ctx.key !== 'health' });
    await expect(policy.execute(ok, { key: 'health' })).resolves.toBe('real');
    await expect(policy.execute(ok, { key: 'orders' })).rejects.toBeInstanceOf(InjectedFaultError);
  });

  it('can follow an environment variable at run time', async () => {
    vi.stubEnv('BREAKWATER_CHAOS_TEST', 'off');
    try {
      const policy = injectFault({ rate: 1, enabled: () => process.env.BREAKWATER_CHAOS_TEST === 'on' });
      await expect(policy.execute(ok)).resolves.toBe('real');
      vi.stubEnv('BREAKWATER_CHAOS_TEST', 'on');
      await expect(policy.execute(ok)).rejects.toBeInstanceOf(InjectedFaultError);
    } finally {
      vi.unstubAllEnvs();
    }
  });
});

describe('when nothing is injected', () => {
  const idle: [string, () => ChaosPolicy<unknown>][] = [
    ['rate 0', () => injectFault({ rate: 0 })],
    ['enabled false', () => injectLatency({ rate: 1, latency: 1_000, enabled: false })],
    ['enabled() false', () => injectOutcome({ rate: 1, outcome: 1, enabled: () => false })],
    ['rate() 0', () => injectBehavior({ rate: () => 0, behavior: () => {} })],
    ['a draw above the rate', () => injectFault({ rate: 0.5, random: () => 0.75 })],
  ];

  it.each(idle)('%s: returns the function’s own promise, calling it exactly once', async (_, make) => {
    const policy = make();
    const own = Promise.resolve('own');
    const fn = vi.fn((_ctx: ExecuteContext) => own);
    const result = policy.execute(fn, { key: 'k' });
    expect(result).toBe(own);
    expect(fn).toHaveBeenCalledTimes(1);
    expect(fn.mock.calls[0]![0].key).toBe('k');
    await expect(result).resolves.toBe('own');
  });

  it.each(idle)(
    '%s: a synchronous result or throw becomes a promise, and no event is emitted',
    async (_, make) => {
      const policy = make();
      const events = recordInjected(policy);
      await expect(policy.execute(() => 42)).resolves.toBe(42);
      const boom = new Error('sync');
      let result: Promise<unknown> | undefined;
      expect(() => {
        result = policy.execute(() => {
          throw boom;
        });
      }).not.toThrow();
      await expect(result).rejects.toBe(boom);
      expect(events).toEqual([]);
    },
  );

  it('a call whose signal is already aborted is not run: it rejects with the signal’s reason', async () => {
    const reason = new Error('caller gave up');
    const signal = AbortSignal.abort(reason);
    for (const policy of [
      injectFault({ rate: 0 }),
      injectFault({ rate: 1 }),
      injectFault({ rate: 1, enabled: false }),
    ]) {
      const events = recordInjected(policy);
      const fn = vi.fn(ok);
      await expect(policy.execute(fn, { signal })).rejects.toBe(reason);
      expect(fn).not.toHaveBeenCalled();
      expect(events).toEqual([]);
    }
  });
});

describe('injectFault', () => {
  it('rejects with an InjectedFaultError by default, without calling the function', async () => {
    const fn = vi.fn(ok);
    const error = await injectFault({ rate: 1 })
      .execute(fn)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InjectedFaultError);
    expect(error).toBeInstanceOf(BreakwaterError);
    expect(isInjectedFaultError(error)).toBe(true);
    expect(isBreakwaterError(error)).toBe(true);
    expect((error as Error).name).toBe('InjectedFaultError');
    expect((error as Error).message).toBe('Injected fault');
    expect(fn).not.toHaveBeenCalled();
  });

  it('raises a fresh default error for each call', async () => {
    const policy = injectFault({ rate: 1 });
    const a = await policy.execute(ok).catch((e: unknown) => e);
    const b = await policy.execute(ok).catch((e: unknown) => e);
    expect(a).not.toBe(b);
  });

  it('passes the error of a user factory unchanged, giving the factory the context', async () => {
    const reset = Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
    const factory = vi.fn((_ctx: ExecuteContext) => reset);
    const error = await injectFault({ rate: 1, error: factory })
      .execute(ok, { key: 'orders:7' })
      .catch((e: unknown) => e);
    expect(error).toBe(reset);
    expect(isInjectedFaultError(error)).toBe(false);
    expect(factory).toHaveBeenCalledTimes(1);
    expect(factory.mock.calls[0]![0].key).toBe('orders:7');
  });

  it('passes an Error instance given as the option unchanged', async () => {
    const fixed = new TypeError('fixed');
    await expect(injectFault({ rate: 1, error: fixed }).execute(ok)).rejects.toBe(fixed);
  });

  it('a factory that throws rejects the call with what it threw, never throwing from execute', async () => {
    const thrown = new Error('factory broke');
    const policy = injectFault({
      rate: 1,
      error: () => {
        throw thrown;
      },
    });
    let result: Promise<unknown> | undefined;
    expect(() => {
      result = policy.execute(ok);
    }).not.toThrow();
    await expect(result).rejects.toBe(thrown);
  });

  it('emits injected { kind: "fault", error } with the very error the caller gets', async () => {
    const policy = injectFault({ rate: 1 });
    const events = recordInjected(policy);
    const error = await policy.execute(ok).catch((e: unknown) => e);
    expect(events).toEqual([{ kind: 'fault', error }]);
    expect(events[0]!.kind === 'fault' && events[0]!.error).toBe(error);
  });
});

describe('injectLatency', () => {
  it('waits on the clock: not settled before the latency has passed, settled after', async () => {
    const clock = new ManualClock();
    const policy = injectLatency({ rate: 1, latency: 800, clock });
    const fn = vi.fn(ok);
    let settled = false;
    const call = policy.execute(fn).finally(() => {
      settled = true;
    });
    await flushPromises();
    expect(settled).toBe(false);
    expect(fn).not.toHaveBeenCalled();
    expect(clock.pendingTimers).toBe(1);
    await clock.advanceAsync(799);
    expect(settled).toBe(false);
    expect(fn).not.toHaveBeenCalled();
    await clock.advanceAsync(1);
    expect(fn).toHaveBeenCalledTimes(1);
    expect(settled).toBe(true);
    await expect(call).resolves.toBe('real');
    expect(clock.pendingTimers).toBe(0);
  });

  it('is cut short by the call’s signal: rejects with its reason, calls nothing, leaves no timer', async () => {
    const clock = new ManualClock();
    const policy = injectLatency({ rate: 1, latency: 800, clock });
    const fn = vi.fn(ok);
    const controller = new AbortController();
    const call = policy.execute(fn, { signal: controller.signal });
    await clock.advanceAsync(300);
    const reason = new Error('caller gave up');
    controller.abort(reason);
    await expect(call).rejects.toBe(reason);
    expect(clock.pendingTimers).toBe(0);
    await clock.advanceAsync(1_000);
    expect(fn).not.toHaveBeenCalled();
  });

  it('a latency that ran out leaves no listener on the signal', async () => {
    const clock = new ManualClock();
    const controller = new AbortController();
    const add = vi.spyOn(controller.signal, 'addEventListener');
    const remove = vi.spyOn(controller.signal, 'removeEventListener');
    const call = injectLatency({ rate: 1, latency: 10, clock }).execute(ok, { signal: controller.signal });
    clock.advance(10);
    await expect(call).resolves.toBe('real');
    expect(add).toHaveBeenCalledTimes(1);
    expect(remove).toHaveBeenCalledWith('abort', add.mock.calls[0]![1]);
  });

  it('takes a latency per call from a function of the context', async () => {
    const clock = new ManualClock();
    const policy = injectLatency({ rate: 1, latency: (ctx) => (ctx.key === 'slow' ? 500 : 5), clock });
    const events = recordInjected(policy);
    let slowDone = false;
    const slow = policy.execute(ok, { key: 'slow' }).finally(() => {
      slowDone = true;
    });
    const fast = policy.execute(ok, { key: 'fast' });
    await clock.advanceAsync(5);
    await expect(fast).resolves.toBe('real');
    expect(slowDone).toBe(false);
    await clock.advanceAsync(495);
    await expect(slow).resolves.toBe('real');
    expect(events).toEqual([
      { kind: 'latency', latency: 500 },
      { kind: 'latency', latency: 5 },
    ]);
  });

  it('rejects the call when a latency function returns no valid duration', async () => {
    const fn = vi.fn(ok);
    const clock = new ManualClock();
    await expect(injectLatency({ rate: 1, latency: () => -1, clock }).execute(fn)).rejects.toThrow(
      /latency\(context\).*-1/,
    );
    await expect(injectLatency({ rate: 1, latency: () => Number.NaN, clock }).execute(fn)).rejects.toThrow(
      RangeError,
    );
    expect(fn).not.toHaveBeenCalled();
    expect(clock.pendingTimers).toBe(0);
  });

  it('passes the function’s error through after the wait', async () => {
    const clock = new ManualClock();
    const boom = new Error('boom');
    const call = injectLatency({ rate: 1, latency: 20, clock }).execute(() => Promise.reject(boom));
    clock.advance(20);
    await expect(call).rejects.toBe(boom);
  });
});

describe('injectOutcome', () => {
  it('answers null or undefined when given as the outcome: any value is a made-up result', async () => {
    const fn = vi.fn(ok);
    await expect(injectOutcome({ rate: 1, outcome: null }).execute(fn)).resolves.toBeNull();
    await expect(injectOutcome({ rate: 1, outcome: undefined }).execute(fn)).resolves.toBeUndefined();
    expect(fn).not.toHaveBeenCalled();
  });

  it('always calls a function given as the outcome; a function is answered by returning it from one', async () => {
    const handler = vi.fn((_ctx: ExecuteContext) => 'called');
    await expect(injectOutcome({ rate: 1, outcome: handler }).execute(ok)).resolves.toBe('called');
    expect(handler).toHaveBeenCalledTimes(1);
    handler.mockClear();
    await expect(injectOutcome({ rate: 1, outcome: () => handler }).execute(ok)).resolves.toBe(handler);
    expect(handler).not.toHaveBeenCalled();
  });

  it('returns the made-up result without calling the function', async () => {
    const fn = vi.fn(ok);
    const policy = injectOutcome({ rate: 1, outcome: [] as string[] });
    const events = recordInjected(policy);
    await expect(policy.execute(fn)).resolves.toEqual([]);
    expect(fn).not.toHaveBeenCalled();
    expect(events).toEqual([{ kind: 'outcome', outcome: [] }]);
  });

  it('calls an outcome function with the context, and awaits it', async () => {
    const outcome = vi.fn(async (ctx: ExecuteContext) => `cached ${ctx.key}`);
    const policy = injectOutcome({ rate: 1, outcome });
    const events = recordInjected(policy);
    const fn = vi.fn(ok);
    await expect(policy.execute(fn, { key: 'orders:1' })).resolves.toBe('cached orders:1');
    expect(fn).not.toHaveBeenCalled();
    expect(events).toEqual([{ kind: 'outcome', outcome: 'cached orders:1' }]);
  });

  it('an outcome function that fails rejects the call with its error', async () => {
    const boom = new Error('outcome broke');
    const policy = injectOutcome({ rate: 1, outcome: () => Promise.reject(boom) });
    await expect(policy.execute(ok)).rejects.toBe(boom);
  });
});

describe('injectBehavior', () => {
  it('runs the behaviour before the function, with the same context', async () => {
    const order: string[] = [];
    const contexts: ExecuteContext[] = [];
    const policy = injectBehavior({
      rate: 1,
      behavior: (ctx) => {
        order.push('behavior');
        contexts.push(ctx);
      },
    });
    const events = recordInjected(policy);
    const result = await policy.execute(
      (ctx) => {
        order.push('fn');
        contexts.push(ctx);
        return 'real';
      },
      { key: 'k' },
    );
    expect(result).toBe('real');
    expect(order).toEqual(['behavior', 'fn']);
    expect(contexts[0]).toBe(contexts[1]);
    expect(contexts[0]!.key).toBe('k');
    expect(events).toEqual([{ kind: 'behavior' }]);
  });

  it('waits for an asynchronous behaviour before calling through', async () => {
    const clock = new ManualClock();
    const fn = vi.fn(ok);
    const policy = injectBehavior({
      rate: 1,
      behavior: () => new Promise<void>((resolve) => clock.setTimeout(resolve, 100)),
    });
    const call = policy.execute(fn);
    await flushPromises();
    expect(fn).not.toHaveBeenCalled();
    clock.advance(100);
    await expect(call).resolves.toBe('real');
    expect(fn).toHaveBeenCalledTimes(1);
  });

  it('a behaviour that fails rejects the call without calling through', async () => {
    const boom = new Error('behavior broke');
    const fn = vi.fn(ok);
    const policy = injectBehavior({
      rate: 1,
      behavior: () => {
        throw boom;
      },
    });
    await expect(policy.execute(fn)).rejects.toBe(boom);
    expect(fn).not.toHaveBeenCalled();
  });

  it('does not call through when the caller aborted while the behaviour ran', async () => {
    const clock = new ManualClock();
    const controller = new AbortController();
    const fn = vi.fn(ok);
    const policy = injectBehavior({
      rate: 1,
      behavior: () => new Promise<void>((resolve) => clock.setTimeout(resolve, 100)),
    });
    const call = policy.execute(fn, { signal: controller.signal });
    const reason = new Error('gave up');
    controller.abort(reason);
    clock.advance(100);
    await expect(call).rejects.toBe(reason);
    expect(fn).not.toHaveBeenCalled();
  });
});

describe('validation', () => {
  it.each([
    ['rate above 1', () => injectFault({ rate: 1.5 }), RangeError, /rate.*1\.5/],
    ['negative rate', () => injectFault({ rate: -0.1 }), RangeError, /rate.*-0\.1/],
    ['NaN rate', () => injectFault({ rate: Number.NaN }), RangeError, /rate.*NaN/],
    ['string rate', () => injectFault({ rate: '0.5' as never }), TypeError, /rate.*"0\.5"/],
    ['missing rate', () => injectFault({} as never), TypeError, /rate.*undefined/],
    ['string enabled', () => injectFault({ rate: 1, enabled: 'yes' as never }), TypeError, /enabled.*"yes"/],
    ['misspelt option', () => injectFault({ rate: 1, rat: 1 } as never), TypeError, /unknown option "rat"/],
    ['option of another policy', () => injectFault({ rate: 1, latency: 5 } as never), TypeError, /"latency"/],
    [
      'random not a function',
      () => injectFault({ rate: 1, random: 0.5 as never }),
      TypeError,
      /random.*0\.5/,
    ],
    ['clock without now', () => injectFault({ rate: 1, clock: {} as never }), TypeError, /clock/],
    ['options not an object', () => injectFault(null as never), TypeError, /injectFault options.*null/],
    ['error a string', () => injectFault({ rate: 1, error: 'boom' as never }), TypeError, /error.*"boom"/],
    ['negative latency', () => injectLatency({ rate: 1, latency: -5 }), RangeError, /latency.*-5/],
    [
      'infinite latency',
      () => injectLatency({ rate: 1, latency: Number.POSITIVE_INFINITY }),
      RangeError,
      /latency.*Infinity/,
    ],
    ['missing latency', () => injectLatency({ rate: 1 } as never), TypeError, /latency.*undefined/],
    ['missing outcome', () => injectOutcome({ rate: 1 } as never), TypeError, /outcome is required/],
    ['missing behavior', () => injectBehavior({ rate: 1 } as never), TypeError, /behavior.*undefined/],
    [
      'behavior not a function',
      () => injectBehavior({ rate: 1, behavior: 3 as never }),
      TypeError,
      /behavior.*3/,
    ],
    ['null rate', () => injectFault({ rate: null as never }), TypeError, /rate.*null/],
    ['infinite rate', () => injectFault({ rate: Number.POSITIVE_INFINITY }), RangeError, /rate.*Infinity/],
    ['null name', () => injectFault({ rate: 1, name: null as never }), TypeError, /name.*null/],
    ['numeric name', () => injectFault({ rate: 1, name: 7 as never }), TypeError, /name.*7/],
    ['empty name', () => injectFault({ rate: 1, name: '' }), TypeError, /name.*""/],
    ['null enabled', () => injectFault({ rate: 1, enabled: null as never }), TypeError, /enabled.*null/],
    ['numeric enabled', () => injectFault({ rate: 1, enabled: 1 as never }), TypeError, /enabled.*1/],
    ['null random', () => injectFault({ rate: 1, random: null as never }), TypeError, /random.*null/],
    [
      'null clock',
      () => injectLatency({ rate: 1, latency: 1, clock: null as never }),
      TypeError,
      /clock.*null/,
    ],
    ['null error', () => injectFault({ rate: 1, error: null as never }), TypeError, /error.*null/],
    ['null latency', () => injectLatency({ rate: 1, latency: null as never }), TypeError, /latency.*null/],
    ['NaN latency', () => injectLatency({ rate: 1, latency: Number.NaN }), RangeError, /latency.*NaN/],
    ['string latency', () => injectLatency({ rate: 1, latency: '5' as never }), TypeError, /latency.*"5"/],
    [
      'null behavior',
      () => injectBehavior({ rate: 1, behavior: null as never }),
      TypeError,
      /behavior.*null/,
    ],
    ['options an array', () => injectOutcome([] as never), TypeError, /injectOutcome options.*an array/],
  ] as const)('%s throws at construction, naming option and value', (_, make, type, message) => {
    expect(make).toThrow(type);
    expect(make).toThrow(message);
  });
});

describe('seeded random', () => {
  /** The indices of the calls that were injected into, over `n` calls. */
  async function injectedIndices(seed: number, n = 2_000): Promise<number[]> {
    const policy = injectFault({ rate: 0.1, random: seededRandom(seed) });
    const settled = await Promise.allSettled(Array.from({ length: n }, () => policy.execute(ok)));
    return settled.flatMap((s, i) => (s.status === 'rejected' ? [i] : []));
  }

  it('makes two runs with the same seed identical', async () => {
    const a = await injectedIndices(42);
    const b = await injectedIndices(42);
    expect(a.length).toBeGreaterThan(100);
    expect(a).toEqual(b);
  });

  it('a different seed picks different calls', async () => {
    expect(await injectedIndices(42)).not.toEqual(await injectedIndices(43));
  });

  it('draws one number per call, and none when disabled', async () => {
    const random = vi.fn(seededRandom(1));
    let on = true;
    const policy = injectFault({ rate: 0.5, random, enabled: () => on });
    await Promise.allSettled(Array.from({ length: 10 }, () => policy.execute(ok)));
    on = false;
    await Promise.allSettled(Array.from({ length: 10 }, () => policy.execute(ok)));
    expect(random).toHaveBeenCalledTimes(10);
  });
});

describe('inside a pipeline', () => {
  it('adopts the pipeline’s clock and random', async () => {
    const clock = new ManualClock();
    const random = vi.fn(() => 0);
    const latency = injectLatency({ rate: 0.5, latency: 100 });
    const policy = pipeline({ clock, random }, latency);
    let settled = false;
    const call = policy.execute(ok).finally(() => {
      settled = true;
    });
    await flushPromises();
    expect(random).toHaveBeenCalledTimes(1);
    expect(clock.pendingTimers).toBe(1);
    expect(settled).toBe(false);
    await clock.advanceAsync(100);
    await expect(call).resolves.toBe('real');
  });

  it('keeps its own random and clock over the pipeline’s', async () => {
    const own = new ManualClock();
    const theirs = new ManualClock();
    const policy = pipeline(
      { clock: theirs, random: () => 0.99 },
      injectLatency({ rate: 0.5, latency: 10, clock: own, random: () => 0 }),
    );
    const call = policy.execute(ok);
    await flushPromises();
    expect(own.pendingTimers).toBe(1);
    expect(theirs.pendingTimers).toBe(0);
    own.advance(10);
    await expect(call).resolves.toBe('real');
  });

  it('composes: latency beyond a timeout becomes a TimeoutError, faults and outcomes pass through', async () => {
    const clock = new ManualClock();
    const random = seededRandom(9);
    const fn = vi.fn(ok);
    const policy = pipeline(
      { clock, random },
      timeout(500),
      injectLatency({ rate: 1, latency: 800 }),
      injectFault({ rate: 0 }),
    );
    const call = policy.execute(fn);
    const settledCall = call.catch((e: unknown) => e);
    await clock.advanceAsync(500);
    const error = await settledCall;
    expect(isTimeoutError(error)).toBe(true);
    expect(error).toBeInstanceOf(TimeoutError);
    expect(fn).not.toHaveBeenCalled();
    expect(clock.pendingTimers).toBe(0);

    const faulty = pipeline({ clock, random }, timeout(500), injectFault({ rate: 1 }));
    await expect(faulty.execute(fn)).rejects.toBeInstanceOf(InjectedFaultError);
    const canned = pipeline({ clock, random }, timeout(500), injectOutcome({ rate: 1, outcome: 'canned' }));
    await expect(canned.execute(fn)).resolves.toBe('canned');
    expect(fn).not.toHaveBeenCalled();
    expect(clock.pendingTimers).toBe(0);
  });

  it('a seeded chaos pipeline replays the same outcomes', async () => {
    async function run(): Promise<string[]> {
      const clock = new ManualClock();
      const policy = pipeline(
        { clock, random: seededRandom(2024) },
        injectFault({ rate: 0.1 }),
        injectOutcome({ rate: 0.1, outcome: 'canned' }),
      );
      const settled = await Promise.allSettled(Array.from({ length: 1_000 }, () => policy.execute(ok)));
      return settled.map((s) => (s.status === 'fulfilled' ? String(s.value) : 'fault'));
    }
    const first = await run();
    expect(first).toContain('fault');
    expect(first).toContain('canned');
    expect(await run()).toEqual(first);
  });
});

/** One policy of each kind, injecting into every call, with the clock its latency waits on. */
const everyKind = () => {
  const clock = new ManualClock();
  return [
    ['injectFault', 'fault', injectFault({ rate: 1, clock }), clock],
    ['injectLatency', 'latency', injectLatency({ rate: 1, latency: 10, clock }), clock],
    ['injectOutcome', 'outcome', injectOutcome({ rate: 1, outcome: 'canned', clock }), clock],
    ['injectBehavior', 'behavior', injectBehavior({ rate: 1, behavior: () => {}, clock }), clock],
  ] as const;
};

describe('a listener of "injected" that throws', () => {
  let capture: ReturnType<typeof captureWarnings>;
  beforeEach(() => {
    capture = captureWarnings();
  });
  afterEach(() => capture.stop());

  /** Lets the warning, emitted on the next tick, arrive. */
  const nextTick = () => new Promise((resolve) => setImmediate(resolve));

  it.each(everyKind())(
    '%s: changes nothing in the call, and the next listener still runs; the error becomes a ListenerError warning',
    async (_, kind, policy, clock) => {
      const thrown = new Error('listener broke');
      policy.on('injected', () => {
        throw thrown;
      });
      const seen: InjectedEvent[] = [];
      policy.on('injected', (event) => seen.push(event));
      const fn = vi.fn(ok);
      let call: Promise<unknown> | undefined;
      expect(() => {
        call = policy.execute(fn);
      }).not.toThrow();
      const settled = (call as Promise<unknown>).then(
        (value) => ({ value }),
        (error: unknown) => ({ error }),
      );
      await flushPromises();
      clock.advance(10); // the latency's wait
      const outcome = await settled;
      if (kind === 'fault') {
        expect('error' in outcome && isInjectedFaultError(outcome.error)).toBe(true);
        expect(seen).toEqual([{ kind: 'fault', error: (outcome as { error: unknown }).error }]);
      } else if (kind === 'outcome') {
        expect(outcome).toEqual({ value: 'canned' });
        expect(seen).toEqual([{ kind: 'outcome', outcome: 'canned' }]);
      } else {
        expect(outcome).toEqual({ value: 'real' });
        expect(fn).toHaveBeenCalledTimes(1);
        expect(seen).toHaveLength(1);
        expect(seen[0]!.kind).toBe(kind);
      }
      await nextTick();
      expect(capture).toHaveLength(1);
      const warning = capture[0]!;
      expect(warning).toBeInstanceOf(ListenerError);
      expect(isListenerError(warning)).toBe(true);
      expect(isBreakwaterError(warning)).toBe(true);
      expect((warning as ListenerError).event).toBe('injected');
      expect((warning as ListenerError).policy).toBe('chaos');
      expect(warning.cause).toBe(thrown);
    },
  );

  it('names the policy in the warning, and a listener that throws on every call never affects a call', async () => {
    const policy = injectFault({ rate: 0.5, name: 'orders-chaos', random: seededRandom(3) });
    policy.on('injected', () => {
      throw new Error('always');
    });
    const settled = await Promise.allSettled(Array.from({ length: 200 }, () => policy.execute(ok)));
    const faults = settled.filter((s) => s.status === 'rejected');
    expect(faults.every((s) => isInjectedFaultError((s as PromiseRejectedResult).reason))).toBe(true);
    expect(settled.filter((s) => s.status === 'fulfilled' && s.value === 'real')).toHaveLength(
      200 - faults.length,
    );
    await nextTick();
    expect(capture).toHaveLength(faults.length);
    expect(capture.every((w) => (w as ListenerError).policy === 'orders-chaos')).toBe(true);
  });
});

describe('execute with something other than a function', () => {
  it.each(everyKind())(
    '%s: rejects at once with the TypeError of notAFunction, before asking rate, enabled or random',
    async (_, _kind, policy) => {
      const events = recordInjected(policy);
      for (const fn of [undefined, null, 42, 'fn', { call: () => 1 }]) {
        let call: Promise<unknown> | undefined;
        expect(() => {
          call = policy.execute(fn as never);
        }).not.toThrow();
        const error = await (call as Promise<unknown>).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(TypeError);
        expect((error as TypeError).message).toBe(notAFunction(fn).message);
      }
      expect(events).toEqual([]);
    },
  );

  it('is checked before the options, the signal, enabled, rate and random', async () => {
    const rate = vi.fn(() => 1);
    const enabled = vi.fn(() => true);
    const random = vi.fn(() => 0);
    const policy = injectFault({ rate, enabled, random });
    const aborted = AbortSignal.abort(new Error('gave up'));
    await expect(policy.execute(7 as never, { signal: aborted })).rejects.toThrow(notAFunction(7).message);
    await expect(policy.execute(7 as never, 'bad options' as never)).rejects.toThrow(notAFunction(7).message);
    expect(rate).not.toHaveBeenCalled();
    expect(enabled).not.toHaveBeenCalled();
    expect(random).not.toHaveBeenCalled();
  });
});
