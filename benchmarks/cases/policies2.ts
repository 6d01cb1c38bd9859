/**
 * Rate limiting, request coalescing and hedging: each success path against a plain `await`
 * (three ratio cases), and hedging's tail latency under a long-tailed dependency, with real
 * timers (`npx tsx benchmarks/cases/policies2.ts`, apart from `npm run bench`, whose worker
 * has no kind for a latency distribution).
 */
import { fileURLToPath } from 'node:url';
import { bw, check, idle, ignoresSignal, plainAwait, readsSignal } from '../lib/libraries.js';
import type { RatioCase } from '../lib/types.js';

type Policies2 = typeof import('../../src/hedge/index.js') &
  typeof import('../../src/rate-limit/index.js') &
  typeof import('../../src/coalesce/index.js');

/** The build's hedge, rateLimit and coalesce (exported from `breakwater` once src/index.ts re-exports them). */
function policies(): Policies2 {
  const p = bw as unknown as Partial<Policies2>;
  check(
    typeof p.hedge === 'function' && typeof p.rateLimit === 'function' && typeof p.coalesce === 'function',
    'the build exports hedge, rateLimit and coalesce (add them to src/index.ts, then npm run build)',
  );
  return p as Policies2;
}

/** A limit the loop never reaches: a billion calls a second. */
const UNREACHED = { limit: 1_000_000_000, interval: 1_000 };

export const rateLimitSuccess: RatioCase = {
  kind: 'ratio',
  id: 'rate-limit-success',
  title: 'Rate limit, a permit is free',
  baselineLabel: '`await work(signal)`, the same call without a limiter',
  baseline: plainAwait,
  contenders: [
    {
      name: 'breakwater',
      setup: async () => {
        const policy = policies().rateLimit(UNREACHED);
        check((await policy.execute(readsSignal)) === 1, 'returns the result');
        return {
          op: () => policy.execute(readsSignal),
          verify: () => check(policy.queued === 0, 'nothing waited'),
        };
      },
    },
    {
      name: 'breakwater, sliding window',
      setup: async () => {
        const policy = policies().rateLimit({ limit: 1_000_000, interval: 1, strategy: 'sliding-window' });
        check((await policy.execute(readsSignal)) === 1, 'returns the result');
        return {
          op: () => policy.execute(readsSignal),
          verify: () => check(policy.queued === 0, 'nothing waited'),
        };
      },
    },
    {
      name: 'breakwater, keyed (one tenant)',
      setup: async () => {
        const policy = policies().rateLimit({ ...UNREACHED, key: (ctx) => ctx.key });
        const options = { key: 'tenant-1' };
        check((await policy.execute(readsSignal, options)) === 1, 'returns the result');
        check(policy.keys === 1, 'the tenant has a bucket');
        return { op: () => policy.execute(readsSignal, options) };
      },
    },
  ],
  targets: [{ row: 'breakwater', ratio: 2, source: 'issue 14' }],
};

export const coalesceSuccess: RatioCase = {
  kind: 'ratio',
  id: 'coalesce-success',
  title: 'Coalesce, no concurrent call to share',
  baselineLabel: '`await work(signal)`, the same call without coalescing',
  baseline: plainAwait,
  contenders: [
    {
      name: 'breakwater',
      setup: async () => {
        const policy = policies().coalesce();
        const options = { key: 'user:1' };
        check((await policy.execute(readsSignal, options)) === 1, 'returns the result');
        return {
          op: () => policy.execute(readsSignal, options),
          verify: () => check(policy.inFlight === 0, 'settled'),
        };
      },
    },
    {
      name: 'breakwater, caller passes a signal',
      setup: async () => {
        const policy = policies().coalesce();
        const options = { key: 'user:1', signal: idle };
        check((await policy.execute(readsSignal, options)) === 1, 'returns the result');
        return { op: () => policy.execute(readsSignal, options) };
      },
    },
  ],
  targets: [{ row: 'breakwater', ratio: 2, source: 'issue 14' }],
  note: 'Sequential calls: each finds nothing in flight, so this is the cost of the map entry and the shared promise.',
};

export const hedgeSuccess: RatioCase = {
  kind: 'ratio',
  id: 'hedge-success',
  title: 'Hedge, the first attempt answers before the delay',
  baselineLabel: '`await work(signal)`, the same call without hedging',
  baseline: plainAwait,
  contenders: [
    {
      name: 'breakwater',
      setup: async () => {
        const policy = policies().hedge({ delay: 100 });
        check((await policy.execute(readsSignal)) === 1, 'returns the result');
        return { op: () => policy.execute(readsSignal) };
      },
    },
    {
      name: 'breakwater, fn ignores ctx.signal',
      setup: async () => {
        const policy = policies().hedge({ delay: 100 });
        check((await policy.execute(ignoresSignal)) === 1, 'returns the result');
        return { op: () => policy.execute(ignoresSignal) };
      },
    },
    {
      name: 'breakwater, percentile delay',
      setup: async () => {
        const policy = policies().hedge({ delay: { percentile: 0.95, minDelay: 1, maxDelay: 100 } });
        check((await policy.execute(ignoresSignal)) === 1, 'returns the result');
        return { op: () => policy.execute(ignoresSignal) };
      },
    },
  ],
  targets: [{ row: 'breakwater, fn ignores ctx.signal', ratio: 2, source: 'issue 14' }],
  note:
    "Each attempt has its own AbortSignal (a hedge's win aborts the others), built only when fn reads `ctx.signal`: " +
    'on Node 20 that costs microseconds, so the row that reads it is far above 2x.',
};

/** The cases of this file, in the order of the results table. */
export const policies2: readonly RatioCase[] = [rateLimitSuccess, coalesceSuccess, hedgeSuccess];

/** A seeded source in [0, 1) (mulberry32), so both runs see the same latencies. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** A long-tailed dependency: 2 to 6 ms mostly, 4 % at 40 to 60 ms, 1 % at 200 to 300 ms; aborts when asked. */
function dependency(random: () => number) {
  let calls = 0;
  const call = (signal: AbortSignal) =>
    new Promise<number>((resolve, reject) => {
      calls++;
      const r = random();
      const ms = r < 0.01 ? 200 + random() * 100 : r < 0.05 ? 40 + random() * 20 : 2 + random() * 4;
      const timer = setTimeout(() => {
        signal.removeEventListener('abort', onAbort);
        resolve(ms);
      }, ms);
      const onAbort = () => {
        clearTimeout(timer);
        reject(signal.reason);
      };
      signal.addEventListener('abort', onAbort, { once: true });
    });
  return { call, calls: () => calls };
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)]!;
}

/**
 * Runs `total` calls, `concurrency` at a time, through `run` and answers the latency
 * percentiles (ms) and the dependency calls made per call.
 */
async function tail(
  run: (fn: (ctx: { signal: AbortSignal }) => Promise<number>) => Promise<number>,
  total: number,
  concurrency: number,
  seed: number,
) {
  const dep = dependency(seeded(seed));
  const latencies: number[] = [];
  let next = 0;
  const lane = async () => {
    while (next < total) {
      next++;
      const start = performance.now();
      await run(({ signal }) => dep.call(signal));
      latencies.push(performance.now() - start);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
  latencies.sort((a, b) => a - b);
  return {
    p50: percentile(latencies, 0.5),
    p95: percentile(latencies, 0.95),
    p99: percentile(latencies, 0.99),
    max: latencies.at(-1)!,
    load: dep.calls() / total,
  };
}

/** Prints hedging's tail latency against no hedging, each over the same seeded latencies. */
export async function hedgeTail(total = 3_000, concurrency = 20): Promise<void> {
  const p = policies();
  const rows: [string, Awaited<ReturnType<typeof tail>>][] = [];
  const seed = 14;
  rows.push([
    'no hedging',
    await tail((fn) => fn({ signal: new AbortController().signal }), total, concurrency, seed),
  ]);
  const fixed = p.hedge({ delay: 10 });
  rows.push(['hedge, delay 10 ms', await tail((fn) => fixed.execute(fn), total, concurrency, seed)]);
  const learned = p.hedge({ delay: { percentile: 0.95, maxDelay: 100 } });
  rows.push([
    'hedge, delay p95 (learned)',
    await tail((fn) => learned.execute(fn), total, concurrency, seed),
  ]);
  const budgeted = p.hedge({ delay: 10, budget: { ratio: 0.05, minPerSecond: 0 } });
  rows.push([
    'hedge, delay 10 ms, budget 5 %',
    await tail((fn) => budgeted.execute(fn), total, concurrency, seed),
  ]);
  const ms = (x: number) => x.toFixed(1);
  console.log(
    `${total} calls, ${concurrency} at a time; dependency: 95 % 2-6 ms, 4 % 40-60 ms, 1 % 200-300 ms`,
  );
  console.log('| | p50 ms | p95 ms | p99 ms | max ms | dependency calls per call |');
  console.log('|---|---|---|---|---|---|');
  for (const [name, r] of rows) {
    console.log(
      `| ${name} | ${ms(r.p50)} | ${ms(r.p95)} | ${ms(r.p99)} | ${ms(r.max)} | ${r.load.toFixed(3)} |`,
    );
  }
  console.log(`learned delay at the end: ${ms(learned.delay ?? Number.NaN)} ms`);
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) await hedgeTail();
