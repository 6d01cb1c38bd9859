export {
  type TimedOutEvent,
  type TimeoutEvents,
  type TimeoutOptions,
  TimeoutPolicy,
  type TimeoutStrategy,
  timeout,
} from './timeout.js';
