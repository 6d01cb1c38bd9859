/** What a contender's setup hands to the worker. */
export interface Timed {
  /** One operation, e.g. `() => breaker.execute(fn)`: the worker's loop awaits it, and nothing else. */
  readonly op: () => unknown;
  /**
   * Called after timing with the number of operations the loop ran; throws if the contender
   * did not do the case's work all along (e.g. a breaker that half-opened during a fast-fail run).
   */
  readonly verify?: (ops: number) => void;
}

/** One thing timed in a case: a library's way of doing the case's work, or the baseline. */
export interface Contender {
  /** `baseline`, `breakwater`, `opossum`, `cockatiel`, `p-retry`, or a variant name. */
  readonly name: string;
  /** Builds the contender (outside the timing) and checks that it behaves as the case claims, throwing if not. */
  setup(): Promise<Timed>;
}

/** A case timed as a ratio of each contender to its baseline, measured in the same fresh process. */
export interface RatioCase {
  readonly kind: 'ratio';
  readonly id: string;
  readonly title: string;
  /** What the baseline is, for the table. */
  readonly baselineLabel: string;
  /** Calls made by one operation (10,000 for the concurrency case). */
  readonly perOp?: number;
  /**
   * Dependency calls (`work`, `failWork`) per contender operation, checked after timing:
   * 0 where the function must not run (fast-fail). Default: `perOp`, else 1. The baseline
   * always makes `perOp` (else 1).
   */
  readonly callsPerOp?: number;
  /** Operations reject: the loop catches each one, as a caller's `try { await … } catch {}` does. */
  readonly rejects?: boolean;
  readonly baseline: Contender;
  readonly contenders: readonly Contender[];
  /** breakwater's targets, each on one row, as a ratio to the baseline. */
  readonly targets?: readonly RatioTarget[];
  /** The independent measurement of issue 15 and the figures of the previous RESULTS.md, per row name. */
  readonly reference?: Readonly<
    Record<string, { readonly independent?: string; readonly previous?: string }>
  >;
  readonly note?: string;
}

export interface RatioTarget {
  /** The contender's name. */
  readonly row: string;
  readonly ratio: number;
  /** Where the target comes from, e.g. `issue 15`. */
  readonly source: string;
}

/** Measurements of one library at scale, each a number in the unit its key names. */
export type ScaleMetrics = Record<string, number | boolean | null>;

export interface ScaleCase {
  readonly kind: 'scale';
  readonly id: string;
  readonly title: string;
  readonly libraries: readonly string[];
}

/**
 * A case that is not a ratio: a scenario run over seconds (overload, a latency tail, store
 * throughput) whose rows are whatever it measures. It runs in a fresh worker process, with
 * the build, and judges its own targets, since each has its own unit.
 */
export interface TableCase {
  readonly kind: 'table';
  readonly id: string;
  readonly title: string;
  /** How it is measured, printed under the title. */
  readonly note?: string;
  /** `quick` (--quick, --check): a short run that still exercises every row. */
  run(options: { readonly quick: boolean }): Promise<TableResult>;
}

export interface TableResult {
  readonly columns: readonly string[];
  readonly rows: readonly (readonly (string | number)[])[];
  readonly targets: readonly TableTarget[];
  /** What this run found that the reader needs beside the rows (a service that was down, say). */
  readonly note?: string;
}

export interface TableTarget {
  readonly what: string;
  /** Where the target comes from, e.g. `issue 9`. */
  readonly source?: string;
  /** The limit as written, e.g. `>= 90 %`. */
  readonly limit: string;
  readonly measured: string;
  readonly met: boolean;
}

export type Case = RatioCase | ScaleCase | TableCase;

/** What a worker prints for one contender: one `[baseline ns, contender ns]` pair per round. */
export interface RatioRun {
  readonly id: string;
  readonly contender: string;
  readonly pairs: [number, number][];
}
