/**
 * Deferred work (`DeferredQueue`, `deferTo`, issue 10).
 *
 * - `deferToSuccess` (ratio): the success path of `deferTo` against a plain `await` of the same
 *   call; target <= 1.2x. Beside it, the floor of any policy that catches a failure: the call
 *   with one `.then(undefined, onError)` and no library.
 * - `deferredThroughput` (table): enqueue and drain jobs/s for the memory store, PostgreSQL
 *   (PG_URL, else 127.0.0.1:5432) and Redis (REDIS_URL, else 127.0.0.1:6379), from the build.
 *   A service that is not reachable gives a row saying so. Each run uses a table or prefix of
 *   its own and removes it. Also run directly: `npx tsx benchmarks/cases/deferred.ts [--quick]`.
 */
import { fileURLToPath } from 'node:url';
import type * as Deferred from '../../src/deferred/index.js';
import type * as PostgresEntry from '../../src/postgres/index.js';
import type * as RedisEntry from '../../src/redis/index.js';
import { built } from '../lib/dist.js';
import type { RatioCase, TableCase, TableResult } from '../lib/types.js';

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
    {
      // What catching a failure costs at least: a derived promise and one more microtask.
      name: 'floor: the call with `.then(undefined, onError)`, no library',
      setup: async () => {
        const lib: typeof import('../lib/libraries.js') = await import('../lib/libraries.js');
        let caught = 0;
        const onError = (error: unknown) => {
          caught++;
          throw error;
        };
        const context = { signal: lib.idle };
        lib.check((await lib.readsSignal(context).then(undefined, onError)) === 1, 'returns the result');
        return {
          op: () => lib.readsSignal(context).then(undefined, onError),
          verify: () => lib.check(caught === 0, 'caught nothing'),
        };
      },
    },
  ],
  targets: [{ row: 'breakwater', ratio: 1.2, source: 'issue 10' }],
  note:
    'deferTo adds one `.then(undefined, onError)` to the call and nothing else on success (no async frame, ' +
    'closure or context object for a call without options); the floor row is that `.then` alone. ' +
    'The derived promise and the extra microtask it costs are what separate both from the baseline.',
};

// ---------------------------------------------------------------------------------------------
// Store throughput (a table case): jobs/s a queue enqueues and drains on each store.

const PG_URL = process.env.PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
/** Enqueues made at once, as concurrent requests would. */
const ENQUEUE_BATCH = 64;
const CONCURRENCY = 8;

type Breakwater = typeof import('../../src/index.js');
type Store = Deferred.QueueStore;

/** Round trips a run made, counted on the store's claims and (PostgreSQL) the pool's statements. */
interface Tally {
  claims: number;
  claimed: number;
  inserts: number;
  inserted: number;
  deletes: number;
  deleted: number;
}

const emptyTally = (): Tally => ({ claims: 0, claimed: 0, inserts: 0, inserted: 0, deletes: 0, deleted: 0 });

/** `store`, counting its claims and the jobs they handed out. */
function counted(store: Store, tally: Tally): Store {
  return {
    durable: store.durable,
    add: (job, maxSize) => store.add(job, maxSize),
    claim: async (options) => {
      const jobs = await store.claim(options);
      if (jobs.length > 0) {
        tally.claims++;
        tally.claimed += jobs.length;
      }
      return jobs;
    },
    complete: (job) => store.complete(job),
    retry: (job, update) => store.retry(job, update),
    deadLetter: (job, update) => store.deadLetter(job, update),
    ...(store.extend === undefined
      ? {}
      : { extend: (jobs, now, leaseMs) => store.extend!(jobs, now, leaseMs) }),
    nextRunAt: (now) => store.nextRunAt(now),
    deadLetters: (limit) => store.deadLetters(limit),
    requeue: (id, now) => store.requeue(id, now),
    stats: (now) => store.stats(now),
  };
}

interface Run {
  readonly enqueuePerSecond: number;
  readonly drainPerSecond: number;
}

/**
 * Enqueues `n` jobs (64 at a time) with the queue paused, then drains them with concurrency 8
 * until the queue reports `drained` (every outcome recorded). Throws unless every job ran once
 * and the store is empty after.
 */
async function throughput(d: Breakwater, store: Store, n: number, limitMs: number): Promise<Run> {
  const ran = new Uint8Array(n);
  let runs = 0;
  const queue = new d.DeferredQueue<{ n: number }>({
    store,
    concurrency: CONCURRENCY,
    maxSize: Number.POSITIVE_INFINITY,
    pollInterval: 20,
    handler: (job) => {
      runs++;
      ran[job.payload.n]!++;
    },
  });
  queue.pause();
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`not done within ${limitMs / 1_000} s`)), limitMs);
  });
  try {
    const work = async () => {
      let start = performance.now();
      for (let i = 0; i < n; i += ENQUEUE_BATCH) {
        const batch = Math.min(ENQUEUE_BATCH, n - i);
        await Promise.all(Array.from({ length: batch }, (_, j) => queue.enqueue({ n: i + j })));
      }
      const enqueueMs = performance.now() - start;
      const drained = queue.drained();
      start = performance.now();
      queue.resume();
      await drained;
      const drainMs = performance.now() - start;
      return { enqueueMs, drainMs };
    };
    const { enqueueMs, drainMs } = await Promise.race([work(), timedOut]);
    if (runs !== n || ran.some((x) => x !== 1)) {
      throw new Error(
        `${runs} runs for ${n} jobs: ${ran.filter((x) => x !== 1).length} jobs ran other than once`,
      );
    }
    const left = await store.stats(d.systemClock.now());
    if (left.waiting + left.leased + left.deadLetters !== 0) {
      throw new Error(`the store still holds jobs after the drain: ${JSON.stringify(left)}`);
    }
    return {
      enqueuePerSecond: n / (enqueueMs / 1_000),
      drainPerSecond: n / (drainMs / 1_000),
    };
  } finally {
    clearTimeout(timer);
    await queue.close({ timeout: 0 });
  }
}

/** The cells of a measured row: `median (min–max)` over the runs. */
function cells(runs: readonly Run[]): [string, string] {
  const show = (xs: number[]) => {
    const sorted = [...xs].sort((a, b) => a - b);
    const mid = sorted[sorted.length >> 1]!;
    const fmt = (x: number) => Math.round(x).toLocaleString('en-US');
    return sorted.length === 1 ? fmt(mid) : `${fmt(mid)} (${fmt(sorted[0]!)}–${fmt(sorted.at(-1)!)})`;
  };
  return [show(runs.map((r) => r.enqueuePerSecond)), show(runs.map((r) => r.drainPerSecond))];
}

const per = (jobs: number, times: number) => (times === 0 ? '—' : (jobs / times).toFixed(1));
const message = (error: unknown) =>
  error instanceof AggregateError && error.errors.length > 0
    ? `${(error.errors[0] as Error).message}`
    : error instanceof Error
      ? error.message
      : String(error);

type Row = (string | number)[];

/** A row for a store that could not be measured: the benchmark goes on without it. */
const skipped = (store: string, why: string): Row => [store, '—', '—', '—', `not measured: ${why}`];

async function memoryRow(d: Breakwater, n: number, reps: number): Promise<Row> {
  const tally = emptyTally();
  const runs: Run[] = [];
  for (let i = 0; i < reps; i++) runs.push(await throughput(d, counted(d.memoryStore(), tally), n, 60_000));
  return [
    'memoryStore',
    `${n.toLocaleString('en-US')} × ${reps}`,
    ...cells(runs),
    `${per(tally.claimed, tally.claims)} jobs per claim`,
  ];
}

async function postgresRow(d: Breakwater, n: number, reps: number): Promise<Row> {
  let pg: typeof import('pg').default;
  let entry: typeof PostgresEntry;
  try {
    pg = (await import('pg')).default;
    entry = (await import(built('postgres.js'))) as typeof PostgresEntry;
  } catch (error) {
    return skipped('postgresStore', `could not load \`pg\` or the build's postgres.js (${message(error)})`);
  }
  const pool = new pg.Pool({ connectionString: PG_URL, max: 12, connectionTimeoutMillis: 3_000 });
  pool.on('error', () => {}); // an idle client's error: the next query reports it
  const where = PG_URL.replace(/\/\/[^@/]*@/, '//');
  try {
    try {
      await pool.query('SELECT 1');
    } catch (error) {
      return skipped('postgresStore', `no PostgreSQL at ${where} (${message(error)})`);
    }
    const tally = emptyTally();
    // Statements counted by what they do: INSERTs carry a batch of enqueues, DELETEs of completions.
    const queryable = {
      query: (text: string, values?: unknown[]) => {
        const batch = Array.isArray(values?.[0]) ? (values[0] as unknown[]).length : 1;
        if (/^\s*(WITH input|INSERT)/.test(text)) {
          tally.inserts++;
          tally.inserted += batch;
        } else if (/^\s*DELETE/.test(text)) {
          tally.deletes++;
          tally.deleted += batch;
        }
        return pool.query(text, values);
      },
    };
    const runs: Run[] = [];
    for (let i = 0; i < reps; i++) {
      const table = `bw_bench_${process.pid}_${i}`;
      const store = entry.postgresStore({ pool: queryable, table });
      try {
        await store.ensureSchema();
        runs.push(await throughput(d, counted(store, tally), n, 30_000));
      } catch (error) {
        return skipped('postgresStore', `failed: ${message(error)}`);
      } finally {
        await pool.query(`DROP TABLE IF EXISTS ${table}`).catch(() => {});
      }
    }
    return [
      'postgresStore',
      `${n.toLocaleString('en-US')} × ${reps}`,
      ...cells(runs),
      `jobs per INSERT ${per(tally.inserted, tally.inserts)}, per claim ${per(tally.claimed, tally.claims)}, per DELETE ${per(tally.deleted, tally.deletes)}`,
    ];
  } finally {
    await pool.end().catch(() => {});
  }
}

async function redisRow(d: Breakwater, n: number, reps: number): Promise<Row> {
  let entry: typeof RedisEntry;
  let redis: typeof import('redis');
  try {
    redis = await import('redis');
    entry = (await import(built('redis.js'))) as typeof RedisEntry;
  } catch (error) {
    return skipped('redisStore', `could not load \`redis\` or the build's redis.js (${message(error)})`);
  }
  const client = redis.createClient({
    url: REDIS_URL,
    socket: { connectTimeout: 3_000, reconnectStrategy: false },
  });
  client.on('error', () => {}); // reported by the command that meets it
  try {
    await client.connect();
  } catch (error) {
    return skipped('redisStore', `no Redis at ${REDIS_URL} (${message(error)})`);
  }
  try {
    const tally = emptyTally();
    const runs: Run[] = [];
    for (let i = 0; i < reps; i++) {
      const prefix = `bw-bench:${process.pid}:${i}`;
      try {
        runs.push(await throughput(d, counted(entry.redisStore({ client, prefix }), tally), n, 30_000));
      } catch (error) {
        return skipped('redisStore', `failed: ${message(error)}`);
      } finally {
        try {
          for await (const keys of client.scanIterator({ MATCH: `${prefix}:*`, COUNT: 100 })) {
            if (keys.length > 0) await client.del(keys);
          }
        } catch {}
      }
    }
    return [
      'redisStore',
      `${n.toLocaleString('en-US')} × ${reps}`,
      ...cells(runs),
      `${per(tally.claimed, tally.claims)} jobs per claim; one script call per enqueue and per completion`,
    ];
  } finally {
    await client.quit().catch(() => {});
  }
}

export const deferredThroughput: TableCase = {
  kind: 'table',
  id: 'deferred-throughput',
  title: 'DeferredQueue: store throughput',
  note:
    `Jobs/s of one queue, median (range) over the runs. Enqueue: ${ENQUEUE_BATCH} \`enqueue\` calls at a time, ` +
    'each resolved once the store holds the job (committed, for PostgreSQL), with the queue paused. Drain: ' +
    `\`resume()\` until the queue reports \`drained\` (every outcome recorded), concurrency ${CONCURRENCY}, ` +
    'a handler that returns at once; every job is checked to have run once and the store to be empty after. ' +
    'Each durable run uses a table or key prefix of its own and removes it. PostgreSQL and Redis are the local ' +
    'services (PG_URL, REDIS_URL); their figures include the round trips and, for PostgreSQL, a commit per statement.',
  async run({ quick }): Promise<TableResult> {
    const d: Breakwater = (await import('../lib/libraries.js')).bw;
    const reps = quick ? 1 : 5;
    const rows = [
      await memoryRow(d, quick ? 20_000 : 100_000, reps),
      await postgresRow(d, quick ? 1_000 : 5_000, reps),
      await redisRow(d, quick ? 2_000 : 10_000, reps),
    ];
    const down = rows.filter((row) => String(row[4]).startsWith('not measured'));
    return {
      columns: ['store', 'jobs × runs', 'enqueue (jobs/s)', 'drain (jobs/s)', 'batches'],
      rows,
      targets: [],
      ...(down.length > 0
        ? { note: `Not measured in this run: ${down.map((row) => row[0]).join(', ')}.` }
        : {}),
    };
  },
};

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const result = await deferredThroughput.run({ quick: process.argv.includes('--quick') });
  console.log([result.columns, ...result.rows].map((row) => `| ${row.join(' | ')} |`).join('\n'));
  if (result.note) console.log(result.note);
}
