/**
 * Wrapping `pg` queries: a pool behind a timeout, a circuit breaker and a retry, with a
 * fallback to the last good result. `pg` ignores AbortSignal, so the queries go through
 * `breakwater/pg`: when the timeout aborts, the query rejects at once, its connection is
 * closed and the server is told to cancel it. Against a database that stops answering
 * (a network partition), every attempt therefore ends at its timeout, the breaker opens,
 * and the later requests fail fast to the fallback.
 * Run: DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres npx tsx examples/pg-queries.ts
 */
import {
  CircuitBreaker,
  exponential,
  fallback,
  isBrokenCircuitError,
  pipeline,
  retry,
  timeout,
} from 'breakwater';
import { abortable } from 'breakwater/pg';
import pg from 'pg';

const pool = new pg.Pool({
  connectionString: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
  // A connection attempt abandoned by a timeout keeps its pool slot until pg gives up on it.
  connectionTimeoutMillis: 2_000,
});
// An idle client whose connection drops is reported here; without a listener it would crash the process.
pool.on('error', (error) => console.error(`orders-db: idle client lost (${error.message})`));
const db = abortable(pool);

const breaker = new CircuitBreaker({
  name: 'orders-db',
  failureThreshold: 3,
  openTimeout: (opens) => Math.min(5_000 * 2 ** (opens - 1), 60_000),
  // A query error (bad SQL, a constraint) says nothing about the database's health.
  isFailure: (error) => !(error instanceof pg.DatabaseError) || error.code?.startsWith('57') === true,
});

const policy = pipeline(
  fallback(
    (error) => {
      if (isBrokenCircuitError(error)) console.log(`database unavailable, retry in ${error.retryAfter} ms`);
      else console.log(`query failed: ${error instanceof Error ? error.message : String(error)}`);
      return [] as unknown[];
    },
    { staleIfError: { maxAge: 60_000 } },
  ),
  retry({ retries: 2, backoff: exponential({ initial: 50, max: 1_000, jitter: 'full' }) }),
  breaker,
  timeout(1_000),
);

breaker.on('stateChanged', ({ from, to, reason }) => console.log(`orders-db: ${from} -> ${to} (${reason})`));

// A function rather than top-level await, so the example also runs when pasted into a CommonJS project.
async function main(): Promise<void> {
  try {
    for (let request = 1; request <= 3; request++) {
      const started = performance.now();
      const rows = await policy.execute(
        async ({ signal }) => (await db.query('select now() as now', [], { signal })).rows,
        { key: 'now' },
      );
      console.log(rows);
      console.log(`request ${request} answered in ${Math.round(performance.now() - started)} ms`);
    }
  } finally {
    await pool.end();
  }
}

void main();
