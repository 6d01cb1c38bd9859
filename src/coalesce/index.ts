export {
  type CoalescedEvent,
  type CoalesceEvents,
  type CoalesceOptions,
  type CoalesceOverflowedEvent,
  CoalescePolicy,
  coalesce,
} from './coalesce.js';
