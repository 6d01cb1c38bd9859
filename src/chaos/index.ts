export { InjectedFaultError, isInjectedFaultError } from '../errors.js';
export {
  type Direction,
  FaultProxy,
  type FaultProxyOptions,
  type FaultProxyStats,
} from './fault-proxy.js';
export {
  type BehaviorOptions,
  type ChaosEvents,
  type ChaosOptions,
  ChaosPolicy,
  type FaultOptions,
  type InjectedEvent,
  injectBehavior,
  injectFault,
  injectLatency,
  injectOutcome,
  type LatencyOptions,
  type OutcomeOptions,
} from './inject.js';
