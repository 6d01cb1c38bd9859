import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { describeRun, ROOT, type Run } from '../helpers/run.js';
import { requireService } from '../helpers/services.js';

// 8 s: the breaker gets a second probe after the outage if the first times out on a loaded machine.
const SECONDS = 8;
const OUTAGE_START = SECONDS * 1_000 * 0.25;
const OUTAGE_END = SECONDS * 1_000 * 0.55;
/** The demo's adaptive limit: initialLimit, minLimit, maxLimit. */
const LIMIT_START = 16;
const LIMIT_MIN = 2;
const LIMIT_MAX = 32;
// Generous: PGlite's start alone takes many seconds on a loaded machine; a hung demo still fails.
const LIMIT = 60_000;
const TEST_TIMEOUT = 90_000;

interface Summary {
  database: string;
  url: string;
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
  limit: {
    initial: number;
    min: number;
    max: number;
    atBurstStart: number;
    minDuringBurst: number;
    maxQueuedDuringBurst: number;
    final: number;
  };
  shedByLimit: Record<'critical' | 'high' | 'normal' | 'low' | 'background', number>;
  burst: Record<
    'critical' | 'background',
    { answered: number; degraded: number; shed: number; failed: number }
  >;
  checks: Record<string, boolean>;
}

interface Line {
  readonly text: string;
  /** ms after the spawn that the line arrived. */
  readonly at: number;
}

interface Probe {
  readonly status: number;
  readonly body: string;
}

interface DemoRun {
  run: Run;
  lines: Line[];
  summary: Summary;
  /** What the printed /health and /metrics URLs answered, fetched as soon as they were printed. */
  probes: { health?: Probe; metrics?: Probe; dashboard?: Probe & { type: string | null } };
}

/**
 * Runs the demo in its short mode with stdout piped (not a TTY), as a user's `| tee` would,
 * reading its lines as they arrive and probing the URLs it prints while it runs.
 */
async function demo(env: NodeJS.ProcessEnv = {}): Promise<DemoRun> {
  const started = performance.now();
  const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env };
  // Piped output must be plain even when nothing asks for it.
  delete childEnv.NO_COLOR;
  delete childEnv.FORCE_COLOR;
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'examples/demo/main.ts', '--seconds', String(SECONDS), '--json'],
    { cwd: ROOT, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stdout = '';
  let stderr = '';
  let partial = '';
  const lines: Line[] = [];
  const probes: DemoRun['probes'] = {};
  const probing: Promise<void>[] = [];
  const probe = (name: 'health' | 'metrics' | 'dashboard', url: string) =>
    probing.push(
      fetch(url, { signal: AbortSignal.timeout(5_000) }).then(async (response) => {
        const type = response.headers.get('content-type');
        probes[name] = { status: response.status, body: await response.text(), type };
      }),
    );
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
    const parts = (partial + chunk).split('\n');
    partial = parts.pop()!;
    for (const text of parts) {
      lines.push({ text, at: performance.now() - started });
      const url = /^\s+(health|metrics|dashboard)\s+(http:\/\/\S+)$/.exec(text);
      if (url) probe(url[1] as 'health' | 'metrics' | 'dashboard', url[2]!);
    }
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, LIMIT);
  const run = await new Promise<Run>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, ms: performance.now() - started, timedOut });
    });
  });
  await Promise.allSettled(probing);
  const last = lines.at(-1)?.text ?? '';
  let summary: Summary;
  try {
    summary = JSON.parse(last) as Summary;
  } catch {
    throw new Error(`the demo's last line is not its JSON summary\n${describeRun(run)}`);
  }
  return { run, lines, summary, probes };
}

function expectGoodRun({ run, summary }: DemoRun): void {
  const why = `${JSON.stringify(summary, null, 2)}\n${describeRun(run)}`;
  expect(run.timedOut, why).toBe(false);
  expect(summary.checks, why).toEqual({
    'breaker opened during the outage': true,
    'breaker closed after the outage': true,
    'no request hung': true,
    'every request got a response or a typed error': true,
    'the limit shrank during the burst': true,
    'every critical request was answered from the database': true,
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

  // Overload: the burst of background work made the limit shrink (within its bounds) ...
  const { limit, burst, shedByLimit } = summary;
  expect(limit.initial, why).toBe(LIMIT_START);
  expect(limit.minDuringBurst, why).toBeLessThan(limit.atBurstStart);
  expect(limit.min, why).toBeGreaterThanOrEqual(LIMIT_MIN);
  expect(limit.min, why).toBeLessThanOrEqual(limit.minDuringBurst);
  expect(limit.max, why).toBeLessThanOrEqual(LIMIT_MAX);
  expect(limit.max, why).toBeGreaterThanOrEqual(limit.initial);
  // ... background work waited behind the requests, and some of it was shed ...
  expect(limit.maxQueuedDuringBurst, why).toBeGreaterThan(0);
  expect(burst.background.answered, why).toBeGreaterThan(0);
  expect(burst.background.shed, why).toBeGreaterThan(0);
  expect(burst.background.degraded + burst.background.failed, why).toBe(0);
  expect(shedByLimit.background, why).toBeGreaterThanOrEqual(burst.background.shed);
  // ... while every critical request was answered from the database, none shed.
  expect(burst.critical.answered, why).toBeGreaterThan(0);
  expect(burst.critical, why).toEqual({ answered: burst.critical.answered, degraded: 0, shed: 0, failed: 0 });
  expect(shedByLimit.critical, why).toBe(0);

  // The printed summary says the same.
  expect(run.stdout, why).toContain(
    `  limit: started at ${LIMIT_START}, ranged ${limit.min}..${limit.max}; during the burst it went from ${limit.atBurstStart} down to ${limit.minDuringBurst}, with up to ${limit.maxQueuedDuringBurst} calls queued\n`,
  );
  const c = burst.critical;
  const b = burst.background;
  expect(run.stdout, why).toContain(
    `  burst, critical: ${c.answered} answered from the database, 0 stale/fallback, 0 shed, 0 failed\n`,
  );
  expect(run.stdout, why).toContain(
    `  burst, background: ${b.answered} answered from the database, 0 stale/fallback, ${b.shed} shed, 0 failed\n`,
  );
  for (const name of Object.keys(summary.checks)) expect(run.stdout, why).toContain(`  ok   ${name}\n`);
}

/** What a piped reader sees: plain lines, URLs that answer, a legend, and a status that follows the breaker. */
function expectReadablePipedOutput({ run, lines, summary, probes }: DemoRun): void {
  const why = describeRun(run);
  // Not a TTY: no redraw (carriage returns, cursor moves) and no colour codes.
  expect(run.stdout, why).not.toContain('\r');
  expect(run.stdout, why).not.toContain('\x1b');
  for (let i = 1; i < lines.length; i++) {
    if (lines[i]!.text !== '')
      expect(lines[i]!.text, `line ${i} repeats line ${i - 1}\n${why}`).not.toBe(lines[i - 1]!.text);
  }

  // The URLs are printed, and answered while the demo ran (it closes its server before it exits).
  expect(run.stdout, why).toContain(`  metrics  ${summary.url}/metrics\n`);
  expect(run.stdout, why).toContain(`  health   ${summary.url}/health\n`);
  expect(run.stdout, why).toContain(`  dashboard ${summary.url}/dashboard/\n`);
  // The dashboard's URL is printed at start (before the traffic), and serves its page.
  const dashboardLine = lines.findIndex((l) => l.text.startsWith('  dashboard '));
  const firstStatus = lines.findIndex((l) => /^t=\s*[\d.]+s {2}db: /.test(l.text));
  expect(dashboardLine, why).toBeGreaterThan(-1);
  expect(dashboardLine, why).toBeLessThan(firstStatus);
  expect(probes.dashboard?.status, why).toBe(200);
  expect(probes.dashboard?.type, why).toMatch(/^text\/html/);
  expect(probes.dashboard!.body, why).toMatch(/^<!doctype html>/i);
  expect(probes.dashboard!.body, why).toContain('breakwater demo');
  expect(probes.health?.status, why).toBe(200);
  // Healthy at start; degraded if the probe was slow enough to meet the outage (the breaker is not critical).
  expect(JSON.parse(probes.health!.body), why).toMatchObject({
    status: expect.stringMatching(/^(healthy|degraded)$/),
    components: [{ name: 'orders-db', kind: 'circuit-breaker' }],
  });
  expect(probes.metrics?.status, why).toBe(200);
  expect(probes.metrics!.body, why).toMatch(/^demo_circuit_state\{name="orders-db",state="closed"\} [01]$/m);

  // A legend for every count the status lines show.
  for (const term of [
    'ok',
    'stale',
    'fallback',
    'failed',
    'rejected',
    'retries',
    'breaker',
    'limit',
    'shed',
  ]) {
    expect(run.stdout, why).toMatch(new RegExp(`^  ${term} +\\S`, 'm'));
  }

  // Status lines print each change once, add up, and show the breaker's state as its events left it.
  let state = 'closed';
  let down = false;
  let previous = '';
  const seen: string[] = [];
  const statuses = lines.filter((l) => /^t=\s*[\d.]+s {2}db: /.test(l.text));
  expect(statuses.length, why).toBeGreaterThanOrEqual(3);
  for (const { text } of lines) {
    const transition = /^t=\s*[\d.]+s {2}breaker (\S+) -> (\S+) /.exec(text);
    if (transition) {
      expect(transition[1], `${text}\n${why}`).toBe(state);
      state = transition[2]!;
      seen.push(`${transition[1]}->${state}`);
    }
    if (/ outage begins: /.test(text)) down = true;
    if (/ outage ends: /.test(text)) down = false;
    const status =
      /^t=\s*[\d.]+s {2}(db: (up|DOWN) +breaker: (\S+) .*requests (\d+) = ok (\d+) \+ stale (\d+) \+ fallback (\d+) \+ failed (\d+) .*)$/.exec(
        text,
      );
    if (!status) continue;
    expect(status[1], `status repeated: ${text}\n${why}`).not.toBe(previous);
    previous = status[1]!;
    expect(status[3], `${text}\n${why}`).toBe(state);
    expect(status[2], `${text}\n${why}`).toBe(down ? 'DOWN' : 'up');
    const [requests, ok, stale, fallback, failed] = status.slice(4).map(Number) as [
      number,
      number,
      number,
      number,
      number,
    ];
    expect(ok + stale + fallback + failed, `${text}\n${why}`).toBe(requests);
  }
  // The burst is announced, and the summary reports the limit and the burst's requests by priority.
  expect(run.stdout, why).toMatch(/^t=\s*[\d.]+s {2}burst begins: /m);
  expect(run.stdout, why).toMatch(/^t=\s*[\d.]+s {2}burst ends /m);
  expect(statuses.some((l) => / \| limit \d+ {2}in flight \d+ {2}queued \d+ {2}shed \d+/.test(l.text))).toBe(
    true,
  );
  // Every transition was printed as it happened, and the last status shows the breaker closed.
  expect(seen, why).toEqual(summary.transitions.map((t) => t.split(' ')[1]));
  expect(statuses.at(-1)!.text, why).toMatch(/breaker: closed /);
}

describe('the demo, short mode, piped', () => {
  it(
    'with embedded PGlite: opens during the outage, recovers after it, and answers every request',
    async () => {
      const result = await demo({ DATABASE_URL: '' });
      expect(result.summary.database).toMatch(/^PGlite/);
      expectGoodRun(result);
      expectReadablePipedOutput(result);
      // It says what it is doing at once, not after the seconds that PGlite takes to start.
      const first = result.lines[0]!;
      const ready = result.lines.find((l) => l.text.startsWith('database ready after'));
      expect(result.lines.slice(0, 4).some((l) => /^starting PGlite/.test(l.text))).toBe(true);
      expect(ready, describeRun(result.run)).toBeDefined();
      expect(ready!.at - first.at, describeRun(result.run)).toBeGreaterThan(500);
    },
    TEST_TIMEOUT,
  );
});

const postgres = await requireService('PostgreSQL', '127.0.0.1', 5432);

describe.runIf(postgres)('the demo, short mode, piped, against PostgreSQL on 127.0.0.1:5432', () => {
  it(
    'through a FaultProxy: opens during the partition, recovers after it, and answers every request',
    async () => {
      const result = await demo({ DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/postgres' });
      expect(result.summary.database).toMatch(/^PostgreSQL at 127\.0\.0\.1:5432 through a FaultProxy/);
      expectGoodRun(result);
      expectReadablePipedOutput(result);
      expect(
        result.lines.slice(0, 4).some((l) => /^connecting to PostgreSQL at 127\.0\.0\.1:5432/.test(l.text)),
      ).toBe(true);
    },
    TEST_TIMEOUT,
  );
});
