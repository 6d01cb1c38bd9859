/**
 * Errors raised by breakwater. Each class has an `isX()` guard that checks a
 * brand registered with `Symbol.for`, so it holds across two copies of the package
 * (where `instanceof` would not).
 */

import type { Priority } from './policy.js';

const BREAKWATER = Symbol.for('breakwater.error');

function brand(ctor: { prototype: object }, name: string): symbol {
  const key = Symbol.for(`breakwater.${name}`);
  Object.defineProperty(ctor.prototype, key, { value: true });
  Object.defineProperty(ctor.prototype, 'name', { value: name, writable: true, configurable: true });
  return key;
}

function hasBrand(value: unknown, key: symbol): boolean {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[key] === true;
}

/**
 * Builds an error without capturing a stack trace. Rejections while a circuit is open
 * are the hot path during an outage, and a stack trace costs several microseconds
 * while pointing only into breakwater itself.
 */
export function withoutStack<E extends Error>(create: () => E): E {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return create();
  } finally {
    Error.stackTraceLimit = limit;
  }
}

/** Base class of every error that breakwater itself raises. */
export class BreakwaterError extends Error {}
Object.defineProperty(BreakwaterError.prototype, BREAKWATER, { value: true });
Object.defineProperty(BreakwaterError.prototype, 'name', {
  value: 'BreakwaterError',
  writable: true,
  configurable: true,
});

/** Whether `error` is any error raised by breakwater (from any copy of the package). */
export function isBreakwaterError(error: unknown): error is BreakwaterError {
  return hasBrand(error, BREAKWATER);
}

/**
 * A call was rejected without running because the circuit is open (or half-open with
 * every probe slot taken). `cause` is the failure that last opened the circuit.
 */
export class BrokenCircuitError extends BreakwaterError {
  /** Name of the breaker that rejected the call. */
  readonly breaker: string;
  /** Milliseconds until the breaker will admit a probe; 0 when a probe may already be admitted. */
  readonly retryAfter: number;

  constructor(breaker: string, retryAfter: number, options?: ErrorOptions, message?: string) {
    super(message ?? `Circuit "${breaker}" is open; retry after ${retryAfter} ms`, options);
    this.breaker = breaker;
    this.retryAfter = retryAfter;
  }
}
const BROKEN = brand(BrokenCircuitError, 'BrokenCircuitError');

/** Whether `error` is a {@link BrokenCircuitError} (an {@link IsolatedCircuitError} is one too). */
export function isBrokenCircuitError(error: unknown): error is BrokenCircuitError {
  return hasBrand(error, BROKEN);
}

/**
 * A call was rejected because the circuit was isolated by hand with `isolate()`.
 * It stays so until `reset()`, so `retryAfter` is `Infinity`.
 */
export class IsolatedCircuitError extends BrokenCircuitError {
  constructor(breaker: string) {
    super(breaker, Number.POSITIVE_INFINITY, undefined, `Circuit "${breaker}" is isolated`);
  }
}
const ISOLATED = brand(IsolatedCircuitError, 'IsolatedCircuitError');

/** Whether `error` is an {@link IsolatedCircuitError}. */
export function isIsolatedCircuitError(error: unknown): error is IsolatedCircuitError {
  return hasBrand(error, ISOLATED);
}

/**
 * A `timeout` policy's own timer fired before the call settled. `cause` is the call's
 * own error when it settled (cooperative strategy) after being aborted.
 */
export class TimeoutError extends BreakwaterError {
  /** The limit (ms) that was exceeded. */
  readonly timeout: number;

  constructor(timeout: number, options?: ErrorOptions) {
    super(`Call timed out after ${timeout} ms`, options);
    this.timeout = timeout;
  }
}
const TIMEOUT = brand(TimeoutError, 'TimeoutError');

/** Whether `error` is a {@link TimeoutError}. */
export function isTimeoutError(error: unknown): error is TimeoutError {
  return hasBrand(error, TIMEOUT);
}

/**
 * A bulkhead turned a call away: every slot and queue place was taken (`full`), or the
 * call waited in the queue longer than `queueTimeout` (`queue-timeout`).
 */
export class BulkheadRejectedError extends BreakwaterError {
  /** `full`: turned away on arrival; `queue-timeout`: waited in the queue past `queueTimeout`. */
  readonly reason: 'full' | 'queue-timeout';
  /** The bulkhead's `maxConcurrent` (calls allowed to run at once), to tell which limit was hit. */
  readonly maxConcurrent: number;
  /** The bulkhead's `maxQueue` (calls allowed to wait); 0 when it queues nothing. */
  readonly maxQueue: number;

  constructor(reason: 'full' | 'queue-timeout', maxConcurrent: number, maxQueue: number) {
    super(
      reason === 'full'
        ? `Bulkhead is full (${maxConcurrent} running, ${maxQueue} queued)`
        : 'Call waited too long in the bulkhead queue',
    );
    this.reason = reason;
    this.maxConcurrent = maxConcurrent;
    this.maxQueue = maxQueue;
  }
}
const BULKHEAD = brand(BulkheadRejectedError, 'BulkheadRejectedError');

/** Whether `error` is a {@link BulkheadRejectedError}. */
export function isBulkheadRejectedError(error: unknown): error is BulkheadRejectedError {
  return hasBrand(error, BULKHEAD);
}

/** A fault that `injectFault` raised on purpose, without calling through. */
export class InjectedFaultError extends BreakwaterError {
  constructor(message = 'Injected fault') {
    super(message);
  }
}
const INJECTED = brand(InjectedFaultError, 'InjectedFaultError');

/** Whether `error` is an {@link InjectedFaultError}. */
export function isInjectedFaultError(error: unknown): error is InjectedFaultError {
  return hasBrand(error, INJECTED);
}

/**
 * A user callback that breakwater calls for its own purposes (an event listener, a
 * breaker's `isFailure`) threw. The error does not reach the call or the policy: it is
 * reported with `process.emitWarning` (listen with `process.on('warning', ...)`), and
 * `cause` is what the callback threw.
 */
export class ListenerError extends BreakwaterError {
  /** The event whose listener threw, or the name of the callback (`isFailure`). */
  readonly event: string;
  /** The name of the policy that called it, when it has one. */
  readonly policy: string | undefined;

  constructor(event: string, policy: string | undefined, cause: unknown, callback = `A "${event}" listener`) {
    super(`${callback}${policy === undefined ? '' : ` of "${policy}"`} threw`, { cause });
    this.event = event;
    this.policy = policy;
  }
}
const LISTENER = brand(ListenerError, 'ListenerError');

/** Whether `error` is a {@link ListenerError}. */
export function isListenerError(error: unknown): error is ListenerError {
  return hasBrand(error, LISTENER);
}

/**
 * A call was turned away to protect the process or a dependency from overload: a
 * `loadShedder` shed it for its priority (`reason: 'pressure'`), or an `adaptiveLimit`
 * had no room for it (`reason: 'limit'`, or `'queue-timeout'` after it waited).
 */
export class OverloadedError extends BreakwaterError {
  /** Why: `pressure` (the shedder), `limit` (the adaptive limit and its queue were full), `queue-timeout`. */
  readonly reason: 'pressure' | 'limit' | 'queue-timeout';
  /** The priority of the call that was turned away. */
  readonly priority: Priority;
  /** The shedder's pressure when it shed the call (highest reading/limit ratio); for a limit, inFlight/limit. */
  readonly pressure: number;
  /** Milliseconds after which a retry has a fair chance (one sample interval for a shedder). */
  readonly retryAfter: number;

  constructor(
    reason: 'pressure' | 'limit' | 'queue-timeout',
    priority: Priority,
    pressure: number,
    retryAfter: number,
    message?: string,
    options?: ErrorOptions,
  ) {
    super(
      message ?? `Overloaded (${reason}): ${priority} call refused; retry after ${retryAfter} ms`,
      options,
    );
    this.reason = reason;
    this.priority = priority;
    this.pressure = pressure;
    this.retryAfter = retryAfter;
  }
}
const OVERLOADED = brand(OverloadedError, 'OverloadedError');

/** Whether `error` is an {@link OverloadedError}. */
export function isOverloadedError(error: unknown): error is OverloadedError {
  return hasBrand(error, OVERLOADED);
}

/** `enqueue` found a `DeferredQueue` holding `maxSize` jobs; nothing already accepted was dropped. */
export class QueueFullError extends BreakwaterError {
  /** Name of the queue. */
  readonly queue: string;
  /** The queue's `maxSize`. */
  readonly maxSize: number;

  constructor(queue: string, maxSize: number, options?: ErrorOptions) {
    super(`Queue "${queue}" is full (${maxSize} jobs)`, options);
    this.queue = queue;
    this.maxSize = maxSize;
  }
}
const QUEUE_FULL = brand(QueueFullError, 'QueueFullError');

/** Whether `error` is a {@link QueueFullError}. */
export function isQueueFullError(error: unknown): error is QueueFullError {
  return hasBrand(error, QUEUE_FULL);
}

/** A rate limiter refused a call: no permit was free within `maxWait`. */
export class RateLimitedError extends BreakwaterError {
  /** Milliseconds until a permit will be free; pass it to `retry` (it reads `retryAfter`). */
  readonly retryAfter: number;
  /** The key of a keyed rate limiter (a tenant), or undefined. */
  readonly key: string | undefined;

  constructor(retryAfter: number, key?: string, options?: ErrorOptions) {
    super(
      `Rate limit exceeded${key === undefined ? '' : ` for "${key}"`}; retry after ${retryAfter} ms`,
      options,
    );
    this.retryAfter = retryAfter;
    this.key = key;
  }
}
const RATE_LIMITED = brand(RateLimitedError, 'RateLimitedError');

/** Whether `error` is a {@link RateLimitedError}. */
export function isRateLimitedError(error: unknown): error is RateLimitedError {
  return hasBrand(error, RATE_LIMITED);
}

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
const QUEUE_CLOSED = brand(QueueClosedError, 'QueueClosedError');

/** Whether `error` is a {@link QueueClosedError} (from any copy of the package). */
export function isQueueClosedError(error: unknown): error is QueueClosedError {
  return hasBrand(error, QUEUE_CLOSED);
}

/**
 * A {@link CircuitBreakerGroup} could not make the breaker of a key: its `create`
 * threw, or answered options that `new CircuitBreaker` refused. `cause` is that error
 * (for bad options, the `TypeError` or `RangeError` that names the option). Nothing is
 * cached: the next call for the key asks `create` again.
 */
export class BreakerCreationError extends BreakwaterError {
  /** The key whose breaker could not be made. */
  readonly key: string;

  constructor(key: string, cause: unknown) {
    const shown = key.length > 100 ? `${JSON.stringify(key.slice(0, 100))}...` : JSON.stringify(key);
    let reason: string;
    try {
      reason = cause instanceof Error ? cause.message : String(cause);
    } catch {
      reason = 'an error that cannot be shown'; // a hostile getter or Proxy must not hide the failure
    }
    super(`Could not create the circuit breaker for key ${shown}: ${reason}`, { cause });
    this.key = key;
  }
}
const CREATION = brand(BreakerCreationError, 'BreakerCreationError');

/** Whether `error` is a {@link BreakerCreationError} (from any copy of the package). */
export function isBreakerCreationError(error: unknown): error is BreakerCreationError {
  return hasBrand(error, CREATION);
}
