import { getEventListeners } from 'node:events';
import { describe, expect, it } from 'vitest';
import {
  type Backoff,
  BrokenCircuitError,
  CircuitBreaker,
  constant,
  type ExecuteContext,
  exponential,
  type GaveUpEvent,
  IsolatedCircuitError,
  isListenerError,
  pipeline,
  type RetriedEvent,
  RetryBudget,
  type RetryOptions,
  type RetryPolicy,
  retry,
} from '../../src/index.js';
import { flushPromises, ManualClock, seededRandom } from '../../src/testing/index.js';
import { track } from '../helpers/promises.js';
import { captureWarnings } from '../helpers/warnings.js';

function record(policy: RetryPolicy) {
  const retried: RetriedEvent[] = [];
  const gaveUp: GaveUpEvent[] = [];
  policy.on('retried', (e) => retried.push(e));
  policy.on('gaveUp', (e) => gaveUp.push(e));
  return { retried, gaveUp };
}

/** A retry on a manual clock, plus a function that fails with a fresh error on each attempt, recording when. */
function setup(options: RetryOptions = {}) {
  const clock = new ManualClock();
  const policy = retry({ clock, ...options });
  const events = record(policy);
  const errors: Error[] = [];
  const times: number[] = [];
  const attempts: number[] = [];
  const alwaysFail = (ctx: ExecuteContext): never => {
    times.push(clock.now());
    attempts.push(ctx.attempt);
    const error = new Error(`attempt ${ctx.attempt}`);
    errors.push(error);
    throw error;
  };
  return { clock, policy, ...events, errors, times, attempts, alwaysFail };
}

/** Runs `promise` to completion on `clock`, which moves at most `limit` ms, and returns how it settled. */
async function settle<T>(
  clock: ManualClock,
  promise: Promise<T>,
  limit = 1_000_000,
): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
  let outcome: { ok: true; value: T } | { ok: false; error: unknown } | undefined;
  promise.then(
    (value) => {
      outcome = { ok: true, value };
    },
    (error: unknown) => {
      outcome = { ok: false, error };
    },
  );
  await clock.advanceAsync(0);
  while (outcome === undefined && clock.now() < limit) await clock.advanceAsync(1);
  if (outcome === undefined) throw new Error('the call did not settle');
  return outcome;
}

describe('retry: attempts', () => {
  it('calls an always-failing function retries + 1 times and rethrows the last error unchanged', async () => {
    const { clock, policy, errors, alwaysFail } = setup({ retries: 4, backoff: constant(10) });
    const outcome = await settle(clock, policy.execute(alwaysFail));
    expect(errors).toHaveLength(5);
    expect(outcome).toEqual({ ok: false, error: errors[4] });
    if (!outcome.ok) expect(outcome.error).toBe(errors[4]);
  });

  it('defaults to 3 retries', async () => {
    const { clock, policy, errors, alwaysFail } = setup({ backoff: constant(0) });
    await settle(clock, policy.execute(alwaysFail));
    expect(errors).toHaveLength(4);
    expect(policy.retries).toBe(3);
  });

  it('with retries: 0 calls once', async () => {
    const { clock, policy, errors, alwaysFail, gaveUp } = setup({ retries: 0 });
    const outcome = await settle(clock, policy.execute(alwaysFail));
    expect(errors).toHaveLength(1);
    expect(outcome.ok).toBe(false);
    expect(gaveUp).toEqual([{ attempts: 1, error: errors[0], reason: 'retries-exhausted' }]);
  });

  it('numbers attempts in ctx.attempt: 0 first, then 1, 2, ...', async () => {
    const { clock, policy, attempts, alwaysFail } = setup({ retries: 3, backoff: constant(5) });
    await settle(clock, policy.execute(alwaysFail));
    expect(attempts).toEqual([0, 1, 2, 3]);
  });

  it('returns the first success and stops retrying', async () => {
    const clock = new ManualClock();
    const policy = retry({ clock, retries: 5, backoff: constant(10) });
    let calls = 0;
    const outcome = await settle(
      clock,
      policy.execute(({ attempt }) => {
        calls++;
        if (attempt < 2) throw new Error('not yet');
        return `ok@${attempt}`;
      }),
    );
    expect(outcome).toEqual({ ok: true, value: 'ok@2' });
    expect(calls).toBe(3);
    expect(clock.pendingTimers).toBe(0);
  });

  it('does not retry or wait when the first attempt succeeds', async () => {
    const clock = new ManualClock();
    const policy = retry({ clock });
    const { retried, gaveUp } = record(policy);
    await expect(policy.execute(() => 42)).resolves.toBe(42);
    expect(retried).toEqual([]);
    expect(gaveUp).toEqual([]);
    expect(clock.pendingTimers).toBe(0);
  });

  it('retries a function that throws synchronously', async () => {
    const { clock, policy, errors, alwaysFail } = setup({ retries: 2, backoff: constant(0) });
    const outcome = await settle(clock, policy.execute(alwaysFail));
    expect(errors).toHaveLength(3);
    expect(outcome).toEqual({ ok: false, error: errors[2] });
  });

  it('passes the caller key to every attempt', async () => {
    const clock = new ManualClock();
    const policy = retry({ clock, retries: 2, backoff: constant(1) });
    const keys: (string | undefined)[] = [];
    await settle(
      clock,
      policy.execute(
        ({ key }) => {
          keys.push(key);
          throw new Error('x');
        },
        { key: 'orders:42' },
      ),
    );
    expect(keys).toEqual(['orders:42', 'orders:42', 'orders:42']);
  });
});

describe('retry: backoff', () => {
  it('constant(ms) waits the same delay before each retry', async () => {
    const { clock, policy, times, retried, errors, alwaysFail } = setup({
      retries: 3,
      backoff: constant(250),
    });
    await settle(clock, policy.execute(alwaysFail));
    expect(times).toEqual([0, 250, 500, 750]);
    expect(retried).toEqual([
      { attempt: 1, delay: 250, error: errors[0] },
      { attempt: 2, delay: 250, error: errors[1] },
      { attempt: 3, delay: 250, error: errors[2] },
    ]);
  });

  it('exponential without jitter grows by factor and is capped at max', async () => {
    const { clock, policy, times, retried, alwaysFail } = setup({
      retries: 5,
      backoff: exponential({ initial: 100, factor: 3, max: 2_000, jitter: 'none' }),
    });
    await settle(clock, policy.execute(alwaysFail));
    expect(retried.map((e) => e.delay)).toEqual([100, 300, 900, 2_000, 2_000]);
    expect(times).toEqual([0, 100, 400, 1_300, 3_300, 5_300]);
  });

  it('exponential defaults: initial 100, factor 2, no jitter', async () => {
    const { clock, policy, retried, alwaysFail } = setup({ retries: 4, backoff: exponential() });
    await settle(clock, policy.execute(alwaysFail));
    expect(retried.map((e) => e.delay)).toEqual([100, 200, 400, 800]);
  });

  it('exponential with full jitter draws uniformly in [0, capped exponential)', async () => {
    const { clock, policy, times, retried, alwaysFail } = setup({
      retries: 5,
      backoff: exponential({ initial: 100, factor: 2, max: 1_000, jitter: 'full' }),
      random: seededRandom(7),
    });
    await settle(clock, policy.execute(alwaysFail));
    const draws = seededRandom(7);
    const expected = [1, 2, 3, 4, 5].map((n) => draws() * Math.min(1_000, 100 * 2 ** (n - 1)));
    expect(retried.map((e) => e.delay)).toEqual(expected);
    let t = 0;
    for (let i = 0; i < expected.length; i++) {
      t += expected[i]!;
      expect(times[i + 1]).toBeCloseTo(t, 9);
    }
    for (const [i, d] of expected.entries()) {
      expect(d).toBeGreaterThanOrEqual(0);
      expect(d).toBeLessThan(Math.min(1_000, 100 * 2 ** i));
    }
  });

  it('exponential with decorrelated jitter draws in [initial, 3 * previous), starting from initial', async () => {
    const { clock, policy, times, retried, alwaysFail } = setup({
      retries: 6,
      backoff: exponential({ initial: 100, max: 2_000, jitter: 'decorrelated' }),
      random: seededRandom(11),
    });
    await settle(clock, policy.execute(alwaysFail));
    const draws = seededRandom(11);
    const expected: number[] = [];
    let previous = 100; // AWS: sleep = base before the first retry
    for (let n = 0; n < 6; n++) {
      previous = Math.min(2_000, 100 + draws() * (previous * 3 - 100));
      expected.push(previous);
    }
    expect(retried.map((e) => e.delay)).toEqual(expected);
    let t = 0;
    for (let i = 0; i < expected.length; i++) {
      t += expected[i]!;
      expect(times[i + 1]).toBeCloseTo(t, 9);
    }
    for (const d of expected) {
      expect(d).toBeGreaterThanOrEqual(100);
      expect(d).toBeLessThanOrEqual(2_000);
    }
  });

  it('decorrelated jitter spreads the first retry of clients that failed together', () => {
    const backoff = exponential({ initial: 100, max: 10_000, jitter: 'decorrelated' });
    const random = seededRandom(3);
    const first = new Set(Array.from({ length: 20 }, () => backoff(1, new Error(), 0, random)));
    expect(first.size).toBe(20);
    for (const d of first) {
      expect(d).toBeGreaterThanOrEqual(100);
      expect(d).toBeLessThan(300);
    }
  });

  it('a function backoff receives (attempt, error) and sets the delay', async () => {
    const calls: [number, unknown][] = [];
    const backoff = (attempt: number, error: unknown) => {
      calls.push([attempt, error]);
      return attempt * 1_000 + 7;
    };
    const { clock, policy, times, errors, alwaysFail } = setup({ retries: 3, backoff });
    await settle(clock, policy.execute(alwaysFail));
    expect(calls).toEqual([
      [1, errors[0]],
      [2, errors[1]],
      [3, errors[2]],
    ]);
    expect(calls[0]![1]).toBe(errors[0]);
    expect(times).toEqual([0, 1_007, 3_014, 6_021]);
  });

  it('a backoff that returns a negative, NaN or infinite delay is a RangeError', async () => {
    for (const bad of [-1, Number.NaN, Number.POSITIVE_INFINITY]) {
      const { clock, policy, alwaysFail } = setup({ retries: 1, backoff: () => bad });
      const outcome = await settle(clock, policy.execute(alwaysFail));
      expect(outcome.ok).toBe(false);
      if (!outcome.ok) {
        expect(outcome.error).toBeInstanceOf(RangeError);
        expect(String(outcome.error)).toContain(String(bad));
      }
    }
  });

  it('waits zero ms without setting a timer', async () => {
    const { clock, policy, errors, alwaysFail } = setup({ retries: 3, backoff: constant(0) });
    const p = policy.execute(alwaysFail);
    const settled = track(p);
    await flushPromises();
    expect(clock.pendingTimers).toBe(0);
    expect(settled()).toEqual({ state: 'rejected', value: errors[3] });
    expect(clock.now()).toBe(0);
  });
});

describe('retry: shouldRetry', () => {
  it('receives (error, attempt of the failure) and stops retrying when it returns false', async () => {
    const seen: [unknown, number][] = [];
    const { clock, policy, errors, gaveUp, alwaysFail } = setup({
      retries: 10,
      backoff: constant(1),
      shouldRetry: (error, attempt) => {
        seen.push([error, attempt]);
        return attempt < 2;
      },
    });
    const outcome = await settle(clock, policy.execute(alwaysFail));
    expect(errors).toHaveLength(3);
    expect(seen).toEqual([
      [errors[0], 0],
      [errors[1], 1],
      [errors[2], 2],
    ]);
    expect(outcome).toEqual({ ok: false, error: errors[2] });
    expect(gaveUp).toEqual([{ attempts: 3, error: errors[2], reason: 'not-retryable' }]);
  });

  it('is asked about every failure, the last one too', async () => {
    let asked = 0;
    const { clock, policy, alwaysFail, gaveUp } = setup({
      retries: 2,
      backoff: constant(0),
      shouldRetry: () => {
        asked++;
        return true;
      },
    });
    await settle(clock, policy.execute(alwaysFail));
    expect(asked).toBe(3);
    expect(gaveUp.map((e) => e.reason)).toEqual(['retries-exhausted']);
  });

  it('an error it refuses on the last allowed attempt gives up as not-retryable, not retries-exhausted', async () => {
    const fatal = new Error('fatal');
    let calls = 0;
    const { clock, policy, gaveUp } = setup({
      retries: 2,
      backoff: constant(0),
      shouldRetry: (error) => error !== fatal,
    });
    const outcome = await settle(
      clock,
      policy.execute(() => {
        calls++;
        throw calls === 3 ? fatal : new Error('transient');
      }),
    );
    expect(outcome).toEqual({ ok: false, error: fatal });
    expect(calls).toBe(3);
    expect(gaveUp).toEqual([{ attempts: 3, error: fatal, reason: 'not-retryable' }]);
  });
});

describe('retry: maxElapsed', () => {
  it('gives up, without waiting, when the next delay would end past maxElapsed', async () => {
    const { clock, policy, times, gaveUp, errors, alwaysFail } = setup({
      retries: 10,
      backoff: constant(400),
      maxElapsed: 1_000,
    });
    const outcome = await settle(clock, policy.execute(alwaysFail));
    expect(times).toEqual([0, 400, 800]);
    expect(outcome).toEqual({ ok: false, error: errors[2] });
    expect(gaveUp).toEqual([{ attempts: 3, error: errors[2], reason: 'max-elapsed' }]);
    expect(clock.pendingTimers).toBe(0);
  });

  it('a delay that ends exactly at maxElapsed is allowed', async () => {
    const { clock, policy, times, alwaysFail } = setup({
      retries: 10,
      backoff: constant(500),
      maxElapsed: 1_000,
    });
    await settle(clock, policy.execute(alwaysFail));
    expect(times).toEqual([0, 500, 1_000]);
  });

  it('counts from the start of the first attempt, including time spent in the attempts', async () => {
    const clock = new ManualClock(5_000);
    const policy = retry({ clock, retries: 10, backoff: constant(200), maxElapsed: 1_000 });
    const { gaveUp } = record(policy);
    const starts: number[] = [];
    const slowFailure = () =>
      new Promise<never>((_, reject) => {
        starts.push(clock.now());
        clock.setTimeout(() => reject(new Error('slow failure')), 450);
      });
    const outcome = await settle(clock, policy.execute(slowFailure), 100_000);
    // 0: fails at 450, waits to 650; 650: fails at 1100, and 1100 + 200 > 1000 from the start.
    expect(starts).toEqual([5_000, 5_650]);
    expect(outcome.ok).toBe(false);
    expect(gaveUp[0]?.reason).toBe('max-elapsed');
    expect(clock.now() - 5_000).toBeLessThanOrEqual(1_100 + 1);
  });

  it('gives up when a retryAfter alone would pass maxElapsed', async () => {
    const clock = new ManualClock();
    const policy = retry({
      clock,
      retries: 5,
      backoff: constant(10),
      maxElapsed: 1_000,
      maxRetryAfter: Number.POSITIVE_INFINITY,
    });
    const { gaveUp } = record(policy);
    const error = Object.assign(new Error('429'), { retryAfter: 5_000 });
    const outcome = await settle(
      clock,
      policy.execute(() => {
        throw error;
      }),
    );
    expect(outcome).toEqual({ ok: false, error });
    expect(gaveUp).toEqual([{ attempts: 1, error, reason: 'max-elapsed' }]);
    expect(clock.now()).toBe(0);
  });
});

describe('retry: retryAfter', () => {
  it('a retryAfter longer than the backoff sets the delay', async () => {
    const { clock, policy, retried } = setup({ retries: 1, backoff: constant(100), maxRetryAfter: 3_000 });
    const error = Object.assign(new Error('429'), { retryAfter: 3_000 });
    const times: number[] = [];
    await settle(
      clock,
      policy.execute(() => {
        times.push(clock.now());
        throw error;
      }),
    );
    expect(retried).toEqual([{ attempt: 1, delay: 3_000, error }]);
    expect(times).toEqual([0, 3_000]);
  });

  it('a retryAfter shorter than the backoff leaves the backoff delay', async () => {
    const { clock, policy, retried } = setup({ retries: 1, backoff: constant(100) });
    const error = Object.assign(new Error('429'), { retryAfter: 30 });
    await settle(
      clock,
      policy.execute(() => {
        throw error;
      }),
    );
    expect(retried.map((e) => e.delay)).toEqual([100]);
  });

  it('by default waits out a retryAfter of up to 1 s', async () => {
    const { clock, policy, retried } = setup({ retries: 1, backoff: constant(100) });
    const error = Object.assign(new Error('429'), { retryAfter: 1_000 });
    await settle(
      clock,
      policy.execute(() => {
        throw error;
      }),
    );
    expect(retried.map((e) => e.delay)).toEqual([1_000]);
  });

  it('by default gives up at once, as retry-after-too-long, on a retryAfter over 1 s', async () => {
    const { clock, policy, retried, gaveUp } = setup({ retries: 3, backoff: constant(100) });
    const error = new BrokenCircuitError('db', 1_001);
    let calls = 0;
    const outcome = await settle(
      clock,
      policy.execute(() => {
        calls++;
        throw error;
      }),
    );
    expect(outcome).toEqual({ ok: false, error });
    expect(calls).toBe(1);
    expect(clock.now()).toBe(0);
    expect(retried).toEqual([]);
    expect(gaveUp).toEqual([{ attempts: 1, error, reason: 'retry-after-too-long' }]);
  });

  it('with maxRetryAfter Infinity, gives up on a retryAfter beyond what a timer can wait', async () => {
    const { clock, policy, gaveUp } = setup({
      retries: 3,
      backoff: constant(100),
      maxRetryAfter: Number.POSITIVE_INFINITY,
    });
    const error = Object.assign(new Error('429'), { retryAfter: 1e12 });
    await settle(
      clock,
      policy.execute(() => {
        throw error;
      }),
    );
    expect(gaveUp.map((e) => e.reason)).toEqual(['retry-after-too-long']);
    expect(clock.pendingTimers).toBe(0);
  });

  it("honours a BrokenCircuitError's retryAfter", async () => {
    const { clock, policy, retried } = setup({ retries: 1, backoff: constant(100), maxRetryAfter: 2_500 });
    const error = new BrokenCircuitError('db', 2_500);
    await settle(
      clock,
      policy.execute(() => {
        throw error;
      }),
    );
    expect(retried).toEqual([{ attempt: 1, delay: 2_500, error }]);
  });

  it('waits for an open breaker inside it to admit a probe, then succeeds', async () => {
    const clock = new ManualClock();
    const breaker = new CircuitBreaker({ clock, failureThreshold: 1, openTimeout: 2_000 });
    const policy = retry({
      clock,
      retries: 3,
      backoff: constant(10),
      maxRetryAfter: Number.POSITIVE_INFINITY,
    });
    const { retried } = record(policy);
    const both = pipeline(policy, breaker);
    const runs: number[] = [];
    const outcome = await settle(
      clock,
      both.execute(() => {
        runs.push(clock.now());
        if (runs.length === 1) throw new Error('down');
        return 'up';
      }),
    );
    expect(outcome).toEqual({ ok: true, value: 'up' });
    // Failure at 0 opens the breaker; retry 1 at 10 is rejected with retryAfter 1990; retry 2 at 2000 probes.
    expect(runs).toEqual([0, 2_000]);
    expect(retried.map((e) => e.delay)).toEqual([10, 1_990]);
    expect(retried[1]?.error).toBeInstanceOf(BrokenCircuitError);
  });

  it('never retries an IsolatedCircuitError (retryAfter Infinity)', async () => {
    const { clock, policy, retried, gaveUp } = setup({ retries: 5, backoff: constant(1) });
    const error = new IsolatedCircuitError('db');
    let calls = 0;
    const outcome = await settle(
      clock,
      policy.execute(() => {
        calls++;
        throw error;
      }),
    );
    expect(calls).toBe(1);
    expect(outcome).toEqual({ ok: false, error });
    expect(retried).toEqual([]);
    expect(gaveUp).toEqual([{ attempts: 1, error, reason: 'not-retryable' }]);
  });

  it('ignores a retryAfter that is not a positive number', async () => {
    const { clock, policy, retried } = setup({ retries: 2, backoff: constant(50) });
    let n = 0;
    const odd = [{ retryAfter: '9000' }, { retryAfter: -5 }, { retryAfter: null }];
    await settle(
      clock,
      policy.execute(() => {
        throw odd[n++];
      }),
    );
    expect(retried.map((e) => e.delay)).toEqual([50, 50]);
  });
});

describe('retry: abort', () => {
  it.each([0, 10])(
    'with a delay of %d ms, an abort from a retried listener stops the next attempt from starting',
    async (ms) => {
      const { clock, policy, errors, alwaysFail } = setup({ retries: 5, backoff: constant(ms) });
      const controller = new AbortController();
      const reason = new Error('enough');
      policy.on('retried', () => controller.abort(reason));
      const outcome = await settle(clock, policy.execute(alwaysFail, { signal: controller.signal }));
      expect(outcome).toEqual({ ok: false, error: reason });
      expect(errors).toHaveLength(1);
      expect(clock.pendingTimers).toBe(0);
    },
  );

  it('an abort during the delay gives the budget its retry back', async () => {
    const clock = new ManualClock();
    const budget = new RetryBudget({ ratio: 0, minPerSecond: 1, ttl: 1_000, clock });
    const policy = retry({ clock, retries: 5, backoff: constant(100), budget });
    expect(budget.available).toBe(1);
    const controller = new AbortController();
    const p = policy.execute(
      () => {
        throw new Error('down');
      },
      { signal: controller.signal },
    );
    await flushPromises();
    expect(budget.available).toBe(0); // taken for the retry that waits
    controller.abort(new Error('gone'));
    await expect(p).rejects.toThrow('gone');
    expect(budget.available).toBe(1);
  });

  it('aborting during a backoff delay rejects at once with signal.reason and leaves no timer or listener', async () => {
    const { clock, policy, errors, alwaysFail } = setup({ retries: 5, backoff: constant(10_000) });
    const controller = new AbortController();
    const p = policy.execute(alwaysFail, { signal: controller.signal });
    const settled = track(p);
    await flushPromises();
    expect(errors).toHaveLength(1);
    expect(clock.pendingTimers).toBe(1);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(1);
    const reason = new Error('caller gave up');
    controller.abort(reason);
    await flushPromises();
    expect(settled()).toEqual({ state: 'rejected', value: reason });
    await expect(p).rejects.toBe(reason);
    expect(clock.pendingTimers).toBe(0);
    expect(clock.now()).toBe(0);
    expect(errors).toHaveLength(1);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
  });

  it('stops retrying when the signal aborts during an attempt', async () => {
    const clock = new ManualClock();
    const policy = retry({ clock, retries: 5, backoff: constant(10) });
    const controller = new AbortController();
    const reason = new Error('stop');
    let calls = 0;
    const p = policy.execute(
      ({ signal }) =>
        new Promise<never>((_, reject) => {
          calls++;
          signal.addEventListener('abort', () => reject(new Error('aborted inside')), { once: true });
        }),
      { signal: controller.signal },
    );
    await flushPromises();
    controller.abort(reason);
    await expect(p).rejects.toBe(reason);
    expect(calls).toBe(1);
    expect(clock.pendingTimers).toBe(0);
  });

  it('does not run a call whose signal was aborted before it started', async () => {
    const clock = new ManualClock();
    const policy = retry({ clock });
    const controller = new AbortController();
    const reason = new Error('already');
    controller.abort(reason);
    let calls = 0;
    await expect(
      policy.execute(
        () => {
          calls++;
          return 1;
        },
        { signal: controller.signal },
      ),
    ).rejects.toBe(reason);
    expect(calls).toBe(0);
  });
});

describe('retry: budget', () => {
  it('a RetryBudget shared by two retry policies limits their retries together', async () => {
    const clock = new ManualClock();
    const budget = new RetryBudget({ ratio: 0.5, minPerSecond: 0, clock });
    const a = retry({ clock, budget, retries: 10, backoff: constant(0) });
    const b = retry({ clock, budget, retries: 10, backoff: constant(0) });
    expect(a.budget).toBe(budget);
    expect(b.budget).toBe(budget);
    // Four first attempts through `a` earn 0.5 * 4 = 2 retries.
    for (let i = 0; i < 3; i++) await a.execute(() => 'ok');
    expect(budget.available).toBe(1);
    await a.execute(() => 'ok');
    expect(budget.available).toBe(2);
    // `b`'s failing call is a fifth first attempt (2.5 retries): it may retry twice, not ten times.
    const { gaveUp } = record(b);
    let calls = 0;
    const error = new Error('down');
    await expect(
      b.execute(() => {
        calls++;
        throw error;
      }),
    ).rejects.toBe(error);
    expect(calls).toBe(3);
    expect(gaveUp).toEqual([{ attempts: 3, error, reason: 'budget-exhausted' }]);
    expect(budget.available).toBe(0);
    // `a` finds the shared budget spent: only the half retry its own first attempt adds (3 - 2) is left.
    let aCalls = 0;
    await expect(
      a.execute(() => {
        aCalls++;
        throw error;
      }),
    ).rejects.toBe(error);
    expect(aCalls).toBe(2);
    expect(budget.available).toBe(0);
  });

  it('ratio bounds retries under a total outage', async () => {
    const clock = new ManualClock();
    const budget = new RetryBudget({ ratio: 0.2, minPerSecond: 0, clock });
    const policy = retry({ clock, budget, retries: 3, backoff: constant(0) });
    let firsts = 0;
    let retries = 0;
    for (let i = 0; i < 100; i++) {
      await policy
        .execute(({ attempt }) => {
          if (attempt === 0) firsts++;
          else retries++;
          throw new Error('outage');
        })
        .catch(() => {});
    }
    expect(firsts).toBe(100);
    expect(retries).toBe(20);
  });

  it('minPerSecond lets low traffic retry whatever the ratio, up to minPerSecond * ttl', async () => {
    const clock = new ManualClock();
    const budget = new RetryBudget({ ratio: 0, minPerSecond: 2, ttl: 2_000, clock });
    expect(budget.available).toBe(4);
    const policy = retry({ clock, budget, retries: 10, backoff: constant(0) });
    let calls = 0;
    await policy
      .execute(() => {
        calls++;
        throw new Error('x');
      })
      .catch(() => {});
    expect(calls).toBe(5);
    expect(budget.available).toBe(0);
  });

  it('refills as time passes: retries older than ttl no longer count', async () => {
    const clock = new ManualClock();
    const budget = new RetryBudget({ ratio: 0, minPerSecond: 1, ttl: 3_000, clock });
    const policy = retry({ clock, budget, retries: 10, backoff: constant(0) });
    const failingCall = async () => {
      let calls = 0;
      await policy
        .execute(() => {
          calls++;
          throw new Error('x');
        })
        .catch(() => {});
      return calls;
    };
    expect(await failingCall()).toBe(4);
    expect(await failingCall()).toBe(1);
    clock.advance(1_000);
    expect(budget.available).toBe(0);
    clock.advance(2_000);
    expect(budget.available).toBe(3);
    expect(await failingCall()).toBe(4);
  });

  it('takes budget options and builds its own budget on the policy clock', async () => {
    const clock = new ManualClock();
    const policy = retry({ clock, budget: { ratio: 0, minPerSecond: 1, ttl: 1_000 }, backoff: constant(0) });
    expect(policy.budget).toBeInstanceOf(RetryBudget);
    expect(policy.budget?.available).toBe(1);
    await policy
      .execute(() => {
        throw new Error('x');
      })
      .catch(() => {});
    expect(policy.budget?.available).toBe(0);
    clock.advance(1_000);
    expect(policy.budget?.available).toBe(1);
  });

  it('a shared budget given no clock counts time on the clock of the retry it is given to', () => {
    const clock = new ManualClock(1_000_000);
    const budget = new RetryBudget({ ratio: 0, minPerSecond: 1, ttl: 1_000 });
    retry({ clock, budget });
    expect(budget.tryWithdraw()).toBe(true);
    expect(budget.tryWithdraw()).toBe(false);
    clock.advance(1_000);
    expect(budget.tryWithdraw()).toBe(true);
  });

  it('a budget given no clock takes the clock a pipeline hands it', () => {
    const clock = new ManualClock(500_000);
    const budget = new RetryBudget({ ratio: 0, minPerSecond: 1, ttl: 1_000 });
    pipeline({ clock }, retry({ budget }));
    expect(budget.tryWithdraw()).toBe(true);
    expect(budget.available).toBe(0);
    clock.advance(1_000);
    expect(budget.available).toBe(1);
  });

  it("keeps a budget's own clock", () => {
    const own = new ManualClock();
    const other = new ManualClock();
    const budget = new RetryBudget({ ratio: 0, minPerSecond: 1, ttl: 1_000, clock: own });
    retry({ clock: other, budget });
    expect(budget.tryWithdraw()).toBe(true);
    other.advance(5_000);
    expect(budget.available).toBe(0);
    own.advance(1_000);
    expect(budget.available).toBe(1);
  });

  it('has the documented defaults', () => {
    const budget = new RetryBudget({ clock: new ManualClock() });
    expect([budget.ratio, budget.minPerSecond, budget.ttl]).toEqual([0.2, 10, 10_000]);
    expect(budget.available).toBe(100);
  });
});

describe('retry: events', () => {
  it('emits retried {attempt, delay, error} before each retry and gaveUp {attempts, error, reason} at the end', async () => {
    const { clock, policy, retried, gaveUp, errors, alwaysFail } = setup({
      retries: 2,
      backoff: (attempt) => attempt * 10,
    });
    const order: string[] = [];
    policy.on('retried', (e) => order.push(`retried ${e.attempt} at ${clock.now()}`));
    policy.on('gaveUp', (e) => order.push(`gaveUp ${e.attempts} at ${clock.now()}`));
    await settle(clock, policy.execute(alwaysFail));
    expect(retried).toEqual([
      { attempt: 1, delay: 10, error: errors[0] },
      { attempt: 2, delay: 20, error: errors[1] },
    ]);
    expect(retried[0]?.error).toBe(errors[0]);
    expect(gaveUp).toEqual([{ attempts: 3, error: errors[2], reason: 'retries-exhausted' }]);
    expect(gaveUp[0]?.error).toBe(errors[2]);
    expect(order).toEqual(['retried 1 at 0', 'retried 2 at 10', 'gaveUp 3 at 30']);
  });
});

describe('retry: validation', () => {
  const cases: [string, () => unknown, ErrorConstructor, RegExp][] = [
    ['retries -1', () => retry({ retries: -1 }), RangeError, /retries.*-1/],
    ['retries 1.5', () => retry({ retries: 1.5 }), RangeError, /retries.*1\.5/],
    ['retries "3"', () => retry({ retries: '3' as never }), TypeError, /retries.*"3"/],
    ['backoff 100', () => retry({ backoff: 100 as never }), TypeError, /backoff.*100/],
    ['shouldRetry true', () => retry({ shouldRetry: true as never }), TypeError, /shouldRetry.*true/],
    ['maxElapsed -5', () => retry({ maxElapsed: -5 }), RangeError, /maxElapsed.*-5/],
    ['maxElapsed NaN', () => retry({ maxElapsed: Number.NaN }), RangeError, /maxElapsed.*NaN/],
    [
      'retries Infinity with nothing to bound it',
      () => retry({ retries: Number.POSITIVE_INFINITY }),
      RangeError,
      /retries: Infinity needs maxElapsed or budget/,
    ],
    ['retries NaN', () => retry({ retries: Number.NaN }), RangeError, /retries.*NaN/],
    ['retries null', () => retry({ retries: null as never }), TypeError, /retries.*null/],
    ['maxRetryAfter -1', () => retry({ maxRetryAfter: -1 }), RangeError, /maxRetryAfter.*-1/],
    ['maxRetryAfter "1s"', () => retry({ maxRetryAfter: '1s' as never }), TypeError, /maxRetryAfter.*"1s"/],
    ['clock {}', () => retry({ clock: {} as never }), TypeError, /clock/],
    ['random 1', () => retry({ random: 1 as never }), TypeError, /random.*1/],
    ['unknown option', () => retry({ retry: 3 } as never), TypeError, /unknown option "retry"/],
    ['options null', () => retry(null as never), TypeError, /retry options.*null/],
    ['budget 5', () => retry({ budget: 5 as never }), TypeError, /budget.*5/],
    ['budget ratio 2', () => retry({ budget: { ratio: 2 } }), RangeError, /budget\.ratio.*2/],
    ['constant(-1)', () => constant(-1), RangeError, /constant\(ms\).*-1/],
    ['constant(NaN)', () => constant(Number.NaN), RangeError, /constant\(ms\).*NaN/],
    ['constant("1")', () => constant('1' as never), TypeError, /constant\(ms\).*"1"/],
    ['exponential initial -1', () => exponential({ initial: -1 }), RangeError, /initial.*-1/],
    ['exponential max < initial', () => exponential({ initial: 500, max: 100 }), RangeError, /max.*100/],
    ['exponential factor 0.5', () => exponential({ factor: 0.5 }), RangeError, /factor.*0\.5/],
    ['exponential factor "2"', () => exponential({ factor: '2' as never }), TypeError, /factor.*"2"/],
    ['exponential factor NaN', () => exponential({ factor: Number.NaN }), RangeError, /factor.*NaN/],
    ['exponential jitter', () => exponential({ jitter: 'half' as never }), TypeError, /jitter.*"half"/],
    ['exponential unknown', () => exponential({ base: 1 } as never), TypeError, /unknown option "base"/],
    ['budget ratio -0.1', () => new RetryBudget({ ratio: -0.1 }), RangeError, /budget\.ratio.*-0\.1/],
    ['budget ratio "x"', () => new RetryBudget({ ratio: 'x' as never }), TypeError, /budget\.ratio.*"x"/],
    [
      'budget minPerSecond -1',
      () => new RetryBudget({ minPerSecond: -1 }),
      RangeError,
      /budget\.minPerSecond.*-1/,
    ],
    ['budget ttl 0', () => new RetryBudget({ ttl: 0 }), RangeError, /budget\.ttl.*0/],
    ['budget clock', () => new RetryBudget({ clock: 1 as never }), TypeError, /budget\.clock.*1/],
    ['budget unknown', () => new RetryBudget({ percent: 1 } as never), TypeError, /unknown option "percent"/],
  ];
  it.each(cases)('%s', (_name, create, type, message) => {
    expect(create).toThrow(type);
    expect(create).toThrow(message);
  });

  it('accepts a custom Backoff with the full signature', async () => {
    const clock = new ManualClock();
    const seen: number[] = [];
    const backoff: Backoff = (_attempt, _error, previous, random) => {
      seen.push(previous);
      return previous + 10 + random() * 0;
    };
    const policy = retry({ clock, retries: 3, backoff, random: () => 0.5 });
    await settle(
      clock,
      policy.execute(() => {
        throw new Error('x');
      }),
    );
    expect(seen).toEqual([0, 10, 20]);
  });
});

describe('retry: unbounded retries', () => {
  it('retries: Infinity with maxElapsed retries until maxElapsed, however many attempts that takes', async () => {
    const { clock, policy, times, gaveUp, alwaysFail } = setup({
      retries: Number.POSITIVE_INFINITY,
      backoff: constant(100),
      maxElapsed: 1_000,
    });
    await settle(clock, policy.execute(alwaysFail));
    expect(times).toEqual([0, 100, 200, 300, 400, 500, 600, 700, 800, 900, 1_000]);
    expect(gaveUp.map((e) => e.reason)).toEqual(['max-elapsed']);
  });

  it('retries: Infinity with a budget retries until the budget runs out', async () => {
    const clock = new ManualClock();
    const policy = retry({
      clock,
      retries: Number.POSITIVE_INFINITY,
      backoff: constant(1),
      budget: { ratio: 0, minPerSecond: 3, ttl: 1_000 },
    });
    const { gaveUp } = record(policy);
    let calls = 0;
    await settle(
      clock,
      policy.execute(() => {
        calls++;
        throw new Error('down');
      }),
    );
    expect(calls).toBe(4);
    expect(gaveUp.map((e) => e.reason)).toEqual(['budget-exhausted']);
  });
});

describe('retry: what it never retries', () => {
  it.each([undefined, null, 42, 'fn', {}])(
    'execute(%s) rejects at once with a TypeError, and no attempt, retry or event follows',
    async (value) => {
      const { policy, retried, gaveUp } = setup({ retries: 3, backoff: constant(0) });
      const error = await policy.execute(value as never).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(TypeError);
      expect((error as Error).message).toMatch(/^execute: fn must be a function, got /);
      expect(retried).toEqual([]);
      expect(gaveUp).toEqual([]);
    },
  );
});

describe('retry: listeners that throw', () => {
  it.each(['retried', 'gaveUp'] as const)(
    'a %s listener that throws changes neither the attempts nor the outcome, nor stops the next listener',
    async (event) => {
      const warnings = captureWarnings();
      const { clock, policy, errors, alwaysFail } = setup({ retries: 2, backoff: constant(5) });
      const thrown = new Error('listener');
      let second = 0;
      policy.on(event, () => {
        throw thrown;
      });
      policy.on(event, () => second++);
      const outcome = await settle(clock, policy.execute(alwaysFail));
      expect(outcome).toEqual({ ok: false, error: errors[2] });
      expect(errors).toHaveLength(3);
      expect(second).toBe(event === 'retried' ? 2 : 1);
      await flushPromises();
      expect(warnings.map((w) => [isListenerError(w), w.cause])).toEqual(
        Array.from({ length: second }, () => [true, thrown]),
      );
      warnings.stop();
    },
  );
});
