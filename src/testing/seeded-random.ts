import type { RandomSource } from '../clock.js';

/**
 * A repeatable {@link RandomSource} (mulberry32): the same seed gives the same
 * sequence, so jitter and chaos runs can be replayed.
 *
 * @example
 * ```ts
 * const random = seededRandom(42);
 * retry({ backoff: exponential({ initial: 100, jitter: 'full' }), random });
 * ```
 */
export function seededRandom(seed: number): RandomSource {
  if (!Number.isInteger(seed)) throw new TypeError(`seed must be an integer, got ${String(seed)}`);
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
