/** Bit flags describing one recorded call. */
export const SUCCESS = 0;
export const FAILURE = 1;
export const SLOW = 2;

/** A call outcome as recorded in a window: {@link SUCCESS}, or {@link FAILURE} and/or {@link SLOW}. */
export type Outcome = number;

/**
 * Counts of recent calls. Reads are O(1): implementations keep running totals and
 * subtract what falls out of the window instead of recounting.
 */
export interface SlidingWindow {
  /** Calls recorded in the window, as of the last `record` or `advance`. */
  readonly calls: number;
  /** Of those, the failed ones. */
  readonly failures: number;
  /** Of those, the slow ones (failed or not). */
  readonly slowCalls: number;
  /** Ages out what `now` has pushed out of the window, then counts one call. */
  record(now: number, outcome: Outcome): void;
  /** Ages out what `now` has pushed out of the window. */
  advance(now: number): void;
  /** Forgets every call. */
  reset(): void;
}

/**
 * Which calls a rate threshold (`failureRateThreshold`, `slowCallRateThreshold`) looks at.
 *
 * @example
 * ```ts
 * window: { type: 'count', size: 50 }               // the last 50 calls
 * window: { type: 'time', duration: 60_000 }        // the calls of the last minute
 * ```
 */
export type WindowOptions =
  /** The last `size` calls. */
  | {
      /** Selects a count window. */
      readonly type: 'count';
      /** Calls in the window: an integer in [1, 1_000_000] (one byte each). */
      readonly size: number;
    }
  /**
   * Calls of the last `duration` ms, kept in `buckets` slices (default 10). A call ages
   * out a whole bucket at a time, so the window spans between `duration - duration / buckets`
   * and `duration` ms.
   */
  | {
      /** Selects a time window. */
      readonly type: 'time';
      /** The window's length (ms): a number in [1, 2^31 - 1]. */
      readonly duration: number;
      /**
       * Slices the window is kept in: calls age out one slice at a time, so more slices
       * follow time more finely. An integer in [1, 1_000], at most `duration`.
       * @default 10
       */
      readonly buckets?: number;
    };
