import type { Counts } from './load.js';

export type CheckStatus = 'passed' | 'failed' | 'unchecked';

/** One expectation of a scenario, and whether it held. */
export interface Check {
  name: string;
  status: CheckStatus;
  /** What was measured, or why it could not be checked. */
  detail: string;
}

export type Verdict = 'passed' | 'failed' | 'skipped' | 'partial';

/** One point of a scenario's timeline, sampled every 250 ms. */
export interface Sample {
  /** ms since the scenario started. */
  t: number;
  /** The database breaker's state, or 'down' when the service did not answer. */
  breaker: string;
  /** Share of the answers in this interval that were failures or refusals, in [0, 1]. */
  errorRate: number;
  /** p99 latency (ms) of the answers in this interval. */
  p99: number;
  /** Tasks waiting in the service's durable queue. */
  queueDepth: number;
  /** Answers in this interval. */
  answers: number;
}

export interface Mark {
  t: number;
  label: string;
}

export interface ScenarioResult {
  id: number;
  slug: string;
  title: string;
  expected: string[];
  verdict: Verdict;
  /** Why it was skipped, or why it is partial (expectations that could not be checked). */
  reason?: string;
  checks: Check[];
  counts: Counts;
  tasksAccepted: number;
  /** Tasks the service accepted (201/202) and that were not done in the database at the end; null if not measured. */
  tasksLost: number | null;
  /** ms from the fault to its detection (the breaker opening, the alert), or null. */
  detectMs: number | null;
  /** ms from the end of the fault to full recovery (breaker closed, queue drained), or null. */
  recoverMs: number | null;
  durationMs: number;
  /** ms of it spent starting the throwaway servers and the service. */
  setupMs?: number;
  /** How the fault was made (e.g. which partition method), and other facts worth reading. */
  notes: string[];
  samples: Sample[];
  marks: Mark[];
  /** Extra numbers a scenario measured (retry ratio, p99s, ...). */
  measured: Record<string, number | string>;
}

export interface Scenario {
  id: number;
  slug: string;
  title: string;
  /** The expected behaviour, in words: each line is checked by the scenario. */
  expected: string[];
  run(ctx: import('./context.js').ScenarioContext): Promise<void>;
}
