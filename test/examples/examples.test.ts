import { describe, expect, it } from 'vitest';
import { describeRun, type Run, runTs } from '../helpers/run.js';
import { requireService } from '../helpers/services.js';

const LIMIT = 30_000;
const TEST_TIMEOUT = 45_000;

function expectCleanExit(run: Run): void {
  expect(run.code, describeRun(run)).toBe(0);
  expect(run.timedOut).toBe(false);
}

/** The `GET /health <status> <json>` line the framework examples print. */
function healthLine(run: Run): { status: number; body: { status: string; components: { name: string }[] } } {
  const match = /^GET \/health (\d{3}) (\{.*\})$/m.exec(run.stdout);
  expect(match, describeRun(run)).not.toBeNull();
  return { status: Number(match![1]), body: JSON.parse(match![2]!) };
}

/** The `calls_total` sample lines a framework example prints from its /metrics route. */
function callsLines(run: Run): { labels: string; value: number }[] {
  return [...run.stdout.matchAll(/^breakwater_calls_total\{([^}]*)\} (\d+(?:\.\d+)?)$/gm)].map((m) => ({
    labels: m[1]!,
    value: Number(m[2]),
  }));
}

describe('examples', () => {
  it(
    'fetch-retry-after waits out Retry-After (1 s) and then returns the body',
    async () => {
      const run = await runTs(['examples/fetch-retry-after.ts'], { limitMs: LIMIT });
      expectCleanExit(run);
      expect(run.stdout).toContain("sku: 'A-1'");
      expect(run.stdout).toContain('stock: 7');
      const match = /after (\d+) ms and (\d+) requests/.exec(run.stdout);
      expect(match, describeRun(run)).not.toBeNull();
      // The 429 said Retry-After: 1, longer than the backoff's first delay (at most 100 ms).
      expect(Number(match![1])).toBeGreaterThanOrEqual(1_000);
      expect(Number(match![1])).toBeLessThan(5_000);
      expect(Number(match![2])).toBe(2);
    },
    TEST_TIMEOUT,
  );

  it(
    'express-health-metrics serves /health 200 and a calls_total metric',
    async () => {
      const run = await runTs(['examples/express-health-metrics.ts'], { limitMs: LIMIT });
      expectCleanExit(run);
      const health = healthLine(run);
      expect(health.status).toBe(200);
      expect(health.body.status).toBe('healthy');
      expect(health.body.components.map((c) => c.name)).toEqual(['orders-db']);
      expect(callsLines(run)).toEqual([
        { labels: 'name="orders-db",policy="circuit-breaker",outcome="success"', value: 1 },
      ]);
    },
    TEST_TIMEOUT,
  );

  it(
    'fastify-health-metrics serves /health 200 and a calls_total metric',
    async () => {
      const run = await runTs(['examples/fastify-health-metrics.ts'], { limitMs: LIMIT });
      expectCleanExit(run);
      const health = healthLine(run);
      expect(health.status).toBe(200);
      expect(health.body.status).toBe('healthy');
      expect(health.body.components.map((c) => c.name)).toEqual(['search', 'disk']);
      expect(callsLines(run)).toEqual([
        { labels: 'name="search",policy="circuit-breaker",outcome="success"', value: 1 },
      ]);
    },
    TEST_TIMEOUT,
  );
});

const postgres = await requireService('PostgreSQL', '127.0.0.1', 5432);

describe.runIf(postgres)('examples against PostgreSQL on 127.0.0.1:5432', () => {
  it(
    'pg-queries prints a row read from the database, not the fallback',
    async () => {
      const run = await runTs(['examples/pg-queries.ts'], {
        limitMs: LIMIT,
        env: { DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/postgres' },
      });
      expectCleanExit(run);
      // The fallback answers [] and an open breaker prints "database unavailable": a row means a real query.
      expect(run.stdout, describeRun(run)).toMatch(/\[\s*\{\s*now: \d{4}-\d{2}-\d{2}T[\d:.]+Z\s*\}\s*\]/);
      expect(run.stdout).not.toContain('database unavailable');
    },
    TEST_TIMEOUT,
  );
});

describe('examples pasted into a CommonJS project', () => {
  it.each([
    'express-health-metrics.ts',
    'fastify-health-metrics.ts',
    'fetch-retry-after.ts',
    'pg-queries.ts',
  ])('%s compiles to CommonJS (no top-level await)', async (file) => {
    const { transform } = await import('esbuild');
    const { readFile } = await import('node:fs/promises');
    const source = await readFile(new URL(`../../examples/${file}`, import.meta.url), 'utf8');
    const output = await transform(source, { loader: 'ts', format: 'cjs' });
    expect(output.code).toContain('require(');
  });
});
