/**
 * Wrapping `pg` queries: a pool behind a timeout, a circuit breaker and a retry, with a
 * fallback to the last good result. Run: DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres npx tsx examples/pg-queries.ts
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
import pg from 'pg';

const pool = new pg.Pool({
  connectionString: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
});

const breaker = new CircuitBreaker({
  name: 'orders-db',
  failureRateThreshold: 0.5,
  window: { type: 'time', duration: 10_000 },
  minimumCalls: 20,
  openTimeout: (opens) => Math.min(1_000 * 2 ** (opens - 1), 30_000),
  // A query error (bad SQL, a constraint) says nothing about the database's health.
  isFailure: (error) => !(error instanceof pg.DatabaseError) || error.code?.startsWith('57') === true,
});

const policy = pipeline(
  fallback(() => [] as unknown[], { staleIfError: { maxAge: 60_000 } }),
  retry({ retries: 2, backoff: exponential({ initial: 50, max: 1_000, jitter: 'full' }) }),
  breaker,
  timeout(2_000),
);

/** pg has no AbortSignal support: a query whose signal aborts is cancelled on the server. */
async function query<R extends pg.QueryResultRow>(
  sql: string,
  params: unknown[],
  signal: AbortSignal,
): Promise<R[]> {
  const client = await pool.connect();
  const cancel = () => {
    void pool.query('select pg_cancel_backend($1)', [(client as unknown as { processID: number }).processID]);
  };
  signal.addEventListener('abort', cancel, { once: true });
  try {
    return (await client.query<R>(sql, params)).rows;
  } finally {
    signal.removeEventListener('abort', cancel);
    client.release();
  }
}

breaker.on('stateChanged', ({ from, to, reason }) => console.log(`orders-db: ${from} -> ${to} (${reason})`));

try {
  const rows = await policy.execute(({ signal }) => query('select now() as now', [], signal), { key: 'now' });
  console.log(rows);
} catch (error) {
  if (isBrokenCircuitError(error)) console.log(`database unavailable, retry in ${error.retryAfter} ms`);
  else throw error;
} finally {
  await pool.end();
}
