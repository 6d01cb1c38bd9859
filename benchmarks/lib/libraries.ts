/**
 * The libraries compared, loaded as their users load them: breakwater from its build
 * (`dist/`, what npm ships), the anchors from node_modules at pinned versions.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Contender } from './types.js';

const dist = (file: string) => new URL(`../../dist/${file}`, import.meta.url);
if (!existsSync(fileURLToPath(dist('index.js')))) {
  throw new Error('benchmarks measure the build: run `npm run build` first (npm run bench does)');
}

export const bw = (await import(dist('index.js').href)) as typeof import('breakwater');
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

export const ok = async () => 1;

/** The baseline of most cases: a plain `await fn()` of a function that resolves at once. */
export const plainAwait: Contender = {
  name: 'baseline',
  setup: async () => {
    check((await ok()) === 1, 'fn resolves 1');
    return async () => {
      await ok();
    };
  },
};
export const premade = new Error('premade');
export const fail = async (): Promise<number> => {
  throw premade;
};
