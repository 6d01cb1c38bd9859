import type { RandomSource } from '../clock.js';
import * as v from '../validate.js';

/**
 * The delay (ms) before retry number `attempt` (1 for the first retry). `previous` is the
 * delay before the last retry (0 before the first), for backoffs that build on it.
 * A plain `(attempt, error) => ms` is a valid backoff.
 */
export type Backoff = (attempt: number, error: unknown, previous: number, random: RandomSource) => number;

/**
 * The same delay before every retry.
 * @example
 * ```ts
 * retry({ retries: 5, backoff: constant(200) })
 * ```
 */
export function constant(ms: number): Backoff {
  v.milliseconds('constant(ms)', ms);
  return () => ms;
}

/** Options of {@link exponential}. */
export interface ExponentialOptions {
  /**
   * Delay before the first retry (ms).
   * @default 100
   */
  initial?: number;
  /**
   * Upper bound of any delay (ms).
   * @default 30_000
   */
  max?: number;
  /**
   * Growth per retry.
   * @default 2
   */
  factor?: number;
  /**
   * - `none`: `initial * factor ** (attempt - 1)`, capped at `max`.
   * - `full`: a uniform draw in `[0, that)`, so that clients that failed together do not retry together.
   * - `decorrelated`: a uniform draw in `[initial, previous * 3)`, capped at `max`, where `previous`
   *   is `initial` before the first retry (spreads retries like `full` while keeping the growth;
   *   the "decorrelated jitter" of AWS's backoff study).
   * @default 'none'
   */
  jitter?: 'none' | 'full' | 'decorrelated';
}

/**
 * A delay that grows with each retry, with optional jitter.
 * @example
 * ```ts
 * retry({ backoff: exponential({ initial: 100, max: 5_000, jitter: 'decorrelated' }) })
 * ```
 */
export function exponential(options: ExponentialOptions = {}): Backoff {
  const o = v.object('exponential options', options);
  v.knownKeys('exponential', o, ['initial', 'max', 'factor', 'jitter']);
  const initial = o.initial === undefined ? 100 : v.milliseconds('initial', o.initial);
  const max = o.max === undefined ? 30_000 : v.milliseconds('max', o.max);
  if (max < initial) throw new RangeError(`max must be >= initial (${initial}), got ${max}`);
  const factor = o.factor === undefined ? 2 : o.factor;
  if (typeof factor !== 'number')
    throw new TypeError(`factor must be a finite number >= 1, got ${v.show(factor)}`);
  if (!(factor >= 1) || !Number.isFinite(factor)) {
    throw new RangeError(`factor must be a finite number >= 1, got ${v.show(factor)}`);
  }
  const jitter = o.jitter === undefined ? 'none' : o.jitter;
  switch (jitter) {
    case 'none':
      return (attempt) => Math.min(max, initial * factor ** (attempt - 1));
    case 'full':
      return (attempt, _error, _previous, random) =>
        random() * Math.min(max, initial * factor ** (attempt - 1));
    case 'decorrelated':
      return (_attempt, _error, previous, random) => {
        // Before the first retry `previous` is 0: draw from [initial, 3 * initial), as AWS's
        // `sleep = base` start does, so clients that failed together do not all wait exactly `initial`.
        const upper = Math.max(initial, previous) * 3;
        return Math.min(max, initial + random() * (upper - initial));
      };
    default:
      throw new TypeError(`jitter must be "none", "full" or "decorrelated", got ${v.show(jitter)}`);
  }
}
