import { BreakwaterError } from '../errors.js';

const QUEUE_CLOSED = Symbol.for('breakwater.QueueClosedError');

/**
 * `enqueue` was called on a {@link DeferredQueue} after `close()`; also the reason a running
 * handler's signal aborts with when `close({ timeout })` runs out of time.
 */
export class QueueClosedError extends BreakwaterError {
  /** Name of the queue. */
  readonly queue: string;

  constructor(queue: string, message?: string) {
    super(message ?? `Queue "${queue}" is closed`);
    this.queue = queue;
  }
}
Object.defineProperty(QueueClosedError.prototype, QUEUE_CLOSED, { value: true });
Object.defineProperty(QueueClosedError.prototype, 'name', {
  value: 'QueueClosedError',
  writable: true,
  configurable: true,
});

/** Whether `error` is a {@link QueueClosedError} (from any copy of the package). */
export function isQueueClosedError(error: unknown): error is QueueClosedError {
  return (
    typeof error === 'object' && error !== null && (error as Record<symbol, unknown>)[QUEUE_CLOSED] === true
  );
}
