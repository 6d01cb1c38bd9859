import { type Clock, systemClock } from '../clock.js';
import * as v from '../validate.js';
import type { WindowOptions } from '../window/sliding-window.js';
import type { CircuitSnapshot } from './snapshot.js';
import type { CircuitStore } from './store.js';

/** Options of {@link CircuitBreaker}. Every option is validated once, at construction. */
export interface CircuitBreakerOptions {
  /**
   * Names the breaker in errors, events and metrics.
   * @default 'circuit-breaker'
   */
  name?: string;
  /**
   * Consecutive failures that open the circuit. When `failureRateThreshold` is given,
   * consecutive tripping applies only if this is given too.
   * @default 5
   */
  failureThreshold?: number;
  /**
   * Consecutive probe successes in half-open state that close the circuit.
   * @default 1
   */
  successThreshold?: number;
  /**
   * How long (ms) the circuit stays open before a probe is let through, or a function of
   * the number of times it opened in a row (1 on the first trip), so repeated trips back off.
   * @default 30_000
   * @example
   * ```ts
   * openTimeout: (opens) => Math.min(1_000 * 2 ** (opens - 1), 60_000)
   * ```
   */
  openTimeout?: number | ((consecutiveOpens: number) => number);
  /**
   * Probes admitted at once while half-open; other calls are rejected meanwhile.
   * @default 1
   */
  halfOpenMaxCalls?: number;
  /**
   * How long (ms) probes may hold the half-open state. Once every probe slot has been taken
   * for this long without a probe settling, those probes are given up on (their outcomes
   * will not count) and the next call probes afresh. Without it, a probe that never
   * settles keeps the circuit half-open, rejecting every call, until `reset()`; a
   * `timeout` inside the breaker is the other way to bound probes.
   * @default Infinity
   * @example
   * ```ts
   * halfOpenTimeout: 10_000
   * ```
   */
  halfOpenTimeout?: number;
  /**
   * Which errors count as failures of the dependency. An error for which this returns
   * `false` passes through to the caller and counts neither way.
   * @default () => true
   * @example
   * ```ts
   * isFailure: (error) => !(error instanceof NotFoundError)
   * ```
   */
  isFailure?: (error: unknown) => boolean;
  /**
   * Turns on rate mode: the circuit opens when, over `window`, at least `minimumCalls`
   * calls were counted and `failures / calls >= failureRateThreshold`. In `(0, 1]`.
   */
  failureRateThreshold?: number;
  /**
   * The calls a rate threshold looks at: the last N calls, or the calls of the last N ms.
   * @default { type: 'count', size: 100 }
   */
  window?: WindowOptions;
  /**
   * Calls the window must hold before a rate threshold can open the circuit. With a count
   * window it may not exceed `window.size`.
   * @default 10, or `window.size` when a count window is smaller
   */
  minimumCalls?: number;
  /** A call that takes longer than this (ms) counts as slow. Needs `slowCallRateThreshold`. */
  slowCallDuration?: number;
  /**
   * The circuit opens when the share of slow calls over `window` reaches this, in `(0, 1]`.
   * Needs `slowCallDuration`. A slow probe in half-open state counts as a failed probe.
   */
  slowCallRateThreshold?: number;
  /**
   * A state to start from, as returned by {@link CircuitBreaker.snapshot}: an open
   * breaker restored before its timeout is still open.
   */
  initialState?: CircuitSnapshot;
  /**
   * The clock that times open timeouts, windows and call durations.
   * @default systemClock
   */
  clock?: Clock;
  /**
   * Shares this circuit with every breaker of the same `name` on the same store, in any
   * process (`redisCircuitStore` from `breakwater/redis`). Outcomes from every process count
   * towards one circuit, a transition made by one is seen by all, and while open only one
   * probe runs cluster-wide (`halfOpenMaxCalls` then applies only while the store is down).
   * The call path never waits on the store except for a due probe; when the store fails or
   * is slow, the breaker goes on alone on its local state (`storeError`) and adopts the
   * shared state again when the store answers (`storeRecovered`).
   * @default undefined (the breaker keeps its state to itself)
   * @example
   * ```ts
   * store: redisCircuitStore({ client, subscriber, prefix: 'orders' })
   * ```
   */
  store?: CircuitStore;
}

/** The options {@link CircuitBreaker.configure} may change at runtime (the keys of {@link CircuitBreakerSettings}). */
export const SETTINGS: readonly (keyof CircuitBreakerSettings)[] = [
  'failureThreshold',
  'successThreshold',
  'openTimeout',
  'halfOpenMaxCalls',
  'halfOpenTimeout',
  'isFailure',
  'failureRateThreshold',
  'window',
  'minimumCalls',
  'slowCallDuration',
  'slowCallRateThreshold',
];

/**
 * What {@link CircuitBreaker.configure} takes: any of the thresholds and timeouts of
 * {@link CircuitBreakerOptions} (an option set to `undefined` returns to its default), and
 * `resetCounts`.
 */
export type CircuitBreakerSettings = Partial<
  Pick<
    CircuitBreakerOptions,
    | 'failureThreshold'
    | 'successThreshold'
    | 'openTimeout'
    | 'halfOpenMaxCalls'
    | 'halfOpenTimeout'
    | 'isFailure'
    | 'failureRateThreshold'
    | 'window'
    | 'minimumCalls'
    | 'slowCallDuration'
    | 'slowCallRateThreshold'
  >
> & {
  /**
   * Forgets the calls counted so far (failures in a row, the window) along with the change.
   * The state is kept either way.
   * @default false
   */
  resetCounts?: boolean;
};

export const DEFAULTS = {
  name: 'circuit-breaker',
  failureThreshold: 5,
  successThreshold: 1,
  openTimeout: 30_000,
  halfOpenMaxCalls: 1,
  halfOpenTimeout: Number.POSITIVE_INFINITY,
  minimumCalls: 10,
  window: { type: 'count', size: 100 },
} as const;

const KEYS = ['name', ...SETTINGS, 'initialState', 'clock', 'store'];

/** A count window keeps one byte per call: 1 MB at most. */
export const MAX_COUNT_WINDOW = 1_000_000;
/** A time window clears at most this many buckets per call after an idle spell. */
export const MAX_BUCKETS = 1_000;

/** The options after validation, with defaults filled in. */
export interface ResolvedOptions {
  name: string;
  /** Undefined when consecutive tripping is off. */
  failureThreshold: number | undefined;
  successThreshold: number;
  openTimeout: number | ((consecutiveOpens: number) => number);
  halfOpenMaxCalls: number;
  halfOpenTimeout: number;
  isFailure: ((error: unknown) => boolean) | undefined;
  failureRateThreshold: number | undefined;
  window: WindowOptions | undefined;
  minimumCalls: number;
  slowCallDuration: number | undefined;
  slowCallRateThreshold: number | undefined;
  clock: Clock;
  /** Whether the clock came from the options, not the default. */
  ownClock: boolean;
  initialState: unknown;
  store: CircuitStore | undefined;
}

function windowOptions(value: unknown): WindowOptions {
  const w = v.object('window', value);
  if (w.type === 'count') {
    v.knownKeys('window', w, ['type', 'size']);
    return { type: 'count', size: v.integer('window.size', w.size, 1, MAX_COUNT_WINDOW) };
  }
  if (w.type === 'time') {
    v.knownKeys('window', w, ['type', 'duration', 'buckets']);
    const duration = v.milliseconds('window.duration', w.duration, 1, v.MAX_TIMER);
    const buckets = w.buckets === undefined ? 10 : v.integer('window.buckets', w.buckets, 1, MAX_BUCKETS);
    // A bucket under 1 ms would number its buckets past 2^53 on an epoch clock, where counting stops.
    if (buckets > duration) {
      throw new RangeError(`window.buckets must be <= window.duration (${duration} ms), got ${buckets}`);
    }
    return { type: 'time', duration, buckets };
  }
  throw new TypeError(`window.type must be "count" or "time", got ${v.show(w.type)}`);
}

/** The defaults resolved once: `new CircuitBreaker()` skips validation (creating 10,000 breakers should take milliseconds). */
let resolvedDefaults: ResolvedOptions | undefined;

/** Validates options already copied with `v.object` (each property read once), filling in defaults. */
export function resolveOptions(copy?: Readonly<Record<string, unknown>>): ResolvedOptions {
  if (copy !== undefined) return resolve(copy as CircuitBreakerOptions);
  if (resolvedDefaults === undefined) resolvedDefaults = Object.freeze(resolve({}));
  return resolvedDefaults;
}

function resolve(o: CircuitBreakerOptions): ResolvedOptions {
  v.knownKeys('CircuitBreaker', o as Record<string, unknown>, KEYS);
  const rate =
    o.failureRateThreshold === undefined
      ? undefined
      : v.ratio('failureRateThreshold', o.failureRateThreshold, true);
  const slowRate =
    o.slowCallRateThreshold === undefined
      ? undefined
      : v.ratio('slowCallRateThreshold', o.slowCallRateThreshold, true);
  const slowDuration =
    o.slowCallDuration === undefined ? undefined : v.milliseconds('slowCallDuration', o.slowCallDuration);
  if ((slowRate === undefined) !== (slowDuration === undefined)) {
    throw new TypeError(
      `slowCallDuration and slowCallRateThreshold go together, got slowCallDuration ${v.show(slowDuration)} and slowCallRateThreshold ${v.show(slowRate)}`,
    );
  }
  const windowed = rate !== undefined || slowRate !== undefined;
  if (!windowed) {
    for (const key of ['window', 'minimumCalls'] as const) {
      if (o[key] !== undefined) {
        throw new TypeError(
          `${key} needs failureRateThreshold or slowCallRateThreshold, got ${key} ${v.show(o[key])} without either`,
        );
      }
    }
  }
  // `=== undefined`, not `??`: a `null` option is a bad value, not a request for the default.
  const window = windowed ? windowOptions(o.window === undefined ? DEFAULTS.window : o.window) : undefined;
  let minimumCalls =
    o.minimumCalls === undefined ? DEFAULTS.minimumCalls : v.integer('minimumCalls', o.minimumCalls, 1);
  // A count window never holds more than `size` calls: a larger minimum could never be met.
  if (window?.type === 'count' && minimumCalls > window.size) {
    if (o.minimumCalls !== undefined) {
      throw new RangeError(`minimumCalls must be <= window.size (${window.size}), got ${minimumCalls}`);
    }
    minimumCalls = window.size;
  }
  let failureThreshold: number | undefined;
  if (o.failureThreshold !== undefined)
    failureThreshold = v.integer('failureThreshold', o.failureThreshold, 1);
  else if (rate === undefined) failureThreshold = DEFAULTS.failureThreshold;

  const openTimeout = o.openTimeout === undefined ? DEFAULTS.openTimeout : o.openTimeout;
  if (typeof openTimeout !== 'function') v.milliseconds('openTimeout', openTimeout, 0, v.MAX_TIMER);

  return {
    name: o.name === undefined ? DEFAULTS.name : v.string('name', o.name),
    failureThreshold,
    successThreshold:
      o.successThreshold === undefined
        ? DEFAULTS.successThreshold
        : v.integer('successThreshold', o.successThreshold, 1),
    openTimeout,
    halfOpenTimeout:
      o.halfOpenTimeout === undefined
        ? DEFAULTS.halfOpenTimeout
        : v.msOrUnlimited('halfOpenTimeout', o.halfOpenTimeout, 1),
    halfOpenMaxCalls:
      o.halfOpenMaxCalls === undefined
        ? DEFAULTS.halfOpenMaxCalls
        : v.integer('halfOpenMaxCalls', o.halfOpenMaxCalls, 1),
    isFailure: o.isFailure === undefined ? undefined : v.func('isFailure', o.isFailure),
    failureRateThreshold: rate,
    window,
    minimumCalls,
    slowCallDuration: slowDuration,
    slowCallRateThreshold: slowRate,
    clock: o.clock === undefined ? systemClock : v.clock('clock', o.clock),
    ownClock: o.clock !== undefined,
    initialState: o.initialState,
    store: o.store === undefined ? undefined : store(o.store),
  };
}

const STORE_METHODS = ['read', 'report', 'acquireProbe', 'settleProbe', 'force'] as const;

function store(value: unknown): CircuitStore {
  // Not copied: a store is an object with behaviour and connections, not options.
  if (typeof value !== 'object' || value === null) {
    throw new TypeError(`store must be a CircuitStore, got ${v.show(value)}`);
  }
  const s = value as Record<string, unknown>;
  const missing = v.readable('store', () => STORE_METHODS.filter((m) => typeof s[m] !== 'function'));
  const timing = v.readable('store', () => s.timing);
  if (missing.length !== 0 || typeof timing !== 'object' || timing === null) {
    throw new TypeError(
      `store must be a CircuitStore (timing and ${STORE_METHODS.join(', ')}), got ${v.show(value)}`,
    );
  }
  return value as CircuitStore;
}
