import { readable, show } from '../validate.js';
import { type CircuitState, STATES } from './state.js';

/**
 * A breaker's state as plain JSON, from {@link CircuitBreaker.snapshot}; pass it back
 * as `initialState` to restore it. Counts of recent calls are not carried: a restored
 * closed breaker starts counting afresh.
 */
export interface CircuitSnapshot {
  /** The format's version: a breaker refuses a snapshot of any other. */
  readonly version: 1;
  /** The state to restore. */
  readonly state: CircuitState;
  /** Clock time (ms) at which an open circuit admits its next probe; `null` unless open or half-open. */
  readonly openUntil: number | null;
  /** Times the circuit opened without closing in between (the argument of a function `openTimeout`). */
  readonly consecutiveOpens: number;
}

const KEYS = ['version', 'state', 'openUntil', 'consecutiveOpens'];

/**
 * Checks a snapshot read from outside (a file, a cache) field by field and copies it
 * into a fresh object, so nothing else it carries, `__proto__` included, reaches the
 * breaker. Only its own fields are read, so a polluted `Object.prototype` lends none.
 * `openUntil` is clamped to `now + longest` (the longest open timeout the breaker can
 * set): a snapshot cannot hold a circuit open for longer than the breaker itself would.
 */
export function parseSnapshot(value: unknown, now: number, longest: number): CircuitSnapshot {
  if (typeof value !== 'object' || value === null || readable('initialState', () => Array.isArray(value))) {
    throw new TypeError(`initialState must be an object from snapshot(), got ${show(value)}`);
  }
  for (const key of readable('initialState', () => Reflect.ownKeys(value))) {
    if (typeof key !== 'string' || !KEYS.includes(key)) {
      throw new TypeError(`initialState has an unknown field ${String(key)}`);
    }
  }
  const own = (key: string): unknown =>
    readable(`initialState.${key}`, () => Object.getOwnPropertyDescriptor(value, key)?.value);
  const version = own('version');
  if (version !== 1) throw new TypeError(`initialState.version must be 1, got ${show(version)}`);
  const state = own('state');
  if (typeof state !== 'string' || !STATES.includes(state as CircuitState)) {
    throw new TypeError(`initialState.state must be one of ${STATES.join(', ')}, got ${show(state)}`);
  }
  const timed = state === 'open' || state === 'half-open';
  const openUntil = own('openUntil');
  if (timed ? typeof openUntil !== 'number' || !Number.isFinite(openUntil) : openUntil !== null) {
    throw new TypeError(
      `initialState.openUntil must be ${timed ? 'a finite number' : 'null'} when state is ${state}, got ${show(openUntil)}`,
    );
  }
  const consecutiveOpens = own('consecutiveOpens');
  if (!Number.isSafeInteger(consecutiveOpens) || (consecutiveOpens as number) < 0) {
    throw new TypeError(
      `initialState.consecutiveOpens must be an integer >= 0, got ${show(consecutiveOpens)}`,
    );
  }
  return {
    version: 1,
    state: state as CircuitState,
    openUntil: timed ? Math.min(openUntil as number, now + longest) : null,
    consecutiveOpens: consecutiveOpens as number,
  };
}
