/**
 * A connection pool that shrinks when the database slows down: an `adaptiveLimit` in front
 * of a `pg.Pool`, whose size follows the limit from `limitChanged`.
 *
 * How, honestly: the limit is what bounds the queries in flight (at most `limit` clients are
 * ever checked out), so the pool needs no size of its own to be safe. Resizing it is about
 * the database: every idle connection is a server process holding memory. pg.Pool reads
 * `pool.options.max` each time it needs a client (pg-pool 3.x, `_isFull()`), so setting it
 * takes effect at the next checkout. Lowering it closes nothing at once: a client in use
 * finishes its query, and idle clients above the new size are closed by `idleTimeoutMillis`.
 * `options.max` is a public, typed property, but pg does not document resizing a live pool.
 *
 * The load: 12 workers query a stand-in for a database that can serve 4 queries at once:
 * each query sleeps 20 ms, times the number of such queries running over 4 (read from
 * pg_stat_activity), so latency rises with every query sent beyond 4, as it does when a
 * real database runs out of CPU or I/O (a CPU-bound query would measure this machine's load
 * instead). The limit comes down from 12 towards 4 to 5, and the pool follows.
 * Run: DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres npx tsx examples/pool-resize.ts
 */
import { adaptiveLimit, isOverloadedError } from 'breakwater';
import pg from 'pg';

const limit = adaptiveLimit({
  name: 'reports-db',
  initialLimit: 12,
  minLimit: 1,
  maxLimit: 20,
  // Short windows, so that the limit moves within a few seconds of demo.
  windowDuration: 200,
  maxQueue: 100,
  queueTimeout: 5_000,
});

const pool = new pg.Pool({
  connectionString: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
  max: limit.limit,
  // Idle connections above the current size are closed after this long.
  idleTimeoutMillis: 500,
  connectionTimeoutMillis: 2_000,
});
pool.on('error', (error) => console.error(`reports-db: idle client lost (${error.message})`));

limit.on('limitChanged', ({ from, to }) => {
  pool.options.max = to;
  console.log(`limit ${from} -> ${to}: pool max ${to}, connections open ${pool.totalCount}`);
});

/** 20 ms, stretched by the queries running beyond 4 (this one included: its text has the marker). */
const CONTENDED = `select pg_sleep(0.02 * greatest(1, (select count(*) from pg_stat_activity
  where state = 'active' and query like '%/* pool-resize demo */%') / 4.0)) /* pool-resize demo */`;

const WORKERS = 12;
const RUN_MS = Number(process.env.RUN_MS ?? 4_000);

async function worker(until: number, stats: { done: number; refused: number }): Promise<void> {
  while (performance.now() < until) {
    try {
      await limit.execute(() => pool.query(CONTENDED));
      stats.done++;
    } catch (error) {
      if (!isOverloadedError(error)) throw error;
      stats.refused++;
    }
  }
}

async function main(): Promise<void> {
  const stats = { done: 0, refused: 0 };
  let mostOpen = 0;
  const sampler = setInterval(() => {
    mostOpen = Math.max(mostOpen, pool.totalCount);
  }, 10);
  const until = performance.now() + RUN_MS;
  try {
    await Promise.all(Array.from({ length: WORKERS }, () => worker(until, stats)));
  } finally {
    clearInterval(sampler);
  }
  console.log(
    `${stats.done} queries, ${stats.refused} refused; limit ${limit.limit}, pool max ${pool.options.max}, ` +
      `connections open ${pool.totalCount} (at most ${mostOpen})`,
  );
  // Idle connections above the size close after idleTimeoutMillis; wait for that, then report.
  await new Promise((resolve) => setTimeout(resolve, 700));
  console.log(`after ${700} ms idle: connections open ${pool.totalCount}, pool max ${pool.options.max}`);
  await pool.end();
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
