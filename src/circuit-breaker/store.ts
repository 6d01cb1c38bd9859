import { randomUUID } from 'node:crypto';
import { backgroundTimer, type Clock, type TimerHandle } from '../clock.js';
import { TimeoutError } from '../errors.js';
import type { WindowOptions } from '../window/sliding-window.js';
import type { CircuitState, TransitionReason } from './state.js';

/** A circuit's state as a {@link CircuitStore} holds it for every process that shares it. */
export interface SharedState {
  /** The shared state; `half-open` while some process holds the probe lease. */
  readonly state: CircuitState;
  /** Bumped by the store on every transition: fences reports and probe results made for an older state. */
  readonly gen: number;
  /** ms left, by the store's time: until an open circuit admits a probe, or until a half-open circuit's probe lease ends. 0 otherwise. */
  readonly retryAfter: number;
  /** Times the circuit opened without closing in between. */
  readonly opens: number;
  /** Why the store made its last transition (`undefined` before the first). */
  readonly reason: TransitionReason | undefined;
}

/** The answer to {@link CircuitStore.acquireProbe}. */
export interface ProbeGrant extends SharedState {
  /** Whether the caller holds the probe lease: its call is the one probe of this open period. */
  readonly granted: boolean;
}

/** What the store needs to decide trips the way every breaker of the circuit would. */
export interface SharedConfig {
  /** Consecutive failures that open the circuit; `undefined` when off. */
  readonly failureThreshold: number | undefined;
  /** Failure rate over `window` that opens it; `undefined` when off. */
  readonly failureRateThreshold: number | undefined;
  /** Slow-call rate over `window` that opens it; `undefined` when off. */
  readonly slowCallRateThreshold: number | undefined;
  /** Calls the window must hold before a rate can open the circuit. */
  readonly minimumCalls: number;
  /** The rate window; `undefined` in consecutive mode. */
  readonly window: WindowOptions | undefined;
  /** Probe successes in a row that close the circuit. */
  readonly successThreshold: number;
}

/** How a probe ended, as told to {@link CircuitStore.settleProbe}. */
export type ProbeResult = 'success' | 'failure' | 'release';

/**
 * Where breakers keep one circuit for many processes (see `redisCircuitStore` in
 * `breakwater/redis`). Each method is one atomic step on the shared state and answers the
 * state after it. A breaker bounds every call by {@link StoreTiming.commandTimeout}: a
 * method that rejects or hangs only makes the breaker go on alone on its local state.
 *
 * Outcomes reach {@link report} as a string of digits, one per call in order: `0` success,
 * `1` failure, `2` slow success, `3` slow failure (the bits of a window outcome).
 */
export interface CircuitStore {
  /** How often breakers flush, resynchronize, and how long they wait on the store. */
  readonly timing: StoreTiming;
  /** The shared state of circuit `name` (closed, gen 0 when the store has none). */
  read(name: string): Promise<SharedState>;
  /**
   * Counts outcomes of calls admitted while closed at generation `gen` (others are dropped), and
   * opens the circuit for `openTimeout` ms when the shared counts meet the thresholds.
   */
  report(
    name: string,
    gen: number,
    outcomes: string,
    config: SharedConfig,
    openTimeout: number,
  ): Promise<SharedState>;
  /**
   * Takes the probe lease for `leaseMs` if the circuit is open and due, or half-open with
   * no lease held; moving open to half-open. At most one lease exists per circuit.
   */
  acquireProbe(name: string, gen: number, token: string, leaseMs: number): Promise<ProbeGrant>;
  /**
   * Ends the probe that holds lease `token` at generation `gen` (anything else changes
   * nothing): a success closes after `config.successThreshold` of them, a failure reopens
   * for `openTimeout` ms, `release` only frees the lease.
   */
  settleProbe(
    name: string,
    gen: number,
    token: string,
    result: ProbeResult,
    config: SharedConfig,
    openTimeout: number,
  ): Promise<SharedState>;
  /** `isolate()`, `disable()`, `reset()` for every process: clears counts and any lease. */
  force(name: string, to: 'closed' | 'isolated' | 'disabled'): Promise<SharedState>;
  /**
   * Calls `changed` when another process may have changed circuit `name` (a pub/sub
   * message); returns what stops it. Optional: without it, changes arrive by periodic reads.
   */
  watch?(name: string, changed: () => void): () => void;
}

/** The intervals a {@link CircuitStore} asks its breakers to keep. */
export interface StoreTiming {
  /** ms between flushes of counted outcomes (a flush starts only when there is something to flush). */
  readonly flushInterval: number;
  /** Outcomes that trigger a flush before `flushInterval`. */
  readonly flushSize: number;
  /** ms between reads of the shared state while a breaker is in use, and between retries while the store is down. */
  readonly syncInterval: number;
  /** ms a breaker waits on any one store operation before going on alone. */
  readonly commandTimeout: number;
  /** ms a probe lease lasts when the breaker has no finite `halfOpenTimeout`. */
  readonly probeLease: number;
}

/** Payload of the `storeError` event: the store failed or did not answer in time. */
export interface StoreErrorEvent {
  /** What the store was asked to do. */
  readonly operation: 'read' | 'report' | 'acquireProbe' | 'settleProbe' | 'force';
  /** What it failed with: a {@link TimeoutError} when it did not answer within `commandTimeout`. */
  readonly error: unknown;
}

/** Payload of the `storeRecovered` event: the store answered again after a `storeError`. */
export interface StoreRecoveredEvent {
  /** ms since the `storeError` that began the outage, by the breaker's clock. */
  readonly downFor: number;
}

/** What the driver needs of its breaker. */
export interface StoreHost {
  readonly name: string;
  readonly clock: Clock;
  /** The open timeout the next opening would use. */
  nextOpenTimeout(): number;
  /** ms a probe lease lasts: `halfOpenTimeout` when finite, else `undefined`. */
  readonly leaseMs: number | undefined;
  /** Makes the store's state the breaker's own. */
  adoptShared(state: SharedState): void;
  storeFailed(event: StoreErrorEvent): void;
  storeRecovered(event: StoreRecoveredEvent): void;
}

const UNAVAILABLE = Symbol('unavailable');

/**
 * One breaker's link to a {@link CircuitStore}. The call path never awaits it except for a
 * due probe: outcomes are batched and flushed on a timer that exists only while there is
 * something to flush; the shared state is read every `syncInterval` while the breaker is in
 * use and whenever the store signals a change. Responses arrive in the order requests were
 * sent (one connection), so a response to a request sent before the breaker's own latest
 * transition is stale and ignored.
 * @internal
 */
export class SharedCircuit {
  /** False from a failed store operation until one succeeds again: the breaker then decides alone. */
  healthy = true;
  /** The generation of the state last adopted; reports and probes carry it. */
  gen = 0;
  /** The lease token while this process holds the probe, else `undefined`. */
  lease: string | undefined = undefined;
  /** Whether an `acquireProbe` is on its way (one at a time per breaker). */
  acquiring = false;
  /** Whether the breaker's open state stands for another process's probe (until its lease ends). */
  othersProbe = false;
  private readonly timing: StoreTiming;
  private readonly buffer: Uint8Array;
  private pending = 0;
  private flushTimer: TimerHandle | undefined = undefined;
  private flushing = false;
  private flushAgain = false;
  private syncTimer: TimerHandle | undefined = undefined;
  private active = true;
  private seq = 0;
  /** Responses to requests numbered below this were sent before the breaker's own latest transition. */
  private floor = 0;
  private downSince = 0;
  /** `isolate()`, `disable()` or `reset()` made while the store was down: pushed when it returns. */
  private pendingForce: 'closed' | 'isolated' | 'disabled' | undefined = undefined;
  private readonly unwatch: (() => void) | undefined;
  private closed = false;

  constructor(
    private readonly host: StoreHost,
    private readonly store: CircuitStore,
    /** The thresholds the store applies for this breaker; the breaker replaces them on `configure`. */
    public config: SharedConfig,
  ) {
    this.timing = store.timing;
    this.buffer = new Uint8Array(this.timing.flushSize);
    this.unwatch = store.watch?.(host.name, () => this.sync());
    this.sync();
  }

  /** Marks the breaker in use, so that its view is kept fresh. Called on every admission. */
  touch(): void {
    this.active = true;
    if (this.syncTimer === undefined && !this.closed) this.scheduleSync();
  }

  /**
   * Counts a closed circuit's outcome for the next flush; `tripped` when the breaker's own
   * counts would open it, which flushes at once. Returns whether the store decides (it is up).
   */
  record(outcome: number, tripped: boolean): boolean {
    if (!this.healthy) return false;
    this.buffer[this.pending++] = 48 + outcome;
    if (tripped || this.pending === this.buffer.length) this.flush();
    else if (this.flushTimer === undefined) {
      this.flushTimer = backgroundTimer(this.host.clock, () => this.flush(), this.timing.flushInterval);
    }
    return true;
  }

  /** Sends the outcomes counted so far. */
  flush(): void {
    this.flushTimer?.clear();
    this.flushTimer = undefined;
    if (this.pending === 0 || this.closed) return;
    if (this.flushing) {
      this.flushAgain = true;
      return;
    }
    const outcomes = Buffer.from(this.buffer.buffer, 0, this.pending).toString('latin1');
    this.pending = 0;
    this.flushing = true;
    const host = this.host;
    void this.request('report', () =>
      this.store.report(host.name, this.gen, outcomes, this.config, host.nextOpenTimeout()),
    ).then(() => {
      this.flushing = false;
      if (this.flushAgain) {
        this.flushAgain = false;
        this.flush();
      }
    });
  }

  /** Asks for the probe lease: `granted`, `denied` (the state it answered is adopted), or `unavailable`. */
  async acquire(): Promise<'granted' | 'denied' | 'unavailable'> {
    this.acquiring = true;
    const token = randomUUID(); // unique across hosts: pids are not
    const leaseMs = this.host.leaseMs ?? this.timing.probeLease;
    try {
      const grant = await this.request('acquireProbe', () =>
        this.store.acquireProbe(this.host.name, this.gen, token, leaseMs),
      );
      if (grant === UNAVAILABLE) return 'unavailable';
      if (grant === undefined) return 'denied'; // stale: the breaker moved meanwhile
      if (!grant.granted) return 'denied';
      this.lease = token;
      this.gen = grant.gen;
      return 'granted';
    } finally {
      this.acquiring = false;
    }
  }

  /** Ends this process's probe on the store; the breaker has already moved locally. */
  settle(result: ProbeResult): void {
    const token = this.lease;
    if (token === undefined) return;
    this.lease = undefined;
    if (!this.healthy) return;
    const host = this.host;
    const gen = this.gen;
    this.floor = this.seq + 1;
    void this.request('settleProbe', () =>
      this.store.settleProbe(host.name, gen, token, result, this.config, host.nextOpenTimeout()),
    );
  }

  /** Makes a manual transition cluster-wide (or remembers it until the store is back). */
  force(to: 'closed' | 'isolated' | 'disabled'): void {
    this.lease = undefined;
    this.pending = 0;
    if (!this.healthy) {
      this.pendingForce = to;
      return;
    }
    this.floor = this.seq + 1;
    void this.request('force', () => this.store.force(this.host.name, to));
  }

  /** Stops timers and the store's change notifications; the breaker goes on alone. */
  close(): void {
    this.closed = true;
    this.healthy = false; // from now on the breaker decides alone
    this.flushTimer?.clear();
    this.syncTimer?.clear();
    this.flushTimer = this.syncTimer = undefined;
    this.unwatch?.();
  }

  private scheduleSync(): void {
    this.syncTimer = backgroundTimer(this.host.clock, () => this.tick(), this.timing.syncInterval);
  }

  /** A sync tick: read while in use (or while the store is down, to notice its return); stop when idle. */
  private tick(): void {
    this.syncTimer = undefined;
    if (this.closed || !(this.active || !this.healthy)) return;
    this.active = false;
    this.sync();
    this.scheduleSync();
  }

  private sync(): void {
    if (this.closed) return;
    const forced = this.pendingForce;
    if (forced !== undefined && this.healthy) {
      this.pendingForce = undefined;
      this.force(forced);
      return;
    }
    void this.request('read', () => this.store.read(this.host.name));
  }

  /**
   * Runs one store operation, bounded by `commandTimeout`. Answers the state (adopted by the
   * breaker unless stale), `undefined` when stale, or {@link UNAVAILABLE} when it failed.
   */
  private request<S extends SharedState>(
    operation: StoreErrorEvent['operation'],
    run: () => Promise<S>,
  ): Promise<S | undefined | typeof UNAVAILABLE> {
    const seq = ++this.seq;
    const clock = this.host.clock;
    const ms = this.timing.commandTimeout;
    return new Promise((resolve) => {
      let done = false;
      const timer = backgroundTimer(
        clock,
        () => {
          if (done) return;
          done = true;
          resolve(this.failed(operation, new TimeoutError(ms)));
        },
        ms,
      );
      let answer: Promise<S>;
      try {
        answer = run();
      } catch (error) {
        answer = Promise.reject(error);
      }
      answer.then(
        (state) => {
          if (done) return;
          done = true;
          timer.clear();
          resolve(this.answered(seq, state));
        },
        (error: unknown) => {
          if (done) return;
          done = true;
          timer.clear();
          resolve(this.failed(operation, error));
        },
      );
    });
  }

  private answered<S extends SharedState>(seq: number, state: S): S | undefined {
    if (this.closed) return undefined;
    if (!this.healthy) {
      this.healthy = true;
      // Back from an outage: a manual transition made meanwhile goes first, then the shared state wins.
      this.host.storeRecovered({ downFor: this.host.clock.now() - this.downSince });
      if (this.pendingForce !== undefined) {
        this.sync();
        return undefined;
      }
    }
    if (seq < this.floor) return undefined;
    if ((state as Partial<ProbeGrant>).granted === true) return state; // acquire() takes it from here
    if (state.gen !== this.gen) {
      // A new generation ended any lease of ours, and outcomes not yet sent belong to the old one.
      this.lease = undefined;
      this.pending = 0;
      this.gen = state.gen;
    }
    this.host.adoptShared(state);
    return state;
  }

  private failed(operation: StoreErrorEvent['operation'], error: unknown): typeof UNAVAILABLE {
    if (this.closed) return UNAVAILABLE;
    if (this.healthy) {
      this.healthy = false;
      this.downSince = this.host.clock.now();
      this.pending = 0; // outcomes counted while the store is down stay local
      this.flushTimer?.clear();
      this.flushTimer = undefined;
      this.host.storeFailed({ operation, error });
      if (this.syncTimer === undefined) this.scheduleSync();
    }
    return UNAVAILABLE;
  }
}
