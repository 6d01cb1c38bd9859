type Loop = (op: () => unknown, n: number) => Promise<void>;
const AsyncFunction = (async () => {}).constructor as new (...args: string[]) => Loop;
let compiled = 0;

/**
 * A loop of `n` awaited operations, compiled afresh for each thing timed (as mitata does),
 * so that its call site sees one function, which V8 inlines: the loop adds nothing but the
 * `await` (and the `try`) that a caller writes. Wrapping each operation in an async function,
 * as the previous harness did, added ~50 ns to both sides of every ratio and pulled it
 * towards 1. The comment makes each source unique: V8 caches `new Function` by source,
 * feedback included, and a loop shared by baseline and contender would be polymorphic.
 */
export function compileLoop(catches: boolean): Loop {
  const body = catches
    ? 'for (let i = 0; i < n; i++) { try { await op(); } catch {} }'
    : 'for (let i = 0; i < n; i++) await op();';
  return new AsyncFunction('op', 'n', `${body} // loop ${++compiled}`);
}

export interface Measurement {
  /** Mean ns per operation over the timed batches: garbage collection is part of what an allocation costs. */
  readonly ns: number;
  readonly ops: number;
}

/**
 * Times `op` in batches of at least 1 ms (so the clock's resolution does not matter) until
 * `budgetMs` have been spent. Batches are sized on the first one, which is not counted.
 */
export async function measure(loop: Loop, op: () => unknown, budgetMs: number): Promise<Measurement> {
  let n = 1;
  let ops = 0;
  for (;;) {
    const t = performance.now();
    await loop(op, n);
    ops += n;
    if (performance.now() - t >= 1 || n >= 1 << 24) break;
    n *= 2;
  }
  let spent = 0;
  let timedOps = 0;
  while (spent < budgetMs || timedOps === 0) {
    const t = performance.now();
    await loop(op, n);
    spent += performance.now() - t;
    timedOps += n;
  }
  return { ns: (spent * 1e6) / timedOps, ops: ops + timedOps };
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}
