import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeferredQueue } from '../../src/deferred/index.js';
import { CircuitBreaker, constant, pipeline, timeout } from '../../src/index.js';
import { postgresStore } from '../../src/postgres/index.js';
import { requireService } from '../helpers/services.js';
import { ThrowawayPostgres } from '../helpers/throwaway-postgres.js';
import { until } from './fixtures/processes.js';

const shared = await requireService('PostgreSQL', '127.0.0.1', 5432);
const unavailable = ThrowawayPostgres.unavailable();
if (unavailable !== undefined) {
  if (process.env.CI === 'true')
    throw new Error(`a throwaway PostgreSQL is required under CI=true: ${unavailable}`);
  console.warn(`\n!!! SKIPPING the deferred-queue outage test: ${unavailable}.\n`);
}
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// The queue's store is the shared PostgreSQL; the dependency its jobs write to is a throwaway
// server of this test's own, killed with `pg_ctl stop -m immediate` and started again.
describe.runIf(shared && unavailable === undefined)(
  'a DeferredQueue gated by a breaker while its dependency is down',
  () => {
    let server: ThrowawayPostgres;
    let dependency: pg.Pool;
    const storePool = new pg.Pool({
      host: '127.0.0.1',
      port: 5432,
      user: 'postgres',
      database: 'postgres',
      max: 4,
    });
    const table = `bw_outage_${process.pid}_${Date.now().toString(36)}`;

    beforeAll(async () => {
      server = await ThrowawayPostgres.create();
      dependency = new pg.Pool({
        host: '127.0.0.1',
        port: server.port,
        user: 'postgres',
        database: 'postgres',
        max: 4,
        connectionTimeoutMillis: 500,
      });
      dependency.on('error', () => {}); // idle connections die with the server; queries see their own errors
      await dependency.query('CREATE TABLE sink (n integer PRIMARY KEY)');
    }, 30_000);

    afterAll(async () => {
      await dependency?.end().catch(() => {});
      server?.destroy();
      await storePool.query(`DROP TABLE IF EXISTS ${table}`);
      await storePool.end();
    });

    it('keeps accepting work, attempts nothing but probes while open, and drains after recovery with none lost', async () => {
      const breaker = new CircuitBreaker({ name: 'dependency', failureThreshold: 3, openTimeout: 300 });
      const guarded = pipeline(breaker, timeout({ ms: 1_000, strategy: 'aggressive' }));
      const store = postgresStore({ pool: storePool, table });
      await store.ensureSchema();
      let down = false;
      const attemptsWhileDown: string[] = []; // the breaker's state when each call reached the server
      let rejected = 0;
      breaker.on('rejected', () => rejected++);
      const queue = new DeferredQueue<{ n: number }>({
        store,
        gate: breaker,
        concurrency: 4,
        maxAttempts: 1_000,
        backoff: constant(50),
        pollInterval: 100,
        handler: (job, ctx) =>
          guarded.execute(async ({ signal }) => {
            if (down) attemptsWhileDown.push(breaker.state);
            if (signal.aborted) throw signal.reason;
            await dependency.query('INSERT INTO sink VALUES ($1) ON CONFLICT DO NOTHING', [job.payload.n]);
          }, ctx),
      });
      const sinkCount = async () =>
        Number((await dependency.query('SELECT count(*) FROM sink')).rows[0].count);

      for (let n = 0; n < 50; n++) await queue.enqueue({ n }, { key: `n${n}` });
      await until('the first 50 jobs to drain', async () => (await sinkCount()) === 50, 20_000);

      server.stopImmediately();
      down = true;
      const opened = new Promise<void>((resolve) => breaker.once('stateChanged', () => resolve()));
      for (let n = 50; n < 200; n++) await queue.enqueue({ n }, { key: `n${n}` }); // the store is up: accepted
      await opened;
      await sleep(1_500); // several open periods, each ending in one probe
      expect(breaker.state === 'open' || breaker.state === 'half-open').toBe(true);
      const stats = await queue.stats();
      expect(stats.depth + stats.leased).toBeGreaterThan(100);

      server.start();
      down = false;
      await until('every job to drain after recovery', async () => (await sinkCount()) === 200, 30_000);
      await until('the store to empty', async () => {
        const s = await queue.stats();
        return s.depth === 0 && s.leased === 0;
      });
      await queue.close();

      // While down: up to failureThreshold calls (what opened the circuit, plus those already
      // running), then probes alone, each made in half-open state.
      const closedCalls = attemptsWhileDown.filter((s) => s === 'closed').length;
      const probes = attemptsWhileDown.filter((s) => s === 'half-open').length;
      expect(closedCalls).toBeLessThanOrEqual(3 + 3); // the tripping calls and those in flight beside them
      expect(probes).toBeGreaterThan(0);
      expect(attemptsWhileDown.filter((s) => s !== 'closed' && s !== 'half-open')).toEqual([]);
      expect(rejected).toBe(0); // the queue never called into an open circuit
      expect(await queue.deadLetters()).toEqual([]);
      expect(await sinkCount()).toBe(200);
    }, 60_000);
  },
);
