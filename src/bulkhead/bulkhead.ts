import { type Clock, systemClock, type TimerHandle } from '../clock.js';
import { Emitter } from '../emitter.js';
import { BulkheadRejectedError, withoutStack } from '../errors.js';
import {
  ADOPT_DEFAULTS,
  type AdoptsDefaults,
  type Context,
  contextOf,
  type ExecuteOptions,
  notAFunction,
  type Operation,
  type Policy,
  type PolicyDefaults,
} from '../policy.js';
import * as v from '../validate.js';

/** Options of {@link bulkhead}. */
export interface BulkheadOptions {
  /** Calls that may run at once: an integer >= 1, or `Infinity` for no limit (nothing ever waits). */
  maxConcurrent: number;
  /**
   * Calls that may wait for a slot, first in first out; past that, calls are rejected.
   * An integer >= 0, or `Infinity` for an unbounded queue.
   * @default 0
   */
  maxQueue?: number;
  /**
   * How long (ms) a call may wait in the queue before it is rejected: a number in
   * [0, 2^31 - 1], or `Infinity` for no limit (no timer).
   * @default no limit (`undefined`, as `Infinity`)
   */
  queueTimeout?: number;
  /** Names the policy in metrics and health reports. @default 'bulkhead' */
  name?: string;
  /** Times `queueTimeout`. @default systemClock, or the pipeline's clock */
  clock?: Clock;
}

/** Payload of the {@link BulkheadEvents.rejected | rejected} event. */
export interface BulkheadRejectedEvent {
  /**
   * `full`: every slot and queue place was taken on arrival; `queue-timeout`: the call
   * waited in the queue past `queueTimeout`.
   */
  readonly reason: 'full' | 'queue-timeout';
}

/** The events of a {@link BulkheadPolicy}, each with one payload object. */
export interface BulkheadEvents {
  /**
   * A call was turned away with a {@link BulkheadRejectedError}, just before its promise
   * rejects. A queued call whose caller aborted it leaves the queue without this event.
   */
  rejected: [BulkheadRejectedEvent];
}

/** A call waiting for a slot: a node of the queue's doubly linked list, so removal from anywhere is O(1). */
class Waiter {
  prev: Waiter | undefined;
  next: Waiter | undefined;
  timer: TimerHandle | undefined;
  unfollow: (() => void) | undefined;

  constructor(
    readonly bulkhead: BulkheadPolicy,
    readonly resolve: () => void,
    readonly reject: (error: unknown) => void,
  ) {}

  readonly onAbort = (reason: unknown): void => {
    this.bulkhead.leave(this);
    this.reject(reason);
  };

  readonly onTimeout = (): void => {
    this.timer = undefined;
    this.bulkhead.leave(this);
    this.reject(this.bulkhead.rejection('queue-timeout'));
  };
}

/** Limits how many calls run at once. See {@link bulkhead}. */
export class BulkheadPolicy extends Emitter<BulkheadEvents> implements Policy, AdoptsDefaults {
  /** Names the policy in metrics and health reports. */
  readonly name: string;
  /** Calls that may run at once (`Infinity` for no limit). */
  readonly maxConcurrent: number;
  /** Calls that may wait for a slot (`Infinity` for an unbounded queue, 0 for none). */
  readonly maxQueue: number;
  /** The queue's time limit as given; `undefined` and `Infinity` both mean none. */
  readonly queueTimeout: number | undefined;
  private clock: Clock | undefined;
  private running = 0;
  private waiting = 0;
  private head: Waiter | undefined;
  private tail: Waiter | undefined;

  constructor(options: BulkheadOptions) {
    super();
    const o = v.object('bulkhead options', options);
    v.knownKeys('bulkhead', o, ['name', 'maxConcurrent', 'maxQueue', 'queueTimeout', 'clock']);
    this.name = o.name === undefined ? 'bulkhead' : v.string('name', o.name);
    this.maxConcurrent = v.countOrUnlimited('maxConcurrent', o.maxConcurrent, 1);
    this.maxQueue = o.maxQueue === undefined ? 0 : v.countOrUnlimited('maxQueue', o.maxQueue, 0);
    this.queueTimeout =
      o.queueTimeout === undefined ? undefined : v.msOrUnlimited('queueTimeout', o.queueTimeout);
    this.clock = o.clock === undefined ? undefined : v.clock('clock', o.clock);
  }

  /** What this policy is, for adapters that walk a pipeline. */
  get kind(): 'bulkhead' {
    return 'bulkhead';
  }

  /** @internal */
  [ADOPT_DEFAULTS](defaults: PolicyDefaults): void {
    this.clock ??= defaults.clock;
  }

  /** Calls running now. */
  get inFlight(): number {
    return this.running;
  }

  /** Calls waiting for a slot. */
  get queued(): number {
    return this.waiting;
  }

  /**
   * Runs `fn` in a free slot, or queues it until one is handed over. The slot is held until
   * `fn` settles, whatever the outcome; the result or error passes through unchanged.
   *
   * @throws {@link BulkheadRejectedError} without calling `fn` when every slot and queue place
   * is taken, or when the call waited past `queueTimeout`.
   * @throws the caller's `signal.reason` without calling `fn` when the signal aborts before
   * the call starts, queued or not.
   */
  async execute<T>(fn: Operation<T>, options?: ExecuteOptions): Promise<T> {
    if (typeof fn !== 'function') throw notAFunction(fn);
    const context = contextOf(options);
    if (context.aborted) throw context.signal.reason;
    if (this.running < this.maxConcurrent) this.running++;
    else if (this.waiting < this.maxQueue) {
      await this.enqueue(context);
      // The slot was handed over, but the caller may have aborted before this resumed: such
      // a call must not start, and the slot goes on to the next waiter.
      if (context.aborted) {
        this.release();
        throw context.signal.reason;
      }
    } else throw this.rejection('full');
    try {
      return await fn(context);
    } finally {
      this.release();
    }
  }

  /** Waits until a finishing call hands over its slot (the slot count does not change on a hand-over). */
  private enqueue(context: Context): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const waiter = new Waiter(this, resolve, reject);
      if (this.tail === undefined) this.head = waiter;
      else {
        this.tail.next = waiter;
        waiter.prev = this.tail;
      }
      this.tail = waiter;
      this.waiting++;
      if (context.abortable) waiter.unfollow = context.onAbort(waiter.onAbort);
      if (this.queueTimeout !== undefined && this.queueTimeout !== Number.POSITIVE_INFINITY) {
        waiter.timer = (this.clock ?? systemClock).setTimeout(waiter.onTimeout, this.queueTimeout);
      }
    });
  }

  private release(): void {
    const next = this.head;
    if (next === undefined) {
      this.running--;
      return;
    }
    this.leave(next);
    next.resolve();
  }

  /** @internal Unlinks a waiter and drops its timer and listener. */
  leave(waiter: Waiter): void {
    if (waiter.prev === undefined) this.head = waiter.next;
    else waiter.prev.next = waiter.next;
    if (waiter.next === undefined) this.tail = waiter.prev;
    else waiter.next.prev = waiter.prev;
    waiter.prev = waiter.next = undefined;
    this.waiting--;
    waiter.timer?.clear();
    waiter.unfollow?.();
  }

  /** @internal */
  rejection(reason: 'full' | 'queue-timeout'): BulkheadRejectedError {
    if (this.listenerCount('rejected') !== 0) this.emit('rejected', { reason });
    // Rejections are the hot path under overload: no stack trace (see withoutStack).
    return withoutStack(() => new BulkheadRejectedError(reason, this.maxConcurrent, this.maxQueue));
  }
}

/**
 * Limits how many calls run at once, so one slow dependency cannot take every socket
 * or worker. Excess calls wait in a FIFO queue (up to `maxQueue`, for at most
 * `queueTimeout`); beyond it they are rejected with {@link BulkheadRejectedError}.
 * A queued call whose signal aborts leaves the queue at once.
 *
 * @example
 * ```ts
 * const policy = bulkhead({ maxConcurrent: 10, maxQueue: 100, queueTimeout: 1_000 });
 * ```
 */
export function bulkhead(options: BulkheadOptions): BulkheadPolicy {
  return new BulkheadPolicy(options);
}
