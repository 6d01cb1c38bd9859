/**
 * A live dashboard page for breakers, bulkheads, limits, load shedders, deferred queues,
 * switches and health, served by a `node:http` request handler.
 * @packageDocumentation
 * @module breakwater/dashboard
 */
export {
  type BreakerView,
  type ChaosView,
  type ComponentView,
  type DashboardControls,
  type DashboardHandler,
  type DashboardOptions,
  type DashboardView,
  dashboard,
  type HealthView,
  type SwitchView,
} from './dashboard.js';
export type {
  LimitLike,
  LimitView,
  PressureLike,
  QueueLike,
  QueueView,
  ShedderView,
  SwitchLike,
} from './sources.js';
export type { BreakerFigures, BreakerHistory } from './stats.js';
