import { getEventListeners } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import {
  bulkhead,
  CircuitBreaker,
  constant,
  isTimeoutError,
  pipeline,
  retry,
  TimeoutError,
  timeout,
} from '../src/index.js';
import { flushPromises, ManualClock } from '../src/testing/index.js';
import { deferred } from './helpers/promises.js';
import { captureWarnings } from './helpers/warnings.js';

const warnings: Error[] = [];
const onWarning = (warning: Error) => warnings.push(warning);

afterEach(() => {
  process.off('warning', onWarning);
  warnings.length = 0;
});

/** Lets queued microtasks and the warning event (emitted on process.nextTick) run. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('many concurrent calls sharing one caller signal', () => {
  it('hold one abort listener on it between them, print no MaxListenersExceededWarning, and leave none', async () => {
    process.on('warning', onWarning);
    const clock = new ManualClock();
    const shutdown = new AbortController();
    const held = deferred<number>();
    const policies = [
      timeout({ ms: 1_000, clock }),
      pipeline({ clock }, retry({ retries: 1, backoff: constant(10) }), timeout(1_000)),
      bulkhead({ maxConcurrent: 1, maxQueue: 100, clock }),
    ];
    const calls = policies.flatMap((policy) =>
      Array.from({ length: 20 }, () => policy.execute(() => held.promise, { signal: shutdown.signal })),
    );
    await settle();
    expect(getEventListeners(shutdown.signal, 'abort')).toHaveLength(1);
    held.resolve(7);
    expect(await Promise.all(calls)).toEqual(calls.map(() => 7));
    await settle();
    expect(getEventListeners(shutdown.signal, 'abort')).toHaveLength(0);
    expect(clock.pendingTimers).toBe(0);
    expect(warnings.filter((w) => w.name === 'MaxListenersExceededWarning')).toEqual([]);
  });

  it('aborts every one of them when the shared signal aborts', async () => {
    const clock = new ManualClock();
    const shutdown = new AbortController();
    const policy = pipeline({ clock }, bulkhead({ maxConcurrent: 2, maxQueue: 50 }), timeout(1_000));
    const calls = Array.from({ length: 30 }, () =>
      policy.execute(
        ({ signal }) =>
          new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason))),
        {
          signal: shutdown.signal,
        },
      ),
    );
    const reason = new Error('shutting down');
    shutdown.abort(reason);
    const outcomes = await Promise.allSettled(calls);
    expect(outcomes.every((o) => o.status === 'rejected' && o.reason === reason)).toBe(true);
    expect(getEventListeners(shutdown.signal, 'abort')).toHaveLength(0);
    expect(clock.pendingTimers).toBe(0);
  });
});

describe('nested timeouts', () => {
  /** Counts AbortControllers made while `body` runs. */
  async function countControllers(body: () => Promise<unknown>): Promise<number> {
    const Original = globalThis.AbortController;
    let made = 0;
    globalThis.AbortController = class extends Original {
      constructor() {
        super();
        made++;
      }
    };
    try {
      await body();
    } finally {
      globalThis.AbortController = Original;
    }
    return made;
  }

  it('build no signal for a function that never reads one, however deep', async () => {
    const policy = pipeline(timeout(5_000), retry({ retries: 1 }), new CircuitBreaker(), timeout(1_000));
    const made = await countControllers(async () => {
      for (let i = 0; i < 100; i++) await policy.execute(async () => i);
    });
    expect(made).toBe(0);
  });

  it('abort the inner call, and its signal, when the outer timeout fires', async () => {
    const clock = new ManualClock();
    const policy = pipeline({ clock }, timeout(100), timeout(1_000));
    let inner: AbortSignal | undefined;
    const call = policy.execute(({ signal }) => {
      inner = signal;
      return new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason)));
    });
    clock.advance(100);
    const error = await call.catch((e: unknown) => e);
    expect(isTimeoutError(error)).toBe(true);
    expect((error as TimeoutError).timeout).toBe(100);
    expect(inner?.aborted).toBe(true);
    expect(clock.pendingTimers).toBe(0);
  });
});

describe('timeout timer, re-entered from an expiring call', () => {
  it('keeps earlier deadlines when an abort listener starts a new call', async () => {
    const clock = new ManualClock();
    // Aggressive, so that calls whose function never settles still reject at their deadline.
    const policy = timeout({ ms: 100, clock, strategy: 'aggressive' });
    const never = () => new Promise<never>(() => {});
    const a = policy.execute(({ signal }) => {
      signal.addEventListener('abort', () => {
        void policy.execute(never).catch(() => {});
      });
      return never();
    });
    clock.advance(50);
    let bTimedOutAt: number | undefined;
    const b = policy.execute(never).catch((e: unknown) => {
      bTimedOutAt = clock.now();
      return e;
    });
    clock.advance(50); // t = 100: a expires; its listener starts a call due at 200
    await expect(a).rejects.toBeInstanceOf(TimeoutError);
    await clock.advanceAsync(50); // t = 150: b is due
    expect(isTimeoutError(await b)).toBe(true);
    expect(bTimedOutAt).toBe(150);
    await clock.advanceAsync(50);
    expect(clock.pendingTimers).toBe(0);
  });
});

describe('timeout timer, when listeners misbehave', () => {
  it('times the call out even when a timedOut listener throws, which the timer does not rethrow', async () => {
    const warnings = captureWarnings();
    const clock = new ManualClock();
    const policy = timeout({ ms: 100, clock, strategy: 'aggressive' });
    const bug = new Error('listener bug');
    policy.on('timedOut', () => {
      throw bug;
    });
    const call = policy.execute(() => new Promise<never>(() => {}));
    expect(() => clock.advance(100)).not.toThrow();
    await expect(call).rejects.toBeInstanceOf(TimeoutError);
    await flushPromises();
    expect(warnings.map((w) => w.cause)).toEqual([bug]);
    warnings.stop();
  });

  it('expires in one firing only the calls queued before it, so a zero timeout cannot loop forever', async () => {
    // A clock that stands still and fires a timer only when told to.
    const timers: (() => void)[] = [];
    const still = {
      now: () => 0,
      setTimeout(callback: () => void) {
        timers.push(callback);
        return { clear() {} };
      },
    };
    const policy = timeout({ ms: 0, clock: still, strategy: 'aggressive' });
    let started = 0;
    const chain = (): void => {
      void policy
        .execute(({ signal }) => {
          started++;
          signal.addEventListener('abort', () => {
            if (started < 50) chain();
          });
          return new Promise<never>(() => {});
        })
        .catch(() => {});
    };
    chain();
    timers.shift()!(); // one firing: expires the first call, whose listener starts the second
    expect(started).toBe(2);
    expect(timers).toHaveLength(1); // re-armed for the second, not expired in the same firing
    timers.shift()!();
    expect(started).toBe(3);
  });
});

describe('bad execute options', () => {
  it.each([
    ['null', null],
    ['a number', 5],
    ['a signal that is not an AbortSignal', { signal: {} }],
    ['a key that is not a string', { key: 5 }],
  ])('reject with a TypeError for %s, never throw, and leave no timer', async (_label, options) => {
    const clock = new ManualClock();
    for (const policy of [
      new CircuitBreaker({ clock }),
      timeout({ ms: 100, clock }),
      retry(),
      pipeline(timeout(5)),
    ]) {
      let pending: Promise<unknown> | undefined;
      expect(() => {
        pending = policy.execute(async () => 1, options as never);
      }).not.toThrow();
      await expect(pending).rejects.toBeInstanceOf(TypeError);
    }
    expect(clock.pendingTimers).toBe(0);
  });
});
