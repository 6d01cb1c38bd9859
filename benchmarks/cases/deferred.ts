/**
 * Deferred work (`DeferredQueue`, `deferTo`, issue 10).
 *
 * - `deferToSuccess` (in the results table): the success path of `deferTo` against a plain
 *   `await` of the same call; target <= 1.2x.
 * - Run directly (`tsx benchmarks/cases/deferred.ts`, from the sources) for store throughput,
 *   which a ratio cannot carry: enqueue and drain jobs/s for the memory store, PostgreSQL
 *   (127.0.0.1:5432, PG_URL) and Redis (127.0.0.1:6379, REDIS_URL). Each durable run uses a
 *   table or prefix of its own and removes it after.
 */
import { fileURLToPath } from 'node:url';
import type * as Deferred from '../../src/deferred/index.js';
import type { RatioCase } from '../lib/types.js';

export const deferToSuccess: RatioCase = {
  kind: 'ratio',
  id: 'defer-to-success',
  title: 'deferTo, call succeeds',
  baselineLabel: '`await work(signal)`, the same call without deferTo',
  baseline: {
    name: 'baseline',
    setup: async () => {
      const { plainAwait } = await import('../lib/libraries.js');
      return plainAwait.setup();
    },
  },
  contenders: [
    {
      name: 'breakwater',
      setup: async () => {
        const lib: typeof import('../lib/libraries.js') = await import('../lib/libraries.js');
        const bw = lib.bw as unknown as typeof Deferred;
        const queue = new bw.DeferredQueue<{ n: number }>({ handler: async () => {} });
        const policy = bw.deferTo(queue, { payload: { n: 1 } });
        let deferred = 0;
        policy.on('deferred', () => deferred++); // fires on failure only: the success path is unchanged
        lib.check((await policy.execute(lib.readsSignal)) === 1, 'returns the result');
        return {
          op: () => policy.execute(lib.readsSignal),
          verify: () => lib.check(deferred === 0, 'deferred nothing'),
        };
      },
    },
  ],
  targets: [{ row: 'breakwater', ratio: 1.2, source: 'issue 10' }],
};

// ---------------------------------------------------------------------------------------------
// Run directly: from the sources.

type Store = Deferred.QueueStore;

interface Throughput {
  readonly store: string;
  readonly jobs: number;
  readonly enqueuePerSecond: number;
  readonly drainPerSecond: number;
}

/** Enqueues `n` jobs (64 at a time, as concurrent requests would) with the queue paused, then drains them with concurrency 8. */
async function throughput(d: typeof Deferred, name: string, store: Store, n: number): Promise<Throughput> {
  let done = 0;
  let finish!: () => void;
  const finished = new Promise<void>((resolve) => {
    finish = resolve;
  });
  const queue = new d.DeferredQueue<{ n: number }>({
    store,
    concurrency: 8,
    maxSize: Number.POSITIVE_INFINITY,
    pollInterval: 20,
    handler: () => {
      if (++done === n) finish();
    },
  });
  queue.pause();
  let start = performance.now();
  for (let i = 0; i < n; i += 64) {
    await Promise.all(Array.from({ length: Math.min(64, n - i) }, (_, j) => queue.enqueue({ n: i + j })));
  }
  const enqueueMs = performance.now() - start;
  start = performance.now();
  queue.resume();
  await finished;
  const drainMs = performance.now() - start;
  await queue.close();
  return {
    store: name,
    jobs: n,
    enqueuePerSecond: Math.round(n / (enqueueMs / 1000)),
    drainPerSecond: Math.round(n / (drainMs / 1000)),
  };
}

/** ns per op of `op`, the median of `rounds` rounds of `perRound` awaited ops. */
async function nsPerOp(op: () => Promise<unknown>, rounds: number, perRound: number): Promise<number[]> {
  const samples: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < perRound; i++) await op();
    samples.push(Number(process.hrtime.bigint() - start) / perRound);
  }
  return samples;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function deferToRatio(
  d: typeof Deferred,
): Promise<{ baselineNs: number; deferToNs: number; ratio: number }> {
  const idle = new AbortController().signal;
  const work = async (signal: AbortSignal) => {
    signal.throwIfAborted();
    return 1;
  };
  const queue = new d.DeferredQueue<{ n: number }>({ handler: async () => {} });
  const policy = d.deferTo(queue, { payload: { n: 1 } });
  const call = ({ signal }: { signal: AbortSignal }) => work(signal);
  const ratios: number[] = [];
  const base: number[] = [];
  const defer: number[] = [];
  // Interleaved rounds, so that drift in machine load hits both alike.
  for (let r = 0; r < 15; r++) {
    const b = median(await nsPerOp(() => work(idle), 3, 100_000));
    const p = median(await nsPerOp(() => policy.execute(call), 3, 100_000));
    base.push(b);
    defer.push(p);
    ratios.push(p / b);
  }
  return { baselineNs: median(base), deferToNs: median(defer), ratio: median(ratios) };
}

async function main(): Promise<void> {
  const d = (await import('../../src/deferred/index.js')) as typeof Deferred;
  const only = process.argv.slice(2);
  const want = (what: string) => only.length === 0 || only.includes(what);
  const results: unknown[] = [];
  if (want('ratio')) results.push({ deferToSuccess: await deferToRatio(d) });
  if (want('memory')) results.push(await throughput(d, 'memoryStore', d.memoryStore(), 100_000));
  if (want('postgres')) {
    const pg = (await import('pg')).default;
    const { postgresStore } = await import('../../src/postgres/index.js');
    const pool = new pg.Pool({
      connectionString: process.env.PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
      max: 12,
    });
    const table = `bw_bench_${process.pid}`;
    const store = postgresStore({ pool, table });
    await store.ensureSchema();
    try {
      results.push(await throughput(d, 'postgresStore', store, 5_000));
    } finally {
      await pool.query(`DROP TABLE IF EXISTS ${table}`);
      await pool.end();
    }
  }
  if (want('redis')) {
    const { createClient } = await import('redis');
    const { redisStore } = await import('../../src/redis/queue-store.js');
    const client = createClient({ url: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379' });
    await client.connect();
    const prefix = `bw-bench:${process.pid}`;
    try {
      results.push(await throughput(d, 'redisStore', redisStore({ client, prefix }), 10_000));
    } finally {
      for await (const keys of client.scanIterator({ MATCH: `${prefix}:*`, COUNT: 100 })) {
        if (keys.length > 0) await client.del(keys);
      }
      await client.quit();
    }
  }
  console.log(JSON.stringify(results, null, 2));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main();
