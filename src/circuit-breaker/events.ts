import type { CircuitState, TransitionReason } from './state.js';

export interface StateChangedEvent {
  readonly from: CircuitState;
  readonly to: CircuitState;
  readonly reason: TransitionReason;
}

export interface SucceededEvent {
  /** ms the call took, by the breaker's clock. */
  readonly duration: number;
  /** Whether it took longer than `slowCallDuration`. */
  readonly slow: boolean;
}

export interface FailedEvent {
  readonly error: unknown;
  readonly duration: number;
  readonly slow: boolean;
}

export interface RejectedEvent {
  /** `open` (or half-open with every probe slot taken) or `isolated`. */
  readonly reason: 'open' | 'half-open' | 'isolated';
  readonly error: Error;
}

export interface IgnoredEvent {
  readonly error: unknown;
  /** `aborted`: the call's signal was aborted; `not-a-failure`: `isFailure` returned false. */
  readonly reason: 'aborted' | 'not-a-failure';
  readonly duration: number;
}

/** The events of a {@link CircuitBreaker}, each with one payload object. */
export interface CircuitBreakerEvents {
  stateChanged: [StateChangedEvent];
  succeeded: [SucceededEvent];
  failed: [FailedEvent];
  rejected: [RejectedEvent];
  ignored: [IgnoredEvent];
}
