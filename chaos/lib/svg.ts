import type { ScenarioResult } from './types.js';

const WIDTH = 900;
const PANEL = 90;
const GAP = 26;
const LEFT = 110;
const RIGHT = 20;
const TOP = 58;

const BREAKER_LEVEL: Record<string, number> = { closed: 0, 'half-open': 1, open: 2, isolated: 2, down: 3 };
const BREAKER_COLOR: Record<string, string> = {
  closed: '#2e7d32',
  'half-open': '#f9a825',
  open: '#c62828',
  isolated: '#c62828',
  down: '#616161',
};

function esc(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/**
 * One SVG picture of a scenario: four panels over time (the database breaker's state, the
 * error rate, the p99 latency and the queue depth), with the phases marked, so that a person
 * can see the outage and the recovery.
 */
export function timelineSvg(result: ScenarioResult): string {
  const samples = result.samples;
  // From the first sample (the service is up) to the end; the setup before it is not drawn.
  const begin = Math.max(0, (samples[0]?.t ?? 0) - 250);
  const end = Math.max(begin + 1, result.durationMs, ...samples.map((s) => s.t));
  const plotWidth = WIDTH - LEFT - RIGHT;
  const x = (t: number) => LEFT + ((Math.max(t, begin) - begin) / (end - begin)) * plotWidth;
  const panels = [
    { title: 'database breakers (reads and writes: the worse of the two)', unit: '' },
    { title: 'error rate', unit: '%' },
    { title: 'latency p99', unit: 'ms' },
    { title: 'queue depth', unit: 'tasks' },
  ];
  const height = TOP + panels.length * (PANEL + GAP) + 30;
  const top = (i: number) => TOP + i * (PANEL + GAP);
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    `<text x="${LEFT}" y="15" font-size="14" font-weight="bold">${esc(`${result.id}. ${result.title}`)} (${esc(result.verdict)})</text>`,
  );
  panels.forEach((panel, i) => {
    out.push(
      `<rect x="${LEFT}" y="${top(i)}" width="${plotWidth}" height="${PANEL}" fill="#fafafa" stroke="#bdbdbd"/>`,
      `<text x="${LEFT}" y="${top(i) - 4}" font-weight="bold">${esc(panel.title)}</text>`,
    );
  });
  // Breaker: colored bands, one per sample interval.
  const band = (level: number) => top(0) + PANEL - ((level + 1) / 4) * PANEL;
  for (let k = 0; k < samples.length; k++) {
    const s = samples[k]!;
    const from = k === 0 ? begin : samples[k - 1]!.t;
    const level = BREAKER_LEVEL[s.breaker] ?? 3;
    out.push(
      `<rect x="${x(from).toFixed(1)}" y="${band(level).toFixed(1)}" width="${Math.max(0.5, x(s.t) - x(from)).toFixed(1)}" height="${(PANEL / 4).toFixed(1)}" fill="${BREAKER_COLOR[s.breaker] ?? '#616161'}"/>`,
    );
  }
  for (const [name, level] of Object.entries({ closed: 0, 'half-open': 1, open: 2, down: 3 })) {
    out.push(
      `<text x="${LEFT - 8}" y="${(band(level) + PANEL / 8 + 4).toFixed(1)}" text-anchor="end" fill="#616161">${name}</text>`,
    );
  }
  // Line panels.
  const series: [number, (s: (typeof samples)[number]) => number, string][] = [
    [1, (s) => s.errorRate * 100, '#c62828'],
    [2, (s) => s.p99, '#1565c0'],
    [3, (s) => s.queueDepth, '#6a1b9a'],
  ];
  for (const [i, value, color] of series) {
    const max = i === 1 ? 100 : Math.max(1, ...samples.map(value));
    const y = (v: number) => top(i) + PANEL - (v / max) * (PANEL - 6);
    if (samples.length > 0) {
      const points = samples.map((s) => `${x(s.t).toFixed(1)},${y(value(s)).toFixed(1)}`).join(' ');
      out.push(`<polyline points="${points}" fill="none" stroke="${color}" stroke-width="1.5"/>`);
    }
    const unit = panels[i]!.unit;
    out.push(
      `<text x="${LEFT - 8}" y="${top(i) + 30}" text-anchor="end" fill="#616161">max ${Math.round(max)} ${unit}</text>`,
      `<text x="${LEFT - 8}" y="${top(i) + PANEL}" text-anchor="end" fill="#616161">0</text>`,
    );
  }
  // Phase marks across all panels.
  result.marks
    .filter((mark) => mark.t >= begin - 1_000)
    .forEach((mark, k) => {
      const mx = x(mark.t).toFixed(1);
      out.push(
        `<line x1="${mx}" y1="${TOP - 18}" x2="${mx}" y2="${top(panels.length) - GAP + 4}" stroke="#424242" stroke-dasharray="3,3"/>`,
        `<text x="${mx}" y="${TOP - 20 - (k % 2) * 10}" fill="#424242"${Number(mx) > WIDTH - 90 ? ' text-anchor="end"' : ''}>${esc(mark.label)}</text>`,
      );
    });
  // Time axis.
  const axisY = top(panels.length) - GAP + 16;
  const step = end > 40_000 ? 10_000 : end > 15_000 ? 5_000 : 2_000;
  for (let t = Math.ceil(begin / step) * step; t <= end; t += step) {
    out.push(
      `<text x="${x(t).toFixed(1)}" y="${axisY}" text-anchor="middle" fill="#616161">${t / 1000}s</text>`,
    );
  }
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
