export {
  type AdaptiveLimitEvents,
  type AdaptiveLimitOptions,
  AdaptiveLimitPolicy,
  type AdaptiveLimitRejectedEvent,
  adaptiveLimit,
  type LimitChangedEvent,
} from './adaptive-limit.js';
