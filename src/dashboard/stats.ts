import type { CircuitBreaker } from '../circuit-breaker/circuit-breaker.js';
import type { Clock } from '../clock.js';

/** Seconds of per-second counts kept per breaker: the chart's five minutes. */
export const HISTORY_SECONDS = 300;
/** Seconds per point of the chart: 60 points over five minutes. */
export const POINT_SECONDS = 5;
/** Seconds the live figures (calls/s, failure rate, p99) look back over. */
export const RECENT_SECONDS = 10;
/** Durations kept for the p99: the latest this many calls (within {@link RECENT_SECONDS}). */
const LATENCIES = 1_024;

/** A breaker's calls per 5 s point over the last five minutes, oldest first (60 points each). */
export interface BreakerHistory {
  /** Calls that succeeded. */
  readonly ok: number[];
  /** Calls that failed. */
  readonly failed: number[];
  /** Calls rejected without running. */
  readonly rejected: number[];
}

/** A breaker's live figures, as the page shows them. */
export interface BreakerFigures {
  /** Calls counted (succeeded + failed) per second over the last 10 s. */
  readonly callsPerSecond: number;
  /** Calls rejected without running, per second over the last 10 s. */
  readonly rejectedPerSecond: number;
  /** failed / (succeeded + failed) over the last 10 s; `null` with no call. */
  readonly failureRate: number | null;
  /** 99th percentile of call durations (ms) over the last 10 s (at most the last 1,024 calls); `null` with none. */
  readonly p99: number | null;
  /** Counts per 5 s point over the last five minutes, oldest first. */
  readonly history: BreakerHistory;
}

/**
 * Counts one breaker's outcomes in per-second buckets (a ring of five minutes) and keeps its
 * latest durations. Time is read from the dashboard's clock when an event arrives: no timer.
 * Memory is fixed: 3 × 300 counts, 300 bucket ids and 1,024 durations.
 */
export class BreakerStats {
  private readonly ok = new Uint32Array(HISTORY_SECONDS);
  private readonly failed = new Uint32Array(HISTORY_SECONDS);
  private readonly rejected = new Uint32Array(HISTORY_SECONDS);
  /** The second each slot holds; a slot of an older second is stale and read as zero. */
  private readonly second = new Float64Array(HISTORY_SECONDS).fill(-1);
  private readonly durations = new Float64Array(LATENCIES);
  private readonly durationAt = new Float64Array(LATENCIES);
  private durationCount = 0;
  private readonly remove: () => void;

  constructor(
    readonly breaker: CircuitBreaker,
    private readonly clock: Clock,
  ) {
    const onSucceeded = (e: { duration: number }) => this.count(this.ok, e.duration);
    const onFailed = (e: { duration: number }) => this.count(this.failed, e.duration);
    const onRejected = () => this.count(this.rejected, Number.NaN);
    breaker.on('succeeded', onSucceeded);
    breaker.on('failed', onFailed);
    breaker.on('rejected', onRejected);
    this.remove = () => {
      breaker.off('succeeded', onSucceeded);
      breaker.off('failed', onFailed);
      breaker.off('rejected', onRejected);
    };
  }

  /** Removes the listeners this put on the breaker. */
  dispose(): void {
    this.remove();
  }

  private slot(now: number): number {
    const s = Math.floor(now / 1000);
    const i = ((s % HISTORY_SECONDS) + HISTORY_SECONDS) % HISTORY_SECONDS;
    if (this.second[i] !== s) {
      this.second[i] = s;
      this.ok[i] = this.failed[i] = this.rejected[i] = 0;
    }
    return i;
  }

  private count(counts: Uint32Array, duration: number): void {
    const now = this.clock.now();
    const i = this.slot(now);
    counts[i]!++;
    if (Number.isNaN(duration)) return;
    const j = this.durationCount++ % LATENCIES;
    this.durations[j] = duration;
    this.durationAt[j] = now;
  }

  /** The figures as of now. */
  figures(): BreakerFigures {
    const now = this.clock.now();
    const current = Math.floor(now / 1000);
    const read = (counts: Uint32Array, s: number): number => {
      const i = ((s % HISTORY_SECONDS) + HISTORY_SECONDS) % HISTORY_SECONDS;
      return this.second[i] === s ? counts[i]! : 0;
    };
    // The current second is still filling: the recent figures use the last 10 whole seconds.
    let ok = 0;
    let failed = 0;
    let rejected = 0;
    for (let s = current - RECENT_SECONDS; s < current; s++) {
      ok += read(this.ok, s);
      failed += read(this.failed, s);
      rejected += read(this.rejected, s);
    }
    const history = { ok: [] as number[], failed: [] as number[], rejected: [] as number[] };
    const points = HISTORY_SECONDS / POINT_SECONDS;
    for (let p = 0; p < points; p++) {
      let o = 0;
      let f = 0;
      let r = 0;
      const first = current - HISTORY_SECONDS + 1 + p * POINT_SECONDS;
      for (let s = first; s < first + POINT_SECONDS; s++) {
        o += read(this.ok, s);
        f += read(this.failed, s);
        r += read(this.rejected, s);
      }
      history.ok.push(o);
      history.failed.push(f);
      history.rejected.push(r);
    }
    return {
      callsPerSecond: (ok + failed) / RECENT_SECONDS,
      rejectedPerSecond: rejected / RECENT_SECONDS,
      failureRate: ok + failed === 0 ? null : failed / (ok + failed),
      p99: this.p99(now),
      history,
    };
  }

  private p99(now: number): number | null {
    const kept = Math.min(this.durationCount, LATENCIES);
    const recent: number[] = [];
    for (let j = 0; j < kept; j++) {
      if (now - this.durationAt[j]! < RECENT_SECONDS * 1000) recent.push(this.durations[j]!);
    }
    if (recent.length === 0) return null;
    recent.sort((a, b) => a - b);
    // Nearest rank: the smallest duration that at least 99 % of the calls do not exceed.
    return recent[Math.ceil(recent.length * 0.99) - 1]!;
  }
}
