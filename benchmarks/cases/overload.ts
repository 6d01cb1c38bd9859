/**
 * Overload: `adaptiveLimit` against no limit and against a fixed `bulkhead`, in front of a
 * simulated dependency of fixed capacity (c calls served at once in `latency` ms each, the
 * rest queued inside it, as a database with c workers does), on real timers.
 *
 * Two parts:
 * - `adaptiveCost`, a ratio case of the harness (`npm run bench -- --only adaptive`): the
 *   per-call cost of `adaptiveLimit` on the success path against a plain `await`.
 * - the overload table, run on its own (it measures goodput and latency over seconds, not a
 *   ratio): `npx tsx benchmarks/cases/overload.ts` (the build in dist/ or BREAKWATER_DIST),
 *   or `npx tsx benchmarks/cases/overload.ts --source` (the TypeScript sources).
 *
 * Neither imports the anchors (opossum, cockatiel): no JavaScript library has an adaptive limit.
 */
import { pathToFileURL } from 'node:url';
import type { AdaptiveLimitOptions, AdaptiveLimitPolicy } from '../../src/adaptive-limit/index.js';
import type { BulkheadOptions, Policy } from '../../src/index.js';
import type { Contender, RatioCase, Timed } from '../lib/types.js';

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

/** c calls served at once, each in `latency` ms on a real timer; the rest wait in its own FIFO queue. */
class Dependency {
  private busy = 0;
  private readonly queue: (() => void)[] = [];
  private stopped = false;

  constructor(
    public capacity: number,
    readonly latency: number,
  ) {}

  readonly call = (): Promise<void> =>
    new Promise<void>((resolve) => {
      if (this.stopped) return resolve();
      this.queue.push(resolve);
      this.dispatch();
    });

  private dispatch(): void {
    while (this.busy < this.capacity && this.queue.length > 0) {
      const done = this.queue.shift()!;
      this.busy++;
      setTimeout(() => {
        this.busy--;
        done();
        this.dispatch();
      }, this.latency);
    }
  }

  /** Ends the run: what still waits is answered at once (and not counted). */
  stop(): void {
    this.stopped = true;
    for (const done of this.queue.splice(0)) done();
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

/** The overload table as Markdown: every scenario, then the targets of issue 9. */
export async function overloadTable(bw: Breakwater, progress: (line: string) => void): Promise<string> {
  // Windows of 250 ms instead of 1 s, so that the limit settles within the warm-up of a short run.
  const adaptive = () => bw.adaptiveLimit({ windowDuration: 250 });
  const fixed = () => bw.bulkhead({ maxConcurrent: CAPACITY });
  const contenders: [string, (() => Policy) | undefined][] = [
    ['no limit', undefined],
    [`bulkhead, maxConcurrent ${CAPACITY} (= c)`, fixed],
    ['adaptiveLimit (defaults, windows of 250 ms)', adaptive],
  ];
  const rows: string[] = [];
  const row = (what: string, load: string, o: Outcome) =>
    rows.push(
      `| ${what} | ${load} | ${(o.goodput * 100).toFixed(0)} % | ${o.p50.toFixed(1)} | ${o.p99.toFixed(1)} | ${(o.rejected * 100).toFixed(0)} % | ${o.limit ?? '—'} |`,
    );
  progress('overload: unloaded (0.5x, no limit)');
  const unloaded = await runScenario({ load: 0.5, policy: undefined, from: 2_000, to: 6_000 });
  row('no limit', '0.5x (unloaded)', unloaded);
  const targets: string[] = [];
  for (const load of [2, 4]) {
    for (const [name, make] of contenders) {
      progress(`overload: ${name} at ${load}x`);
      const o = await runScenario({ load, policy: make, from: 6_000, to: 12_000 });
      row(name, `${load}x`, o);
      if (load === 4 && make === adaptive) {
        const goodOk = o.goodput >= 0.9;
        const p99Ok = o.p99 <= 2 * unloaded.p99;
        targets.push(
          `| goodput at 4x, adaptiveLimit | >= 90 % of capacity | ${(o.goodput * 100).toFixed(0)} % | ${goodOk ? 'met' : '**MISS**'} |`,
          `| p99 of admitted calls at 4x, adaptiveLimit | <= 2x unloaded p99 (${(2 * unloaded.p99).toFixed(1)} ms) | ${o.p99.toFixed(1)} ms | ${p99Ok ? 'met' : '**MISS**'} |`,
        );
      }
    }
  }
  for (const [name, make] of contenders.slice(1)) {
    progress(`overload: ${name} at 2x, capacity halved at 6 s`);
    const o = await runScenario({ load: 2, policy: make, halveAt: 6_000, from: 8_000, to: 12_000 });
    row(name, '2x, then c halves', o);
  }
  return [
    `Dependency: c = ${CAPACITY} calls at once, ${LATENCY} ms each (capacity ${(1000 * CAPACITY) / LATENCY} calls/s), FIFO queue beyond c; ` +
      'open-loop arrivals every 2 ms, real timers. Measured from 6 s to 12 s of each run (from 8 s when c halves at 6 s: ' +
      'goodput is then against the halved capacity). Latency is from arrival to answer, over the calls answered in the stretch.',
    '',
    '| policy | offered load | goodput | p50 (ms) | p99 (ms) | rejected | limit at end |',
    '|---|---|---:|---:|---:|---:|---:|',
    ...rows,
    '',
    '| target (issue 9) | limit | measured | verdict |',
    '|---|---|---:|---|',
    ...targets,
  ].join('\n');
}

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
  process.stdout.write(`${await overloadTable(bw, progress)}\n`);
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
