/**
 * Fault injection: policies that add faults, latency, made-up results or behaviours to a
 * share of calls, and a TCP proxy that injects real network faults.
 * @packageDocumentation
 * @module breakwater/chaos
 */
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
