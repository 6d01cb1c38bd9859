/**
 * Overload: `adaptiveLimit` against no limit and against a fixed `bulkhead`, in front of a
 * simulated dependency of fixed capacity (c calls served at once in `latency` ms each, the
 * rest queued inside it, as a database with c workers does), on real timers.
 *
 * Two parts:
 * - `adaptiveCost`, a ratio case of the harness (`npm run bench -- --only adaptive`): the
 *   per-call cost of `adaptiveLimit` on the success path against a plain `await`.
 * - `overloadTable`, a table case of the harness (`npm run bench -- --only overload`): goodput
 *   and latency over seconds at 2x and 4x the capacity. Also run on its own:
 *   `npx tsx benchmarks/cases/overload.ts [--quick]` (the build in dist/ or BREAKWATER_DIST),
 *   or with `--source` (the TypeScript sources, plus the per-call cost measured on them).
 *
 * Neither imports the anchors (opossum, cockatiel): no JavaScript library has an adaptive limit.
 */
import { pathToFileURL } from 'node:url';
import type { AdaptiveLimitOptions, AdaptiveLimitPolicy } from '../../src/adaptive-limit/index.js';
import type { BulkheadOptions, Policy } from '../../src/index.js';
import type { Contender, RatioCase, TableCase, TableResult, TableTarget, Timed } from '../lib/types.js';

/** What the cases need from breakwater, from the build (or the sources with --source). */
interface Breakwater {
  adaptiveLimit(options?: AdaptiveLimitOptions): AdaptiveLimitPolicy;
  bulkhead(options: BulkheadOptions): Policy;
}

/** The build, as the other cases load it (lazily: the ratio case runs inside the harness's worker). */
async function fromBuild(): Promise<Breakwater> {
  const { bw } = await import('../lib/libraries.js');
  const built = bw as unknown as Partial<Breakwater>;
  if (typeof built.adaptiveLimit !== 'function') {
    throw new Error(
      'the build does not export adaptiveLimit yet: re-export src/adaptive-limit from src/index.ts',
    );
  }
  return built as Breakwater;
}

// ---- Per-call cost (a ratio case of the harness) ---------------------------------------------

/** Throws unless `condition` holds (the harness's `check`, which cannot be imported lazily as an assertion). */
function ensure(condition: unknown, what: string): void {
  if (!condition) throw new Error(`validation failed: ${what}`);
}

function adaptiveRow(name: string, options: AdaptiveLimitOptions): Contender {
  return {
    name,
    setup: async (): Promise<Timed> => {
      const { readsSignal } = await import('../lib/libraries.js');
      const limit = (await fromBuild()).adaptiveLimit(options);
      ensure((await limit.execute(readsSignal)) === 1, 'returns the result');
      return {
        op: () => limit.execute(readsSignal),
        verify: () => ensure(limit.inFlight === 0 && limit.queued === 0, 'every call settled'),
      };
    },
  };
}

export const adaptiveCost: RatioCase = {
  kind: 'ratio',
  id: 'adaptive',
  title: 'Success through an adaptive limit',
  baselineLabel: '`await work(signal)`, the same call without a limit',
  baseline: {
    name: 'baseline',
    setup: async () => (await import('../lib/libraries.js')).plainAwait.setup(),
  },
  contenders: [
    adaptiveRow('breakwater, adaptiveLimit (gradient2)', {}),
    adaptiveRow('breakwater, adaptiveLimit (aimd)', { algorithm: 'aimd' }),
    {
      name: 'breakwater, bulkhead (fixed)',
      setup: async () => {
        const { readsSignal } = await import('../lib/libraries.js');
        const policy = (await fromBuild()).bulkhead({ maxConcurrent: 20 });
        ensure((await policy.execute(readsSignal)) === 1, 'returns the result');
        return { op: () => policy.execute(readsSignal) };
      },
    },
  ],
  targets: [{ row: 'breakwater, adaptiveLimit (gradient2)', ratio: 2, source: 'issue 9' }],
};

// ---- Overload: goodput and latency -----------------------------------------------------------

/**
 * A dependency of `capacity` workers, each serving one call at a time in `latency` ms, the
 * rest waiting in its own FIFO queue, as a database with c workers does. The workers keep
 * their own time: a worker that finishes a call starts the next queued one at that instant,
 * whenever this process's event loop gets round to hearing the answer. The previous model
 * freed a worker only when its `setTimeout` fired, so every millisecond a timer fired late
 * (on a loaded machine, often several) was taken from the dependency's capacity: a bulkhead
 * sized exactly at c measured 68 % of a capacity the dependency never had. Answers still
 * reach the caller late when the loop is late, as they would from a real one.
 */
class Dependency {
  /** When each worker is next free (ms, `performance.now()`). */
  private readonly freeAt: number[];
  /** Answers not yet delivered, by when they are due (nondecreasing but after c falls). */
  private readonly due: { at: number; done: () => void }[] = [];
  private head = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private stopped = false;

  constructor(
    capacity: number,
    readonly latency: number,
  ) {
    this.freeAt = Array.from({ length: capacity }, () => 0);
  }

  get capacity(): number {
    return this.freeAt.length;
  }

  /** Fewer workers from now on: those that would be free soonest leave (each after its call in service). */
  set capacity(c: number) {
    this.freeAt.sort((x, y) => y - x).length = c;
  }

  readonly call = (): Promise<void> =>
    new Promise<void>((done) => {
      if (this.stopped) return done();
      const now = performance.now();
      // FIFO over c workers: the call goes to the worker free soonest, when it is free.
      let w = 0;
      for (let i = 1; i < this.freeAt.length; i++) if (this.freeAt[i]! < this.freeAt[w]!) w = i;
      const at = Math.max(now, this.freeAt[w]!) + this.latency;
      this.freeAt[w] = at;
      // Due times only fall out of order after c falls: insert from the back.
      const answer = { at, done };
      let i = this.due.length;
      this.due.push(answer);
      for (; i > this.head && this.due[i - 1]!.at > at; i--) this.due[i] = this.due[i - 1]!;
      this.due[i] = answer;
      if (i === this.head) this.arm();
    });

  /** One timer, for the next answer due. */
  private arm(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    const next = this.due[this.head];
    if (next === undefined) return;
    // Whole milliseconds, rounded up: a timer rounded down fires before the answer is due.
    this.timer = setTimeout(this.deliver, Math.max(0, Math.ceil(next.at - performance.now())));
  }

  private readonly deliver = (): void => {
    this.timer = undefined;
    const now = performance.now();
    while (this.head < this.due.length && this.due[this.head]!.at <= now) this.due[this.head++]!.done();
    if (this.head > 1_024 && this.head * 2 > this.due.length) {
      this.due.splice(0, this.head);
      this.head = 0;
    }
    this.arm();
  };

  /** Ends the run: every answer still due is given at once (and not counted). */
  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    for (const { done } of this.due.splice(this.head)) done();
    this.head = 0;
  }
}

interface Scenario {
  /** Offered load as a multiple of the capacity. */
  readonly load: number;
  /** What the calls go through; `undefined`: straight to the dependency. */
  readonly policy: (() => Policy) | undefined;
  /** Halve the capacity this many ms into the run (never when undefined). */
  readonly halveAt?: number;
  /** Measure from … to (ms into the run). */
  readonly from: number;
  readonly to: number;
}

interface Outcome {
  /** Completions in the measured stretch, over what the capacity allows in it. */
  readonly goodput: number;
  readonly p50: number;
  readonly p99: number;
  /** Calls turned away by the policy, as a share of the offered calls. */
  readonly rejected: number;
  /** The adaptive limit at the end, when there is one. */
  readonly limit?: number;
}

const CAPACITY = 30;
const LATENCY = 30;

/** Open-loop load (arrivals do not wait for answers, as users do not), issued every 2 ms. */
async function runScenario(s: Scenario): Promise<Outcome> {
  const dependency = new Dependency(CAPACITY, LATENCY);
  const policy = s.policy?.();
  const perMs = (s.load * CAPACITY) / LATENCY;
  const latencies: number[] = [];
  let completed = 0;
  let offered = 0;
  let rejected = 0;
  let halved = false;
  const started = performance.now();
  const run = (issuedAt: number) => {
    const measured = issuedAt - started >= s.from;
    if (measured) offered++;
    const done = () => {
      const end = performance.now();
      if (end - started >= s.from && end - started < s.to) {
        completed++;
        latencies.push(end - issuedAt);
      }
    };
    const call = policy === undefined ? dependency.call() : policy.execute(dependency.call);
    call.then(done, () => {
      if (measured) rejected++;
    });
  };
  await new Promise<void>((resolve) => {
    let issued = 0;
    const timer = setInterval(() => {
      const now = performance.now();
      const elapsed = now - started;
      if (s.halveAt !== undefined && !halved && elapsed >= s.halveAt) {
        halved = true;
        dependency.capacity = CAPACITY / 2;
      }
      if (elapsed >= s.to) {
        clearInterval(timer);
        resolve();
        return;
      }
      const due = Math.floor(elapsed * perMs);
      for (; issued < due; issued++) run(now);
    }, 2);
  });
  dependency.stop();
  await new Promise((resolve) => setTimeout(resolve, LATENCY * 2));
  latencies.sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0;
  const capacityAt = (from: number, to: number) => {
    if (s.halveAt === undefined || s.halveAt >= to) return (to - from) * (CAPACITY / LATENCY);
    const full = Math.max(0, s.halveAt - from);
    return full * (CAPACITY / LATENCY) + (to - from - full) * (CAPACITY / 2 / LATENCY);
  };
  const limit = (policy as Partial<AdaptiveLimitPolicy> | undefined)?.limit;
  return {
    goodput: completed / capacityAt(s.from, s.to),
    p50: at(0.5),
    p99: at(0.99),
    rejected: offered === 0 ? 0 : rejected / offered,
    ...(limit === undefined ? {} : { limit }),
  };
}

/** Time scale of a run: full (the table as published) or quick (CI: every row, not settled). */
interface Timing {
  /** The unloaded reference: measured over [from, to). */
  readonly unloaded: { readonly from: number; readonly to: number };
  /** Each overload row: measured over [from, to), after a warm-up in which the adaptive limit settles. */
  readonly overload: { readonly from: number; readonly to: number };
  /** The rows in which c halves at `at`, measured over [from, to). */
  readonly halving: { readonly at: number; readonly from: number; readonly to: number };
}

// The adaptive limit starts at 20 (< c): a probe of 100 calls, then +0.8 per window of
// 250 ms, so it passes c about 3.5 s in; the stretches start after that.
const FULL: Timing = {
  unloaded: { from: 1_000, to: 2_500 },
  overload: { from: 4_000, to: 6_500 },
  halving: { at: 4_000, from: 5_500, to: 7_500 },
};
const QUICK: Timing = {
  unloaded: { from: 150, to: 450 },
  overload: { from: 300, to: 700 },
  halving: { at: 300, from: 450, to: 750 },
};

const pct = (x: number) => `${(x * 100).toFixed(0)} %`;
const ms = (x: number) => x.toFixed(1);

/** Every row of the overload table, and the targets of issue 9, on breakwater `bw`. */
export async function measureOverload(
  bw: Breakwater,
  quick: boolean,
  progress: (line: string) => void = () => {},
): Promise<TableResult> {
  const t = quick ? QUICK : FULL;
  // Windows of 250 ms instead of 1 s, so that the limit settles within the warm-up.
  const adaptive = () => bw.adaptiveLimit({ windowDuration: 250 });
  const fixed = () => bw.bulkhead({ maxConcurrent: CAPACITY });
  const contenders: [string, (() => Policy) | undefined][] = [
    ['no limit', undefined],
    [`bulkhead, maxConcurrent ${CAPACITY} (= c)`, fixed],
    ['adaptiveLimit (defaults, windows of 250 ms)', adaptive],
  ];
  const rows: (string | number)[][] = [];
  const row = (what: string, load: string, o: Outcome) =>
    rows.push([what, load, pct(o.goodput), ms(o.p50), ms(o.p99), pct(o.rejected), o.limit ?? '—']);
  progress('overload: unloaded (0.5x, no limit)');
  const unloaded = await runScenario({ load: 0.5, policy: undefined, ...t.unloaded });
  row('no limit', '0.5x (unloaded)', unloaded);
  const targets: TableTarget[] = [];
  for (const load of [2, 4]) {
    for (const [name, make] of contenders) {
      progress(`overload: ${name} at ${load}x`);
      const o = await runScenario({ load, policy: make, ...t.overload });
      row(name, `${load}x`, o);
      if (load === 4 && make === adaptive) {
        targets.push(
          {
            what: 'goodput at 4x, adaptiveLimit',
            source: 'issue 9',
            limit: '>= 90 % of capacity',
            measured: pct(o.goodput),
            met: o.goodput >= 0.9,
          },
          {
            what: 'p99 of admitted calls at 4x, adaptiveLimit',
            source: 'issue 9',
            limit: `<= 2x unloaded p99 (${ms(2 * unloaded.p99)} ms)`,
            measured: `${ms(o.p99)} ms`,
            met: o.p99 <= 2 * unloaded.p99,
          },
        );
      }
    }
  }
  for (const [name, make] of contenders.slice(1)) {
    progress(`overload: ${name} at 2x, capacity halved`);
    const o = await runScenario({
      load: 2,
      policy: make,
      halveAt: t.halving.at,
      from: t.halving.from,
      to: t.halving.to,
    });
    row(name, '2x, then c halves', o);
  }
  return {
    columns: ['policy', 'offered load', 'goodput', 'p50 (ms)', 'p99 (ms)', 'rejected', 'limit at end'],
    rows,
    targets,
    ...(quick
      ? {
          note: 'Quick run: each row lasts under a second, so the adaptive limit has not settled; the figures only show that every row runs.',
        }
      : {}),
  };
}

const seconds = (x: number) => `${x / 1_000} s`;

export const overloadTable: TableCase = {
  kind: 'table',
  id: 'overload',
  title: 'Overload: adaptiveLimit, a fixed bulkhead and no limit',
  note:
    `Dependency: c = ${CAPACITY} workers, ${LATENCY} ms per call (capacity ${(1_000 * CAPACITY) / LATENCY} calls/s), ` +
    'a FIFO queue beyond c; its workers keep their own time, so a late timer in this process delays the answer, ' +
    'not the next call. Open-loop arrivals every 2 ms, real timers. Each row is a fresh run, measured from ' +
    `${seconds(FULL.overload.from)} to ${seconds(FULL.overload.to)} (the unloaded row from ${seconds(FULL.unloaded.from)} ` +
    `to ${seconds(FULL.unloaded.to)}; when c halves at ${seconds(FULL.halving.at)}, from ${seconds(FULL.halving.from)} ` +
    `to ${seconds(FULL.halving.to)}, goodput then against the halved capacity). Goodput: answers in the stretch over ` +
    'what the capacity allows in it. Latency: from arrival to answer, over the calls answered in the stretch.',
  run: async ({ quick }) => measureOverload(await fromBuild(), quick),
};

// ---- Run on its own ----------------------------------------------------------------------------

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const progress = (line: string) => process.stderr.write(`${line}\n`);
  const source = process.argv.includes('--source');
  const bw: Breakwater = source
    ? {
        ...(await import('../../src/adaptive-limit/index.js')),
        ...(await import('../../src/bulkhead/index.js')),
      }
    : await fromBuild();
  const result = await measureOverload(bw, process.argv.includes('--quick'), progress);
  const lines = [
    overloadTable.note ?? '',
    '',
    `| ${result.columns.join(' | ')} |`,
    `|---|${result.columns
      .slice(1)
      .map(() => '---:')
      .join('|')}|`,
    ...result.rows.map((r) => `| ${r.join(' | ')} |`),
    '',
    ...(result.note ? [result.note, ''] : []),
    ...result.targets.map(
      (x) =>
        `Target (${x.source}): ${x.what} ${x.limit}: measured ${x.measured}, ${x.met ? 'met' : '**MISS**'}.`,
    ),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  if (source) {
    // The per-call cost on the sources, with the harness's own loop and timer (the harness proper measures the build).
    const { compileLoop, measure, median } = await import('../lib/measure.js');
    const work = async (signal: AbortSignal) => {
      signal.throwIfAborted();
      return 1;
    };
    const idle = new AbortController().signal;
    const readsSignal = ({ signal }: { signal: AbortSignal }) => work(signal);
    const rowsOf: [string, () => unknown][] = [
      [
        'adaptiveLimit (gradient2)',
        (
          (l) => () =>
            l.execute(readsSignal)
        )(bw.adaptiveLimit()),
      ],
      [
        'adaptiveLimit (aimd)',
        (
          (l) => () =>
            l.execute(readsSignal)
        )(bw.adaptiveLimit({ algorithm: 'aimd' })),
      ],
      [
        'bulkhead (fixed)',
        (
          (b) => () =>
            b.execute(readsSignal)
        )(bw.bulkhead({ maxConcurrent: 20 })),
      ],
    ];
    const lines = ['', '| per call (sources via tsx) | × plain await (median of 5 rounds) |', '|---|---:|'];
    for (const [name, op] of rowsOf) {
      const baseLoop = compileLoop(false);
      const ownLoop = compileLoop(false);
      const ratios: number[] = [];
      await measure(baseLoop, () => work(idle), 200);
      await measure(ownLoop, op, 200);
      for (let i = 0; i < 5; i++) {
        const base = await measure(baseLoop, () => work(idle), 300);
        const own = await measure(ownLoop, op, 300);
        ratios.push(own.ns / base.ns);
      }
      lines.push(
        `| ${name} | ${median(ratios).toFixed(2)}x (${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)}) |`,
      );
    }
    process.stdout.write(`${lines.join('\n')}\n`);
  }
}
