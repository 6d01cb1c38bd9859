/** One thing timed in a case: a library's way of doing the case's work, or the baseline. */
export interface Contender {
  /** `baseline`, `breakwater`, `opossum`, `cockatiel`, `p-retry`, or a variant name. */
  readonly name: string;
  /**
   * Builds the contender (outside the timing) and checks that it behaves as the case
   * claims, throwing if not. Returns the function to time: one call of it is `perCall` calls.
   */
  setup(): Promise<() => unknown>;
}

/** A case timed as a ratio of each contender to its baseline, in the same process. */
export interface RatioCase {
  readonly kind: 'ratio';
  readonly id: string;
  readonly title: string;
  /** What the baseline is, for the table. */
  readonly baselineLabel: string;
  /** Calls made by one invocation of the timed function (10,000 for the concurrency case). */
  readonly perCall?: number;
  readonly baseline: Contender;
  readonly contenders: readonly Contender[];
  /** breakwater's target as a ratio to the baseline, if the issue set one. */
  readonly target?: {
    readonly ratio?: number;
    readonly fasterThan?: { readonly names: string[]; readonly factor: number };
  };
  readonly note?: string;
}

/** Measurements of one library at scale, each a number in the unit its key names. */
export type ScaleMetrics = Record<string, number | boolean | null>;

export interface ScaleCase {
  readonly kind: 'scale';
  readonly id: string;
  readonly title: string;
  readonly libraries: readonly string[];
}

export type Case = RatioCase | ScaleCase;

/** What a worker prints for a ratio case: per contender, one `[baseline ns, contender ns]` pair per round. */
export interface RatioRun {
  readonly id: string;
  readonly pairs: Record<string, [number, number][]>;
}
