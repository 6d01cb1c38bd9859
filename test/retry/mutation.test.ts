import { describe, expect, it } from 'vitest';
import { constant, exponential, type GaveUpEvent, RetryBudget, retry } from '../../src/index.js';
import { flushPromises, ManualClock } from '../../src/testing/index.js';

describe('retry: what it retries', () => {
  it.each([
    ['null', null],
    ['a string', 'down'],
    ['a number', 503],
  ])('retries a call that throws %s, and rethrows it unchanged', async (_name, thrown) => {
    const clock = new ManualClock();
    const policy = retry({ clock, retries: 2, backoff: constant(0) });
    let calls = 0;
    await expect(
      policy.execute(() => {
        calls++;
        throw thrown;
      }),
    ).rejects.toBe(thrown);
    expect(calls).toBe(3);
  });
});

describe('retry: on a clock that does not start at 0', () => {
  it('maxElapsed counts from the first attempt, not from time 0', async () => {
    const clock = new ManualClock(1_000_000);
    const policy = retry({ clock, retries: 5, backoff: constant(100), maxElapsed: 250 });
    const gaveUp: GaveUpEvent[] = [];
    policy.on('gaveUp', (e) => gaveUp.push(e));
    const times: number[] = [];
    const call = policy.execute(() => {
      times.push(clock.now());
      throw new Error('down');
    });
    call.catch(() => {});
    await clock.advanceAsync(1_000);
    await expect(call).rejects.toThrow('down');
    expect(times).toEqual([1_000_000, 1_000_100, 1_000_200]);
    expect(gaveUp.map((e) => e.reason)).toEqual(['max-elapsed']);
  });

  it('an abort during the delay gives the budget back the retry it took, at the time it took it', async () => {
    const clock = new ManualClock(5_000_000);
    const budget = new RetryBudget({ ratio: 0, minPerSecond: 1, ttl: 1_000, clock });
    const policy = retry({ clock, retries: 5, backoff: constant(100), budget });
    expect(budget.available).toBe(1);
    const controller = new AbortController();
    const call = policy.execute(
      () => {
        throw new Error('down');
      },
      { signal: controller.signal },
    );
    call.catch(() => {});
    await flushPromises();
    expect(budget.available).toBe(0);
    clock.advance(50);
    controller.abort(new Error('gone'));
    await expect(call).rejects.toThrow('gone');
    expect(budget.available).toBe(1);
  });
});

describe('retry: backoff limits', () => {
  it('accepts a delay of exactly the longest timer, and refuses one ms more', async () => {
    const max = 2 ** 31 - 1;
    for (const [ms, ok] of [
      [max, true],
      [max + 1, false],
    ] as const) {
      const clock = new ManualClock();
      const policy = retry({ clock, retries: 1, backoff: () => ms });
      const delays: number[] = [];
      policy.on('retried', (e) => delays.push(e.delay));
      const controller = new AbortController();
      const call = policy.execute(
        () => {
          throw new Error('down');
        },
        { signal: controller.signal },
      );
      call.catch(() => {});
      await flushPromises();
      if (ok) {
        expect(delays).toEqual([max]);
        expect(clock.pendingTimers).toBe(1);
        controller.abort(new Error('stop'));
        await expect(call).rejects.toThrow('stop');
      } else {
        await expect(call).rejects.toThrow(`backoff returned ${max + 1} for attempt 1`);
        expect(delays).toEqual([]);
      }
    }
  });
});

describe('retry: option errors name their source', () => {
  it('retry, RetryBudget and exponential each name themselves for an unknown option', () => {
    expect(() => retry({ retry: 3 } as never)).toThrow(
      /^retry: unknown option "retry"; known options are name, /,
    );
    expect(() => new RetryBudget({ percent: 1 } as never)).toThrow(
      /^RetryBudget: unknown option "percent"; known options are ratio, minPerSecond, ttl, clock$/,
    );
    expect(() => exponential({ base: 1 } as never)).toThrow(
      /^exponential: unknown option "base"; known options are initial, max, factor, jitter$/,
    );
  });
});

describe('RetryBudget: reserve', () => {
  it('allows minPerSecond * ttl / 1000 retries with no traffic, for any ttl', () => {
    const clock = new ManualClock();
    expect(new RetryBudget({ ratio: 0, minPerSecond: 3, ttl: 2_000, clock }).available).toBe(6);
    expect(new RetryBudget({ ratio: 0, minPerSecond: 5, ttl: 500, clock }).available).toBe(2);
    expect(new RetryBudget({ ratio: 0, minPerSecond: 0, ttl: 500, clock }).available).toBe(0);
  });

  it('earns ratio of a retry per first attempt, rounded down', () => {
    const clock = new ManualClock();
    const budget = new RetryBudget({ ratio: 0.3, minPerSecond: 0, ttl: 1_000, clock });
    for (let i = 0; i < 7; i++) budget.deposit();
    expect(budget.available).toBe(2); // 2.1
    expect(budget.tryWithdraw()).toBe(true);
    expect(budget.tryWithdraw()).toBe(true);
    expect(budget.tryWithdraw()).toBe(false);
    expect(budget.available).toBe(0);
  });
});
