export {
  type FallbackEvents,
  type FallbackOptions,
  FallbackPolicy,
  type FallbackValue,
  type FellBackEvent,
  fallback,
  type StaleIfErrorOptions,
} from './fallback.js';
