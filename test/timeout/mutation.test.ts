import { describe, expect, it } from 'vitest';
import { type Clock, type ExecuteContext, TimeoutError, timeout } from '../../src/index.js';
import { flushPromises, ManualClock } from '../../src/testing/index.js';
import { track } from '../helpers/promises.js';

/** A function that runs until its signal aborts, then rejects with the signal's reason. */
const untilAborted = ({ signal }: ExecuteContext) =>
  new Promise<never>((_, reject) => {
    signal.addEventListener('abort', () => reject(signal.reason), { once: true });
  });

/**
 * A clock whose reading can be set apart from its timers: `now()` reads `offset + timers.now()`,
 * so the reading can step back, or a timer can fire late (the reading already past its due time).
 */
function skewedClock() {
  const timers = new ManualClock();
  const clock = {
    offset: 0,
    now: () => clock.offset + timers.now(),
    setTimeout: (callback: () => void, ms: number) => timers.setTimeout(callback, ms),
  };
  return { clock: clock as Clock & { offset: number }, timers };
}

describe('timeout: options', () => {
  it('refuses an array, naming both accepted forms', () => {
    expect(() => timeout([] as never)).toThrow(
      'timeout options must be a number of ms or an options object, got an array',
    );
  });

  it('names the policy in the error for an unknown option', () => {
    expect(() => timeout({ ms: 10, stratgy: 'aggressive' } as never)).toThrow(
      /^timeout: unknown option "stratgy"; known options are ms, strategy, name, clock$/,
    );
  });

  it('names the ms option in the error for a bad limit', () => {
    expect(() => timeout({ ms: -1 })).toThrow(/^ms must be a number of ms in \[0, /);
    expect(() => timeout('5' as never)).toThrow(/^timeout options must be a number of ms/);
    expect(() => timeout({ ms: '5' } as never)).toThrow(
      /^ms must be a number of ms >= 0 or Infinity, got "5"$/,
    );
  });
});

describe('timeout: no limit', () => {
  it('turns a synchronous throw of the function into a rejected promise', async () => {
    const error = new Error('sync');
    let calls = 0;
    const call = timeout(Number.POSITIVE_INFINITY).execute(() => {
      calls++;
      throw error;
    });
    expect(call).toBeInstanceOf(Promise);
    await expect(call).rejects.toBe(error);
    expect(calls).toBe(1);
  });
});

describe('timeout: signals', () => {
  it('reads the same signal object every time within one call that has a caller’s signal', async () => {
    const clock = new ManualClock();
    const policy = timeout({ ms: 100, clock });
    const controller = new AbortController();
    const seen: AbortSignal[] = [];
    await policy.execute(
      (ctx) => {
        seen.push(ctx.signal, ctx.signal);
        return 'ok';
      },
      { signal: controller.signal },
    );
    expect(seen[0]).toBe(seen[1]);
  });

  it('a timeout aborts every inner call that was given its context', async () => {
    const clock = new ManualClock();
    const outer = timeout({ ms: 100, clock });
    const inner = timeout({ ms: 1_000, clock });
    const abortedAt: number[] = [];
    const watch = (ctx: ExecuteContext) => {
      ctx.signal.addEventListener('abort', () => abortedAt.push(clock.now()));
      return untilAborted(ctx);
    };
    const call = outer.execute((ctx) => Promise.all([inner.execute(watch, ctx), inner.execute(watch, ctx)]));
    call.catch(() => {});
    await flushPromises();
    clock.advance(100);
    await expect(call).rejects.toBeInstanceOf(TimeoutError);
    expect(abortedAt).toEqual([100, 100]);
  });

  it('a caller abort after the deadline leaves the call with its own TimeoutError, unwrapped', async () => {
    const clock = new ManualClock();
    const policy = timeout({ ms: 100, clock });
    const controller = new AbortController();
    let signal: AbortSignal | undefined;
    let finish!: () => void;
    const call = policy.execute(
      (ctx) => {
        signal = ctx.signal;
        return new Promise<never>((_, reject) => {
          finish = () => reject(ctx.signal.reason);
        });
      },
      { signal: controller.signal },
    );
    const settled = track(call);
    clock.advance(100);
    const reason = signal?.reason;
    expect(reason).toBeInstanceOf(TimeoutError);
    controller.abort(new Error('caller gave up late'));
    finish();
    await flushPromises();
    expect(settled().state).toBe('rejected');
    await expect(call).rejects.toBe(reason); // the very error its signal aborted with
  });
});

describe('timeout: deadlines on an irregular clock', () => {
  it('a timer that fires late expires every call past its deadline and aborts each of their signals', async () => {
    const { clock, timers } = skewedClock();
    const policy = timeout({ ms: 10, clock });
    const aborted: string[] = [];
    const start = (name: string) =>
      policy.execute((ctx) => {
        ctx.signal.addEventListener('abort', () => aborted.push(name));
        return untilAborted(ctx);
      });
    const a = start('a'); // due at 10
    clock.offset = 1;
    const b = start('b'); // due at 11: another deadline, another shared signal
    a.catch(() => {});
    b.catch(() => {});
    clock.offset = 20; // the timer, due at 10, fires when the clock reads 30
    timers.advance(10);
    await expect(a).rejects.toBeInstanceOf(TimeoutError);
    await expect(b).rejects.toBeInstanceOf(TimeoutError);
    expect(aborted.sort()).toEqual(['a', 'b']);
  });

  it('a call started after the clock stepped back times out at its own, earlier deadline', async () => {
    const { clock, timers } = skewedClock();
    const policy = timeout({ ms: 10, strategy: 'aggressive', clock });
    clock.offset = 10;
    const late = track(policy.execute(() => new Promise(() => {}))); // due at 20
    clock.offset = 0; // the clock steps back by 10 ms
    const early = track(policy.execute(() => new Promise(() => {}))); // due at 10
    timers.advance(10);
    await flushPromises();
    expect(early().state).toBe('rejected');
    expect(late().state).toBe('pending');
    timers.advance(10);
    await flushPromises();
    expect(late().state).toBe('rejected');
    expect(timers.pendingTimers).toBe(0);
  });
});
