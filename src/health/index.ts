export {
  type AdaptiveLimitHealth,
  type CheckResult,
  type ComponentHealth,
  type HealthCheck,
  HealthMonitor,
  type HealthMonitorEvents,
  type HealthMonitorOptions,
  type HealthReport,
  type HealthStatus,
  type RegisterOptions,
  type StatusChangedEvent,
} from './health.js';
