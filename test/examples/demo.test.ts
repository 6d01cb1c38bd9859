import { describe, expect, it } from 'vitest';
import { describeRun, type Run, runTs } from '../helpers/run.js';
import { requireService } from '../helpers/services.js';

const SECONDS = 6;
const OUTAGE_START = SECONDS * 1_000 * 0.25;
const OUTAGE_END = SECONDS * 1_000 * 0.55;

interface Summary {
  database: string;
  requests: number;
  fromDatabase: number;
  stale: number;
  fallbacks: number;
  errors: number;
  errorTypes: Record<string, number>;
  hung: number;
  broken: number;
  rejectedByBreaker: number;
  msToOpen: number | null;
  msToRecover: number | null;
  finalState: string;
  transitions: string[];
  checks: Record<string, boolean>;
}

/** Runs the demo in its short mode and reads the JSON summary it prints as its last line. */
async function demo(env: NodeJS.ProcessEnv = {}): Promise<{ run: Run; summary: Summary }> {
  const run = await runTs(['examples/demo/main.ts', '--seconds', String(SECONDS), '--json'], {
    env,
    limitMs: 30_000,
  });
  const last = run.stdout.trim().split('\n').at(-1) ?? '';
  let summary: Summary;
  try {
    summary = JSON.parse(last) as Summary;
  } catch {
    throw new Error(`the demo's last line is not its JSON summary\n${describeRun(run)}`);
  }
  return { run, summary };
}

function expectGoodRun({ run, summary }: { run: Run; summary: Summary }): void {
  const why = `${JSON.stringify(summary, null, 2)}\n${describeRun(run)}`;
  expect(run.timedOut, why).toBe(false);
  expect(summary.checks, why).toEqual({
    'breaker opened during the outage': true,
    'breaker closed after the outage': true,
    'no request hung': true,
    'every request got a response or a typed error': true,
  });
  expect(run.code, why).toBe(0);

  expect(summary.requests, why).toBeGreaterThan(0);
  expect(summary.hung, why).toBe(0);
  expect(summary.broken, why).toBe(0);
  // Every request is accounted for: from the database, stale, fallback, or a typed 503.
  expect(summary.fromDatabase + summary.stale + summary.fallbacks + summary.errors, why).toBe(
    summary.requests,
  );
  for (const type of Object.keys(summary.errorTypes)) expect(type, why).toMatch(/Error$/);
  // During the outage the breaker shed load and the fallback answered.
  expect(summary.rejectedByBreaker, why).toBeGreaterThan(0);
  expect(summary.stale + summary.fallbacks, why).toBeGreaterThan(0);
  expect(summary.fromDatabase, why).toBeGreaterThan(0);
  // It opened during the outage and closed after it ended.
  expect(summary.msToOpen, why).not.toBeNull();
  expect(summary.msToOpen!, why).toBeLessThan(OUTAGE_END - OUTAGE_START);
  expect(summary.msToRecover, why).not.toBeNull();
  expect(summary.finalState, why).toBe('closed');
  expect(
    summary.transitions.some((t) => t.endsWith('closed->open')),
    why,
  ).toBe(true);
  expect(summary.transitions.at(-1), why).toMatch(/half-open->closed$/);
}

describe('the demo, short mode', () => {
  it('with embedded PGlite: opens during the outage, recovers after it, and answers every request', async () => {
    const result = await demo({ DATABASE_URL: '' });
    expect(result.summary.database).toMatch(/^PGlite/);
    expectGoodRun(result);
  }, 45_000);
});

const postgres = await requireService('PostgreSQL', '127.0.0.1', 5432);

describe.runIf(postgres)('the demo, short mode, against PostgreSQL on 127.0.0.1:5432', () => {
  it('through a FaultProxy: opens during the partition, recovers after it, and answers every request', async () => {
    const result = await demo({ DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/postgres' });
    expect(result.summary.database).toMatch(/^PostgreSQL at 127\.0\.0\.1:5432 through a FaultProxy/);
    expectGoodRun(result);
  }, 45_000);
});
