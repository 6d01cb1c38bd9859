import { type Clock, DeadlineTimer, systemClock } from '../clock.js';
import { Emitter } from '../emitter.js';
import {
  ADOPT_DEFAULTS,
  type AdoptsDefaults,
  type Context,
  callThrough,
  type ExecuteOptions,
  notAFunction,
  type Operation,
  OwnAbortContext,
  type Policy,
  type PolicyDefaults,
  type Priority,
  tryContextOf,
} from '../policy.js';
import { budgetOf, type RetryBudget, type RetryBudgetOptions } from '../retry/budget.js';
import * as v from '../validate.js';
import { LatencyRing } from './latency.js';

/** A hedging delay learned from recent latencies: a percentile of the last `samples` successful calls. */
export interface PercentileDelay {
  /** Which percentile of recent call latencies to wait before hedging, in (0, 1), e.g. 0.95. */
  percentile: number;
  /** The shortest delay (ms) whatever was learned. @default 0 */
  minDelay?: number;
  /**
   * The longest delay (ms) whatever was learned; also the delay used before `minSamples`
   * latencies are known. Without it, no call is hedged on time until then.
   * @default none
   */
  maxDelay?: number;
  /** Latencies remembered (a ring: `8 * samples` bytes). @default 100 */
  samples?: number;
  /** Latencies needed before the percentile is used. @default 20 */
  minSamples?: number;
}

/** Options of {@link hedge}. */
export interface HedgeOptions {
  /**
   * How long (ms) an attempt may go unanswered before the next starts: a number in
   * [0, 2^31 - 1] (0 starts every attempt at once), or a {@link PercentileDelay} learned
   * from the latencies of recent successful calls.
   * @example
   * ```ts
   * delay: { percentile: 0.95, minDelay: 5, maxDelay: 500 }
   * ```
   */
  delay: number | PercentileDelay;
  /** Attempts started beside the first, at most: an integer >= 1. @default 1 */
  maxHedges?: number;
  /**
   * Whether an attempt's error is worth another attempt (default: every error is). `true`:
   * the next hedge starts at once, without waiting out the delay. `false` (say, a 404 that no
   * replica will answer differently, or a `RateLimitedError` that `retry` should wait out):
   * no further attempt starts for this call, and it settles with the attempts still running,
   * or rejects at once if none is.
   * @default () => true
   * @example
   * ```ts
   * shouldHedge: (error) => !isRateLimitedError(error)
   * ```
   */
  shouldHedge?: (error: unknown, attempt: number) => boolean;
  /**
   * A {@link RetryBudget} (to share with `retry`s calling the same dependency) or its options:
   * each call deposits, each hedge withdraws, and a hedge the budget refuses is not started.
   * @default none (hedges limited by `maxHedges` alone)
   */
  budget?: RetryBudget | RetryBudgetOptions;
  /** Names the policy in metrics. @default 'hedge' */
  name?: string;
  /** Times the delays and latencies. @default systemClock, or the pipeline's clock */
  clock?: Clock;
}

/** Payload of the {@link HedgeEvents.hedged | hedged} event. */
export interface HedgedEvent {
  /** The attempt started (1 for the first hedge). */
  readonly attempt: number;
  /** `delay`: the attempts before it went unanswered for the delay; `failure`: the last one failed. */
  readonly reason: 'delay' | 'failure';
}

/** Payload of the {@link HedgeEvents.won | won} event. */
export interface HedgeWonEvent {
  /** The attempt whose success the call returns (0 for the first). */
  readonly attempt: number;
  /** Attempts started in all. */
  readonly attempts: number;
  /** ms from the call's start to the win. */
  readonly duration: number;
}

/** Payload of the {@link HedgeEvents.failed | failed} event. */
export interface HedgeFailedEvent {
  /** Attempts started in all. */
  readonly attempts: number;
  /** The error the call rejects with. */
  readonly error: unknown;
  /** Each started attempt's error by attempt number; `undefined` for attempts aborted while running. */
  readonly errors: readonly unknown[];
}

/** Payload of the {@link HedgeEvents.skipped | skipped} event. */
export interface HedgeSkippedEvent {
  /** The attempt that was not started. */
  readonly attempt: number;
  /** Why: the {@link RetryBudget} had no retry left. */
  readonly reason: 'budget';
}

/** The events of a {@link HedgePolicy}, each with one payload object. */
export interface HedgeEvents {
  /** A hedge (an attempt beside the first) started. */
  hedged: [HedgedEvent];
  /** An attempt succeeded: the call resolves with its value and every other attempt is aborted. */
  won: [HedgeWonEvent];
  /** The call rejects: every attempt it started failed (or `shouldHedge` threw). Not fired for a caller's abort. */
  failed: [HedgeFailedEvent];
  /** A hedge was due but the budget refused it; no more hedges start for this call. */
  skipped: [HedgeSkippedEvent];
}

const KEYS = ['delay', 'maxHedges', 'shouldHedge', 'budget', 'name', 'clock'];
const DELAY_KEYS = ['percentile', 'minDelay', 'maxDelay', 'samples', 'minSamples'];

/** Forgives float error in a due time read back off the clock. */
const EPSILON = 1e-6;

/** The context of an attempt beside the first: its own signal (built only if read), aborted when another attempt wins or the caller aborts. */
class Attempt extends OwnAbortContext {
  readonly key: string | undefined;
  readonly priority: Priority;

  constructor(
    readonly attempt: number,
    parent: Context,
  ) {
    super();
    this.key = parent.key;
    this.priority = parent.priority;
  }

  abort(reason: unknown): void {
    this.abortWith(reason);
  }
}

/**
 * One call, its place in the policy's list of calls waiting for their next hedge, and the
 * context of its first attempt (attempt 0): a call answered before any hedge costs one object
 * here, not a call, an attempt and an array of attempts.
 */
class HedgedCall<T> extends OwnAbortContext {
  readonly attempt = 0;
  readonly key: string | undefined;
  readonly priority: Priority;
  prev: HedgedCall<unknown> | undefined = undefined;
  next: HedgedCall<unknown> | undefined = undefined;
  due = 0;
  tracked = false;
  /** Attempts started, the first included. */
  started = 1;
  /** The attempts beside the first, in order (attempt `i` at `i - 1`); none until a hedge starts. */
  hedges: Attempt[] | undefined = undefined;
  errors: unknown[] | undefined = undefined;
  failures = 0;
  /** No more hedges start: the budget refused one. */
  closed = false;
  settled = false;
  start = 0;
  unfollow: (() => void) | undefined = undefined;
  resolve!: (value: T) => void;
  reject!: (error: unknown) => void;

  constructor(
    readonly fn: Operation<T>,
    readonly parent: Context,
  ) {
    super();
    this.key = parent.key;
    this.priority = parent.priority;
  }

  /** Attempt `i`'s context. */
  at(i: number): HedgedCall<T> | Attempt {
    return i === 0 ? this : this.hedges![i - 1]!;
  }

  abort(reason: unknown): void {
    this.abortWith(reason);
  }
}

type AttemptContext = HedgedCall<unknown> | Attempt;

/**
 * Starts a second attempt when the first is slow. See {@link hedge}.
 *
 * Calls waiting for their next hedge are kept in order of due time, and one timer per policy
 * (as `timeout` has) is armed for the earliest: a call costs a link in
 * that list rather than a `setTimeout`/`clearTimeout` pair (0.15 to 0.45 µs). On the system
 * clock, the timer is left to run out unref'd when the last waiting call settles, so it holds
 * no process open; the next call takes it back if it fires no later than that call's hedge is
 * due. On any other clock (a `ManualClock`) it is cleared as the last waiting call settles.
 */
export class HedgePolicy extends Emitter<HedgeEvents> implements Policy, AdoptsDefaults {
  /** Names the policy in metrics. */
  readonly name: string;
  /** Attempts started beside the first, at most. */
  readonly maxHedges: number;
  /** The fixed delay (ms), or `undefined` when it is learned (see {@link delay}). */
  readonly fixedDelay: number | undefined;
  /** The budget hedges are drawn from; `undefined` when none. */
  readonly budget: RetryBudget | undefined;
  private readonly shouldHedge: ((error: unknown, attempt: number) => boolean) | undefined;
  private readonly latencies: LatencyRing | undefined;
  private readonly minDelay: number;
  private readonly maxDelay: number | undefined;
  private clock: Clock | undefined;
  private head: HedgedCall<unknown> | undefined = undefined;
  private tail: HedgedCall<unknown> | undefined = undefined;
  private readonly timer = new DeadlineTimer(() => this.onTimer());

  constructor(options: HedgeOptions) {
    super();
    const o = v.object('hedge options', options);
    v.knownKeys('hedge', o, KEYS);
    if (typeof o.delay === 'number' || o.delay === undefined) {
      this.fixedDelay = v.milliseconds('delay', o.delay, 0, v.MAX_TIMER);
      this.minDelay = 0;
    } else {
      const d = v.object('delay', o.delay);
      v.knownKeys('hedge delay', d, DELAY_KEYS);
      const percentile = d.percentile;
      if (typeof percentile !== 'number' || !(percentile > 0 && percentile < 1)) {
        throw new (typeof percentile === 'number' ? RangeError : TypeError)(
          `delay.percentile must be a number in (0, 1), got ${v.show(percentile)}`,
        );
      }
      this.minDelay =
        d.minDelay === undefined ? 0 : v.milliseconds('delay.minDelay', d.minDelay, 0, v.MAX_TIMER);
      this.maxDelay =
        d.maxDelay === undefined
          ? undefined
          : v.milliseconds('delay.maxDelay', d.maxDelay, this.minDelay, v.MAX_TIMER);
      const samples = d.samples === undefined ? 100 : v.integer('delay.samples', d.samples, 1, 100_000);
      const minSamples =
        d.minSamples === undefined
          ? Math.min(20, samples)
          : v.integer('delay.minSamples', d.minSamples, 1, samples);
      this.latencies = new LatencyRing(samples, percentile, minSamples);
    }
    this.maxHedges = o.maxHedges === undefined ? 1 : v.integer('maxHedges', o.maxHedges, 1, 100);
    this.shouldHedge = o.shouldHedge === undefined ? undefined : v.func('shouldHedge', o.shouldHedge);
    this.name = o.name === undefined ? 'hedge' : v.string('name', o.name);
    this.clock = o.clock === undefined ? undefined : v.clock('clock', o.clock);
    this.budget = budgetOf(o.budget, this.clock);
  }

  /** What this policy is, for adapters that walk a pipeline. */
  get kind(): 'hedge' {
    return 'hedge';
  }

  /** @internal */
  [ADOPT_DEFAULTS](defaults: PolicyDefaults): void {
    this.clock ??= defaults.clock;
    this.budget?.[ADOPT_DEFAULTS](defaults);
  }

  /**
   * The delay (ms) a call starting now waits before its first hedge: the fixed one, or the
   * learned percentile clamped to [minDelay, maxDelay]; `undefined` while too few latencies
   * are known and no `maxDelay` is set (calls are then hedged on failure only).
   */
  get delay(): number | undefined {
    if (this.fixedDelay !== undefined) return this.fixedDelay;
    const learned = this.latencies!.value();
    if (learned === undefined) return this.maxDelay;
    const atLeast = Math.max(this.minDelay, learned);
    return this.maxDelay === undefined ? atLeast : Math.min(this.maxDelay, atLeast);
  }

  /** Latencies learned so far (at most `delay.samples`); 0 with a fixed delay. */
  get samples(): number {
    return this.latencies?.length ?? 0;
  }

  /** Calls waiting for their next hedge. */
  get pending(): number {
    let n = 0;
    for (let call = this.head; call !== undefined; call = call.next) n++;
    return n;
  }

  /**
   * Runs `fn`, and again beside it each time the attempts so far have gone unanswered for
   * the delay (or the latest failed), up to `maxHedges` more. Each attempt gets its own
   * `ctx.signal` and `ctx.attempt` (0 for the first, 1 for the first hedge): hedges are
   * numbered within this call, and an outer `retry`'s attempt number does not show through.
   * The first success wins; the other attempts' signals abort and their outcomes are dropped.
   * Only hedge idempotent operations.
   *
   * @throws the first attempt's error (attempt 0's, whatever order they failed in) when every
   * attempt failed: the same error the call would have had without hedging, so that `retry`,
   * breakers and callers classify it as before. Every error is in the `failed` event.
   * @throws what `shouldHedge` threw, at once, with every attempt aborted.
   * @throws the caller's `signal.reason` when it aborts: at once, with every attempt aborted.
   */
  execute<T>(fn: Operation<T>, options?: ExecuteOptions): Promise<T> {
    if (typeof fn !== 'function') return Promise.reject(notAFunction(fn));
    const parent = tryContextOf(options);
    if (parent instanceof TypeError) return Promise.reject(parent);
    // A context nothing can abort is not aborted: its signal's getter is not worth reading.
    if (parent.abortable && parent.aborted) return Promise.reject(parent.signal.reason);
    const call = new HedgedCall<T>(fn, parent);
    return new Promise<T>((resolve, reject) => {
      call.resolve = resolve;
      call.reject = reject;
      this.budget?.deposit();
      call.start = (this.clock ?? systemClock).now();
      if (parent.abortable)
        call.unfollow = parent.onAbort((reason) => this.abandon(call as HedgedCall<unknown>, reason));
      this.launch(call as HedgedCall<unknown>, call as HedgedCall<unknown>);
      if (!call.settled) this.schedule(call as HedgedCall<unknown>, call.start);
    });
  }

  /** Runs one attempt of the call. */
  private launch(call: HedgedCall<unknown>, attempt: AttemptContext): void {
    callThrough(call.fn, attempt).then(
      (value) => this.succeeded(call, attempt, value),
      (error: unknown) => this.failed(call, attempt, error),
    );
  }

  /** Plans the next hedge `delay` after `from` (the time now), or starts it now for a zero delay. */
  private schedule(call: HedgedCall<unknown>, from: number): void {
    for (;;) {
      if (call.settled || call.closed || call.started > this.maxHedges) return;
      const wait = this.delay;
      if (wait === undefined) return;
      if (wait > 0) {
        this.track(call, from + wait, from);
        return;
      }
      if (!this.hedgeNow(call, 'delay')) return;
    }
  }

  /** Starts a hedge if the budget allows; false when it refused. */
  private hedgeNow(call: HedgedCall<unknown>, reason: HedgedEvent['reason']): boolean {
    const number = call.started;
    if (this.budget !== undefined && !this.budget.tryWithdraw()) {
      call.closed = true;
      if (this.listenerCount('skipped') !== 0) this.emit('skipped', { attempt: number, reason: 'budget' });
      return false;
    }
    if (this.listenerCount('hedged') !== 0) this.emit('hedged', { attempt: number, reason });
    const attempt = new Attempt(number, call.parent);
    call.started++;
    if (call.hedges === undefined) call.hedges = [attempt];
    else call.hedges.push(attempt);
    this.launch(call, attempt);
    return true;
  }

  private succeeded(call: HedgedCall<unknown>, attempt: AttemptContext, value: unknown): void {
    if (call.settled) return;
    this.finish(call, attempt);
    if (this.latencies !== undefined || this.listenerCount('won') !== 0) {
      const duration = (this.clock ?? systemClock).now() - call.start;
      this.latencies?.record(duration);
      if (this.listenerCount('won') !== 0)
        this.emit('won', { attempt: attempt.attempt, attempts: call.started, duration });
    }
    call.resolve(value);
  }

  private failed(call: HedgedCall<unknown>, attempt: AttemptContext, error: unknown): void {
    if (call.settled) return;
    call.errors ??= [];
    call.errors[attempt.attempt] = error;
    call.failures++;
    let hedgeable: boolean;
    try {
      hedgeable = this.shouldHedge === undefined || this.shouldHedge(error, attempt.attempt);
    } catch (thrown) {
      this.reject(call, thrown);
      return;
    }
    if (!hedgeable) {
      // Another attempt would fare no better: none starts, and the call ends with those running.
      call.closed = true;
      this.untrack(call);
    } else if (!call.closed && call.started <= this.maxHedges) {
      this.untrack(call);
      if (this.hedgeNow(call, 'failure')) {
        this.schedule(call, (this.clock ?? systemClock).now());
        return;
      }
    }
    // Every attempt started has failed and none is to come: the first attempt's error.
    if (call.failures === call.started) this.reject(call, call.errors[0]);
  }

  private reject(call: HedgedCall<unknown>, error: unknown): void {
    this.finish(call, undefined);
    if (this.listenerCount('failed') !== 0) {
      this.emit('failed', { attempts: call.started, error, errors: call.errors ?? [] });
    }
    call.reject(error);
  }

  /** The caller aborted: every attempt is aborted with its reason and the call rejects at once. */
  private abandon(call: HedgedCall<unknown>, reason: unknown): void {
    if (call.settled) return;
    call.settled = true;
    this.untrack(call);
    call.unfollow = undefined;
    for (let i = 0; i < call.started; i++) call.at(i).abort(reason);
    call.reject(reason);
  }

  /** Settles the call's bookkeeping and aborts every attempt still running but `winner`. */
  private finish(call: HedgedCall<unknown>, winner: AttemptContext | undefined): void {
    call.settled = true;
    this.untrack(call);
    call.unfollow?.();
    if (call.started === 1 && winner === call) return;
    let reason: DOMException | undefined;
    for (let i = 0; i < call.started; i++) {
      const attempt = call.at(i);
      if (attempt === winner || call.errors?.[i] !== undefined) continue;
      reason ??= new DOMException(
        winner === undefined ? 'The hedged call failed' : `Hedged attempt ${winner.attempt} won`,
        'AbortError',
      );
      attempt.abort(reason);
    }
  }

  /** Queues a call by the due time of its next hedge and makes sure the timer fires by then. */
  private track(call: HedgedCall<unknown>, due: number, now: number): void {
    call.due = due;
    let after = this.tail;
    while (after !== undefined && after.due > due) after = after.prev;
    call.prev = after;
    call.next = after === undefined ? this.head : after.next;
    if (call.next === undefined) this.tail = call;
    else call.next.prev = call;
    if (after === undefined) this.head = call;
    else after.next = call;
    call.tracked = true;
    this.timer.arm(this.clock ?? systemClock, due, now);
  }

  private untrack(call: HedgedCall<unknown>): void {
    if (!call.tracked) return;
    call.tracked = false;
    if (call.prev === undefined) this.head = call.next;
    else call.prev.next = call.next;
    if (call.next === undefined) this.tail = call.prev;
    else call.next.prev = call.prev;
    call.prev = call.next = undefined;
    if (this.head === undefined) this.timer.idle();
  }

  /** Starts the hedges that are due, then re-arms for the next. */
  private onTimer(): void {
    const clock = this.clock ?? systemClock;
    const now = clock.now();
    // Calls re-queued while this runs are due a delay from now: stop at the last one queued before.
    const last = this.tail;
    for (let call = this.head; call !== undefined && call.due <= now + EPSILON; call = this.head) {
      this.untrack(call);
      if (this.hedgeNow(call, 'delay')) this.schedule(call, now);
      if (call === last) break;
    }
    // Also when the timer fired early (Node's ms are whole) or was left to run out: set for the head.
    if (this.head !== undefined) this.timer.arm(clock, this.head.due, now);
  }
}

/**
 * Hedges slow calls: when an attempt has not answered within `delay` (fixed, or a percentile
 * of recent latencies), starts another beside it, up to `maxHedges`; the first success wins
 * and the others are aborted through their signals. A failing attempt starts the next at once.
 * When every attempt fails, the call rejects with the first attempt's error. A
 * {@link RetryBudget} caps hedges as a share of traffic. Cuts tail latency at the price of
 * extra load: hedge only idempotent calls.
 *
 * @example
 * ```ts
 * const policy = hedge({ delay: { percentile: 0.95, maxDelay: 200 }, maxHedges: 1, budget: { ratio: 0.1 } });
 * const doc = await policy.execute(({ signal, attempt }) => replicas[attempt % replicas.length].get(id, { signal }));
 * ```
 */
export function hedge(options: HedgeOptions): HedgePolicy {
  return new HedgePolicy(options);
}
