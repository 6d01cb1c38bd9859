import type { Clock } from '../clock.js';
import { Emitter, reportListenerError, warn } from '../emitter.js';
import { BrokenCircuitError, IsolatedCircuitError } from '../errors.js';
import {
  ADOPT_DEFAULTS,
  type AdoptsDefaults,
  type Context,
  callThrough,
  type ExecuteOptions,
  notAFunction,
  type Operation,
  type Policy,
  type PolicyDefaults,
  ROOT,
  tryContextOf,
} from '../policy.js';
import { MAX_TIMER, show } from '../validate.js';
import { FAILURE, type Outcome, SLOW, SUCCESS } from '../window/sliding-window.js';
import type { CircuitBreakerEvents } from './events.js';
import { type CircuitBreakerOptions, DEFAULTS, resolveOptions } from './options.js';
import { type CircuitSnapshot, parseSnapshot } from './snapshot.js';
import { type CircuitState, nextState, type TransitionReason } from './state.js';
import {
  ConsecutiveFailures,
  createWindow,
  EitherStrategy,
  RateThresholds,
  type TripStrategy,
} from './strategy.js';

/** Settles untimed calls admitted in one epoch. */
interface EpochHandlers {
  readonly epoch: number;
  readonly succeeded: (value: unknown) => unknown;
  readonly failed: (error: unknown) => never;
}

/** EventEmitter3 keeps the number of events that have listeners here: 0 when nobody listens. */
interface Listened {
  readonly _eventsCount: number;
}

/**
 * A circuit breaker: stops calling a dependency that keeps failing, lets a probe
 * through after `openTimeout`, and closes again once probes succeed.
 *
 * It holds no timer: the move from open to half-open is decided when a call arrives,
 * so an idle breaker costs nothing and never keeps a process alive.
 *
 * @example
 * ```ts
 * const breaker = new CircuitBreaker({ name: 'orders-db', failureThreshold: 5, openTimeout: 30_000 });
 * const rows = await breaker.execute(({ signal }) => db.query(sql, { signal }), { signal: request.signal });
 * ```
 */
export class CircuitBreaker extends Emitter<CircuitBreakerEvents> implements Policy, AdoptsDefaults {
  /** Name used in errors, events and metrics. */
  readonly name: string;
  private clock: Clock;
  /** Whether the clock came from the options (a pipeline's clock then does not replace it). */
  private readonly ownClock: boolean;
  private adoptedClock = false;
  /** Whether every call's duration is needed, whoever listens: for slow calls. */
  private readonly timed: boolean;
  /** Whether counting a call needs the time (a time window), which one clock read at settlement gives. */
  private readonly windowTimed: boolean;
  private readonly strategy: TripStrategy;
  private readonly isFailure: ((error: unknown) => boolean) | undefined;
  private readonly openTimeout: number | ((consecutiveOpens: number) => number);
  private readonly successThreshold: number;
  private readonly halfOpenMaxCalls: number;
  private readonly halfOpenTimeout: number;
  /** Infinity when slow calls are not watched. */
  private readonly slowCallDuration: number;

  private current: CircuitState = 'closed';
  /**
   * Bumped on every state change. A call counts only if it settles in the epoch it
   * was admitted in, so a call that outlived a transition cannot skew the new state.
   */
  private epoch = 0;
  private openUntil = 0;
  private consecutiveOpens = 0;
  private probesInFlight = 0;
  private probeSuccesses = 0;
  /** When a probe slot last came free (or half-open began): halfOpenTimeout counts from here. */
  private probesMovedAt = 0;
  /** The failure that last opened the circuit: the `cause` of rejections. */
  private lastFailure: unknown = undefined;
  /** Settlement handlers of the current epoch's untimed calls, made on the first such call. */
  private handlers: EpochHandlers | undefined = undefined;
  /** The last valid answer of a function `openTimeout`: what a bad answer falls back to. */
  private lastGoodTimeout: number = DEFAULTS.openTimeout;

  constructor(options?: CircuitBreakerOptions) {
    super();
    const o = resolveOptions(options);
    this.name = o.name;
    this.clock = o.clock;
    this.ownClock = o.ownClock;
    this.timed = o.slowCallDuration !== undefined;
    this.windowTimed = o.window?.type === 'time';
    this.isFailure = o.isFailure;
    this.openTimeout = o.openTimeout;
    this.successThreshold = o.successThreshold;
    this.halfOpenMaxCalls = o.halfOpenMaxCalls;
    this.halfOpenTimeout = o.halfOpenTimeout;
    this.slowCallDuration = o.slowCallDuration ?? Number.POSITIVE_INFINITY;

    const consecutive =
      o.failureThreshold === undefined ? undefined : new ConsecutiveFailures(o.failureThreshold);
    const rate =
      o.window === undefined
        ? undefined
        : new RateThresholds(
            createWindow(o.window),
            o.minimumCalls,
            o.failureRateThreshold ?? Number.POSITIVE_INFINITY,
            o.slowCallRateThreshold ?? Number.POSITIVE_INFINITY,
          );
    this.strategy =
      consecutive && rate ? new EitherStrategy(consecutive, rate) : (consecutive ?? (rate as TripStrategy));

    if (o.initialState !== undefined) {
      const longest = typeof o.openTimeout === 'number' ? o.openTimeout : MAX_TIMER;
      const snapshot = parseSnapshot(o.initialState, this.clock.now(), longest);
      this.consecutiveOpens = snapshot.consecutiveOpens;
      // A half-open snapshot had probes in flight that died with it: resume as open and due, so the next call probes.
      this.current = snapshot.state === 'half-open' ? 'open' : snapshot.state;
      this.openUntil = snapshot.openUntil ?? 0;
    }
  }

  /** What this policy is, for adapters that walk a pipeline (metrics, health). */
  get kind(): 'circuit-breaker' {
    return 'circuit-breaker';
  }

  /** @internal */
  [ADOPT_DEFAULTS](defaults: PolicyDefaults): void {
    // The first pipeline's clock wins, as for every policy: openUntil must stay on one clock.
    if (!this.ownClock && !this.adoptedClock && defaults.clock !== undefined) {
      this.clock = defaults.clock;
      this.adoptedClock = true;
    }
  }

  /** The current state. An open circuit whose timeout has elapsed reads `open` until a call arrives. */
  get state(): CircuitState {
    return this.current;
  }

  /** ms until an open circuit admits a probe: 0 unless open; `Infinity` when isolated. */
  get retryAfter(): number {
    if (this.current === 'isolated') return Number.POSITIVE_INFINITY;
    return this.current === 'open' ? Math.max(0, Math.ceil(this.openUntil - this.clock.now())) : 0;
  }

  /**
   * Runs `fn` unless the circuit is open, and counts its outcome.
   *
   * @throws {@link BrokenCircuitError} without calling `fn` while open (or half-open with every probe slot taken).
   * @throws {@link IsolatedCircuitError} without calling `fn` while isolated.
   * @throws the caller's `signal.reason` without calling `fn` when the signal was aborted before the call.
   * @throws whatever `fn` threw, unchanged.
   */
  execute<T>(fn: Operation<T>, options?: ExecuteOptions): Promise<T> {
    if (typeof fn !== 'function') return Promise.reject(notAFunction(fn));
    const context = options === undefined ? ROOT : tryContextOf(options);
    if (context instanceof TypeError) return Promise.reject(context);
    const abortable = context.abortable;
    if (abortable && context.aborted) return Promise.reject(context.signal.reason);
    let admitted: number | BrokenCircuitError;
    try {
      admitted = this.admit();
    } catch (error) {
      return Promise.reject(error); // a clock that throws: listeners cannot throw into here
    }
    // Promise.reject costs less than throwing from an async function: this is the hot path of an outage.
    if (typeof admitted !== 'number') return Promise.reject(admitted);
    if (this.current === 'disabled') return callThrough(fn, context); // run, never counted
    if (this.timed || abortable || this.timesForListeners()) {
      return this.timedCall(fn, context, admitted);
    }
    // Nobody needs the call's duration and nothing can abort it: settle through handlers
    // shared by every call of this epoch, with no per-call closure and no async frame.
    let pending: PromiseLike<T> | T;
    try {
      pending = fn(context);
    } catch (error) {
      pending = Promise.reject(error); // counted like any failure, and never thrown synchronously
    }
    const handlers = this.handlers?.epoch === admitted ? this.handlers : this.handlersFor(admitted);
    let settled: Promise<T>;
    try {
      settled = Promise.resolve(pending);
    } catch (error) {
      settled = Promise.reject(error); // a promise whose `constructor` getter throws: a failure like any other
    }
    return settled.then(handlers.succeeded, handlers.failed) as Promise<T>;
  }

  /** A call that is timed (slow calls, listeners) or abortable. */
  private async timedCall<T>(fn: Operation<T>, context: Context, epoch: number): Promise<T> {
    // Reading the clock costs ~50 ns; a call pays for it only when a duration is used.
    const start = this.timed || this.timesForListeners() ? this.clock.now() : Number.NaN;
    let result: T;
    try {
      result = await fn(context);
    } catch (error) {
      this.onFailure(epoch, start, error, context);
      throw error;
    }
    this.onSuccess(epoch, start);
    return result;
  }

  private handlersFor(epoch: number): EpochHandlers {
    const handlers: EpochHandlers = {
      epoch,
      succeeded: (value) => {
        this.onSuccess(epoch, Number.NaN);
        return value;
      },
      failed: (error) => {
        this.onFailure(epoch, Number.NaN, error, undefined);
        throw error;
      },
    };
    this.handlers = handlers;
    return handlers;
  }

  /** Holds the circuit open, rejecting every call with {@link IsolatedCircuitError}, until {@link reset}. */
  isolate(): void {
    this.moveTo('isolated', 'isolated');
  }

  /**
   * Lets every call through, uncounted and unreported, until {@link reset}: like
   * resilience4j's DISABLED, no `succeeded`, `failed` or `ignored` event is emitted, so
   * metrics count no outcomes for it while its state reads `disabled`.
   */
  disable(): void {
    this.moveTo('disabled', 'disabled');
  }

  /** Returns to closed with every count cleared. */
  reset(): void {
    if (this.current === 'closed') {
      this.epoch++;
      this.strategy.reset();
      this.consecutiveOpens = 0;
    } else {
      this.moveTo('closed', 'reset');
    }
  }

  /** The state as plain JSON, to restore later with the `initialState` option. */
  snapshot(): CircuitSnapshot {
    const timed = this.current === 'open' || this.current === 'half-open';
    return {
      version: 1,
      state: this.current,
      openUntil: timed ? this.openUntil : null,
      consecutiveOpens: this.consecutiveOpens,
    };
  }

  /** Removes every listener. The breaker holds nothing else to release. */
  [Symbol.dispose](): void {
    this.removeAllListeners();
  }

  /** Admits a call, returning the epoch it runs in, or the error that rejects it. */
  private admit(): number | BrokenCircuitError {
    switch (this.current) {
      case 'closed':
      case 'disabled':
        return this.epoch;
      case 'open': {
        const now = this.clock.now();
        // Whole ms, rounded up: never early, and cheap to put in the message (the clock reads fractions).
        if (now < this.openUntil) return this.reject('open', Math.ceil(this.openUntil - now));
        this.probesMovedAt = now; // before moveTo: a stateChanged listener may call in again
        this.moveTo('half-open', 'open-timeout-elapsed');
        return this.admitProbe();
      }
      case 'half-open':
        return this.admitProbe();
      case 'isolated':
        return this.reject('isolated', Number.POSITIVE_INFINITY);
    }
  }

  private admitProbe(): number | BrokenCircuitError {
    if (this.probesInFlight >= this.halfOpenMaxCalls) {
      // Probes that held every slot for halfOpenTimeout are given up on (no timer watches them):
      // their outcomes will not count, and this call probes afresh. Successes already earned stay.
      if (this.halfOpenTimeout === Number.POSITIVE_INFINITY) return this.reject('half-open', 0);
      const now = this.clock.now();
      if (now - this.probesMovedAt < this.halfOpenTimeout) return this.reject('half-open', 0);
      this.epoch++;
      this.probesInFlight = 0;
      this.probesMovedAt = now;
    }
    this.probesInFlight++;
    return this.epoch;
  }

  private reject(reason: 'open' | 'half-open' | 'isolated', retryAfter: number): BrokenCircuitError {
    // Inline rather than withoutStack(): no closure on the hot path of an outage.
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    const error =
      reason === 'isolated'
        ? new IsolatedCircuitError(this.name)
        : reason === 'open'
          ? new BrokenCircuitError(this.name, retryAfter, { cause: this.lastFailure })
          : new BrokenCircuitError(
              this.name,
              retryAfter,
              { cause: this.lastFailure },
              `Circuit "${this.name}" is half-open and every probe slot is taken`,
            );
    Error.stackTraceLimit = limit;
    if (this.listenerCount('rejected') !== 0) this.emit('rejected', { reason, error });
    return error;
  }

  // A listener or `isFailure` that throws must not leave a probe slot taken (the breaker would reject
  // every call until reset()), so the outcome is counted in `finally`, after the events it follows.
  private onSuccess(epoch: number, start: number): void {
    if (Number.isNaN(start) && !this.listened()) {
      if (epoch === this.epoch) this.count(SUCCESS, undefined, Number.NaN);
      return;
    }
    const now = Number.isNaN(start) ? Number.NaN : this.clock.now();
    const duration = Number.isNaN(start) ? 0 : now - start;
    const slow = duration > this.slowCallDuration;
    try {
      if (this.listenerCount('succeeded') !== 0) this.emit('succeeded', { duration, slow });
    } finally {
      if (epoch === this.epoch) this.count(slow ? SLOW : SUCCESS, undefined, now);
    }
  }

  /** Whether any event has a listener (EventEmitter3 counts the events that have some). */
  private listened(): boolean {
    return (this as unknown as Listened)._eventsCount !== 0;
  }

  /** Whether someone listens to an event that carries a call's duration (a stateChanged listener does not count). */
  private timesForListeners(): boolean {
    return (
      this.listened() &&
      (this.listenerCount('succeeded') !== 0 ||
        this.listenerCount('failed') !== 0 ||
        this.listenerCount('ignored') !== 0)
    );
  }

  private onFailure(epoch: number, start: number, error: unknown, context: Context | undefined): void {
    const now = Number.isNaN(start) ? Number.NaN : this.clock.now();
    const duration = Number.isNaN(start) ? 0 : now - start;
    const slow = duration > this.slowCallDuration;
    // Counted as a failure unless found otherwise; an `isFailure` that throws leaves it a failure.
    let outcome: Outcome | undefined = slow ? FAILURE | SLOW : FAILURE;
    try {
      if (context?.aborted) {
        outcome = undefined;
        if (this.listenerCount('ignored') !== 0) this.emit('ignored', { error, reason: 'aborted', duration });
      } else if (this.isFailure !== undefined && !this.judged(error)) {
        outcome = undefined;
        if (this.listenerCount('ignored') !== 0) {
          this.emit('ignored', { error, reason: 'not-a-failure', duration });
        }
      } else if (this.listenerCount('failed') !== 0) {
        this.emit('failed', { error, duration, slow });
      }
    } finally {
      if (epoch === this.epoch) {
        if (outcome !== undefined) this.count(outcome, error, now);
        else if (this.current === 'half-open') this.probeSettled();
      }
    }
  }

  /** `isFailure`'s verdict; one that throws is reported, and the call counts as a failure with its own error. */
  private judged(error: unknown): boolean {
    try {
      return this.isFailure!(error);
    } catch (thrown) {
      reportListenerError(this, 'isFailure', thrown, 'isFailure');
      return true;
    }
  }

  /** Counts a call that settled in the epoch it was admitted in; `now` is NaN when the call was not timed. */
  private count(outcome: Outcome, error: unknown, now: number): void {
    if (this.current === 'closed') {
      const reason = this.strategy.record(
        this.windowTimed && Number.isNaN(now) ? this.clock.now() : now,
        outcome,
      );
      if (reason !== undefined) this.open(reason, error);
    } else if (this.current === 'half-open') {
      this.probeSettled();
      // A slow probe is no sign of recovery when slow calls are what tripped the circuit.
      if (outcome !== SUCCESS) this.open('probe-failed', error);
      else if (++this.probeSuccesses >= this.successThreshold) this.moveTo('closed', 'probes-succeeded');
    }
  }

  private probeSettled(): void {
    this.probesInFlight--;
    if (this.halfOpenTimeout !== Number.POSITIVE_INFINITY) this.probesMovedAt = this.clock.now();
  }

  private open(reason: TransitionReason, error: unknown): void {
    const opens = this.consecutiveOpens + 1;
    const timeout = typeof this.openTimeout === 'number' ? this.openTimeout : this.timeoutFor(opens);
    this.consecutiveOpens = opens;
    this.openUntil = this.clock.now() + timeout;
    this.lastFailure = error;
    this.moveTo('open', reason);
  }

  /**
   * What a function `openTimeout` asks for. A bad answer (not a number of ms in
   * [0, 2^31 - 1], or a throw) must not keep the circuit closed or replace the call's
   * error: the circuit opens for the last good answer (30 s before any) and the
   * mistake is reported as a process warning.
   */
  private timeoutFor(opens: number): number {
    const openTimeout = this.openTimeout as (consecutiveOpens: number) => number;
    let timeout: unknown;
    try {
      timeout = openTimeout(opens);
      if (typeof timeout === 'number' && timeout >= 0 && timeout <= MAX_TIMER) {
        this.lastGoodTimeout = timeout;
        return timeout;
      }
    } catch (error) {
      timeout = error;
    }
    const fallback = this.lastGoodTimeout;
    warn(
      new RangeError(
        `openTimeout(${opens}) must return a number of ms in [0, ${MAX_TIMER}], got ${show(timeout)}; opened for ${fallback} ms`,
        { cause: timeout },
      ),
    );
    return fallback;
  }

  private moveTo(to: CircuitState, reason: TransitionReason): void {
    const from = this.current;
    if (from === to || nextState(from, reason) !== to) return;
    this.current = to;
    this.epoch++;
    this.probesInFlight = 0;
    this.probeSuccesses = 0;
    this.strategy.reset();
    if (to === 'closed') {
      this.consecutiveOpens = 0;
      this.lastFailure = undefined;
    }
    if (this.listenerCount('stateChanged') !== 0) this.emit('stateChanged', { from, to, reason });
  }
}
