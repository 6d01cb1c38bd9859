import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ClaimedJob, NewJob, QueueStore } from '../../src/deferred/store.js';
import type { Priority } from '../../src/policy.js';

/** A store under test, and how to reach behind it. */
export interface StoreUnderTest {
  readonly store: QueueStore;
  /** Drops whatever the store made (a table, keys). */
  cleanup?(): Promise<void>;
  /** Damages a waiting job's stored data so that it can no longer be parsed (durable stores only). */
  corrupt?(id: string): Promise<void>;
}

const LONG = 60_000;

function job(payload: unknown, over: Partial<NewJob> = {}): NewJob {
  return { payload, key: undefined, priority: 'normal', enqueuedAt: 1_000, runAt: 1_000, ...over };
}

async function added(store: QueueStore, j: NewJob, maxSize = Number.POSITIVE_INFINITY): Promise<string> {
  const result = await store.add(j, maxSize);
  if (result === 'full') throw new Error('unexpectedly full');
  return result.id;
}

/**
 * The behaviour every {@link QueueStore} must have. Call it inside a test file with a factory
 * that makes a fresh, empty store for each test.
 */
export function storeContract(
  name: string,
  make: () => Promise<StoreUnderTest>,
  features: { readonly corrupt: boolean; readonly extend: boolean },
): void {
  describe(`QueueStore contract: ${name}`, () => {
    let sut: StoreUnderTest;
    let store: QueueStore;

    beforeEach(async () => {
      sut = await make();
      store = sut.store;
    });

    afterEach(async () => {
      await sut.cleanup?.();
    });

    it('keeps a job and hands it out with its payload, key, priority and time', async () => {
      const payload = { order: 42, items: ['a', 'b'], nested: { ok: true, n: null } };
      const id = await added(store, job(payload, { key: 'order-42', priority: 'high', enqueuedAt: 900 }));
      const [claimed, ...rest] = await store.claim({ limit: 10, now: 1_000, leaseMs: LONG });
      expect(rest).toEqual([]);
      expect(claimed).toMatchObject({
        id,
        payload,
        attempts: 0,
        key: 'order-42',
        priority: 'high',
        enqueuedAt: 900,
      });
      expect(claimed!.error).toBeUndefined();
      expect(typeof claimed!.lease).toBe('string');
    });

    it('hands out jobs by priority, then in the order they were added', async () => {
      const order: [string, Priority][] = [
        ['b1', 'background'],
        ['n1', 'normal'],
        ['c1', 'critical'],
        ['n2', 'normal'],
        ['l1', 'low'],
        ['h1', 'high'],
        ['c2', 'critical'],
      ];
      for (const [payload, priority] of order) await added(store, job(payload, { priority }));
      const first = await store.claim({ limit: 3, now: 1_000, leaseMs: LONG });
      const second = await store.claim({ limit: 10, now: 1_000, leaseMs: LONG });
      expect([...first, ...second].map((j) => j.payload)).toEqual(['c1', 'c2', 'h1', 'n1', 'n2', 'l1', 'b1']);
    });

    it('does not hand out a delayed job before its time, and tells when it is due', async () => {
      await added(store, job('later', { runAt: 5_000 }));
      await added(store, job('now'));
      expect((await store.claim({ limit: 10, now: 1_000, leaseMs: LONG })).map((j) => j.payload)).toEqual([
        'now',
      ]);
      expect(await store.nextRunAt(1_000)).toBe(5_000);
      expect(await store.claim({ limit: 10, now: 4_999, leaseMs: LONG })).toEqual([]);
      expect((await store.claim({ limit: 10, now: 5_000, leaseMs: LONG })).map((j) => j.payload)).toEqual([
        'later',
      ]);
      expect(await store.nextRunAt(5_000)).toBeUndefined();
    });

    it('keeps one job per idempotency key, and frees the key once the job completes', async () => {
      const first = await store.add(job('a', { key: 'k' }), Number.POSITIVE_INFINITY);
      const second = await store.add(job('b', { key: 'k' }), Number.POSITIVE_INFINITY);
      expect(first).toMatchObject({ created: true });
      expect(second).toEqual({ id: (first as { id: string }).id, created: false });
      const claimed = await store.claim({ limit: 10, now: 1_000, leaseMs: LONG });
      expect(claimed.map((j) => j.payload)).toEqual(['a']);
      // Still held while running.
      expect(await store.add(job('c', { key: 'k' }), Number.POSITIVE_INFINITY)).toMatchObject({
        created: false,
      });
      await store.complete(claimed[0]!);
      const third = await store.add(job('d', { key: 'k' }), Number.POSITIVE_INFINITY);
      expect(third).toMatchObject({ created: true });
      expect((third as { id: string }).id).not.toBe((first as { id: string }).id);
    });

    it('refuses a job past maxSize (waiting and leased count, dead letters do not)', async () => {
      await added(store, job('a'), 2);
      await added(store, job('b', { key: 'kb' }), 2);
      expect(await store.add(job('c'), 2)).toBe('full');
      // A duplicate key is answered with the job it names, full or not.
      expect(await store.add(job('b2', { key: 'kb' }), 2)).toMatchObject({ created: false });
      const [a] = await store.claim({ limit: 1, now: 1_000, leaseMs: LONG });
      expect(await store.add(job('c'), 2)).toBe('full');
      await store.deadLetter(a!, { attempts: 1, error: 'Error: boom', now: 1_000 });
      expect(await store.add(job('c'), 2)).toMatchObject({ created: true });
    });

    it('never hands a leased job out again before its lease ends, and does once it has', async () => {
      const id = await added(store, job('x'));
      const [first] = await store.claim({ limit: 10, now: 1_000, leaseMs: 5_000 });
      expect(first!.id).toBe(id);
      expect(await store.claim({ limit: 10, now: 5_999, leaseMs: 5_000 })).toEqual([]);
      const [again] = await store.claim({ limit: 10, now: 6_000, leaseMs: 5_000 });
      expect(again).toMatchObject({ id, payload: 'x', attempts: 0 });
      expect(again!.lease).not.toBe(first!.lease);
      // The first claimer lost its lease: its retry and dead-letter change nothing.
      await store.retry(first!, { attempts: 3, runAt: 1_000 });
      await store.deadLetter(first!, { attempts: 3, error: 'Error: stale', now: 6_000 });
      expect(await store.deadLetters(10)).toEqual([]);
      expect(await store.claim({ limit: 10, now: 7_000, leaseMs: 5_000 })).toEqual([]);
      // It may still complete it (the work was done): the job is gone.
      await store.complete(first!);
      expect(await store.claim({ limit: 10, now: 20_000, leaseMs: 5_000 })).toEqual([]);
      expect(await store.stats(20_000)).toMatchObject({ waiting: 0, leased: 0 });
    });

    // Registered only where it applies, so that no test passes without asserting.
    if (features.extend)
      it('extends a lease that is still held', async () => {
        await added(store, job('x'));
        const [first] = await store.claim({ limit: 1, now: 1_000, leaseMs: 5_000 });
        await store.extend!([first!], 5_000, 5_000);
        expect(await store.claim({ limit: 1, now: 9_999, leaseMs: 5_000 })).toEqual([]);
        expect(await store.claim({ limit: 1, now: 10_000, leaseMs: 5_000 })).toHaveLength(1);
      });

    it('puts a retried job back with its attempts, due at runAt', async () => {
      await added(store, job('first'));
      await added(store, job('second'));
      const [first] = await store.claim({ limit: 1, now: 1_000, leaseMs: LONG });
      await store.retry(first!, { attempts: 1, runAt: 3_000 });
      expect((await store.claim({ limit: 10, now: 2_000, leaseMs: LONG })).map((j) => j.payload)).toEqual([
        'second',
      ]);
      expect(await store.nextRunAt(2_000)).toBe(3_000);
      await added(store, job('third'));
      // Whether it goes before jobs added meanwhile is the store's choice (memory and PostgreSQL
      // keep its place; Redis streams put it behind them).
      const later = await store.claim({ limit: 10, now: 3_000, leaseMs: LONG });
      expect(later.map((j) => [j.payload, j.attempts]).sort()).toEqual([
        ['first', 1],
        ['third', 0],
      ]);
    });

    it('removes a completed job', async () => {
      await added(store, job('x'));
      const [claimed] = await store.claim({ limit: 1, now: 1_000, leaseMs: 5_000 });
      await store.complete(claimed!);
      await store.complete(claimed!); // twice is harmless
      expect(await store.claim({ limit: 10, now: 100_000, leaseMs: 5_000 })).toEqual([]);
      expect(await store.stats(100_000)).toEqual({
        waiting: 0,
        leased: 0,
        deadLetters: 0,
        oldestEnqueuedAt: undefined,
      });
    });

    it('keeps dead letters until requeued, then runs them afresh', async () => {
      const id = await added(store, job({ n: 1 }, { key: 'dk', priority: 'low', enqueuedAt: 500 }));
      const [claimed] = await store.claim({ limit: 1, now: 1_000, leaseMs: LONG });
      await store.deadLetter(claimed!, { attempts: 5, error: 'Error: gave up', now: 2_000 });
      expect(await store.claim({ limit: 10, now: 2_000, leaseMs: LONG })).toEqual([]);
      expect(await store.deadLetters(10)).toEqual([
        {
          id,
          payload: { n: 1 },
          error: 'Error: gave up',
          attempts: 5,
          key: 'dk',
          priority: 'low',
          enqueuedAt: 500,
          failedAt: 2_000,
        },
      ]);
      // The key stays held by the dead letter.
      expect(await store.add(job('again', { key: 'dk' }), Number.POSITIVE_INFINITY)).toEqual({
        id,
        created: false,
      });
      expect(await store.requeue('no-such-id', 2_000)).toBe(false);
      expect(await store.requeue(id, 2_000)).toBe(true);
      expect(await store.requeue(id, 2_000)).toBe(false);
      expect(await store.deadLetters(10)).toEqual([]);
      const [back] = await store.claim({ limit: 1, now: 2_000, leaseMs: LONG });
      expect(back).toMatchObject({ id, payload: { n: 1 }, attempts: 0, key: 'dk', priority: 'low' });
    });

    it('counts waiting, leased and dead jobs, and knows the oldest', async () => {
      await added(store, job('a', { enqueuedAt: 100 }));
      await added(store, job('b', { enqueuedAt: 200 }));
      await added(store, job('c', { enqueuedAt: 300, runAt: 9_000 }));
      await added(store, job('d', { enqueuedAt: 400 }));
      const [a, b] = await store.claim({ limit: 2, now: 1_000, leaseMs: LONG });
      await store.deadLetter(b!, { attempts: 1, error: 'Error: x', now: 1_000 });
      expect(await store.stats(1_000)).toEqual({
        waiting: 2,
        leased: 1,
        deadLetters: 1,
        oldestEnqueuedAt: 100,
      });
      await store.complete(a!);
      expect(await store.stats(1_000)).toMatchObject({ waiting: 2, leased: 0, oldestEnqueuedAt: 300 });
    });

    it('never hands one job to two claims made at once', async () => {
      for (let i = 0; i < 40; i++) await added(store, job(i));
      const claims = await Promise.all(
        Array.from({ length: 8 }, () => store.claim({ limit: 7, now: 1_000, leaseMs: LONG })),
      );
      const ids = claims.flat().map((j: ClaimedJob) => j.id);
      expect(ids).toHaveLength(40);
      expect(new Set(ids).size).toBe(40);
    });

    it('keeps keys and maxSize when many jobs are added at once', async () => {
      const results = await Promise.all(
        Array.from({ length: 30 }, (_, i) =>
          store.add(job(i, { key: i % 3 === 0 ? `k${i % 2}` : undefined }), Number.POSITIVE_INFINITY),
        ),
      );
      const created = results.filter((r) => r !== 'full' && r.created) as { id: string }[];
      expect(created).toHaveLength(20 + 2); // 20 without a key, one per key
      expect(new Set(created.map((r) => r.id)).size).toBe(22);
      const byKey = new Map<string, Set<string>>();
      results.forEach((r, i) => {
        if (i % 3 !== 0 || r === 'full') return;
        const key = `k${i % 2}`;
        byKey.set(key, (byKey.get(key) ?? new Set()).add(r.id));
      });
      expect([...byKey.values()].map((ids) => ids.size)).toEqual([1, 1]);
      const more = await Promise.all(Array.from({ length: 10 }, (_, i) => store.add(job(100 + i), 25)));
      expect(more.filter((r) => r !== 'full')).toHaveLength(3);
      expect(more.filter((r) => r === 'full')).toHaveLength(7);
      expect(await store.stats(1_000)).toMatchObject({ waiting: 25 });
    });

    it('answers an empty list when nothing is due', async () => {
      expect(await store.claim({ limit: 5, now: 1_000, leaseMs: LONG })).toEqual([]);
      expect(await store.nextRunAt(1_000)).toBeUndefined();
      expect(await store.deadLetters(10)).toEqual([]);
    });

    if (features.corrupt)
      it('hands out a job whose data cannot be read with the parse error, and dead-letters it', async () => {
        const id = await added(store, job({ fine: true }));
        await sut.corrupt!(id);
        const [claimed] = await store.claim({ limit: 1, now: 1_000, leaseMs: LONG });
        expect(claimed!.id).toBe(id);
        expect(claimed!.error).toBeInstanceOf(Error);
        await store.deadLetter(claimed!, { attempts: 0, error: String(claimed!.error), now: 1_000 });
        expect((await store.deadLetters(10)).map((d) => d.id)).toEqual([id]);
      });
  });
}
