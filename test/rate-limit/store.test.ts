import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isRateLimitedError, type RateLimitRule, type RateLimitStore, rateLimit } from '../../src/index.js';
import { TokenBucket } from '../../src/rate-limit/meter.js';
import { redisRateLimitStore } from '../../src/redis/index.js';
import { flushPromises, ManualClock } from '../../src/testing/index.js';
import { track } from '../helpers/promises.js';
import { requireService } from '../helpers/services.js';

/** A store in this process, on the test's clock: what the policy asks of one, and when. */
function fakeStore(clock: ManualClock) {
  const buckets = new Map<string, TokenBucket>();
  const asked: string[] = [];
  const store: RateLimitStore & { failing: unknown; hanging: boolean } = {
    commandTimeout: 50,
    failing: undefined,
    hanging: false,
    take: async (name: string, key: string, rule: RateLimitRule) => {
      asked.push(`${name}/${key}`);
      if (store.hanging) return new Promise<number>(() => {});
      if (store.failing !== undefined) throw store.failing;
      const id = `${name}/${key}`;
      let bucket = buckets.get(id);
      if (bucket === undefined) {
        bucket = new TokenBucket(rule.limit, rule.interval, rule.burst!);
        buckets.set(id, bucket);
      }
      const now = clock.now();
      const free = bucket.nextFree(now, 0);
      if (free > now) return free - now;
      bucket.take(now);
      return 0;
    },
  };
  return { store, asked };
}

describe('rateLimit with a store', () => {
  it('counts every call in the store, by name and key, and rejects with the wait it answers', async () => {
    const clock = new ManualClock();
    const { store, asked } = fakeStore(clock);
    const limiter = rateLimit({
      name: 'partner',
      limit: 2,
      interval: 1_000,
      store,
      clock,
      key: (c) => c.key,
    });
    const results = [1, 2, 3].map((i) => track(limiter.execute(() => i, { key: 'tenant-7' })));
    await flushPromises();
    expect(results.map((r) => r().state)).toEqual(['fulfilled', 'fulfilled', 'rejected']);
    const error = (results[2]!() as { value: unknown }).value;
    expect(isRateLimitedError(error) && error.retryAfter).toBe(500);
    expect(isRateLimitedError(error) && error.key).toBe('tenant-7');
    expect(asked).toEqual(['partner/tenant-7', 'partner/tenant-7', 'partner/tenant-7']);
  });

  it('a call waits for the store’s answer within maxWait, and asks it again after', async () => {
    const clock = new ManualClock();
    const { store, asked } = fakeStore(clock);
    const limiter = rateLimit({ limit: 1, interval: 1_000, store, clock, maxWait: 2_000 });
    const delayed: number[] = [];
    limiter.on('delayed', (e) => delayed.push(e.wait));
    const first = track(limiter.execute(() => 'a'));
    const second = track(limiter.execute(() => 'b'));
    await flushPromises();
    expect(first()).toEqual({ state: 'fulfilled', value: 'a' });
    expect(second().state).toBe('pending');
    expect(delayed).toEqual([1_000]);
    await clock.advanceAsync(999);
    expect(second().state).toBe('pending');
    await clock.advanceAsync(1);
    expect(second()).toEqual({ state: 'fulfilled', value: 'b' });
    expect(asked).toHaveLength(3);
    expect(clock.pendingTimers).toBe(0);
  });

  it('a caller’s abort ends the wait at once', async () => {
    const clock = new ManualClock();
    const { store } = fakeStore(clock);
    const limiter = rateLimit({ limit: 1, interval: 1_000, store, clock, maxWait: 5_000 });
    await limiter.execute(() => 'a');
    const controller = new AbortController();
    let ran = false;
    const waiting = track(
      limiter.execute(
        () => {
          ran = true;
        },
        { signal: controller.signal },
      ),
    );
    await flushPromises();
    controller.abort(new Error('gone'));
    await flushPromises();
    expect(waiting()).toMatchObject({ state: 'rejected', value: { message: 'gone' } });
    expect(ran).toBe(false);
    expect(clock.pendingTimers).toBe(0);
  });

  it('a store that fails sends calls to the local buckets for a second (storeError), then is asked again', async () => {
    const clock = new ManualClock();
    const { store, asked } = fakeStore(clock);
    const limiter = rateLimit({ limit: 1, interval: 1_000, store, clock });
    const errors: unknown[] = [];
    limiter.on('storeError', (e) => errors.push(e));
    store.failing = new Error('redis down');
    await expect(limiter.execute(() => 'local')).resolves.toBe('local');
    // The local bucket counts now: its one permit is spent, and the store is not asked.
    await expect(limiter.execute(() => 'x')).rejects.toSatisfy(isRateLimitedError);
    expect(asked).toHaveLength(1);
    expect(errors).toEqual([{ error: store.failing, localFor: 1_000 }]);
    store.failing = undefined;
    clock.advance(1_000);
    await expect(limiter.execute(() => 'shared')).resolves.toBe('shared');
    expect(asked).toHaveLength(2);
  });

  it('after a failure, one call asks the store whether it is back while the others stay local', async () => {
    const clock = new ManualClock();
    const { store, asked } = fakeStore(clock);
    const limiter = rateLimit({ limit: 100, interval: 1_000, store, clock });
    store.hanging = true;
    const first = track(limiter.execute(() => 'a'));
    await clock.advanceAsync(50); // commandTimeout: local for a second
    expect(first()).toEqual({ state: 'fulfilled', value: 'a' });
    clock.advance(1_000);
    const checking = track(limiter.execute(() => 'b'));
    const others = [1, 2, 3].map((i) => track(limiter.execute(() => i)));
    await flushPromises();
    expect(others.map((o) => o())).toEqual([1, 2, 3].map((value) => ({ state: 'fulfilled', value })));
    expect(checking().state).toBe('pending');
    expect(asked).toHaveLength(2); // the first call, and the one checking
    store.hanging = false;
    await clock.advanceAsync(50);
    expect(checking()).toEqual({ state: 'fulfilled', value: 'b' });
    // Still failing: local for another second. Once a check succeeds, every call asks the store again.
    clock.advance(1_000);
    await limiter.execute(() => 'c');
    await Promise.all([limiter.execute(() => 'd'), limiter.execute(() => 'e')]);
    expect(asked).toHaveLength(5);
  });

  it('a store that does not answer within its commandTimeout counts as failed', async () => {
    const clock = new ManualClock();
    const { store } = fakeStore(clock);
    store.hanging = true;
    const limiter = rateLimit({ limit: 5, interval: 1_000, store, clock });
    const errors: { error: unknown }[] = [];
    limiter.on('storeError', (e) => errors.push(e));
    const call = track(limiter.execute(() => 'local'));
    await clock.advanceAsync(49);
    expect(call().state).toBe('pending');
    await clock.advanceAsync(1);
    expect(call()).toEqual({ state: 'fulfilled', value: 'local' });
    expect(String(errors[0]?.error)).toMatch(/did not answer within 50 ms/);
    expect(clock.pendingTimers).toBe(0);
  });

  it('refuses a store without take or with a bad commandTimeout, naming it', () => {
    expect(() => rateLimit({ limit: 1, interval: 1, store: {} as never })).toThrow(
      /store must have take\(name, key, rule\)/,
    );
    expect(() =>
      rateLimit({ limit: 1, interval: 1, store: { take: async () => 0, commandTimeout: -1 } }),
    ).toThrow(/store.commandTimeout must be/);
  });
});

const redisUp = await requireService('Redis', '127.0.0.1', 6379);

describe.runIf(redisUp)('rateLimit through redisRateLimitStore', () => {
  const prefix = `bw-test:rl:${process.pid}:${Date.now().toString(36)}`;
  const clients = [0, 1, 2].map(() => createClient({ url: 'redis://127.0.0.1:6379' }));
  beforeAll(async () => {
    await Promise.all(clients.map((c) => c.connect()));
  });
  afterAll(async () => {
    for await (const keys of clients[0]!.scanIterator({ MATCH: `${prefix}:*`, COUNT: 100 })) {
      if (keys.length > 0) await clients[0]!.del(keys);
    }
    await Promise.all(clients.map((c) => c.quit()));
  });

  it('three limiters on their own connections share one limit per key', async () => {
    // As three processes would: one limiter each, the same name, the store's prefix.
    const limiters = clients.map((client) =>
      rateLimit({
        name: 'partner',
        limit: 4,
        interval: 60_000,
        key: (c) => c.key,
        store: redisRateLimitStore({ client, prefix }),
      }),
    );
    let ran = 0;
    const outcomes = await Promise.allSettled(
      Array.from({ length: 30 }, (_, i) =>
        limiters[i % 3]!.execute(() => ++ran, { key: i % 2 === 0 ? 'even' : 'odd' }),
      ),
    );
    expect(ran).toBe(8); // a burst of 4 for each of the two keys, across all three limiters
    const rejected = outcomes.filter((o) => o.status === 'rejected');
    expect(rejected).toHaveLength(22);
    for (const r of rejected) {
      const error = (r as PromiseRejectedResult).reason;
      expect(isRateLimitedError(error)).toBe(true);
      expect(error.retryAfter).toBeGreaterThan(0);
      expect(error.retryAfter).toBeLessThanOrEqual(15_000);
    }
  });
});
