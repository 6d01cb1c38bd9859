/**
 * The two limit algorithms, as small state machines that see one settled call at a time
 * and answer the new limit estimate (a float; admission uses its integer part). Windows
 * close when a sample arrives, so nothing here holds a timer.
 */

/** How a sampled call ended: a success, a failure, or a failure that counts as a drop. */
export type Outcome = 0 | 1 | 2 | 3;
export const SUCCEEDED = 0;
export const FAILED = 1;
export const DROPPED = 2;
/** A call that teaches nothing: its caller aborted, or a policy inside rejected it unrun. */
export const IGNORED = 3;

/** Limits and window shared by both algorithms, validated by the policy. */
export interface Bounds {
  readonly minLimit: number;
  readonly maxLimit: number;
  readonly windowDuration: number;
  readonly minWindowSamples: number;
}

/** What the policy asks of an algorithm. */
export interface LimitAlgorithm {
  /**
   * Takes one settled call (positional, so that the hot path allocates nothing): its RTT in
   * ms, how it ended, the clock's time when it settled, and the calls still in flight (not
   * counting it). Answers the new estimate (maybe the same). Every call is sampled but an
   * untimed success, which would teach nothing: its in-flight was counted by `admit`.
   */
  sample(rtt: number, outcome: Outcome, now: number, estimate: number, tag: number, running: number): number;
  /**
   * Called as a call is admitted, with the calls in flight (itself included); answers a tag
   * handed back to `sample`: {@link UNTIMED} when the call need not be timed (its `rtt` and
   * `now` are then NaN), 0 or a probe's number.
   */
  admit(inFlight: number): number;
  /** How many calls may run now, given the estimate: an integer in [minLimit, maxLimit]. */
  admission(estimate: number): number;
  /** Mean RTT (ms) of the last closed window; 0 before any. */
  readonly typicalRtt: number;
}

export function clamp(x: number, min: number, max: number): number {
  return Math.max(min, Math.min(x, max));
}

/** The tag of a call not worth two clock reads: the window's median has enough RTTs already. */
export const UNTIMED = -1;

/**
 * Once a window holds {@link KEPT} RTTs, one call in this many is still timed (so that windows
 * close, and RTTs stay recent); the interval doubles with each further {@link KEPT} RTTs, up
 * to {@link TIME_EVERY_MAX}. Two clock reads cost more than the rest of an untimed call: at
 * a steady one in 16 they were most of the policy's cost on a busy path, while the median
 * keeps only the latest {@link KEPT} RTTs, which sparser timing spreads over more of the window.
 */
const TIME_EVERY = 16;
const TIME_EVERY_MAX = 1_024;

/** Successful RTTs a window keeps for its median: the latest this many (4 KiB). */
const KEPT = 512;

/** The median of the first `n` values (sorts them in place); NaN when `n` is 0. */
function median(values: Float64Array, n: number): number {
  if (n === 0) return Number.NaN;
  const sorted = values.subarray(0, n).sort();
  const mid = n >> 1;
  return n % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Calls a probe measures (Envoy: 50), or more when windows ask for more: a median of 100 varies by ~3 % of the spread. */
const PROBE_SAMPLES = 100;

/** Running totals of the current window: O(1) per sample, plus a sort of its RTTs when it closes. */
class Window {
  start = Number.NaN;
  count = 0;
  sum = 0;
  /** RTTs of the window's successful calls (the latest {@link KEPT} of them), for the median. */
  private readonly kept = new Float64Array(KEPT);
  succeeded = 0;
  /**
   * The most calls in flight at once while the window was open: those in flight when it
   * opened, raised by each admission. Counted as calls arrive rather than as they settle, so
   * that a call needs no state of its own to report it (Netflix takes each sample's in-flight
   * at its admission, which is the same but for a call admitted in one window and settled in
   * the next: here it counts in both, since it was in flight in both).
   */
  maxInFlight = 0;
  dropped = false;
  /** Calls until the next one timed, once the median has its RTTs (a countdown: no modulo, no unbounded count). */
  private untilTimed = TIME_EVERY;

  constructor(private readonly bounds: Bounds) {}

  add(rtt: number, outcome: Outcome, now: number): void {
    if (Number.isNaN(this.start)) this.start = now - rtt;
    this.count++;
    this.sum += rtt;
    if (outcome === SUCCEEDED) this.kept[this.succeeded++ % KEPT] = rtt;
    if (outcome === DROPPED) this.dropped = true;
  }

  /** A call admitted with `inFlight` calls in flight, itself included. */
  admitted(inFlight: number): void {
    if (inFlight > this.maxInFlight) this.maxInFlight = inFlight;
  }

  /**
   * Whether the next call's RTT is wanted: always until the median has {@link KEPT} of them,
   * then one in {@link TIME_EVERY}, one in twice that after {@link KEPT} more, and so on.
   */
  wantsTiming(): boolean {
    if (this.succeeded < KEPT) return true;
    if (--this.untilTimed !== 0) return false;
    this.untilTimed = Math.min(TIME_EVERY_MAX, TIME_EVERY * 2 ** (Math.floor(this.succeeded / KEPT) - 1));
    return true;
  }

  /** A window closes once it lasted `windowDuration` and holds `minWindowSamples` samples. */
  due(now: number): boolean {
    return this.count >= this.bounds.minWindowSamples && now - this.start >= this.bounds.windowDuration;
  }

  get mean(): number {
    return this.count === 0 ? 0 : this.sum / this.count;
  }

  /** The median RTT of the successful calls; NaN when none succeeded. */
  get median(): number {
    return median(this.kept, Math.min(this.succeeded, KEPT));
  }

  /** Opens the next window at `now`, with `running` calls in flight. */
  reset(now: number, running: number): void {
    this.untilTimed = TIME_EVERY;
    this.start = now;
    this.count = 0;
    this.sum = 0;
    this.succeeded = 0;
    this.maxInFlight = running;
    this.dropped = false;
  }
}

/** Gradient2's own settings (see `AdaptiveLimitOptions`). */
export interface Gradient2Settings extends Bounds {
  readonly tolerance: number;
  readonly smoothing: number;
  readonly queueSize: (limit: number) => number;
  readonly probeInterval: number;
}

/**
 * Netflix's Gradient2: `g = clamp(tolerance · longRtt / shortRtt, 0.5, 1)` and
 * `L = (1 − smoothing)·L + smoothing·(g·L + headroom)` once per window, holding while the
 * caller, not the dependency, is the limit (in-flight < L/2). Three changes, each for a known
 * failure of the original:
 * - the headroom (`queueSize`) is added only when `g = 1`, so the limit stops creeping up
 *   while the dependency queues (Netflix/concurrency-limits #134);
 * - the long RTT is the dependency's measured no-load RTT, not an average of loaded RTTs,
 *   which drifts up in a long overload until the limit stops falling (failsafe-go #127,
 *   concurrency-limits #137) and, started above capacity, never sees an unloaded call. It is
 *   measured as Envoy measures its minRTT, by a probe: the median RTT of 100 calls (or
 *   `minWindowSamples`, if more) admitted at half the limit (at start, then every
 *   `probeInterval`; a later probe lowers it at once but raises it halfway). Half, not Envoy's
 *   fixed 3, so that a probe costs little throughput; a probe is exact while the limit is at
 *   most twice the capacity, and a limit started higher comes down over successive probes;
 * - both RTTs are medians of successful calls (of the window, of the probe), as in Envoy,
 *   not means: noise (a GC pause, a late timer, a slow query) adds a tail that moves a mean
 *   and made a limit on a busy machine shrink on nothing, while queueing moves the median.
 *   Failures (often fast: a refused connection) give no RTT here.
 */
export class Gradient2 implements LimitAlgorithm {
  private readonly window: Window;
  /** The no-load RTT (ms); NaN until the first probe ends. */
  private baseline = Number.NaN;
  private probing = true;
  private probeCap: number;
  /** Tags the calls of the current probe (0 tags no call). */
  private epoch = 1;
  private probeStart = Number.NaN;
  private probeAdmitted = 0;
  private probeSettled = 0;
  private readonly probe: Window;
  private readonly probeSamples: number;
  private nextProbe = Number.POSITIVE_INFINITY;
  private lastRtt = 0;

  constructor(
    private readonly s: Gradient2Settings,
    initialLimit: number,
  ) {
    this.window = new Window(s);
    this.probe = new Window(s);
    this.probeSamples = Math.min(KEPT, Math.max(PROBE_SAMPLES, s.minWindowSamples));
    this.probeCap = halfOf(initialLimit, s.minLimit);
  }

  get typicalRtt(): number {
    return this.lastRtt;
  }

  /** The no-load RTT the gradient compares with (NaN before the first probe ends). */
  get longRtt(): number {
    return this.baseline;
  }

  admission(estimate: number): number {
    return this.probing ? Math.min(this.probeCap, Math.floor(estimate)) : Math.floor(estimate);
  }

  /**
   * A probe measures the calls it admitted, all of them: the first to settle among calls
   * started together are the fastest, and a median of those alone would be too low.
   */
  admit(inFlight: number): number {
    if (!this.probing) {
      this.window.admitted(inFlight);
      return this.window.wantsTiming() ? 0 : UNTIMED;
    }
    if (this.probeAdmitted >= this.probeSamples) return 0;
    this.probeAdmitted++;
    return this.epoch;
  }

  sample(rtt: number, outcome: Outcome, now: number, estimate: number, tag: number, running: number): number {
    if (this.probing) {
      if (tag === this.epoch) {
        if (this.probeSettled++ === 0) this.probeStart = now - rtt;
        if (outcome === SUCCEEDED) this.probe.add(rtt, outcome, now);
      }
      if (this.probeAdmitted === this.probeSamples && this.probeDone(now)) this.endProbe(now, running);
      return estimate;
    }
    // An untimed call was counted when admitted; latency is all Gradient2 takes from the rest.
    if (outcome === IGNORED || tag === UNTIMED) return estimate;
    this.window.add(rtt, outcome, now);
    if (!this.window.due(now)) return estimate;
    const shortRtt = this.window.median;
    const maxInFlight = this.window.maxInFlight;
    this.lastRtt = this.window.mean;
    this.window.reset(now, running);
    // A window of failures only says nothing about queueing.
    const next = Number.isNaN(shortRtt)
      ? estimate
      : gradient2Update(estimate, shortRtt, this.baseline, maxInFlight, this.s);
    if (now >= this.nextProbe) this.startProbe(next);
    return next;
  }

  /** Every probe call settled; or, so that a hung call cannot hold the probe, most did long ago. */
  private probeDone(now: number): boolean {
    if (this.probeSettled === this.probeAdmitted) return true;
    return (
      this.probeSettled >= this.probeAdmitted * 0.9 && now - this.probeStart >= 10 * this.s.windowDuration
    );
  }

  private endProbe(now: number, running: number): void {
    if (this.probe.succeeded === 0) {
      this.startProbe(this.probeCap * 2); // nothing succeeded: measure again
      return;
    }
    // A faster probe sets the baseline at once (the previous one saw a queue: a probe from a
    // limit above twice the capacity); a slower one moves it halfway, so that one unlucky
    // probe cannot loosen the limit for a whole interval.
    const measured = this.probe.median;
    this.baseline =
      Number.isNaN(this.baseline) || measured < this.baseline ? measured : (this.baseline + measured) / 2;
    this.probing = false;
    this.nextProbe = now + this.s.probeInterval;
    this.window.reset(now, running);
  }

  private startProbe(estimate: number): void {
    this.probing = true;
    this.epoch++;
    this.probeCap = halfOf(estimate, this.s.minLimit);
    this.probeAdmitted = 0;
    this.probeSettled = 0;
    this.probe.reset(Number.NaN, 0);
  }
}

/** The probe's cap: half the limit, so that a limit up to twice the capacity probes without queueing. */
function halfOf(limit: number, minLimit: number): number {
  return Math.max(minLimit, Math.ceil(Math.floor(limit) / 2));
}

/** One Gradient2 step (pure, for tests): the new estimate after a window. */
export function gradient2Update(
  limit: number,
  shortRtt: number,
  longRtt: number,
  maxInFlight: number,
  s: Omit<Gradient2Settings, 'windowDuration' | 'minWindowSamples' | 'probeInterval'>,
): number {
  if (maxInFlight < limit / 2) return limit; // the caller is the limit, not the dependency
  const g = shortRtt > 0 && longRtt > 0 ? clamp((s.tolerance * longRtt) / shortRtt, 0.5, 1) : 1;
  const target = g * limit + (g === 1 ? safeQueueSize(s.queueSize, limit) : 0);
  return clamp((1 - s.smoothing) * limit + s.smoothing * target, s.minLimit, s.maxLimit);
}

/** A user's queueSize function that answers nonsense adds no headroom rather than a NaN limit. */
function safeQueueSize(queueSize: (limit: number) => number, limit: number): number {
  let q: unknown;
  try {
    q = queueSize(Math.floor(limit));
  } catch {
    return 0;
  }
  return typeof q === 'number' && Number.isFinite(q) && q > 0 ? q : 0;
}

/** AIMD's own settings (see `AdaptiveLimitOptions`). */
export interface AimdSettings extends Bounds {
  readonly backoffRatio: number;
  readonly increase: number;
  readonly timeout: number;
}

/**
 * Additive increase, multiplicative decrease: a drop (a counted failure, or a call slower
 * than `timeout`) multiplies the limit by `backoffRatio` at once, at most once per window
 * (the calls in flight when the dependency gave out all report it; one decrease answers
 * them all, as TCP does once per round trip). A window without a drop, in which in-flight
 * reached half the limit, adds `increase`.
 */
export class Aimd implements LimitAlgorithm {
  private readonly window: Window;
  private lastRtt = 0;
  /** Drops in the window that follows a decrease belong to the same episode. */
  private backedOff = false;

  constructor(private readonly s: AimdSettings) {
    this.window = new Window(s);
  }

  get typicalRtt(): number {
    return this.lastRtt;
  }

  admission(estimate: number): number {
    return Math.floor(estimate);
  }

  admit(inFlight: number): number {
    this.window.admitted(inFlight);
    return this.window.wantsTiming() ? 0 : UNTIMED;
  }

  sample(rtt: number, outcome: Outcome, now: number, estimate: number, tag: number, running: number): number {
    // An untimed call was counted when admitted; only a drop matters of the rest.
    if (outcome === IGNORED || (tag === UNTIMED && outcome !== DROPPED)) return estimate;
    // An untimed drop still backs off at once (its RTT is unknown, and not needed).
    const dropped = outcome === DROPPED || rtt > this.s.timeout;
    if (dropped && !this.backedOff) {
      this.backedOff = true;
      this.window.reset(Number.isNaN(now) ? this.window.start : now, running);
      return clamp(Math.floor(estimate * this.s.backoffRatio), this.s.minLimit, this.s.maxLimit);
    }
    if (tag === UNTIMED) {
      this.window.dropped = true;
      return estimate;
    }
    this.window.add(rtt, dropped ? DROPPED : outcome, now);
    if (!this.window.due(now)) return estimate;
    const { maxInFlight, dropped: windowDropped } = this.window;
    this.lastRtt = this.window.mean;
    this.window.reset(now, running);
    this.backedOff = false;
    if (windowDropped || maxInFlight * 2 < estimate) return estimate;
    return clamp(estimate + this.s.increase, this.s.minLimit, this.s.maxLimit);
  }
}
