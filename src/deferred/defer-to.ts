import { Emitter } from '../emitter.js';
import {
  isBrokenCircuitError,
  isBulkheadRejectedError,
  isOverloadedError,
  isQueueFullError,
  isTimeoutError,
  QueueFullError,
} from '../errors.js';
import {
  type Context,
  callThrough,
  type EXTRA,
  type ExecuteContext,
  type ExecuteOptions,
  notAFunction,
  type Operation,
  type Policy,
  ROOT,
  tryContextOf,
} from '../policy.js';
import * as v from '../validate.js';
import type { EnqueueOptions } from './queue.js';

/** What a {@link deferTo} policy answers instead of failing: the work was queued for later. */
export interface DeferredResult {
  /** Always true: tells this answer from the call's own result. */
  readonly deferred: true;
  /** The queued job's id (that of the job already queued under the call's key, if any). */
  readonly id: string;
  /** ms after which the dependency may be back, when the error said (an open circuit's `retryAfter`). */
  readonly retryAfter: number | undefined;
}

/** The part of a {@link DeferredQueue} that {@link deferTo} uses. */
export interface DeferTarget<P> {
  /** Names the queue in errors. */
  readonly name: string;
  /** Jobs the queue may hold, for the `QueueFullError` raised when it is full. */
  readonly maxSize: number;
  /** Adds a job; resolves with its id once the store holds it. */
  enqueue(payload: P, options?: EnqueueOptions): Promise<string>;
}

/** Options of {@link deferTo}. */
export interface DeferToOptions<P> {
  /**
   * The job to queue: a value, or a function of the error and the call's context. The call's
   * `key` (from `execute`'s options) becomes the job's idempotency key and its `priority` the
   * job's priority.
   */
  payload: P | ((error: unknown, context: ExecuteContext) => P | PromiseLike<P>);
  /**
   * Which failures mean "unavailable, do it later"; others reach the caller unchanged. A call
   * its caller aborted is never deferred.
   * @default an open circuit, a timeout, overload or a full bulkhead ({@link isUnavailable})
   */
  when?: (error: unknown) => boolean;
  /** Names the policy. @default 'deferTo' */
  name?: string;
}

/** Payload of the {@link DeferToEvents.deferred | deferred} event. */
export interface DeferredCallEvent {
  /** The queued job's id. */
  readonly id: string;
  /** The failure the call was deferred for. */
  readonly error: unknown;
}

/** The events of a {@link DeferToPolicy}. */
export interface DeferToEvents {
  /** A call failed as unavailable and its payload was queued. */
  deferred: [DeferredCallEvent];
}

/**
 * Whether `error` says the dependency is unavailable rather than that the call was wrong: a
 * {@link BrokenCircuitError}, {@link TimeoutError}, {@link OverloadedError} or
 * {@link BulkheadRejectedError}. The default `when` of {@link deferTo}.
 */
export function isUnavailable(error: unknown): boolean {
  return (
    isBrokenCircuitError(error) ||
    isTimeoutError(error) ||
    isOverloadedError(error) ||
    isBulkheadRejectedError(error)
  );
}

/**
 * Queues a call's work when the dependency is unavailable. See {@link deferTo}.
 *
 * @example
 * ```ts
 * const policy = new DeferToPolicy(queue, { payload: (_error, ctx) => ({ orderId: ctx.key }) });
 * ```
 */
export class DeferToPolicy<P> extends Emitter<DeferToEvents> implements Policy<DeferredResult> {
  /** Type-level only (never set): adds {@link DeferredResult} to a pipeline's result type. */
  declare readonly [EXTRA]?: DeferredResult;
  /** Names the policy. */
  readonly name: string;
  private readonly queue: DeferTarget<P>;
  private readonly payload: DeferToOptions<P>['payload'];
  private readonly when: (error: unknown) => boolean;
  private readonly onRootFailure = (error: unknown): Promise<DeferredResult> => this.defer(error, ROOT);

  constructor(queue: DeferTarget<P>, options: DeferToOptions<P>) {
    super();
    if (
      typeof queue !== 'object' ||
      queue === null ||
      typeof v.readable('queue', () => queue.enqueue) !== 'function'
    ) {
      throw new TypeError(`queue must be a DeferredQueue, got ${v.show(queue)}`);
    }
    const o = v.object('deferTo options', options);
    v.knownKeys('deferTo', o, ['payload', 'when', 'name']);
    if (!('payload' in o)) throw new TypeError('deferTo: payload is required (a value or a function)');
    this.queue = queue;
    this.payload = o.payload as DeferToOptions<P>['payload'];
    this.when = o.when === undefined ? isUnavailable : v.func('when', o.when);
    this.name = o.name === undefined ? 'deferTo' : v.string('name', o.name);
  }

  /** What this policy is, for adapters that walk a pipeline. */
  get kind(): 'defer-to' {
    return 'defer-to';
  }

  /**
   * Runs `fn` and answers its result; when it fails with an error that `when` accepts, queues
   * the payload and answers `{ deferred: true, id, retryAfter }`.
   *
   * @throws what `fn` threw, unchanged, when `when` refuses it or the caller aborted the call.
   * @throws {@link QueueFullError} (its `cause` the call's error) when the queue is full.
   */
  execute<T>(fn: Operation<T>, options?: ExecuteOptions): Promise<T | DeferredResult> {
    if (typeof fn !== 'function') return Promise.reject(notAFunction(fn));
    // The common call (no options) shares one failure handler: no closure per call.
    if (options === undefined) return callThrough(fn, ROOT).then(undefined, this.onRootFailure);
    const context = tryContextOf(options);
    if (context instanceof TypeError) return Promise.reject(context);
    if (context.aborted) return Promise.reject(context.signal.reason);
    // The success path adds one `then` and nothing else.
    return callThrough(fn, context).then(undefined, (error: unknown) => this.defer(error, context));
  }

  private async defer(error: unknown, context: Context): Promise<DeferredResult> {
    if (context.aborted || !this.when(error)) throw error;
    const payload =
      typeof this.payload === 'function'
        ? await (this.payload as (error: unknown, context: ExecuteContext) => P | PromiseLike<P>)(
            error,
            context,
          )
        : this.payload;
    let id: string;
    try {
      id = await this.queue.enqueue(payload, {
        ...(context.key === undefined ? {} : { key: context.key }),
        priority: context.priority,
      });
    } catch (enqueueError) {
      if (isQueueFullError(enqueueError)) {
        throw new QueueFullError(this.queue.name, this.queue.maxSize, { cause: error });
      }
      throw enqueueError;
    }
    if (this.listenerCount('deferred') !== 0) this.emit('deferred', { id, error });
    const retryAfter = (error as { retryAfter?: unknown } | null)?.retryAfter;
    return {
      deferred: true,
      id,
      retryAfter: typeof retryAfter === 'number' && Number.isFinite(retryAfter) ? retryAfter : undefined,
    };
  }
}

/**
 * A policy that turns "the dependency is down" into "accepted, will do later": when the call
 * fails with an error that `when` accepts (by default an open circuit, a timeout, overload or
 * a full bulkhead), it enqueues `payload` on `queue` and answers `{ deferred: true, id,
 * retryAfter }` instead of failing. Put it outermost in a `pipeline`; the result type shows
 * the extra answer, as `fallback`'s does.
 *
 * @example
 * ```ts
 * const result = await pipeline(deferTo(queue, { payload: order }), breaker).execute(
 *   ({ signal }) => orders.create(order, { signal }),
 *   { key: `order:${order.id}` },
 * );
 * if ('deferred' in result) return reply.code(202).send({ status: 'queued', id: result.id });
 * ```
 */
export function deferTo<P>(queue: DeferTarget<P>, options: DeferToOptions<P>): DeferToPolicy<P> {
  return new DeferToPolicy(queue, options);
}
