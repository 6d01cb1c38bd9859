/**
 * `npm run demo`: a service that reads orders from a real database through a breakwater
 * pipeline, driven with traffic through a scripted outage, shown live in the terminal.
 *
 *   npm run demo                       # embedded PostgreSQL (PGlite), ~20 s
 *   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres npm run demo
 *   npm run demo -- --seconds 8 --json # shorter, and a JSON summary as the last line
 */
import { parseArgs } from 'node:util';
import type { CircuitState } from 'breakwater';
import { embeddedDatabase, realDatabase } from './database.js';
import { type Source, startService } from './service.js';

const { values: args } = parseArgs({
  options: { seconds: { type: 'string', default: '20' }, json: { type: 'boolean', default: false } },
});
const seconds = Number(args.seconds);
if (!(seconds >= 5)) throw new RangeError(`--seconds must be a number >= 5, got ${args.seconds}`);
const durationMs = seconds * 1_000;
const outageStart = durationMs * 0.25;
const outageEnd = durationMs * 0.55;
const WORKERS = 8;
const CLIENT_TIMEOUT = 3_000;

const db = process.env.DATABASE_URL ? await realDatabase(process.env.DATABASE_URL) : await embeddedDatabase();
const service = await startService(db);
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
let requests = 0;
const errorTypes = new Map<string, number>();
const transitions: { at: number; from: CircuitState; to: CircuitState }[] = [];
service.breaker.on('stateChanged', ({ from, to }) => transitions.push({ at: elapsed(), from, to }));
let phase: 'healthy' | 'OUTAGE' | 'recovering' = 'healthy';
const latencies: number[] = [];

async function worker(): Promise<void> {
  while (elapsed() < durationMs) {
    const id = 1 + Math.floor(Math.random() * 200);
    const started = performance.now();
    requests++;
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
    latencies.push(performance.now() - started);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const live = process.stdout.isTTY && !args.json;
let drawn = 0;
function draw(final = false): void {
  const t = (elapsed() / 1000).toFixed(1);
  const state = service.breaker.state;
  const color = state === 'closed' ? '\x1b[32m' : state === 'open' ? '\x1b[31m' : '\x1b[33m';
  const lines = [
    `breakwater demo · ${db.description}`,
    `t=${t.padStart(5)}s  phase: ${phase.padEnd(10)} breaker: ${live ? color : ''}${state.padEnd(9)}${live ? '\x1b[0m' : ''} health: ${service.health.status}`,
    `requests ${requests}  from db ${counts.database}  stale ${counts.stale}  fallback ${counts.fallback}  errors ${counts.error}  hung ${counts.hung}`,
    `breaker rejected ${service.stats.rejected}  timeouts ${service.stats.timeouts}  retries ${service.stats.retries}  gave up ${service.stats.gaveUp}`,
  ];
  if (live) {
    process.stdout.write(`${drawn ? `\x1b[${drawn}A` : ''}${lines.map((l) => `\x1b[2K${l}`).join('\n')}\n`);
    drawn = lines.length;
  } else if (!args.json || final) {
    process.stdout.write(`${lines.slice(1).join(' | ')}\n`);
  }
}

const timers = [
  setTimeout(() => {
    phase = 'OUTAGE';
    db.startOutage();
  }, outageStart),
  setTimeout(() => {
    phase = 'recovering';
    db.endOutage();
  }, outageEnd),
];
const ticker = setInterval(draw, live ? 200 : 1_000);
await Promise.all(Array.from({ length: WORKERS }, worker));
clearInterval(ticker);
for (const t of timers) clearTimeout(t);
draw(true);

const opened = transitions.find((t) => t.to === 'open' && t.at >= outageStart);
const closed = transitions.find((t) => t.to === 'closed' && t.at >= outageEnd);
latencies.sort((a, b) => a - b);
const summary = {
  database: db.description,
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
};
const checks = {
  'breaker opened during the outage': opened !== undefined && opened.at < outageEnd,
  'breaker closed after the outage': closed !== undefined && summary.finalState === 'closed',
  'no request hung': counts.hung === 0,
  'every request got a response or a typed error': counts.broken === 0,
};

await service.close();
await db.close();

if (args.json) {
  console.log(JSON.stringify({ ...summary, checks }));
} else {
  console.log('\nSummary');
  console.log(
    `  requests ${requests}: ${counts.database} from the database, ${counts.stale} stale, ${counts.fallback} fallback, ${counts.error} errors`,
  );
  console.log(
    `  breaker rejected ${service.stats.rejected} calls without touching the database; ${service.stats.retries} retries`,
  );
  console.log(
    `  time to open: ${summary.msToOpen ?? '-'} ms after the outage began; time to recover: ${summary.msToRecover ?? '-'} ms after it ended`,
  );
  console.log(`  p99 latency ${summary.p99ms} ms; transitions: ${summary.transitions.join(', ')}`);
  for (const [name, ok] of Object.entries(checks)) console.log(`  ${ok ? 'ok  ' : 'FAIL'} ${name}`);
}
process.exitCode = Object.values(checks).every(Boolean) ? 0 : 1;
