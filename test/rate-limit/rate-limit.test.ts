import { describe, expect, it } from 'vitest';
import { isRateLimitedError, pipeline, RateLimitedError, retry } from '../../src/index.js';
import { type RateLimitOptions, type RateLimitRejectedEvent, rateLimit } from '../../src/rate-limit/index.js';
import { flushPromises, ManualClock } from '../../src/testing/index.js';
import { track } from '../helpers/promises.js';

function setup(options: Omit<RateLimitOptions, 'clock'>) {
  const clock = new ManualClock();
  const policy = rateLimit({ clock, ...options });
  const rejected: RateLimitRejectedEvent[] = [];
  const delayed: { key: string | undefined; wait: number }[] = [];
  policy.on('rejected', (e) => rejected.push(e));
  policy.on('delayed', (e) => delayed.push(e));
  const ran: string[] = [];
  const call = (name: string, options?: { signal?: AbortSignal; key?: string }) => {
    const p = policy.execute(() => {
      ran.push(name);
      return name;
    }, options);
    return track(p);
  };
  return { clock, policy, rejected, delayed, ran, call };
}

describe('rateLimit: token bucket', () => {
  it('at 2 per 1000 ms the third call rejects with retryAfter 500, and one more passes after 500 ms', async () => {
    const { clock, call, ran, rejected } = setup({ limit: 2, interval: 1_000 });
    const a = call('a');
    const b = call('b');
    const c = call('c');
    await flushPromises();
    expect(a()).toEqual({ state: 'fulfilled', value: 'a' });
    expect(b()).toEqual({ state: 'fulfilled', value: 'b' });
    const outcome = c();
    expect(outcome.state).toBe('rejected');
    const error = (outcome as { value: RateLimitedError }).value;
    expect(error).toBeInstanceOf(RateLimitedError);
    expect(isRateLimitedError(error)).toBe(true);
    expect(error.retryAfter).toBe(500);
    expect(error.key).toBeUndefined();
    expect(rejected).toEqual([{ key: undefined, retryAfter: 500 }]);
    expect(ran).toEqual(['a', 'b']);
    clock.advance(499);
    const d = call('d');
    await flushPromises();
    expect((d() as { value: RateLimitedError }).value.retryAfter).toBe(1);
    expect(ran).toEqual(['a', 'b']);
    clock.advance(1);
    const e = call('e');
    const f = call('f');
    await flushPromises();
    expect(e().state).toBe('fulfilled');
    expect(f().state).toBe('rejected');
    expect(clock.pendingTimers).toBe(0);
  });

  it('after a long idle spell lets at most burst calls pass back to back', async () => {
    const { clock, call, ran } = setup({ limit: 10, interval: 1_000, burst: 3 });
    clock.advance(60_000);
    for (const name of ['a', 'b', 'c', 'd', 'e']) call(name);
    await flushPromises();
    expect(ran).toEqual(['a', 'b', 'c']);
  });

  it('burst 1 spaces calls interval / limit apart', async () => {
    const { clock, call, ran, policy } = setup({ limit: 4, interval: 1_000, burst: 1 });
    call('a');
    call('b');
    await flushPromises();
    expect(ran).toEqual(['a']);
    expect(policy.available()).toBe(0);
    clock.advance(250);
    expect(policy.available()).toBe(1);
    call('c');
    await flushPromises();
    expect(ran).toEqual(['a', 'c']);
  });

  it('with maxWait 500 the third call waits and runs at t = 500, then no timer remains', async () => {
    const { clock, call, ran, delayed, policy } = setup({ limit: 2, interval: 1_000, maxWait: 500 });
    call('a');
    call('b');
    const c = call('c');
    await flushPromises();
    expect(ran).toEqual(['a', 'b']);
    expect(delayed).toEqual([{ key: undefined, wait: 500 }]);
    expect(policy.queued).toBe(1);
    expect(clock.pendingTimers).toBe(1);
    clock.advance(499);
    await flushPromises();
    expect(c().state).toBe('pending');
    clock.advance(1);
    await flushPromises();
    expect(c()).toEqual({ state: 'fulfilled', value: 'c' });
    expect(policy.queued).toBe(0);
    expect(clock.pendingTimers).toBe(0);
  });

  it('rejects a call whose wait would exceed maxWait, counting the calls queued ahead of it', async () => {
    const { clock, call, rejected } = setup({ limit: 2, interval: 1_000, maxWait: 500 });
    call('a');
    call('b');
    const c = call('c'); // waits 500
    const d = call('d'); // would wait 1000
    await flushPromises();
    expect(c().state).toBe('pending');
    expect(d().state).toBe('rejected');
    expect((d() as { value: RateLimitedError }).value.retryAfter).toBe(1_000);
    expect(rejected).toEqual([{ key: undefined, retryAfter: 1_000 }]);
    clock.advance(500);
    await flushPromises();
    expect(c().state).toBe('fulfilled');
  });

  it('serves waiters first come first served, and a newcomer queues behind them', async () => {
    const { clock, call, ran } = setup({ limit: 1, interval: 100, maxWait: 1_000 });
    call('a');
    call('b');
    call('c');
    clock.advance(100);
    call('d'); // a permit is free, but b and c came first
    await flushPromises();
    expect(ran).toEqual(['a', 'b']);
    clock.advance(100);
    await flushPromises();
    expect(ran).toEqual(['a', 'b', 'c']);
    clock.advance(100);
    await flushPromises();
    expect(ran).toEqual(['a', 'b', 'c', 'd']);
  });

  it('a waiter that aborts is rejected with its reason and delays nobody behind it', async () => {
    const { clock, call, ran, policy } = setup({ limit: 1, interval: 100, maxWait: 1_000 });
    call('a');
    const controller = new AbortController();
    const b = call('b', { signal: controller.signal });
    const c = call('c');
    await flushPromises();
    const reason = new Error('gave up');
    controller.abort(reason);
    await flushPromises();
    expect(b()).toEqual({ state: 'rejected', value: reason });
    expect(policy.queued).toBe(1);
    clock.advance(100);
    await flushPromises();
    expect(c()).toEqual({ state: 'fulfilled', value: 'c' });
    expect(ran).toEqual(['a', 'c']);
  });

  it('clears the timer when its last waiter aborts', async () => {
    const { clock, call } = setup({ limit: 1, interval: 100, maxWait: 1_000 });
    call('a');
    const controller = new AbortController();
    const b = call('b', { signal: controller.signal });
    await flushPromises();
    expect(clock.pendingTimers).toBe(1);
    controller.abort();
    await flushPromises();
    expect(b().state).toBe('rejected');
    expect(clock.pendingTimers).toBe(0);
  });

  it('a call aborted before it starts is not run and takes no permit', async () => {
    const { call, ran, policy } = setup({ limit: 1, interval: 100 });
    const controller = new AbortController();
    controller.abort(new Error('early'));
    const a = call('a', { signal: controller.signal });
    await flushPromises();
    expect(a().state).toBe('rejected');
    expect(ran).toEqual([]);
    expect(policy.available()).toBe(1);
  });

  it('holds no timer when idle, nor after rejecting', async () => {
    const { clock, call } = setup({ limit: 1, interval: 1_000 });
    call('a');
    call('b');
    await flushPromises();
    expect(clock.pendingTimers).toBe(0);
  });

  it('passes the result and the error of fn through unchanged', async () => {
    const policy = rateLimit({ limit: 10, interval: 1_000, clock: new ManualClock() });
    const boom = new Error('boom');
    await expect(policy.execute(() => 7)).resolves.toBe(7);
    await expect(policy.execute(() => Promise.reject(boom))).rejects.toBe(boom);
    await expect(
      policy.execute(() => {
        throw boom;
      }),
    ).rejects.toBe(boom);
  });
});

describe('rateLimit: sliding window', () => {
  it('admits limit calls per window, and the next one interval after the oldest', async () => {
    const { clock, call, ran } = setup({ limit: 2, interval: 1_000, strategy: 'sliding-window' });
    call('a');
    clock.advance(300);
    call('b');
    const c = call('c');
    await flushPromises();
    expect(ran).toEqual(['a', 'b']);
    expect((c() as { value: RateLimitedError }).value.retryAfter).toBe(700);
    clock.advance(700);
    call('d');
    const e = call('e');
    await flushPromises();
    expect(ran).toEqual(['a', 'b', 'd']);
    expect((e() as { value: RateLimitedError }).value.retryAfter).toBe(300);
  });

  it('queues waiters and admits each when a slot leaves the window', async () => {
    const { clock, call, ran } = setup({
      limit: 2,
      interval: 1_000,
      strategy: 'sliding-window',
      maxWait: 2_000,
    });
    for (const name of ['a', 'b', 'c', 'd', 'e']) call(name);
    await flushPromises();
    expect(ran).toEqual(['a', 'b']);
    clock.advance(1_000);
    await flushPromises();
    expect(ran).toEqual(['a', 'b', 'c', 'd']);
    clock.advance(1_000);
    await flushPromises();
    expect(ran).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(clock.pendingTimers).toBe(0);
  });
});

describe('rateLimit: keyed', () => {
  it('gives each key its own bucket, and calls without a key a shared one', async () => {
    const { call, ran, rejected } = setup({ limit: 1, interval: 1_000, key: (ctx) => ctx.key });
    call('a1', { key: 'a' });
    call('b1', { key: 'b' });
    const a2 = call('a2', { key: 'a' });
    call('none1');
    const none2 = call('none2');
    await flushPromises();
    expect(ran).toEqual(['a1', 'b1', 'none1']);
    expect((a2() as { value: RateLimitedError }).value.key).toBe('a');
    expect(none2().state).toBe('rejected');
    expect(rejected.map((e) => e.key)).toEqual(['a', undefined]);
  });

  it('keeps at most maxKeys buckets, pushing out the least recently used', async () => {
    const { call, ran, policy } = setup({ limit: 1, interval: 1_000, key: (ctx) => ctx.key, maxKeys: 2 });
    call('a1', { key: 'a' });
    call('b1', { key: 'b' });
    call('a2', { key: 'a' }); // a is now the most recent
    call('c1', { key: 'c' }); // pushes out b
    await flushPromises();
    expect(policy.keys).toBe(2);
    call('b2', { key: 'b' }); // b starts afresh (its history was forgotten), pushing out a
    call('c2', { key: 'c' }); // c still remembers its call
    await flushPromises();
    expect(ran).toEqual(['a1', 'b1', 'c1', 'b2']);
    expect(policy.keys).toBe(2);
  });

  it('drops buckets that are back at rest, so memory shrinks when traffic stops', async () => {
    const { clock, call, policy } = setup({ limit: 5, interval: 1_000, key: (ctx) => ctx.key });
    for (let i = 0; i < 50; i++) call(`x${i}`, { key: `k${i}` });
    expect(policy.keys).toBe(50);
    clock.advance(1_000);
    for (let i = 0; i < 60; i++) call(`y${i}`, { key: 'hot' });
    expect(policy.keys).toBe(1);
  });

  it('never drops a bucket with a waiter, and rejects a new key when every bucket has one', async () => {
    const { clock, call, ran } = setup({
      limit: 1,
      interval: 1_000,
      key: (ctx) => ctx.key,
      maxKeys: 1,
      maxWait: 1_000,
    });
    call('a1', { key: 'a' });
    const a2 = call('a2', { key: 'a' });
    const b1 = call('b1', { key: 'b' });
    await flushPromises();
    expect((b1() as { value: RateLimitedError }).value).toBeInstanceOf(RateLimitedError);
    expect((b1() as { value: RateLimitedError }).value.key).toBe('b');
    clock.advance(1_000);
    await flushPromises();
    expect(a2().state).toBe('fulfilled');
    call('b2', { key: 'b' });
    await flushPromises();
    expect(ran).toEqual(['a1', 'a2', 'b2']);
  });

  it('rejects with what the key function throws, and a TypeError for a non-string key', async () => {
    const boom = new Error('no key');
    const throwing = rateLimit({
      limit: 1,
      interval: 1_000,
      key: () => {
        throw boom;
      },
    });
    await expect(throwing.execute(() => 1)).rejects.toBe(boom);
    const numeric = rateLimit({ limit: 1, interval: 1_000, key: () => 42 as unknown as string });
    await expect(numeric.execute(() => 1)).rejects.toThrow(/key must answer a string or undefined, got 42/);
  });
});

describe('rateLimit: composition', () => {
  it("retry waits out the RateLimitedError's retryAfter and then succeeds", async () => {
    const clock = new ManualClock();
    const limiter = rateLimit({ limit: 1, interval: 2_000 });
    const policy = pipeline({ clock }, retry({ retries: 2, maxRetryAfter: 5_000 }), limiter);
    await policy.execute(() => 'first');
    const second = track(policy.execute(() => 'second'));
    await clock.advanceAsync(1_999);
    expect(second().state).toBe('pending');
    await clock.advanceAsync(1);
    expect(second()).toEqual({ state: 'fulfilled', value: 'second' });
  });

  it('never throws synchronously: bad arguments reject', async () => {
    const policy = rateLimit({ limit: 1, interval: 1_000 });
    await expect(policy.execute(42 as never)).rejects.toThrow(TypeError);
    await expect(policy.execute(() => 1, { signal: 'x' as never })).rejects.toThrow(
      /signal must be an AbortSignal/,
    );
  });

  it('reports its kind and defaults', () => {
    const policy = rateLimit({ limit: 5, interval: 1_000 });
    expect(policy.kind).toBe('rate-limit');
    expect(policy.name).toBe('rate-limit');
    expect(policy.burst).toBe(5);
    expect(policy.maxWait).toBe(0);
    expect(policy.strategy).toBe('token-bucket');
    expect(policy.maxKeys).toBe(1);
    expect(rateLimit({ limit: 5, interval: 1_000, key: (c) => c.key }).maxKeys).toBe(10_000);
  });
});

describe('rateLimit: validation', () => {
  const base = { limit: 1, interval: 1_000 };
  it.each([
    [{ interval: 1_000 }, TypeError, /limit must be an integer >= 1, got undefined/],
    [{ ...base, limit: 0 }, RangeError, /limit must be an integer >= 1, got 0/],
    [{ ...base, limit: 1.5 }, RangeError, /limit must be an integer/],
    [{ limit: 1 }, TypeError, /interval must be a number of ms in \[1, 2147483647\], got undefined/],
    [{ ...base, interval: 0 }, RangeError, /interval must be a finite number of ms in \[1, /],
    [{ ...base, burst: 0 }, RangeError, /burst must be an integer >= 1, got 0/],
    [
      { ...base, strategy: 'leaky' },
      TypeError,
      /strategy must be "token-bucket" or "sliding-window", got "leaky"/,
    ],
    [
      { ...base, strategy: 'sliding-window', burst: 2 },
      TypeError,
      /burst applies to strategy "token-bucket" only/,
    ],
    [
      { ...base, strategy: 'sliding-window', limit: 2_000_000 },
      RangeError,
      /limit must be an integer in \[1, 1000000\]/,
    ],
    [
      { ...base, maxWait: -1 },
      RangeError,
      /maxWait must be a number of ms in \[0, 2147483647\] or Infinity, got -1/,
    ],
    [{ ...base, key: 'tenant' }, TypeError, /key must be a function, got "tenant"/],
    [{ ...base, maxKeys: 10 }, TypeError, /maxKeys applies with a key function only/],
    [{ ...base, key: () => undefined, maxKeys: 0 }, RangeError, /maxKeys must be an integer >= 1, got 0/],
    [{ ...base, name: '' }, TypeError, /name must be a non-empty string/],
    [{ ...base, clock: {} }, TypeError, /clock must have now\(\) and setTimeout/],
    [{ ...base, limt: 3 }, TypeError, /rateLimit: unknown option "limt"/],
  ])('%o throws a named error', (options, type, message) => {
    expect(() => rateLimit(options as unknown as RateLimitOptions)).toThrow(type);
    expect(() => rateLimit(options as unknown as RateLimitOptions)).toThrow(message);
  });

  it('rejects a non-object', () => {
    expect(() => rateLimit(undefined as never)).toThrow(/rateLimit options must be an object/);
  });
});
