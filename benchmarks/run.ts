/**
 * `npm run bench`: breakwater beside opossum, cockatiel and p-retry, each case in fresh
 * child processes, reported as ratios to a plain baseline measured in the same process.
 *
 *   npm run bench                    # full run (several minutes); writes RESULTS.md and results.json
 *   npm run bench -- --quick         # about a minute; writes .out/
 *   npm run bench -- --quick --check # CI: validates every contender and proves the harness runs
 *   npm run bench -- --only success,fast-fail
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { cases } from './cases/index.js';
import { median } from './lib/measure.js';
import type { RatioCase, RatioRun, ScaleCase, ScaleMetrics } from './lib/types.js';

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    check: { type: 'boolean', default: false },
    only: { type: 'string' },
  },
});
const quick = args.quick || args.check;
const settings = args.check
  ? { runs: 1, rounds: 1, budgetMs: 20 }
  : quick
    ? { runs: 1, rounds: 2, budgetMs: 120 }
    : { runs: 3, rounds: 3, budgetMs: 300 };
const only = args.only?.split(',');
const selected = cases.filter((c) => only === undefined || only.includes(c.id));
if (selected.length === 0)
  throw new Error(`--only matched no case; cases: ${cases.map((c) => c.id).join(', ')}`);

const worker = fileURLToPath(new URL('./worker.ts', import.meta.url));

/** Runs the worker in a fresh node process and parses the JSON on its last line. */
function runWorker<T>(workerArgs: string[], nodeFlags: string[] = []): Promise<T> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...nodeFlags, '--import', 'tsx', worker, ...workerArgs], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (chunk) => {
      out += chunk;
    });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`worker ${workerArgs.join(' ')} exited with ${code}`));
      const last = out.trim().split('\n').pop() ?? '';
      try {
        resolve(JSON.parse(last) as T);
      } catch {
        reject(new Error(`worker ${workerArgs.join(' ')} printed no result: ${out.slice(-500)}`));
      }
    });
  });
}

interface RatioRow {
  readonly name: string;
  readonly ns: number;
  readonly ratio: number;
}
interface RatioResult {
  readonly case: RatioCase;
  readonly baselineNs: number;
  readonly rows: RatioRow[];
  readonly verdict: string | undefined;
}

const progress = (message: string) => process.stderr.write(`${message}\n`);
const started = Date.now();
const ratioResults: RatioResult[] = [];
const scaleResults: { case: ScaleCase; metrics: Record<string, ScaleMetrics> }[] = [];

for (const c of selected) {
  if (c.kind === 'scale') {
    const metrics: Record<string, ScaleMetrics> = {};
    for (const library of c.libraries) {
      progress(`[${elapsed()}] ${c.id}: ${library}`);
      metrics[library] = await runWorker<ScaleMetrics>(
        ['scale', library, quick ? '1' : '0'],
        ['--expose-gc', '--max-old-space-size=12288'],
      );
    }
    scaleResults.push({ case: c, metrics });
    continue;
  }
  const pairs: Record<string, [number, number][]> = {};
  for (let run = 1; run <= settings.runs; run++) {
    progress(`[${elapsed()}] ${c.id}: run ${run}/${settings.runs}`);
    const result = await runWorker<RatioRun>([
      'ratio',
      c.id,
      String(settings.rounds),
      String(settings.budgetMs),
    ]);
    for (const [name, list] of Object.entries(result.pairs)) pairs[name] = [...(pairs[name] ?? []), ...list];
  }
  const baselineNs = median(Object.values(pairs).flatMap((list) => list.map(([base]) => base)));
  const rows = c.contenders.map((x) => {
    const list = pairs[x.name] ?? [];
    return {
      name: x.name,
      ns: median(list.map(([, own]) => own)),
      ratio: median(list.map(([base, own]) => own / base)),
    };
  });
  ratioResults.push({ case: c, baselineNs, rows, verdict: verdict(c, rows) });
}

function verdict(c: RatioCase, rows: RatioRow[]): string | undefined {
  if (c.target === undefined) return undefined;
  const ours = rows.find((r) => r.name === 'breakwater');
  if (ours === undefined) return undefined;
  const parts: string[] = [];
  let pass = true;
  if (c.target.ratio !== undefined) {
    pass &&= ours.ratio <= c.target.ratio;
    parts.push(`<= ${c.target.ratio}x`);
  }
  if (c.target.fasterThan !== undefined) {
    for (const name of c.target.fasterThan.names) {
      const other = rows.find((r) => r.name === name);
      if (other) pass &&= other.ns / ours.ns >= c.target.fasterThan.factor;
    }
    parts.push(`>= ${c.target.fasterThan.factor}x faster than ${c.target.fasterThan.names.join(' and ')}`);
  }
  return `${pass ? 'pass' : 'MISS'} (${parts.join(', ')})`;
}

const SCALE_TARGETS: Record<string, (v: number | boolean | null) => boolean> = {
  'heap bytes per idle breaker': (v) => typeof v === 'number' && v <= 512,
  'create 10k (ms)': (v) => typeof v === 'number' && v <= 10,
  'live timers per breaker': (v) => v === 0,
  'process exits by itself': (v) => v === true,
};
const SCALE_TARGET_TEXT: Record<string, string> = {
  'heap bytes per idle breaker': '<= 512',
  'create 10k (ms)': '<= 10',
  'live timers per breaker': '0',
  'process exits by itself': 'yes',
};

/** One row per case with a target: the headline numbers, for the README. */
function summaryTable(): string[] {
  const libraries = ['breakwater', 'opossum', 'cockatiel', 'p-retry'];
  const rows = [
    '## Summary',
    '',
    `| case | ${libraries.join(' | ')} | breakwater target |`,
    `|---|${libraries.map(() => '---:').join('|')}|---|`,
  ];
  for (const r of ratioResults) {
    if (r.verdict === undefined) continue;
    const cell = (name: string) => {
      const row = r.rows.find((x) => x.name === name);
      return row ? `${row.ratio.toFixed(2)}x` : '—';
    };
    rows.push(`| ${r.case.title} | ${libraries.map(cell).join(' | ')} | ${r.verdict} |`);
  }
  for (const sc of scaleResults) {
    for (const key of ['heap bytes per idle breaker', 'create 10k (ms)']) {
      const target = SCALE_TARGETS[key]!;
      const verdict = `${target(sc.metrics.breakwater?.[key] ?? null) ? 'pass' : 'MISS'} (${SCALE_TARGET_TEXT[key]})`;
      const cells = libraries.map((l) => (sc.metrics[l] ? fmtValue(sc.metrics[l][key] ?? null) : '—'));
      rows.push(`| ${key} | ${cells.join(' | ')} | ${verdict} |`);
    }
  }
  rows.push('', 'Ratios are to a plain `await fn()` (fast-fail: to a caught rejection) in the same process.');
  return rows;
}

function elapsed(): string {
  return `${((Date.now() - started) / 1000).toFixed(0).padStart(3)}s`;
}
const fmtNs = (ns: number) => (ns >= 1_000 ? `${(ns / 1_000).toFixed(2)} µs` : `${ns.toFixed(0)} ns`);
const fmtValue = (v: number | boolean | null) =>
  v === null ? 'n/a' : typeof v === 'boolean' ? (v ? 'yes' : 'no') : String(v);

const command = `npm run bench${args.check ? ' -- --quick --check' : quick ? ' -- --quick' : ''}${args.only ? ` -- --only ${args.only}` : ''}`;
const lines: string[] = [
  `# Benchmark results`,
  '',
  `- Command: \`${command}\` (${settings.runs} fresh process${settings.runs > 1 ? 'es' : ''} per case, ${settings.rounds} alternating rounds each, ${settings.budgetMs} ms per measurement; medians)`,
  `- Date: ${new Date().toISOString().slice(0, 10)}; Node ${process.version}; ${os.cpus()[0]?.model ?? 'unknown CPU'} (${os.cpus().length} cores); ${os.platform()} ${os.release()}`,
  `- Versions: opossum ${version('opossum')}, cockatiel ${version('cockatiel')}, p-retry ${version('p-retry')} (they declare Node >= 22 and run correctly on 20).`,
  '- Ratios are to the baseline measured in the same process, alternating with it; absolute times drift on shared machines, ratios hold.',
  '',
];
lines.push(...summaryTable(), '');
for (const r of ratioResults) {
  lines.push(
    `## ${r.case.title}`,
    '',
    `Baseline: ${r.case.baselineLabel}, ${fmtNs(r.baselineNs)} per call.${r.case.note ? ` ${r.case.note}` : ''}`,
    '',
  );
  lines.push('| contender | per call | × baseline |', '|---|---:|---:|');
  for (const row of r.rows) lines.push(`| ${row.name} | ${fmtNs(row.ns)} | ${row.ratio.toFixed(2)}x |`);
  if (r.verdict) lines.push('', `breakwater target: ${r.verdict}`);
  lines.push('');
}
for (const s of scaleResults) {
  const libraries = Object.keys(s.metrics);
  const keys = [...new Set(libraries.flatMap((l) => Object.keys(s.metrics[l]!)))];
  lines.push(
    `## ${s.case.title}`,
    '',
    `| metric | ${libraries.join(' | ')} | breakwater target |`,
    `|---|${libraries.map(() => '---:').join('|')}|---|`,
  );
  for (const key of keys) {
    const target = SCALE_TARGETS[key];
    const ours = s.metrics.breakwater?.[key] ?? null;
    const mark = target === undefined ? '' : `${SCALE_TARGET_TEXT[key]}: ${target(ours) ? 'pass' : 'MISS'}`;
    lines.push(
      `| ${key} | ${libraries.map((l) => fmtValue(s.metrics[l]![key] ?? null)).join(' | ')} | ${mark} |`,
    );
  }
  lines.push('');
}
const markdown = lines.join('\n');
process.stdout.write(`${markdown}\n`);

const json = {
  command,
  node: process.version,
  cpu: os.cpus()[0]?.model,
  date: new Date().toISOString(),
  settings,
  ratio: ratioResults.map((r) => ({
    id: r.case.id,
    baselineNs: r.baselineNs,
    rows: r.rows,
    verdict: r.verdict,
  })),
  scale: scaleResults.map((s) => ({ id: s.case.id, metrics: s.metrics })),
};
const full = !quick && only === undefined;
const dir = fileURLToPath(new URL(full ? './' : './.out/', import.meta.url));
mkdirSync(dir, { recursive: true });
writeFileSync(`${dir}/${full ? 'RESULTS.md' : 'results-quick.md'}`, `${markdown}\n`);
writeFileSync(`${dir}/${full ? 'results.json' : 'results-quick.json'}`, `${JSON.stringify(json, null, 2)}\n`);
progress(`[${elapsed()}] done; written to ${dir}`);

function version(name: string): string {
  try {
    const manifest = fileURLToPath(new URL(`../node_modules/${name}/package.json`, import.meta.url));
    return (JSON.parse(readFileSync(manifest, 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}
