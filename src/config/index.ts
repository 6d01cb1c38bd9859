export { type CreatePoliciesOptions, createPolicies, type Policies } from './create.js';
export { type FromEnvOptions, fromEnv, type ToEnvOptions, toEnv } from './env.js';
export { Flag, type FlagChangedEvent, type FlagEvents, type FlagOptions } from './flag.js';
export { reconfigure } from './reconfigure.js';
export type {
  BackoffConfig,
  BreakerConfig,
  BreakwaterConfig,
  BudgetConfig,
  BulkheadConfig,
  ChaosConfig,
  PipelineConfig,
  RetryConfig,
  TimeoutConfig,
  WindowConfig,
} from './schema.js';
