/**
 * - `closed`: calls run and are counted.
 * - `open`: calls are rejected without running until the open timeout has elapsed.
 * - `half-open`: up to `halfOpenMaxCalls` probes run at once; their outcome closes or reopens the circuit.
 * - `isolated`: held open by hand (`isolate()`) until `reset()`.
 * - `disabled`: every call runs, uncounted, until `reset()`.
 */
export type CircuitState = 'closed' | 'open' | 'half-open' | 'isolated' | 'disabled';

/** Why a trip strategy opened the circuit. */
export type TripReason = 'consecutive-failures' | 'failure-rate' | 'slow-call-rate';

/** Why the state changed, as carried by the `stateChanged` event. */
export type TransitionReason =
  | TripReason
  | 'probe-failed'
  | 'open-timeout-elapsed'
  | 'probes-succeeded'
  | 'isolated'
  | 'disabled'
  | 'reset'
  /** Adopted from a shared store after steps this breaker did not see (see the `store` option). */
  | 'synced';

/** Every state change the breaker may make; anything else is a bug (property tests check this table). */
export const TRANSITIONS: Readonly<Record<CircuitState, readonly CircuitState[]>> = {
  closed: ['open', 'isolated', 'disabled'],
  open: ['half-open', 'isolated', 'disabled', 'closed'],
  'half-open': ['open', 'closed', 'isolated', 'disabled'],
  isolated: ['closed', 'disabled'],
  disabled: ['closed', 'isolated'],
};

/** The state a reason leads to from `from`, or `undefined` when that change is not allowed. */
export function nextState(from: CircuitState, reason: TransitionReason): CircuitState | undefined {
  let to: CircuitState;
  switch (reason) {
    case 'consecutive-failures':
    case 'failure-rate':
    case 'slow-call-rate':
      if (from !== 'closed') return undefined;
      to = 'open';
      break;
    case 'probe-failed':
      if (from !== 'half-open') return undefined;
      to = 'open';
      break;
    case 'open-timeout-elapsed':
      if (from !== 'open') return undefined;
      to = 'half-open';
      break;
    case 'probes-succeeded':
      if (from !== 'half-open') return undefined;
      to = 'closed';
      break;
    case 'isolated':
      to = 'isolated';
      break;
    case 'disabled':
      to = 'disabled';
      break;
    case 'reset':
      to = 'closed';
      break;
    case 'synced':
      return undefined; // only a store's state leads anywhere by this reason
  }
  return TRANSITIONS[from].includes(to) ? to : undefined;
}

export const STATES: readonly CircuitState[] = Object.keys(TRANSITIONS) as CircuitState[];
