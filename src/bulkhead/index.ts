export {
  type BulkheadEvents,
  type BulkheadOptions,
  BulkheadPolicy,
  type BulkheadRejectedEvent,
  bulkhead,
} from './bulkhead.js';
