export {
  type RateLimitDelayedEvent,
  type RateLimitEvents,
  type RateLimitOptions,
  RateLimitPolicy,
  type RateLimitRejectedEvent,
  type RateLimitStrategy,
  rateLimit,
} from './rate-limit.js';
