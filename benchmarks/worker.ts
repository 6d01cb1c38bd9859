/**
 * Runs one contender of a case, beside the case's baseline, in this fresh process and prints
 * the measurements as JSON on the last line of stdout. Started by run.ts; not meant to be
 * run by hand (but `node --import tsx benchmarks/worker.ts ratio success breakwater 3 300`
 * under --cpu-prof is how to profile one row).
 *
 *   worker.ts ratio <case-id> <contender|*> <rounds> <budget-ms>
 *   worker.ts scale <library> <check|quick|full>
 *   worker.ts table <case-id> <check|quick|full>
 */
import { cases } from './cases/index.js';
import { measureScale } from './cases/scale.js';
import { tally } from './lib/libraries.js';
import { compileLoop, type Measurement, measure } from './lib/measure.js';
import type { Contender, RatioCase, RatioRun, Timed } from './lib/types.js';

// A warning (TimeoutOverflowWarning, MaxListenersExceededWarning) means a contender is not set
// up as its row claims, or leaks: the run fails rather than publish its numbers.
const warnings: Error[] = [];
process.on('warning', (warning) => warnings.push(warning));

const [mode, arg, ...rest] = process.argv.slice(2);

if (mode === 'scale') {
  await print(await measureScale(arg!, rest[0] as 'check' | 'quick' | 'full'));
} else if (mode === 'table') {
  const c = cases.find((x) => x.id === arg);
  if (c === undefined || c.kind !== 'table') throw new Error(`no table case ${arg}`);
  const result = await c.run({ quick: rest[0] !== 'full' });
  if (result.rows.some((row) => row.length !== result.columns.length))
    throw new Error(`${c.id}: a row does not have one cell per column (${result.columns.join(', ')})`);
  await print(result);
} else if (mode === 'ratio') {
  const [name, rounds, budgetMs] = [rest[0]!, Number(rest[1]), Number(rest[2])];
  const c = cases.find((x) => x.id === arg);
  if (c === undefined || c.kind !== 'ratio') throw new Error(`no ratio case ${arg}`);
  // `*` (--check) validates every contender in this one process: its timings are not published.
  const contenders = name === '*' ? c.contenders : c.contenders.filter((x) => x.name === name);
  if (contenders.length === 0) throw new Error(`case ${c.id} has no contender ${name}`);
  const runs: RatioRun[] = [];
  for (const contender of contenders) runs.push(await runContender(c, contender, rounds, budgetMs));
  await print(runs);
} else {
  throw new Error(
    'usage: worker.ts ratio <case> <contender|*> <rounds> <budget-ms> | scale <library> <check|quick|full> | table <case> <check|quick|full>',
  );
}

/** Times one contender against the baseline, round by round, and checks that it did the case's work throughout. */
async function runContender(
  c: RatioCase,
  contender: Contender,
  rounds: number,
  budgetMs: number,
): Promise<RatioRun> {
  const perOp = c.perOp ?? 1;
  const baseline = await c.baseline.setup();
  const own = await contender.setup();
  const baseLoop = compileLoop(c.rejects === true);
  const ownLoop = compileLoop(c.rejects === true);
  let ownOps = 0;

  /** Times one side and checks that it called the dependency as often as the case says. */
  const timed = async (loop: typeof baseLoop, x: Timed, callsPerOp: number, budget: number) => {
    const before = tally.calls;
    const m: Measurement = await measure(loop, x.op, budget);
    const calls = tally.calls - before;
    if (calls !== m.ops * callsPerOp) {
      const who = x === own ? contender.name : 'baseline';
      throw new Error(
        `${c.id} / ${who}: ${m.ops} operations made ${calls} dependency calls, expected ${m.ops * callsPerOp}`,
      );
    }
    if (x === own) ownOps += m.ops;
    return m.ns / perOp;
  };
  const ownCalls = c.callsPerOp ?? perOp;
  // Warm-up, not recorded: the first pair would otherwise pay for compilation (cockatiel's
  // first ~200,000 calls run 2-4x slower than its later ones).
  await timed(baseLoop, baseline, perOp, budgetMs);
  await timed(ownLoop, own, ownCalls, budgetMs);
  const pairs: [number, number][] = [];
  for (let round = 0; round < rounds; round++) {
    // Baseline and contender alternate, so that drift (noisy neighbours) hits both alike.
    const base = await timed(baseLoop, baseline, perOp, budgetMs);
    pairs.push([base, await timed(ownLoop, own, ownCalls, budgetMs)]);
  }
  own.verify?.(ownOps);
  return { id: c.id, contender: contender.name, pairs };
}

/** Prints the result once pending warnings (emitted on a later tick) have surfaced; exits even if an anchor holds a timer. */
async function print(result: unknown): Promise<void> {
  await new Promise((resolve) => setImmediate(resolve));
  if (warnings.length > 0) {
    throw new Error(
      `process warnings during the run: ${warnings.map((w) => `${w.name}: ${w.message}`).join('; ')}`,
    );
  }
  console.log(JSON.stringify(result));
  process.exit(0);
}
