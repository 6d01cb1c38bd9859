import { describe, expect, it } from 'vitest';
import { describeRun, runTs } from '../helpers/run.js';
import { requireService } from '../helpers/services.js';

const postgres = await requireService('PostgreSQL', '127.0.0.1', 5432);

describe.runIf(postgres)('examples/pool-resize.ts against the local PostgreSQL', () => {
  it('shrinks the pool with the limit when queries beyond 4 slow the database down, then exits', async () => {
    const run = await runTs(['examples/pool-resize.ts'], {
      env: { RUN_MS: '3000', DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/postgres' },
      limitMs: 45_000,
    });
    expect(run.code, describeRun(run)).toBe(0);
    const changes = [...run.stdout.matchAll(/^limit (\d+) -> (\d+): pool max (\d+)/gm)].map((m) => ({
      from: Number(m[1]),
      to: Number(m[2]),
      max: Number(m[3]),
    }));
    // Every change resized the pool to the new limit, and the limit came down from 12.
    expect(changes.length, describeRun(run)).toBeGreaterThan(0);
    for (const c of changes) expect(c.max).toBe(c.to);
    const summary = /limit (\d+), pool max (\d+), connections open (\d+) \(at most (\d+)\)/.exec(run.stdout);
    expect(summary, describeRun(run)).not.toBeNull();
    const [limit, max, , most] = summary!.slice(1).map(Number) as [number, number, number, number];
    expect(limit).toBeLessThan(12);
    expect(max).toBe(limit);
    expect(most).toBeLessThanOrEqual(12);
  }, 60_000);
});
