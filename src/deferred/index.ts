export { isQueueClosedError, QueueClosedError } from '../errors.js';
export {
  type DeferredCallEvent,
  type DeferredResult,
  type DeferTarget,
  type DeferToEvents,
  type DeferToOptions,
  DeferToPolicy,
  deferTo,
  isUnavailable,
} from './defer-to.js';
export type { BreakerGate, Gate, LimitGate, ShedderGate } from './gate.js';
export { memoryStore } from './memory-store.js';
export {
  type DeferredJob,
  DeferredQueue,
  type DeferredQueueEvents,
  type DeferredQueueOptions,
  type DeferredQueueStats,
  type EnqueueOptions,
  type JobCompletedEvent,
  type JobDeadLetteredEvent,
  type JobEnqueuedEvent,
  type JobFailedEvent,
  type JobHandler,
  type JobStartedEvent,
  type QueuePausedEvent,
} from './queue.js';
export {
  type AddResult,
  type ClaimedJob,
  type ClaimOptions,
  checkPayload,
  type DeadLetter,
  describeError,
  type NewJob,
  type QueueStore,
  type StoreStats,
} from './store.js';
