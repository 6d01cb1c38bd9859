export { BreakerCreationError, isBreakerCreationError } from '../errors.js';
export {
  type BreakerCreatedEvent,
  type BreakerEvictedEvent,
  type BreakerForgottenEvent,
  CircuitBreakerGroup,
  type CircuitBreakerGroupEvents,
  type CircuitBreakerGroupOptions,
  type EvictionReason,
} from './group.js';
