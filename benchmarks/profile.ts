/**
 * Summarises a V8 .cpuprofile: the functions with the most self time, and the most total time
 * (self plus callees). `npm run bench -- --only success --rows breakwater --profile` writes one
 * profile per worker into benchmarks/.out/profiles/; then
 *
 *   npx tsx benchmarks/profile.ts benchmarks/.out/profiles/<file>.cpuprofile [--filter dist/] [--top 25]
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { filter: { type: 'string' }, top: { type: 'string', default: '25' } },
});
const file = positionals[0];
if (file === undefined) throw new Error('usage: profile.ts <file.cpuprofile> [--filter text] [--top n]');
const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
const top = Number(values.top);

const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const label = (n: ProfileNode) => {
  const { functionName, url, lineNumber } = n.callFrame;
  const where =
    url === '' ? '' : ` ${url.replace(/^.*\/(node_modules|dist|benchmarks)\//, '$1/')}:${lineNumber + 1}`;
  return `${functionName || '(anonymous)'}${where}`;
};

const self = new Map<string, number>();
const total = new Map<string, number>();
let all = 0;
profile.samples.forEach((id, i) => {
  const dt = profile.timeDeltas[i] ?? 0;
  all += dt;
  const leaf = byId.get(id)!;
  self.set(label(leaf), (self.get(label(leaf)) ?? 0) + dt);
  // Count each function once per sample even when it recurses.
  const seen = new Set<string>();
  for (let n: ProfileNode | undefined = leaf; n !== undefined; n = byId.get(parent.get(n.id) ?? -1)) {
    const l = label(n);
    if (!seen.has(l)) total.set(l, (total.get(l) ?? 0) + dt);
    seen.add(l);
  }
});

const show = (title: string, map: Map<string, number>) => {
  console.log(`\n${title} (of ${(all / 1e3).toFixed(0)} ms sampled)`);
  [...map]
    .filter(([l]) => values.filter === undefined || l.includes(values.filter))
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .forEach(([l, t]) => {
      console.log(
        `${((100 * t) / all).toFixed(1).padStart(5)} %  ${(t / 1e3).toFixed(1).padStart(8)} ms  ${l}`,
      );
    });
};
show('self time', self);
show('total time', total);
