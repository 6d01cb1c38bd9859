import { afterEach, describe, expect, it } from 'vitest';
import { FaultProxy } from '../../src/chaos/index.js';
import { describeRun, runTs } from '../helpers/run.js';
import { requireService } from '../helpers/services.js';

const postgres = await requireService('PostgreSQL', '127.0.0.1', 5432);

let proxy: FaultProxy | undefined;

afterEach(async () => {
  await proxy?.close();
  proxy = undefined;
});

describe.runIf(postgres)('examples/pg-queries.ts against PostgreSQL on 127.0.0.1:5432', () => {
  it('answers each request from the database when it is healthy', async () => {
    proxy = await FaultProxy.start({ target: { host: '127.0.0.1', port: 5432 } });
    const run = await runTs(['examples/pg-queries.ts'], {
      limitMs: 30_000,
      env: { DATABASE_URL: `postgres://postgres@${proxy.address}/test` },
    });
    expect(run.code, describeRun(run)).toBe(0);
    expect(run.stdout.match(/\[\s*\{\s*now: \d{4}-\d{2}-\d{2}T[\d:.]+Z\s*\}\s*\]/g)).toHaveLength(3);
    expect(run.stdout).not.toMatch(/-> open|database unavailable|query failed/);
  }, 45_000);

  it('behind a blackholed network: every attempt ends at its 1 s timeout, the breaker opens, the run ends', async () => {
    proxy = await FaultProxy.start({ target: { host: '127.0.0.1', port: 5432 } });
    proxy.blackhole();
    const run = await runTs(['examples/pg-queries.ts'], {
      limitMs: 30_000,
      env: { DATABASE_URL: `postgres://postgres@${proxy.address}/test` },
    });
    console.log(
      `pg-queries.ts against a blackhole: exit ${run.code} after ${Math.round(run.ms)} ms\n${run.stdout}`,
    );
    expect(run.code, describeRun(run)).toBe(0);
    expect(run.timedOut).toBe(false);
    // Three attempts of 1 s (the timeout) and two short backoffs, then the pool's last connect attempt
    // (2 s) on the way out, and the start of node and tsx. Before breakwater/pg, it hung until killed.
    expect(run.ms, describeRun(run)).toBeLessThan(10_000);
    // The first request: three attempts time out, the third opens the breaker, the fallback answers.
    expect(run.stdout).toContain('orders-db: closed -> open');
    expect(run.stdout).toContain('query failed: Call timed out after 1000 ms');
    const took = [...run.stdout.matchAll(/^request (\d) answered in (\d+) ms$/gm)].map((m) => Number(m[2]));
    expect(took, describeRun(run)).toHaveLength(3);
    expect(took[0]).toBeGreaterThanOrEqual(3_000);
    expect(took[0]).toBeLessThan(3_800); // plus two backoffs of at most 50 and 100 ms
    // The next two fail fast on the open circuit: no attempt, no timeout.
    expect(run.stdout.match(/database unavailable, retry in \d+ ms/g)).toHaveLength(2);
    expect(took[1]).toBeLessThan(100);
    expect(took[2]).toBeLessThan(100);
    expect(run.stdout.match(/^\[\]$/gm)).toHaveLength(3);
  }, 45_000);
});
