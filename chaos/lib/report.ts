import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { timelineSvg } from './svg.js';
import type { ScenarioResult } from './types.js';

const ms = (value: number | null) => (value === null ? '-' : `${(value / 1000).toFixed(2)} s`);

/** The numbers of one row of the final table. */
export function row(r: ScenarioResult): string[] {
  const passed = r.checks.filter((c) => c.status === 'passed').length;
  const failed = r.checks.filter((c) => c.status === 'failed').length;
  const unchecked = r.checks.filter((c) => c.status === 'unchecked').length;
  return [
    `${r.id}. ${r.title}`,
    r.verdict.toUpperCase(),
    `${passed}/${failed}${unchecked ? ` (+${unchecked} n/a)` : ''}`,
    String(r.counts.served),
    String(r.counts.shed),
    String(r.counts.queued),
    `${r.counts.failed}${r.counts.rejected ? ` (+${r.counts.rejected} 503)` : ''}`,
    r.tasksLost === null ? '-' : String(r.tasksLost),
    ms(r.detectMs),
    ms(r.recoverMs),
  ];
}

export const HEADER = [
  'scenario',
  'verdict',
  'checks ok/failed',
  'served',
  'shed',
  'queued',
  'failed',
  'tasks lost',
  'detect',
  'recover',
];

/** A plain-text table with aligned columns, for the terminal. */
export function textTable(results: readonly ScenarioResult[]): string {
  const rows = [HEADER, ...results.map(row)];
  const widths = HEADER.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) =>
    r.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ');
  return [line(rows[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)].join('\n');
}

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

/** The whole report as Markdown: the table, then each scenario's expectations, checks and timeline. */
export function markdownReport(
  results: readonly ScenarioResult[],
  meta: { startedAt: string; durationMs: number; ci: boolean },
): string {
  const out: string[] = [
    '# breakwater chaos report',
    '',
    `Started ${meta.startedAt}, took ${(meta.durationMs / 1000).toFixed(1)} s${meta.ci ? ' (CI=true)' : ''}.`,
    'Failed counts requests with no usable answer; "+N 503" are friendly refusals with Retry-After.',
    '',
    `| ${HEADER.join(' | ')} |`,
    `| ${HEADER.map((_, i) => (i === 0 ? '---' : '---:')).join(' | ')} |`,
    ...results.map((r) => `| ${row(r).map(cell).join(' | ')} |`),
    '',
  ];
  for (const r of results) {
    out.push(`## ${r.id}. ${r.title}: ${r.verdict}`, '');
    if (r.reason) out.push(`${r.verdict === 'skipped' ? 'Skipped' : 'Note'}: ${r.reason}`, '');
    out.push('Expected:', '', ...r.expected.map((e) => `- ${e}`), '');
    if (r.checks.length) {
      out.push('| check | result | detail |', '| --- | --- | --- |');
      for (const c of r.checks) out.push(`| ${cell(c.name)} | ${c.status} | ${cell(c.detail)} |`);
      out.push('');
    }
    if (r.notes.length) out.push(...r.notes.map((n) => `- ${n}`), '');
    const measured = Object.entries(r.measured);
    if (measured.length) out.push(`Measured: ${measured.map(([k, v]) => `${k} = ${v}`).join(', ')}.`, '');
    if (r.samples.length) out.push(`![timeline of scenario ${r.id}](${r.id}-${r.slug}.svg)`, '');
  }
  return `${out.join('\n')}\n`;
}

/** Writes report.md, report.json and one SVG timeline per scenario into `dir`; returns the paths. */
export function writeReport(
  dir: string,
  results: readonly ScenarioResult[],
  meta: { startedAt: string; durationMs: number; ci: boolean },
): string[] {
  mkdirSync(dir, { recursive: true });
  const paths = [join(dir, 'report.md'), join(dir, 'report.json')];
  writeFileSync(paths[0]!, markdownReport(results, meta));
  writeFileSync(paths[1]!, `${JSON.stringify({ ...meta, scenarios: results }, null, 2)}\n`);
  for (const r of results) {
    if (r.samples.length === 0) continue;
    const path = join(dir, `${r.id}-${r.slug}.svg`);
    writeFileSync(path, timelineSvg(r));
    paths.push(path);
  }
  return paths;
}
