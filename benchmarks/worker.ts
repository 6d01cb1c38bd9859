/**
 * Runs one case in this (fresh) process and prints its measurements as JSON on the last
 * line of stdout. Started by run.ts; not meant to be run by hand.
 *
 *   worker.ts ratio <case-id> <rounds> <budget-ms>
 *   worker.ts scale <library> <quick: 0|1>
 */
import { cases } from './cases/index.js';
import { measureScale } from './cases/scale.js';
import { nsPerIteration } from './lib/measure.js';
import type { RatioRun } from './lib/types.js';

const [mode, arg, a, b] = process.argv.slice(2);

if (mode === 'scale') {
  console.log(JSON.stringify(await measureScale(arg!, a === '1')));
} else if (mode === 'ratio') {
  const c = cases.find((x) => x.id === arg);
  if (c === undefined || c.kind !== 'ratio') throw new Error(`no ratio case ${arg}`);
  const rounds = Number(a);
  const budgetMs = Number(b);
  const perCall = c.perCall ?? 1;
  // Every contender is built and validated before anything is timed.
  const baseline = await c.baseline.setup();
  const contenders = await Promise.all(c.contenders.map(async (x) => [x.name, await x.setup()] as const));
  // One discarded measurement of each first, so the first timed pair does not pay for JIT warm-up.
  await nsPerIteration(baseline, { budgetMs: budgetMs / 2 });
  for (const [, fn] of contenders) await nsPerIteration(fn, { budgetMs: budgetMs / 2 });
  const pairs: RatioRun['pairs'] = {};
  for (let round = 0; round < rounds; round++) {
    // Baseline and contender alternate, so that drift (thermal, noisy neighbours) hits both alike.
    for (const [name, fn] of contenders) {
      const base = (await nsPerIteration(baseline, { budgetMs })) / perCall;
      const own = (await nsPerIteration(fn, { budgetMs })) / perCall;
      pairs[name] = [...(pairs[name] ?? []), [base, own]];
    }
  }
  const result: RatioRun = { id: c.id, pairs };
  console.log(JSON.stringify(result));
} else {
  throw new Error(`usage: worker.ts ratio <case> <rounds> <budget-ms> | scale <library> <quick>`);
}
