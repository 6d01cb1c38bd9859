import { describe, expect, it } from 'vitest';
import { memoryStore } from '../../src/deferred/index.js';
import { PRIORITIES } from '../../src/policy.js';
import { storeContract } from './contract.js';

storeContract('memoryStore', async () => ({ store: memoryStore() }), { corrupt: false, extend: true });

describe('memoryStore: order at scale', () => {
  it('hands out many jobs of mixed priorities and times as a full sort would', async () => {
    // A seeded generator: the same jobs every run.
    let seed = 42;
    const next = (n: number) => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed % n;
    };
    const store = memoryStore();
    const jobs: { id: string; rank: number; runAt: number; order: number }[] = [];
    for (let i = 0; i < 2_000; i++) {
      const rank = next(PRIORITIES.length);
      const runAt = 1_000 + next(100);
      const added = await store.add(
        { payload: i, key: undefined, priority: PRIORITIES[rank]!, enqueuedAt: 1_000, runAt },
        Number.POSITIVE_INFINITY,
      );
      if (added === 'full') throw new Error('unexpectedly full');
      jobs.push({ id: added.id, rank, runAt, order: i });
    }
    const handedOut: string[] = [];
    const expected: string[] = [];
    // Claims at rising times, in batches of varied size: each takes the due jobs by priority, then FIFO.
    for (let now = 1_000; now <= 1_100; now += 10) {
      const due = jobs
        .filter((j) => j.runAt <= now && !expected.includes(j.id))
        .sort((a, b) => a.rank - b.rank || a.order - b.order);
      let left = due.length;
      while (left > 0) {
        const batch = await store.claim({ limit: 1 + next(40), now, leaseMs: Number.POSITIVE_INFINITY });
        if (batch.length === 0) break; // a due job withheld: the comparison below fails
        handedOut.push(...batch.map((j) => j.id));
        left -= batch.length;
      }
      expected.push(...due.map((j) => j.id));
      expect(await store.claim({ limit: 10, now, leaseMs: Number.POSITIVE_INFINITY })).toEqual([]);
    }
    expect(handedOut).toEqual(expected);
    expect(handedOut).toHaveLength(2_000);
  });
});
