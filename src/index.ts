export * from './circuit-breaker/index.js';
export { type Clock, type RandomSource, systemClock, type TimerHandle } from './clock.js';
export {
  BreakwaterError,
  BrokenCircuitError,
  IsolatedCircuitError,
  isBreakwaterError,
  isBrokenCircuitError,
  isIsolatedCircuitError,
} from './errors.js';
export type { ExecuteContext, ExecuteOptions, Operation, Policy } from './policy.js';
export type { WindowOptions } from './window/sliding-window.js';
