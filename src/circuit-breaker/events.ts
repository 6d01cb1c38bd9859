import type { CircuitState, TransitionReason } from './state.js';
import type { StoreErrorEvent, StoreRecoveredEvent } from './store.js';

/** Payload of the {@link CircuitBreakerEvents.stateChanged | stateChanged} event. */
export interface StateChangedEvent {
  /** The state the breaker left. */
  readonly from: CircuitState;
  /** The state the breaker is now in. */
  readonly to: CircuitState;
  /**
   * What moved it: a trip reason, a probe outcome, the open timeout elapsing, or a call of
   * `isolate()`, `disable()` or `reset()`.
   */
  readonly reason: TransitionReason;
  /**
   * `local` when this breaker made the move; `remote` when it adopted a move made by another
   * process through its `store` (or the store's state after an outage).
   */
  readonly source: 'local' | 'remote';
}

/** Payload of the {@link CircuitBreakerEvents.configured | configured} event. */
export interface ConfiguredEvent {
  /** The settings the call named (an option set to `undefined` went back to its default). */
  readonly changed: readonly string[];
  /** Whether the counts were forgotten too. */
  readonly resetCounts: boolean;
}

/** Payload of the {@link CircuitBreakerEvents.succeeded | succeeded} event. */
export interface SucceededEvent {
  /** ms the call took, by the breaker's clock. */
  readonly duration: number;
  /** Whether it took longer than `slowCallDuration`. */
  readonly slow: boolean;
}

/** Payload of the {@link CircuitBreakerEvents.failed | failed} event. */
export interface FailedEvent {
  /** What the call threw or rejected with, as the caller receives it. */
  readonly error: unknown;
  /** ms the call took, by the breaker's clock. */
  readonly duration: number;
  /** Whether it took longer than `slowCallDuration`. */
  readonly slow: boolean;
}

/** Payload of the {@link CircuitBreakerEvents.rejected | rejected} event. */
export interface RejectedEvent {
  /** `open` (or half-open with every probe slot taken) or `isolated`. */
  readonly reason: 'open' | 'half-open' | 'isolated';
  /** The {@link BrokenCircuitError} or {@link IsolatedCircuitError} the call rejects with. */
  readonly error: Error;
}

/** Payload of the {@link CircuitBreakerEvents.ignored | ignored} event. */
export interface IgnoredEvent {
  /** What the call threw or rejected with, as the caller receives it. */
  readonly error: unknown;
  /** `aborted`: the call's signal was aborted; `not-a-failure`: `isFailure` returned false. */
  readonly reason: 'aborted' | 'not-a-failure';
  /** ms the call took, by the breaker's clock. */
  readonly duration: number;
}

/**
 * The events of a {@link CircuitBreaker}, each with one payload object. Every call the
 * breaker admits ends in exactly one of `succeeded`, `failed` or `ignored`, fired before
 * the call's outcome is counted (and so before any `stateChanged` it causes); a disabled
 * breaker's calls fire none. A listener that throws is reported as a process warning
 * and changes nothing.
 *
 * @example
 * ```ts
 * breaker.on('stateChanged', ({ from, to, reason }) => log.warn({ from, to, reason }, 'circuit moved'));
 * ```
 */
export interface CircuitBreakerEvents {
  /** The breaker moved to another state; fired once the move is made, so `breaker.state` reads `to`. */
  stateChanged: [StateChangedEvent];
  /** An admitted call succeeded. */
  succeeded: [SucceededEvent];
  /** An admitted call failed and counts as a failure. */
  failed: [FailedEvent];
  /** A call was turned away without running: fired before its promise rejects with `error`. */
  rejected: [RejectedEvent];
  /**
   * An admitted call failed but does not count: its signal was aborted (by the caller or a
   * policy around the breaker), or `isFailure` said the error is no failure.
   */
  ignored: [IgnoredEvent];
  /**
   * The `store` failed or did not answer within its `commandTimeout`: fired once when an
   * outage begins. The breaker goes on alone on its local state until the store answers again.
   */
  storeError: [StoreErrorEvent];
  /** The `store` answered again after a `storeError`; the breaker has adopted the shared state. */
  storeRecovered: [StoreRecoveredEvent];
  /** {@link CircuitBreaker.configure} changed the settings; they apply from the next call. */
  configured: [ConfiguredEvent];
}
