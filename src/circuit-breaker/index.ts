export { CircuitBreaker } from './circuit-breaker.js';
export type {
  CircuitBreakerEvents,
  ConfiguredEvent,
  FailedEvent,
  IgnoredEvent,
  RejectedEvent,
  StateChangedEvent,
  SucceededEvent,
} from './events.js';
export type { CircuitBreakerOptions, CircuitBreakerSettings } from './options.js';
export type { CircuitSnapshot } from './snapshot.js';
export type { CircuitState, TransitionReason, TripReason } from './state.js';
export type {
  CircuitStore,
  ProbeGrant,
  ProbeResult,
  SharedConfig,
  SharedState,
  StoreErrorEvent,
  StoreRecoveredEvent,
  StoreTiming,
} from './store.js';
