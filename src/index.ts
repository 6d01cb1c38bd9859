/**
 * Resilience policies for Node.js services: circuit breaker, retry, timeout, bulkhead and
 * fallback, composed with `pipeline`, plus a health monitor, all on an injectable clock.
 * @packageDocumentation
 * @module breakwater
 */
export * from './adaptive-limit/index.js';
export * from './bulkhead/index.js';
export * from './circuit-breaker/index.js';
export { type Clock, type RandomSource, systemClock, type TimerHandle } from './clock.js';
export * from './coalesce/index.js';
export * from './config/index.js';
export * from './deferred/index.js';
export {
  BreakwaterError,
  BrokenCircuitError,
  BulkheadRejectedError,
  IsolatedCircuitError,
  isBreakwaterError,
  isBrokenCircuitError,
  isBulkheadRejectedError,
  isIsolatedCircuitError,
  isListenerError,
  isOverloadedError,
  isQueueFullError,
  isRateLimitedError,
  isTimeoutError,
  ListenerError,
  OverloadedError,
  QueueFullError,
  RateLimitedError,
  TimeoutError,
} from './errors.js';
export * from './fallback/index.js';
export * from './group/index.js';
export * from './health/index.js';
export * from './hedge/index.js';
export * from './pipeline/index.js';
export {
  type ExecuteContext,
  type ExecuteOptions,
  type ExtraOf,
  isPriority,
  type Operation,
  type Policy,
  type PolicyDefaults,
  PRIORITIES,
  type Priority,
} from './policy.js';
export * from './rate-limit/index.js';
export * from './retry/index.js';
export * from './shedder/index.js';
export * from './timeout/index.js';
export type { WindowOptions } from './window/sliding-window.js';
