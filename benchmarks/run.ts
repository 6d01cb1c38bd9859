/**
 * `npm run bench`: breakwater beside opossum, cockatiel and p-retry. Each contender of each
 * case runs in its own fresh process, timed against a plain `await` of the same call in that
 * process; the ratio of the two is what is reported. Table cases (overload, a hedged latency
 * tail, store throughput) run their own scenario in a fresh process and report its rows.
 *
 *   npm run bench                    # full run (~10 minutes); writes RESULTS.md and results.json
 *   npm run bench -- --quick         # a few minutes; writes .out/
 *   npm run bench -- --quick --check # CI: every contender validated, the harness proven to run
 *   npm run bench -- --only success,composed --rows breakwater
 *   npm run bench -- --only success --profile   # .cpuprofile per worker in .out/profiles/
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { cases } from './cases/index.js';
import { median } from './lib/measure.js';
import type { RatioCase, RatioRun, ScaleCase, ScaleMetrics, TableCase, TableResult } from './lib/types.js';

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    check: { type: 'boolean', default: false },
    only: { type: 'string' },
    rows: { type: 'string' },
    profile: { type: 'boolean', default: false },
    update: { type: 'boolean', default: false },
  },
});
if (args.update && (args.quick || args.check || args.rows !== undefined || args.only === undefined))
  throw new Error(
    '--update re-measures whole cases at full settings: give --only, and no --quick, --check or --rows',
  );
const quick = args.quick || args.check;
const settings = args.check
  ? { processes: 1, rounds: 1, budgetMs: 20, coldProcesses: 1 }
  : quick
    ? { processes: 1, rounds: 2, budgetMs: 100, coldProcesses: 3 }
    : { processes: 3, rounds: 3, budgetMs: 300, coldProcesses: 7 };
const only = args.only?.split(',');
const rowFilter = args.rows?.split(',');
const selected = cases.filter((c) => only === undefined || only.includes(c.id));
if (selected.length === 0)
  throw new Error(`--only matched no case; cases: ${cases.map((c) => c.id).join(', ')}`);
const wanted = (name: string) => rowFilter === undefined || rowFilter.includes(name);

const worker = fileURLToPath(new URL('./worker.ts', import.meta.url));
const coldScript = fileURLToPath(new URL('./lib/cold.mjs', import.meta.url));
const outDir = fileURLToPath(new URL('./.out/', import.meta.url));

/** Runs the worker in a fresh node process (tsx loaded) and parses the JSON on its last line. */
function runWorker<T>(workerArgs: string[], nodeFlags: string[] = []): Promise<T> {
  return runNode<T>([...nodeFlags, '--import', 'tsx', worker, ...workerArgs], workerArgs.join(' '));
}

/** Runs `node nodeArgs` and parses the JSON on the last line it prints. */
function runNode<T>(nodeArgs: string[], what: string): Promise<T> {
  const profile = args.profile ? ['--cpu-prof', `--cpu-prof-dir=${outDir}profiles`] : [];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...profile, ...nodeArgs], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (chunk) => {
      out += chunk;
    });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`${what} exited with ${code}`));
      const last = out.trim().split('\n').pop() ?? '';
      try {
        resolve(JSON.parse(last) as T);
      } catch {
        reject(new Error(`${what} printed no result: ${out.slice(-500)}`));
      }
    });
  });
}

interface RatioRow {
  readonly name: string;
  /** Median ns per call. */
  readonly ns: number;
  /** Median of the per-round ratios, and their range. */
  readonly ratio: number;
  readonly min: number;
  readonly max: number;
  readonly pairs: number;
}
interface RatioResult {
  readonly case: RatioCase;
  readonly baselineNs: number;
  readonly rows: RatioRow[];
}
interface ColdResult {
  readonly median: number;
  readonly min: number;
  readonly max: number;
  readonly samples: number[];
  /** Median ms of the GC pauses during the timed constructions. */
  readonly gcMedian: number;
}

const progress = (message: string) => process.stderr.write(`${message}\n`);
const failures: string[] = [];

/** --check stops at the first failure; a measuring run notes it, keeps the other rows, and exits 1 at the end. */
async function attempt<T>(what: string, run: () => Promise<T>): Promise<T | undefined> {
  try {
    return await run();
  } catch (error) {
    if (args.check) throw error;
    failures.push(`${what}: ${(error as Error).message}`);
    return undefined;
  }
}
const started = Date.now();
const ratioResults: RatioResult[] = [];
const scaleResults: {
  case: ScaleCase;
  metrics: Record<string, ScaleMetrics>;
  cold: Record<string, ColdResult>;
}[] = [];

const tableResults: { case: TableCase; result: TableResult }[] = [];

for (const c of selected) {
  if (c.kind === 'table') {
    progress(`[${elapsed()}] ${c.id}: table`);
    const result = await attempt(`${c.id}`, () =>
      runWorker<TableResult>(['table', c.id, args.check ? 'check' : quick ? 'quick' : 'full']),
    );
    if (result !== undefined) tableResults.push({ case: c, result });
    continue;
  }
  if (c.kind === 'scale') {
    const metrics: Record<string, ScaleMetrics> = {};
    const cold: Record<string, ColdResult> = {};
    const libraries = c.libraries.filter(wanted);
    // Cold samples interleave the libraries, so that a noisy stretch does not land on one of them.
    const samples: Record<string, number[]> = {};
    const gcSamples: Record<string, number[]> = {};
    for (let i = 1; i <= settings.coldProcesses; i++) {
      for (const library of libraries) {
        progress(`[${elapsed()}] ${c.id}: ${library}, cold process ${i}/${settings.coldProcesses}`);
        const result = await attempt(`${c.id} cold ${library}`, () =>
          runNode<ScaleMetrics>([coldScript, library], `cold.mjs ${library}`),
        );
        const ms = result?.['create 10k, cold process (ms)'];
        const gcMs = result?.['GC pauses during it (ms)'];
        if (typeof ms === 'number') samples[library] = [...(samples[library] ?? []), ms];
        if (typeof gcMs === 'number') gcSamples[library] = [...(gcSamples[library] ?? []), gcMs];
      }
    }
    for (const library of libraries) {
      const list = samples[library];
      if (list !== undefined)
        cold[library] = {
          median: median(list),
          min: Math.min(...list),
          max: Math.max(...list),
          samples: list,
          gcMedian: median(gcSamples[library] ?? [Number.NaN]),
        };
      progress(`[${elapsed()}] ${c.id}: ${library}, warm process`);
      const result = await attempt(`${c.id} ${library}`, () =>
        runWorker<ScaleMetrics>(
          ['scale', library, args.check ? 'check' : quick ? 'quick' : 'full'],
          ['--expose-gc', '--max-old-space-size=12288'],
        ),
      );
      if (result !== undefined) metrics[library] = result;
    }
    scaleResults.push({ case: c, metrics, cold });
    continue;
  }
  const contenders = c.contenders.filter((x) => wanted(x.name));
  const pairs: Record<string, [number, number][]> = {};
  // Process by process, every contender in turn: drift over the run spreads over all of them.
  // --check validates all contenders of a case in one process: CI compares no timings.
  const batches = args.check
    ? [['*']]
    : Array.from({ length: settings.processes }, () => contenders.map((x) => x.name));
  for (const [run, names] of batches.entries()) {
    for (const name of names) {
      progress(
        `[${elapsed()}] ${c.id}: ${name === '*' ? 'all contenders' : name}, process ${run + 1}/${batches.length}`,
      );
      const results = await attempt(`${c.id} / ${name}`, () =>
        runWorker<RatioRun[]>(['ratio', c.id, name, String(settings.rounds), String(settings.budgetMs)]),
      );
      for (const result of results ?? []) {
        if (wanted(result.contender))
          pairs[result.contender] = [...(pairs[result.contender] ?? []), ...result.pairs];
      }
    }
  }
  const baselineNs = median(Object.values(pairs).flatMap((list) => list.map(([base]) => base)));
  const rows = contenders.flatMap((x) => {
    const list = pairs[x.name];
    if (list === undefined) return [];
    const ratios = list.map(([base, own]) => own / base);
    return {
      name: x.name,
      ns: median(list.map(([, own]) => own)),
      ratio: median(ratios),
      min: Math.min(...ratios),
      max: Math.max(...ratios),
      pairs: ratios.length,
    };
  });
  ratioResults.push({ case: c, baselineNs, rows });
}

// ---- --update: the other cases' figures come from the last full run ------------------------------

interface Saved {
  command: string;
  date: string;
  loadavg: number[];
  source: string;
  settings: typeof settings;
  ratio: { id: string; baselineNs: number; rows: RatioRow[] }[];
  scale: { id: string; metrics: Record<string, ScaleMetrics>; cold: Record<string, ColdResult> }[];
  table?: { id: string; result: TableResult }[];
  updates?: string[];
}
const resultsJson = fileURLToPath(new URL('./results.json', import.meta.url));
const saved: Saved | undefined = args.update
  ? (JSON.parse(readFileSync(resultsJson, 'utf8')) as Saved)
  : undefined;
if (saved !== undefined) {
  for (const r of saved.ratio) {
    const c = cases.find((x) => x.id === r.id);
    if (c?.kind === 'ratio' && !selected.includes(c))
      ratioResults.push({ case: c, baselineNs: r.baselineNs, rows: r.rows });
  }
  for (const r of saved.scale) {
    const c = cases.find((x) => x.id === r.id);
    if (c?.kind === 'scale' && !selected.includes(c))
      scaleResults.push({ case: c, metrics: r.metrics, cold: r.cold });
  }
  for (const r of saved.table ?? []) {
    const c = cases.find((x) => x.id === r.id);
    if (c?.kind === 'table' && !selected.includes(c)) tableResults.push({ case: c, result: r.result });
  }
  const order = (c: { id: string }) => cases.findIndex((x) => x.id === c.id);
  ratioResults.sort((a, b) => order(a.case) - order(b.case));
  scaleResults.sort((a, b) => order(a.case) - order(b.case));
  tableResults.sort((a, b) => order(a.case) - order(b.case));
}
const updates = [
  ...(saved?.updates ?? []),
  ...(saved
    ? [
        `${new Date().toISOString().slice(0, 10)}: ${args.only} re-measured (\`npm run bench -- --only ${args.only} --update\`, load average at the end ${os
          .loadavg()
          .map((x) => x.toFixed(1))
          .join(' / ')}, breakwater built from ${sourceVersion()})`,
      ]
    : []),
];

// ---- Targets ---------------------------------------------------------------------------------

interface TargetLine {
  readonly what: string;
  readonly source: string;
  readonly target: string;
  readonly measured: string;
  readonly verdict: string;
}

/** met / MISS on the median; "noisy" when the range of the samples crosses the target. */
function judge(value: number, limit: number, min: number, max: number): string {
  const met = value <= limit;
  const noisy = min <= limit !== max <= limit;
  return `${met ? 'met' : '**MISS**'}${noisy ? ' (range crosses it)' : ''}`;
}

const targets: TargetLine[] = [];
for (const r of ratioResults) {
  for (const t of r.case.targets ?? []) {
    const row = r.rows.find((x) => x.name === t.row);
    if (row === undefined) continue;
    targets.push({
      what: `${r.case.title}${t.row === 'breakwater' ? '' : ` (${t.row.replace(/^breakwater, /, '')})`}`,
      source: t.source,
      target: `<= ${t.ratio}x`,
      measured: `${fmtRatio(row.ratio)} (${fmtRatio(row.min)}–${fmtRatio(row.max)})`,
      verdict: judge(row.ratio, t.ratio, row.min, row.max),
    });
  }
}
for (const s of scaleResults) {
  const cold = s.cold.breakwater;
  if (cold !== undefined) {
    targets.push({
      what: 'create 10,000 breakers, cold process',
      source: 'issue 15',
      target: '<= 20 ms',
      measured: `${cold.median.toFixed(1)} ms (${cold.min.toFixed(1)}–${cold.max.toFixed(1)})`,
      verdict: judge(cold.median, 20, cold.min, cold.max),
    });
  }
  const ours = s.metrics.breakwater;
  if (ours !== undefined) {
    const heap = ours['heap bytes per idle breaker, after one call'] as number;
    targets.push({
      what: 'heap per idle breaker (after one call)',
      source: 'earlier',
      target: '<= 512 B',
      measured: `${heap} B`,
      verdict: heap <= 512 ? 'met' : '**MISS**',
    });
    targets.push({
      what: "ref'd timers per idle breaker; the process exits by itself",
      source: 'earlier',
      target: '0; yes',
      measured: `${ours["ref'd timers per breaker"]}; ${ours['process exits by itself'] ? 'yes' : 'no'}`,
      verdict:
        ours["ref'd timers per breaker"] === 0 && ours['process exits by itself'] === true
          ? 'met'
          : '**MISS**',
    });
  }
}

for (const t of tableResults) {
  for (const target of t.result.targets) {
    targets.push({
      what: `${t.case.title}: ${target.what}`,
      source: target.source ?? '',
      target: target.limit,
      measured: target.measured,
      verdict: target.met ? 'met' : '**MISS**',
    });
  }
}

// ---- Report ----------------------------------------------------------------------------------

function elapsed(): string {
  return `${((Date.now() - started) / 1000).toFixed(0).padStart(3)}s`;
}
function fmtNs(ns: number): string {
  return ns >= 1_000 ? `${(ns / 1_000).toFixed(2)} µs` : `${ns.toFixed(0)} ns`;
}
function fmtRatio(x: number): string {
  return x >= 100 ? `${x.toFixed(0)}x` : x >= 10 ? `${x.toFixed(1)}x` : `${x.toFixed(2)}x`;
}
const fmtValue = (v: number | boolean | null | undefined) =>
  v === null || v === undefined ? '—' : typeof v === 'boolean' ? (v ? 'yes' : 'no') : String(v);

const libraries = ['breakwater', 'opossum', 'cockatiel', 'p-retry'];

/** The headline table: each case's main row per library. */
function summaryTable(): string[] {
  const lines = [
    '## Summary',
    '',
    `| case | ${libraries.join(' | ')} |`,
    `|---|${libraries.map(() => '---:').join('|')}|`,
  ];
  for (const r of ratioResults) {
    const cells = libraries.map((l) => {
      const row = r.rows.find((x) => x.name === l);
      return row ? fmtRatio(row.ratio) : '—';
    });
    if (cells.every((x) => x === '—')) continue;
    lines.push(`| ${r.case.title} | ${cells.join(' | ')} |`);
    const ignoring = r.rows.find((x) => x.name === 'breakwater, fn ignores ctx.signal');
    if (ignoring) {
      lines.push(`| ${r.case.title}, fn ignores \`ctx.signal\` | ${fmtRatio(ignoring.ratio)} | — | — | — |`);
    }
  }
  for (const s of scaleResults) {
    const cells = (f: (l: string) => string) =>
      libraries.map((l) => (s.metrics[l] || s.cold[l] ? f(l) : '—'));
    lines.push(
      `| create 10,000 breakers, cold process (ms) | ${cells((l) => (s.cold[l] ? s.cold[l].median.toFixed(1) : '—')).join(' | ')} |`,
    );
    lines.push(
      `| heap bytes per idle breaker, after one call | ${cells((l) => fmtValue(s.metrics[l]?.['heap bytes per idle breaker, after one call'])).join(' | ')} |`,
    );
  }
  lines.push(
    '',
    'Ratios are to a plain `await` of the same call in the same process (fast-fail and the failure path: to a caught rejection); ' +
      'medians over every round of every process. The function passes `ctx.signal` on, as the README tells users to.',
  );
  return lines;
}

function targetTable(): string[] {
  return [
    '## Targets',
    '',
    '| target | from | limit | measured: median (range) | verdict |',
    '|---|---|---:|---:|---|',
    ...targets.map((t) => `| ${t.what} | ${t.source} | ${t.target} | ${t.measured} | ${t.verdict} |`),
    '',
    'A verdict is on the median; "range crosses it" means some rounds fell on the other side of the limit.',
  ];
}

const flags = [
  ...(args.check ? ['--quick', '--check'] : quick ? ['--quick'] : []),
  ...(args.only ? ['--only', args.only] : []),
  ...(args.rows ? ['--rows', `'${args.rows}'`] : []),
];
const command = `npm run bench${flags.length > 0 ? ` -- ${flags.join(' ')}` : ''}`;
const head = saved ?? {
  command,
  date: new Date().toISOString(),
  loadavg: os.loadavg(),
  source: sourceVersion(),
  settings,
};
const lines: string[] = [
  '# Benchmark results',
  '',
  `- Command: \`${head.command}\`: each contender in ${head.settings.processes} fresh process${head.settings.processes > 1 ? 'es' : ''}, ` +
    `${head.settings.rounds} round${head.settings.rounds > 1 ? 's' : ''} each of baseline then contender, ${head.settings.budgetMs} ms per measurement; ` +
    `cold construction in ${head.settings.coldProcesses} fresh process${head.settings.coldProcesses > 1 ? 'es' : ''} per library.`,
  `- Date: ${head.date.slice(0, 10)}; Node ${process.version}; ${os.cpus()[0]?.model ?? 'unknown CPU'} (${os.cpus().length} cores); ${os.platform()} ${os.release()}; load average at the end ${head.loadavg.map((x) => x.toFixed(1)).join(' / ')}`,
  `- breakwater: ${process.env.BREAKWATER_DIST ? `the build in BREAKWATER_DIST (${process.env.BREAKWATER_DIST})` : '`dist/`'}, built from commit ${head.source}.`,
  ...updates.map((u) => `- Updated ${u}.`),
  `- Versions: opossum ${version('opossum')}, cockatiel ${version('cockatiel')}, p-retry ${version('p-retry')} (they declare Node >= 22 and run correctly on 20).`,
  '- How it is measured, and why the previous figures were lower: see "Method" at the end.',
  '',
  ...summaryTable(),
  '',
  ...targetTable(),
  '',
];
for (const r of ratioResults) {
  const hasIndependent = r.rows.some((row) => r.case.reference?.[row.name]?.independent);
  const hasPrevious = r.rows.some((row) => r.case.reference?.[row.name]?.previous);
  lines.push(
    `## ${r.case.title}`,
    '',
    `Baseline: ${r.case.baselineLabel}, ${fmtNs(r.baselineNs)} per call.${r.case.note ? ` ${r.case.note}` : ''}`,
    '',
    `| contender | per call | × baseline | range |${hasIndependent ? ' independent (issue 15) |' : ''}${hasPrevious ? ' previous harness |' : ''}`,
    `|---|---:|---:|---:|${hasIndependent ? '---:|' : ''}${hasPrevious ? '---:|' : ''}`,
  );
  for (const row of r.rows) {
    const ref = r.case.reference?.[row.name];
    lines.push(
      `| ${row.name} | ${fmtNs(row.ns)} | ${fmtRatio(row.ratio)} | ${fmtRatio(row.min)}–${fmtRatio(row.max)} |` +
        `${hasIndependent ? ` ${ref?.independent ?? ''} |` : ''}${hasPrevious ? ` ${ref?.previous ?? ''} |` : ''}`,
    );
  }
  for (const t of r.case.targets ?? []) {
    const row = r.rows.find((x) => x.name === t.row);
    if (row)
      lines.push(
        '',
        `Target (${t.source}) for ${t.row}: <= ${t.ratio}x: ${judge(row.ratio, t.ratio, row.min, row.max)}.`,
      );
  }
  lines.push('');
}
for (const s of scaleResults) {
  const libs = Object.keys(s.metrics);
  const keys = [...new Set(libs.flatMap((l) => Object.keys(s.metrics[l]!)))];
  lines.push(
    `## ${s.case.title}`,
    '',
    `| metric | ${libs.join(' | ')} |`,
    `|---|${libs.map(() => '---:').join('|')}|`,
    `| create 10k, cold process (ms): median (range), of which GC pauses | ${libs
      .map((l) => {
        const c = s.cold[l];
        return c
          ? `${c.median.toFixed(1)} (${c.min.toFixed(1)}–${c.max.toFixed(1)}), GC ${c.gcMedian.toFixed(1)}`
          : '—';
      })
      .join(' | ')} |`,
  );
  for (const key of keys)
    lines.push(`| ${key} | ${libs.map((l) => fmtValue(s.metrics[l]![key])).join(' | ')} |`);
  lines.push(
    '',
    'Independent measurement (issue 15): create 10,000 in a cold process 56 / 394 / 89 ms, heap per idle breaker ' +
      '588 / 6,963 / 1,482 B including a small adapter object (breakwater / opossum / cockatiel). Previous harness: ' +
      '7.15 / 441 / 136 ms after 1,000 warm-up constructions, and 318 / 6,863 / 1,197 B for breakers never called.',
    '',
  );
}
for (const t of tableResults) {
  const { columns, rows, note } = t.result;
  lines.push(
    `## ${t.case.title}`,
    '',
    ...(t.case.note ? [t.case.note, ''] : []),
    `| ${columns.join(' | ')} |`,
    `|---|${columns
      .slice(1)
      .map(() => '---:')
      .join('|')}|`,
    ...rows.map((row) => `| ${row.join(' | ')} |`),
    '',
    ...(note ? [note, ''] : []),
  );
  for (const target of t.result.targets)
    lines.push(
      `Target${target.source ? ` (${target.source})` : ''}: ${target.what} ${target.limit}: measured ${target.measured}, ${target.met ? 'met' : '**MISS**'}.`,
      '',
    );
}
if (failures.length > 0) lines.push('## Failed', '', ...failures.map((f) => `- ${f}`), '');
lines.push(readFileSync(new URL('./lib/method.md', import.meta.url), 'utf8').trim(), '');
const markdown = lines.join('\n');
process.stdout.write(`${markdown}\n`);

const json = {
  command: head.command,
  date: head.date,
  loadavg: head.loadavg,
  source: head.source,
  settings: head.settings,
  updates,
  node: process.version,
  cpu: os.cpus()[0]?.model,
  ratio: ratioResults.map((r) => ({ id: r.case.id, baselineNs: r.baselineNs, rows: r.rows })),
  scale: scaleResults.map((s) => ({ id: s.case.id, metrics: s.metrics, cold: s.cold })),
  table: tableResults.map((t) => ({ id: t.case.id, result: t.result })),
  targets,
  failures,
};
const full = (!quick && only === undefined && rowFilter === undefined) || args.update;
const dir = full ? fileURLToPath(new URL('./', import.meta.url)) : outDir;
mkdirSync(dir, { recursive: true });
writeFileSync(`${dir}/${full ? 'RESULTS.md' : 'results-quick.md'}`, `${markdown}\n`);
writeFileSync(`${dir}/${full ? 'results.json' : 'results-quick.json'}`, `${JSON.stringify(json, null, 2)}\n`);
progress(`[${elapsed()}] done; written to ${dir}`);
if (failures.length > 0) {
  progress(`${failures.length} failed:\n${failures.join('\n')}`);
  process.exitCode = 1;
}

/** The commit the build came from, and whether src/ had uncommitted changes (read-only git). */
function sourceVersion(): string {
  // Another build's source is not this checkout's: BREAKWATER_SOURCE may name it.
  if (process.env.BREAKWATER_DIST) return process.env.BREAKWATER_SOURCE ?? 'an unrecorded commit';
  const git = (...a: string[]) => spawnSync('git', a, { encoding: 'utf8' }).stdout?.trim() ?? '';
  const dirty = git('status', '--porcelain', '--', 'src') !== '';
  return `${git('rev-parse', '--short', 'HEAD') || 'unknown'}${dirty ? ' with uncommitted changes in src/' : ''}`;
}

function version(name: string): string {
  try {
    const manifest = fileURLToPath(new URL(`./node_modules/${name}/package.json`, import.meta.url));
    return (JSON.parse(readFileSync(manifest, 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}
