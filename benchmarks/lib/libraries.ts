/**
 * The libraries compared, loaded as their users load them: breakwater from its build
 * (`dist/`, what npm ships; BREAKWATER_DIST names another build directory), the anchors
 * from node_modules at pinned versions. Also the functions every case calls through them.
 */
import { existsSync } from 'node:fs';
import { distDir } from './dist.js';
import type { Timed } from './types.js';

const dist = (file: string) => new URL(file, distDir);
if (!existsSync(dist('index.js'))) {
  throw new Error(
    `benchmarks measure the build: no ${dist('index.js').pathname}; run \`npm run build\` first`,
  );
}

export const bw = (await import(dist('index.js').href)) as typeof import('breakwater');
// tsx rewrites a .js file that it takes for CommonJS (a build outside a `"type": "module"`
// package): ESM to CJS, `__name()` on every function, which doubled a used breaker's heap.
if (bw.CircuitBreaker.toString().includes('__name(')) {
  throw new Error(
    `the loader transformed ${dist('index.js').pathname}: put it in a "type": "module" package`,
  );
}
export const bwPrometheus = (await import(
  dist('prometheus.js').href
)) as typeof import('breakwater/prometheus');
export * as cockatiel from 'cockatiel';
export { default as Opossum } from 'opossum';
export { default as pRetry } from 'p-retry';

/** Throws unless `condition` holds: a contender that does not do the case's work is not timed. */
export function check(condition: unknown, what: string): asserts condition {
  if (!condition) throw new Error(`validation failed: ${what}`);
}

/** A signal that never aborts: what a caller without a deadline of its own passes on. */
export const idle: AbortSignal = new AbortController().signal;

/** Dependency calls made, so the worker can check that each row called it as often as it claims. */
export const tally = { calls: 0 };

/** The dependency call: touches its signal as I/O does (fetch, pg) and resolves at once. */
export async function work(signal: AbortSignal): Promise<number> {
  tally.calls++;
  signal.throwIfAborted();
  return 1;
}

export const premade = new Error('premade');
/** A dependency call that fails at once, with a premade error (no stack trace to build). */
export async function failWork(signal: AbortSignal): Promise<number> {
  tally.calls++;
  signal.throwIfAborted();
  throw premade;
}

/** What the README tells users to write: the context's signal passed on to the call. */
export const readsSignal = ({ signal }: { signal: AbortSignal }) => work(signal);
/** The same call with a signal from elsewhere: the policy's `ctx.signal` is never read. */
export const ignoresSignal = () => work(idle);

/** The baseline of the success cases: a plain `await` of the same call, no library. */
export const plainAwait = {
  name: 'baseline',
  setup: async (): Promise<Timed> => {
    check((await work(idle)) === 1, 'work resolves 1');
    return { op: () => work(idle) };
  },
};
