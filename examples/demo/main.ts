/**
 * `npm run demo`: a service that reads orders from a real database through a breakwater
 * pipeline, driven with traffic through a scripted outage, then a burst of background work
 * that the adaptive limit holds back while critical requests are still answered; shown live in
 * the terminal and on the dashboard page.
 *
 *   npm run demo                       # embedded PostgreSQL (PGlite), 20 s of traffic
 *   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres npm run demo
 *   npm run demo -- --seconds 8 --json # shorter, and a JSON summary as the last line, after the text one
 *
 * On a terminal the status redraws in place; piped, it prints one line per change.
 */
import { parseArgs } from 'node:util';
import type { CircuitState, Priority } from 'breakwater';
import type { Source } from './service.js';

const { values: args } = parseArgs({
  options: { seconds: { type: 'string', default: '20' }, json: { type: 'boolean', default: false } },
});
const seconds = Number(args.seconds);
if (!(seconds >= 5)) throw new RangeError(`--seconds must be a number >= 5, got ${args.seconds}`);
const durationMs = seconds * 1_000;
const outageStart = durationMs * 0.25;
const outageEnd = durationMs * 0.55;
const burstStart = durationMs * 0.68;
const burstEnd = durationMs * 0.88;
const WORKERS = 8;
/** During the burst: background tasks in the service that read without a pause, and critical clients. */
const BACKGROUND_TASKS = 48;
const CRITICAL_CLIENTS = 2;
const CLIENT_TIMEOUT = 3_000;

const live = process.stdout.isTTY === true;
const color = live && !process.env.NO_COLOR;
/** Lines of the live status block on screen (TTY only): a logged line replaces them, then they are redrawn. */
let drawn = 0;
function log(line = ''): void {
  if (drawn) process.stdout.write(`\x1b[${drawn}A\x1b[J`);
  drawn = 0;
  process.stdout.write(`${line}\n`);
}
const secs = (ms: number) => (ms / 1000).toFixed(1);

// Say what is happening before loading anything: starting PGlite alone takes seconds.
const databaseUrl = process.env.DATABASE_URL;
log(
  `breakwater demo: ${WORKERS} clients call a service for ${seconds} s; it reads orders from PostgreSQL through`,
);
log(
  `fallback -> adaptive limit -> retry -> circuit breaker -> timeout, and the database is down from t=${secs(outageStart)}s to t=${secs(outageEnd)}s.`,
);
log(
  `From t=${secs(burstStart)}s to t=${secs(burstEnd)}s, a background job in the service runs ${BACKGROUND_TASKS} reads at once, and ${CRITICAL_CLIENTS} more clients send critical requests.`,
);
log(
  databaseUrl
    ? `connecting to PostgreSQL at ${new URL(databaseUrl).host} through a FaultProxy...`
    : 'starting PGlite (PostgreSQL compiled to WebAssembly, in this process); this takes a few seconds...',
);
const loading = performance.now();
const { embeddedDatabase, realDatabase } = await import('./database.js');
const { startService } = await import('./service.js');
const db = databaseUrl ? await realDatabase(databaseUrl) : await embeddedDatabase();
const service = await startService(db);
log(`database ready after ${secs(performance.now() - loading)} s: ${db.description}`);
log('the service answers, until the summary is printed:');
log(`  orders   ${service.url}/orders/1`);
log(`  metrics  ${service.url}/metrics`);
log(`  health   ${service.url}/health`);
log(`  dashboard ${service.url}/dashboard/`);
log('legend: requests = ok + stale + fallback + failed, counted as the clients get their answers');
log('  ok        answered from the database');
log('  stale     the database call failed or was refused: answered with the last good copy of that order');
log('  fallback  the same, with no copy cached: answered with a placeholder order');
log('  failed    no usable answer (a 503 with a typed error, or none within 3 s); expected: 0');
log('  rejected  calls the open breaker refused at once, without touching the database');
log('            (then answered stale or fallback: not extra requests)');
log('  retries   attempts after a failure;  timeouts: attempts cut off at 250 ms');
log('  breaker   closed: calls reach the database; open: rejected at once; half-open: trial calls test it');
log('  limit     database calls allowed at once; it shrinks when the database slows down');
log('            (in flight: running now; queued: waiting for a slot, critical first, background last)');
log('  shed      calls the limit refused (queue full, or waited 500 ms): background work is dropped');
log();

const t0 = performance.now();
const elapsed = () => performance.now() - t0;

const counts: Record<Source | 'error' | 'hung' | 'broken', number> = {
  database: 0,
  stale: 0,
  fallback: 0,
  error: 0,
  hung: 0,
  broken: 0,
};
/** Requests answered (or given up on): counted on completion, so the counts always add up to it. */
let requests = 0;
const errorTypes = new Map<string, number>();
const latencies: number[] = [];
let databaseDown = false;
let bursting = false;

/** The burst's requests by priority: answered from the database, served stale/fallback, shed (503), other. */
type BurstCounts = { answered: number; degraded: number; shed: number; failed: number };
const burst: Record<'critical' | 'background', BurstCounts> = {
  critical: { answered: 0, degraded: 0, shed: 0, failed: 0 },
  background: { answered: 0, degraded: 0, shed: 0, failed: 0 },
};
const limiter = service.limit;
const limits = {
  initial: limiter.limit,
  min: limiter.limit,
  max: limiter.limit,
  atBurstStart: limiter.limit,
  minDuringBurst: limiter.limit,
  maxQueuedDuringBurst: 0,
};
limiter.on('limitChanged', ({ to }) => {
  limits.min = Math.min(limits.min, to);
  limits.max = Math.max(limits.max, to);
  if (bursting) limits.minDuringBurst = Math.min(limits.minDuringBurst, to);
});

const stamp = () => `t=${secs(elapsed()).padStart(5)}s`;
const transitions: { at: number; from: CircuitState; to: CircuitState }[] = [];
const meaning: Partial<Record<CircuitState, string>> = {
  open: 'calls are rejected at once; the fallback answers',
  'half-open': 'trial calls test the database',
  closed: 'calls reach the database again',
};
// The status follows the breaker's own events, so it changes when the breaker does.
service.breaker.on('stateChanged', ({ from, to, reason }) => {
  transitions.push({ at: elapsed(), from, to });
  log(`${stamp()}  breaker ${from} -> ${to} (${reason}): ${meaning[to] ?? to}`);
  if (live) draw();
});

let lastStatus = '';
function draw(final = false): void {
  const state = service.breaker.state;
  const failed = counts.error + counts.hung + counts.broken;
  const { rejected, retries, timeouts, shed } = service.stats;
  const shedTotal = Object.values(shed).reduce((a, b) => a + b, 0);
  const parts = [
    `db: ${databaseDown ? 'DOWN' : 'up  '}  breaker: ${state.padEnd(9)}  health: ${service.health.status.padEnd(9)}`,
    `requests ${requests} = ok ${counts.database} + stale ${counts.stale} + fallback ${counts.fallback} + failed ${failed}`,
    `rejected ${rejected}  retries ${retries}  timeouts ${timeouts}`,
    `limit ${limiter.limit}  in flight ${limiter.inFlight}  queued ${limiter.queued}  shed ${shedTotal}${bursting ? '  (burst)' : ''}`,
  ];
  const status = parts.join(' | ');
  if (live) {
    // One short line per part, cut to the terminal's width: a wrapped line would break the redraw.
    const width = (process.stdout.columns || 80) - 1;
    const lines = [`${stamp()}  ${parts[0]}`, ...parts.slice(1).map((p) => `          ${p}`)].map((l) =>
      l.slice(0, width),
    );
    if (color) {
      const code = state === 'closed' ? '32' : state === 'open' ? '31' : '33';
      lines[0] = lines[0]!.replace(`breaker: ${state}`, `breaker: \x1b[${code}m${state}\x1b[0m`);
    }
    if (drawn) process.stdout.write(`\x1b[${drawn}A`);
    process.stdout.write(lines.map((l) => `\x1b[2K${l}\n`).join(''));
    drawn = final ? 0 : lines.length;
  } else if (status !== lastStatus) {
    // Piped: one line per change, never the same status twice.
    log(`${stamp()}  ${status}`);
  }
  lastStatus = status;
}

async function worker(): Promise<void> {
  while (elapsed() < durationMs) {
    const id = 1 + Math.floor(Math.random() * 200);
    const started = performance.now();
    try {
      const response = await fetch(`${service.url}/orders/${id}`, {
        signal: AbortSignal.timeout(CLIENT_TIMEOUT),
      });
      await response.arrayBuffer();
      if (response.status === 200) counts[(response.headers.get('x-source') as Source) ?? 'database']++;
      else {
        counts.error++;
        const type = response.headers.get('x-error') ?? `HTTP ${response.status}`;
        errorTypes.set(type, (errorTypes.get(type) ?? 0) + 1);
      }
    } catch (error) {
      if ((error as Error).name === 'TimeoutError') counts.hung++;
      else counts.broken++;
    }
    requests++;
    latencies.push(performance.now() - started);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** The background job: reads as fast as the limit lets it, through the same limit as the requests. */
async function backgroundTask(): Promise<void> {
  const counts = burst.background;
  while (bursting) {
    try {
      await service.background(1 + Math.floor(Math.random() * 200));
      counts.answered++;
    } catch (error) {
      if ((error as Error).name === 'OverloadedError') counts.shed++;
      else counts.failed++;
      // Shed work backs off a little, as a job would.
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

/** A client whose requests must be answered (a checkout, say): `x-priority: critical`, at a user's pace. */
async function criticalClient(): Promise<void> {
  const counts = burst.critical;
  while (bursting) {
    const id = 1 + Math.floor(Math.random() * 200);
    try {
      const response = await fetch(`${service.url}/orders/${id}`, {
        headers: { 'x-priority': 'critical' satisfies Priority },
        signal: AbortSignal.timeout(CLIENT_TIMEOUT),
      });
      await response.arrayBuffer();
      const source = response.headers.get('x-source');
      if (response.status === 200) counts[source === 'database' ? 'answered' : 'degraded']++;
      else if (response.headers.get('x-error') === 'OverloadedError') counts.shed++;
      else counts.failed++;
    } catch {
      counts.failed++;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

const bursts: Promise<void>[] = [];
let queueSampler: ReturnType<typeof setInterval> | undefined;
const timers = [
  setTimeout(() => {
    databaseDown = true;
    db.startOutage();
    log(`${stamp()}  outage begins: the database is unreachable`);
    if (live) draw();
  }, outageStart),
  setTimeout(() => {
    databaseDown = false;
    db.endOutage();
    log(`${stamp()}  outage ends: the database is reachable again`);
    if (live) draw();
  }, outageEnd),
  setTimeout(function startBurst() {
    // Overload is the subject here, not the outage: wait until the breaker has closed again.
    if (service.breaker.state !== 'closed') {
      service.breaker.once('stateChanged', startBurst);
      return;
    }
    if (elapsed() >= burstEnd) return;
    bursting = true;
    limits.atBurstStart = limits.minDuringBurst = limiter.limit;
    log(
      `${stamp()}  burst begins: ${BACKGROUND_TASKS} background reads at once, and ${CRITICAL_CLIENTS} critical clients (limit ${limiter.limit})`,
    );
    queueSampler = setInterval(() => {
      limits.maxQueuedDuringBurst = Math.max(limits.maxQueuedDuringBurst, limiter.queued);
    }, 20);
    for (let i = 0; i < BACKGROUND_TASKS; i++) bursts.push(backgroundTask());
    for (let i = 0; i < CRITICAL_CLIENTS; i++) bursts.push(criticalClient());
    if (live) draw();
  }, burstStart),
  setTimeout(() => {
    if (!bursting) return;
    bursting = false;
    clearInterval(queueSampler);
    log(`${stamp()}  burst ends (limit ${limiter.limit}, lowest during the burst ${limits.minDuringBurst})`);
    if (live) draw();
  }, burstEnd),
];
draw();
const ticker = setInterval(draw, live ? 200 : 1_000);
await Promise.all(Array.from({ length: WORKERS }, worker));
bursting = false;
await Promise.all(bursts);
clearInterval(ticker);
clearInterval(queueSampler);
for (const t of timers) clearTimeout(t);
draw(true);

const opened = transitions.find((t) => t.to === 'open' && t.at >= outageStart);
const closed = transitions.find((t) => t.to === 'closed' && t.at >= outageEnd);
latencies.sort((a, b) => a - b);
const summary = {
  database: db.description,
  url: service.url,
  seconds,
  requests,
  fromDatabase: counts.database,
  stale: counts.stale,
  fallbacks: counts.fallback,
  errors: counts.error,
  errorTypes: Object.fromEntries(errorTypes),
  hung: counts.hung,
  broken: counts.broken,
  rejectedByBreaker: service.stats.rejected,
  timeouts: service.stats.timeouts,
  retries: service.stats.retries,
  msToOpen: opened ? Math.round(opened.at - outageStart) : null,
  msToRecover: closed ? Math.round(closed.at - outageEnd) : null,
  finalState: service.breaker.state,
  p99ms: Math.round(latencies[Math.floor(latencies.length * 0.99)] ?? 0),
  transitions: transitions.map((t) => `${(t.at / 1000).toFixed(2)}s ${t.from}->${t.to}`),
  limit: { ...limits, final: limiter.limit },
  shedByLimit: { ...service.stats.shed },
  burst,
};
const criticalTotal = Object.values(burst.critical).reduce((a, b) => a + b, 0);
const checks = {
  'breaker opened during the outage': opened !== undefined && opened.at < outageEnd,
  'breaker closed after the outage': closed !== undefined && summary.finalState === 'closed',
  'no request hung': counts.hung === 0,
  'every request got a response or a typed error': counts.broken === 0,
  'the limit shrank during the burst': limits.minDuringBurst < limits.atBurstStart,
  'every critical request was answered from the database':
    criticalTotal > 0 && burst.critical.answered === criticalTotal,
};

await service.close();
await db.close();

console.log('\nSummary');
console.log(
  `  requests ${requests} = ${counts.database} ok (from the database) + ${counts.stale} stale + ${counts.fallback} fallback + ${counts.error + counts.hung + counts.broken} failed`,
);
console.log(
  `  the breaker rejected ${service.stats.rejected} calls without touching the database; ${service.stats.retries} retries, ${service.stats.timeouts} timeouts`,
);
console.log(
  `  time to open: ${summary.msToOpen ?? '-'} ms after the outage began; time to recover: ${summary.msToRecover ?? '-'} ms after it ended`,
);
console.log(`  p99 latency ${summary.p99ms} ms; transitions: ${summary.transitions.join(', ')}`);
console.log(
  `  limit: started at ${limits.initial}, ranged ${limits.min}..${limits.max}; during the burst it went from ${limits.atBurstStart} down to ${limits.minDuringBurst}, with up to ${limits.maxQueuedDuringBurst} calls queued`,
);
for (const priority of ['critical', 'background'] as const) {
  const c = burst[priority];
  console.log(
    `  burst, ${priority}: ${c.answered} answered from the database, ${c.degraded} stale/fallback, ${c.shed} shed, ${c.failed} failed`,
  );
}
for (const [name, ok] of Object.entries(checks)) console.log(`  ${ok ? 'ok  ' : 'FAIL'} ${name}`);
if (args.json) console.log(JSON.stringify({ ...summary, checks }));
process.exitCode = Object.values(checks).every(Boolean) ? 0 : 1;
