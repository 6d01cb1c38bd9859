export { type Backoff, constant, type ExponentialOptions, exponential } from './backoff.js';
export { RetryBudget, type RetryBudgetOptions } from './budget.js';
export {
  type GaveUpEvent,
  type RetriedEvent,
  type RetryEvents,
  type RetryOptions,
  RetryPolicy,
  retry,
} from './retry.js';
