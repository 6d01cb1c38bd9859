export {
  type RateLimitDelayedEvent,
  type RateLimitEvents,
  type RateLimitOptions,
  RateLimitPolicy,
  type RateLimitRejectedEvent,
  type RateLimitStoreErrorEvent,
  type RateLimitStrategy,
  rateLimit,
} from './rate-limit.js';
export type { RateLimitRule, RateLimitStore } from './store.js';
