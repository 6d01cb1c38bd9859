import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CircuitBreaker,
  type CircuitState,
  isBrokenCircuitError,
  isTimeoutError,
  pipeline,
  timeout,
} from '../../src/index.js';
import { ThrowawayPostgres } from '../helpers/throwaway-postgres.js';

const unavailable = ThrowawayPostgres.unavailable();
if (unavailable !== undefined) {
  if (process.env.CI === 'true')
    throw new Error(`a throwaway PostgreSQL is required under CI=true: ${unavailable}`);
  console.warn(`\n!!! SKIPPING the PostgreSQL-stopped scenario: ${unavailable}.\n`);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// Real traffic against a real server that is killed mid-traffic and started again: the
// breaker must open on the failures, spare the dead server meanwhile, and close once it is back.
describe.runIf(unavailable === undefined)('a PostgreSQL server stopped mid-traffic', () => {
  let server: ThrowawayPostgres;
  let pool: pg.Pool;

  beforeAll(async () => {
    server = await ThrowawayPostgres.create();
    pool = new pg.Pool({
      host: '127.0.0.1',
      port: server.port,
      user: 'postgres',
      database: 'postgres',
      max: 4,
      connectionTimeoutMillis: 500,
    });
    pool.on('error', () => {}); // idle connections killed with the server; queries see their own errors
  }, 30_000);

  afterAll(async () => {
    await pool?.end().catch(() => {});
    server?.destroy();
  });

  it('opens the breaker, rejects without touching the server while it is down, and closes after restart', async () => {
    const breaker = new CircuitBreaker({ name: 'throwaway-pg', failureThreshold: 3, openTimeout: 300 });
    const transitions: [CircuitState, CircuitState][] = [];
    breaker.on('stateChanged', ({ from, to }) => transitions.push([from, to]));
    const policy = pipeline(breaker, timeout({ ms: 1_000, strategy: 'aggressive' }));
    let queries = 0;
    const query = () =>
      policy.execute(async () => {
        queries++;
        return (await pool.query<{ n: number }>('select 1 as n')).rows[0]?.n;
      });

    for (let i = 0; i < 20; i++) expect(await query()).toBe(1);
    expect(breaker.state).toBe('closed');

    server.stopImmediately();
    const during: unknown[] = [];
    for (let i = 0; i < 30; i++) during.push(await query().catch((e: unknown) => e));
    expect(breaker.state).toBe('open');
    expect(transitions[0]).toEqual(['closed', 'open']);
    const failuresBeforeOpen = during.findIndex(isBrokenCircuitError);
    expect(failuresBeforeOpen).toBe(3); // the threshold, then rejections
    expect(
      during.slice(0, 3).every((e) => e instanceof Error && !isBrokenCircuitError(e) && !isTimeoutError(e)),
    ).toBe(true);
    expect(during.slice(3).every(isBrokenCircuitError)).toBe(true);
    expect(queries).toBe(20 + 3); // rejected calls never reached the dead server

    server.start();
    await sleep(350); // past openTimeout: the next call is a probe
    expect(await query()).toBe(1);
    expect(breaker.state).toBe('closed');
    for (let i = 0; i < 10; i++) expect(await query()).toBe(1);
    expect(transitions.map(([, to]) => to)).toEqual(['open', 'half-open', 'closed']);
  }, 30_000);
});
