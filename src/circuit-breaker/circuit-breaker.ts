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
import * as v from '../validate.js';
import { MAX_TIMER, show } from '../validate.js';
import { FAILURE, type Outcome, SLOW, SUCCESS } from '../window/sliding-window.js';
import type { CircuitBreakerEvents } from './events.js';
import {
  type CircuitBreakerOptions,
  type CircuitBreakerSettings,
  DEFAULTS,
  type ResolvedOptions,
  resolveOptions,
  SETTINGS,
} from './options.js';
import { type CircuitSnapshot, parseSnapshot } from './snapshot.js';
import { type CircuitState, nextState, TRANSITIONS, type TransitionReason } from './state.js';
import { SharedCircuit, type SharedConfig, type SharedState } from './store.js';
import { buildStrategy, type TripStrategy } from './strategy.js';

/** What a breaker built without options was given: shared, since `configure` copies before patching. */
const NO_SETTINGS: Readonly<Record<string, unknown>> = Object.freeze({});

/** The settings in `copy` (the options, copied once): what `configure` starts from. */
function settingsOf(copy: Record<string, unknown> | undefined): Readonly<Record<string, unknown>> {
  if (copy === undefined) return NO_SETTINGS;
  const given: Record<string, unknown> = {};
  for (const key of SETTINGS) if (copy[key] !== undefined) given[key] = copy[key];
  return given;
}

function sharedConfigOf(o: ResolvedOptions): SharedConfig {
  return {
    failureThreshold: o.failureThreshold,
    failureRateThreshold: o.failureRateThreshold,
    slowCallRateThreshold: o.slowCallRateThreshold,
    minimumCalls: o.minimumCalls,
    window: o.window,
    successThreshold: o.successThreshold,
  };
}

/** The state a reason moves to. */
function leadsTo(reason: TransitionReason): CircuitState | undefined {
  switch (reason) {
    case 'open-timeout-elapsed':
      return 'half-open';
    case 'probes-succeeded':
    case 'reset':
      return 'closed';
    case 'isolated':
    case 'disabled':
      return reason;
    case 'synced':
      return undefined;
    default:
      return 'open';
  }
}

/** What `admit` answers when a due probe must first take the store's lease. */
const ACQUIRE = -1;

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
  /** Whether the clock is settled: given in the options, or adopted from the first pipeline. */
  private clockFixed: boolean;
  /** Whether every call's duration is needed, whoever listens: for slow calls. */
  private timed!: boolean;
  /** Whether counting a call needs the time (a time window), which one clock read at settlement gives. */
  private windowTimed!: boolean;
  private strategy!: TripStrategy;
  private isFailure!: ((error: unknown) => boolean) | undefined;
  private openTimeout!: number | ((consecutiveOpens: number) => number);
  private successThreshold!: number;
  private halfOpenMaxCalls!: number;
  /**
   * The `halfOpenTimeout` option, 0 for none (the option's `Infinity`), and the
   * `slowCallDuration`, 0 unless `timed`: small integers by default, which V8 keeps in the
   * object itself where `Infinity` would take a boxed number per breaker.
   */
  private halfOpenTimeout!: number;
  private slowCallDuration!: number;

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
  /** The epoch whose untimed calls {@link succeeded} and {@link failed} settle (-1: none yet). */
  private handlersEpoch = -1;
  /** Settle an untimed call of epoch {@link handlersEpoch}: made on its first call, shared by the rest. */
  private succeeded: ((value: unknown) => unknown) | undefined = undefined;
  private failed: ((error: unknown) => never) | undefined = undefined;
  /** The last valid answer of a function `openTimeout`: what a bad answer falls back to. */
  private lastGoodTimeout: number = DEFAULTS.openTimeout;
  /** The link to a shared store, when the `store` option was given. */
  private readonly shared: SharedCircuit | undefined;
  /** The settings as given (not resolved): what `configure` patches and validates again. */
  private given: Readonly<Record<string, unknown>>;

  constructor(options?: CircuitBreakerOptions) {
    super();
    // Copied once: a getter on the options runs once, whatever reads the copy.
    const copy = options === undefined ? undefined : v.object('options', options);
    const o = resolveOptions(copy);
    this.name = o.name;
    this.clock = o.clock;
    this.clockFixed = o.ownClock;
    this.given = settingsOf(copy);
    this.apply(o, undefined);

    if (o.initialState !== undefined) {
      const longest = typeof o.openTimeout === 'number' ? o.openTimeout : MAX_TIMER;
      const snapshot = parseSnapshot(o.initialState, this.clock.now(), longest);
      this.consecutiveOpens = snapshot.consecutiveOpens;
      // A half-open snapshot had probes in flight that died with it: resume as open and due, so the next call probes.
      this.current = snapshot.state === 'half-open' ? 'open' : snapshot.state;
      this.openUntil = snapshot.openUntil ?? 0;
    }
    this.shared = o.store === undefined ? undefined : this.connect(o.store, sharedConfigOf(o));
  }

  private connect(store: NonNullable<CircuitBreakerOptions['store']>, config: SharedConfig): SharedCircuit {
    const self = this;
    return new SharedCircuit(
      {
        name: this.name,
        get clock() {
          return self.clock;
        },
        get leaseMs() {
          return self.halfOpenTimeout === 0 ? undefined : self.halfOpenTimeout;
        },
        nextOpenTimeout: () =>
          typeof this.openTimeout === 'number'
            ? this.openTimeout
            : this.timeoutFor(this.consecutiveOpens + 1),
        adoptShared: (state) => this.adoptShared(state),
        storeFailed: (event) => {
          // Another process's probe cannot be followed without the store: probe here when due.
          const shared = this.shared!;
          if (shared.othersProbe) {
            shared.othersProbe = false;
            this.openUntil = Math.min(this.openUntil, this.clock.now());
          }
          if (this.listenerCount('storeError') !== 0) this.emit('storeError', event);
        },
        storeRecovered: (event) => {
          if (this.listenerCount('storeRecovered') !== 0) this.emit('storeRecovered', event);
        },
      },
      store,
      config,
    );
  }

  /**
   * Changes thresholds and timeouts at runtime, for the next call on. Validated as the
   * constructor validates (the same errors, naming the option); on an error nothing changes.
   * The state is kept: an open circuit stays open until its `openUntil` (a new `openTimeout`
   * applies from the next opening), failures in a row are kept, and so is a rate window whose
   * type and size stay the same (another window starts empty). `resetCounts: true` forgets
   * the counts too. With a `store`, every process should be configured alike.
   *
   * @example
   * ```ts
   * breaker.configure({ failureThreshold: 10, openTimeout: 60_000 });
   * ```
   */
  configure(settings: CircuitBreakerSettings): void {
    const patch = v.object('settings', settings);
    v.knownKeys('configure', patch, [...SETTINGS, 'resetCounts']);
    const resetCounts = patch.resetCounts ?? false;
    if (typeof resetCounts !== 'boolean') {
      throw new TypeError(`resetCounts must be a boolean, got ${show(resetCounts)}`);
    }
    const given = { ...this.given };
    const changed: string[] = [];
    for (const key of SETTINGS) {
      if (!(key in patch)) continue;
      changed.push(key);
      if (patch[key] === undefined) delete given[key];
      else given[key] = patch[key];
    }
    const o = resolveOptions(given); // throws before anything changes
    this.given = given;
    this.apply(o, this.strategy);
    if (resetCounts) this.strategy.reset();
    if (this.shared !== undefined) this.shared.config = sharedConfigOf(o);
    if (this.listenerCount('configured') !== 0) this.emit('configured', { changed, resetCounts });
  }

  /** Takes the thresholds and timeouts of `o`; the trip strategy keeps what it can of `previous`. */
  private apply(o: ResolvedOptions, previous: TripStrategy | undefined): void {
    this.timed = o.slowCallDuration !== undefined;
    this.windowTimed = o.window?.type === 'time';
    this.isFailure = o.isFailure;
    this.openTimeout = o.openTimeout;
    this.successThreshold = o.successThreshold;
    this.halfOpenMaxCalls = o.halfOpenMaxCalls;
    this.halfOpenTimeout = o.halfOpenTimeout === Number.POSITIVE_INFINITY ? 0 : o.halfOpenTimeout;
    this.slowCallDuration = o.slowCallDuration ?? 0;
    this.strategy = buildStrategy(o, previous);
  }

  /** What this policy is, for adapters that walk a pipeline (metrics, health). */
  get kind(): 'circuit-breaker' {
    return 'circuit-breaker';
  }

  /** @internal */
  [ADOPT_DEFAULTS](defaults: PolicyDefaults): void {
    // The first pipeline's clock wins, as for every policy: openUntil must stay on one clock.
    if (!this.clockFixed && defaults.clock !== undefined) {
      this.clock = defaults.clock;
      this.clockFixed = true;
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
    if (admitted === ACQUIRE) return this.probeShared(fn, context);
    return this.run(fn, context, admitted);
  }

  /** Runs an admitted call in epoch `admitted` and counts its outcome. */
  private run<T>(fn: Operation<T>, context: Context, admitted: number): Promise<T> {
    const abortable = context.abortable;
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
    if (this.handlersEpoch !== admitted) this.settleIn(admitted);
    let settled: Promise<T>;
    try {
      settled = Promise.resolve(pending);
    } catch (error) {
      settled = Promise.reject(error); // a promise whose `constructor` getter throws: a failure like any other
    }
    return settled.then(this.succeeded, this.failed) as Promise<T>;
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

  /**
   * A due probe while the store is up: only the process that takes the store's lease probes.
   * The others adopt the state the store answered (another's probe, or its result) and are
   * admitted or rejected by it.
   */
  private async probeShared<T>(fn: Operation<T>, context: Context): Promise<T> {
    const shared = this.shared!;
    const answer = await shared.acquire();
    if (context.aborted) {
      shared.settle('release');
      throw context.signal.reason;
    }
    if (answer === 'granted') {
      if (this.current === 'open') {
        this.probesMovedAt = this.clock.now();
        this.moveTo('half-open', 'open-timeout-elapsed');
      }
      if (this.current === 'half-open') {
        this.probesInFlight++;
        return this.run(fn, context, this.epoch);
      }
      shared.settle('release'); // moved by hand meanwhile
    }
    const admitted = this.admit();
    if (typeof admitted !== 'number') throw admitted;
    if (admitted === ACQUIRE) throw this.reject('half-open', 0);
    return this.run(fn, context, admitted);
  }

  /** Makes the settlement handlers of `epoch`'s untimed calls: a call admitted in an earlier epoch keeps its own, which no longer count. */
  private settleIn(epoch: number): void {
    this.handlersEpoch = epoch;
    this.succeeded = (value) => {
      this.onSuccess(epoch, Number.NaN);
      return value;
    };
    this.failed = (error) => {
      this.onFailure(epoch, Number.NaN, error, undefined);
      throw error;
    };
  }

  /** Holds the circuit open, rejecting every call with {@link IsolatedCircuitError}, until {@link reset}. */
  isolate(): void {
    this.moveTo('isolated', 'isolated');
    this.shared?.force('isolated');
  }

  /**
   * Lets every call through, uncounted and unreported, until {@link reset}: like
   * resilience4j's DISABLED, no `succeeded`, `failed` or `ignored` event is emitted, so
   * metrics count no outcomes for it while its state reads `disabled`.
   */
  disable(): void {
    this.moveTo('disabled', 'disabled');
    this.shared?.force('disabled');
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
    this.shared?.force('closed');
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

  /** Removes every listener, and stops sharing state through a store (the breaker goes on alone). */
  [Symbol.dispose](): void {
    this.removeAllListeners();
    this.shared?.close();
  }

  /** Admits a call, returning the epoch it runs in, or the error that rejects it. */
  private admit(): number | BrokenCircuitError {
    const shared = this.shared;
    if (shared !== undefined) shared.touch();
    switch (this.current) {
      case 'closed':
      case 'disabled':
        return this.epoch;
      case 'open': {
        const now = this.clock.now();
        // Whole ms, rounded up: never early, and cheap to put in the message (the clock reads fractions).
        if (now < this.openUntil) {
          // Another process's probe holds the lease: like a half-open circuit with its slot taken.
          if (shared?.othersProbe) return this.reject('half-open', 0);
          return this.reject('open', Math.ceil(this.openUntil - now));
        }
        if (shared?.healthy) return shared.acquiring ? this.reject('half-open', 0) : ACQUIRE;
        this.probesMovedAt = now; // before moveTo: a stateChanged listener may call in again
        this.moveTo('half-open', 'open-timeout-elapsed');
        return this.admitProbe();
      }
      case 'half-open':
        if (shared?.healthy) {
          // One probe at a time cluster-wide: ours is out, or the next must take the lease.
          return shared.lease !== undefined || shared.acquiring ? this.reject('half-open', 0) : ACQUIRE;
        }
        return this.admitProbe();
      case 'isolated':
        return this.reject('isolated', Number.POSITIVE_INFINITY);
    }
  }

  private admitProbe(): number | BrokenCircuitError {
    if (this.probesInFlight >= this.halfOpenMaxCalls) {
      // Probes that held every slot for halfOpenTimeout are given up on (no timer watches them):
      // their outcomes will not count, and this call probes afresh. Successes already earned stay.
      if (this.halfOpenTimeout === 0) return this.reject('half-open', 0);
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
    const slow = this.timed && duration > this.slowCallDuration;
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
    const slow = this.timed && duration > this.slowCallDuration;
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
      // With the store up, the shared counts decide; the local ones only hurry the flush.
      if (this.shared?.record(outcome, reason !== undefined)) {
        if (outcome !== SUCCESS) this.lastFailure = error;
        return;
      }
      if (reason !== undefined) this.open(reason, error);
    } else if (this.current === 'half-open') {
      // A slow probe is no sign of recovery when slow calls are what tripped the circuit.
      const ok = outcome === SUCCESS;
      this.probeSettled(ok ? 'success' : 'failure');
      if (!ok) this.open('probe-failed', error);
      else if (++this.probeSuccesses >= this.successThreshold) this.moveTo('closed', 'probes-succeeded');
    }
  }

  private probeSettled(result: 'success' | 'failure' | 'release' = 'release'): void {
    this.shared?.settle(result);
    this.probesInFlight--;
    if (this.halfOpenTimeout !== 0) this.probesMovedAt = this.clock.now();
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

  /**
   * Makes the store's state this breaker's (`source: 'remote'`). Another process's probe
   * reads here as open until its lease ends; a state reached through steps this breaker
   * missed is reached through `closed`, so each event is an allowed transition.
   */
  private adoptShared(state: SharedState): void {
    const shared = this.shared!;
    shared.othersProbe = state.state === 'half-open' && shared.lease === undefined;
    const to = shared.othersProbe ? 'open' : state.state;
    this.consecutiveOpens = state.opens;
    if (to === 'open') this.openUntil = this.clock.now() + state.retryAfter;
    const from = this.current;
    if (from === to) return;
    if (!TRANSITIONS[from].includes(to)) this.transition('closed', 'synced', 'remote');
    // The store's reason when it names this move, else `synced` (this breaker missed a step).
    const reason = state.reason !== undefined && leadsTo(state.reason) === to ? state.reason : 'synced';
    this.transition(to, reason, 'remote');
  }

  private moveTo(to: CircuitState, reason: TransitionReason): void {
    const from = this.current;
    if (from === to || nextState(from, reason) !== to) return;
    if (this.shared !== undefined) this.shared.othersProbe = false;
    this.transition(to, reason, 'local');
  }

  private transition(to: CircuitState, reason: TransitionReason, source: 'local' | 'remote'): void {
    const from = this.current;
    this.current = to;
    this.epoch++;
    this.probesInFlight = 0;
    this.probeSuccesses = 0;
    this.strategy.reset();
    if (to === 'closed') {
      this.consecutiveOpens = 0;
      this.lastFailure = undefined;
    }
    if (this.listenerCount('stateChanged') !== 0) this.emit('stateChanged', { from, to, reason, source });
  }
}
