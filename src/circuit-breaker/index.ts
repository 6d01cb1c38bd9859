export { CircuitBreaker } from './circuit-breaker.js';
export type {
  CircuitBreakerEvents,
  FailedEvent,
  IgnoredEvent,
  RejectedEvent,
  StateChangedEvent,
  SucceededEvent,
} from './events.js';
export type { CircuitBreakerOptions } from './options.js';
export type { CircuitSnapshot } from './snapshot.js';
export type { CircuitState, TransitionReason, TripReason } from './state.js';
