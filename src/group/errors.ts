import { BreakwaterError } from '../errors.js';

// The brand pattern of src/errors.ts, repeated here: that file is shared and its `brand` is private.
const CREATION = Symbol.for('breakwater.BreakerCreationError');

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
Object.defineProperty(BreakerCreationError.prototype, CREATION, { value: true });
Object.defineProperty(BreakerCreationError.prototype, 'name', {
  value: 'BreakerCreationError',
  writable: true,
  configurable: true,
});

/** Whether `error` is a {@link BreakerCreationError} (from any copy of the package). */
export function isBreakerCreationError(error: unknown): error is BreakerCreationError {
  return typeof error === 'object' && error !== null && (error as Record<symbol, unknown>)[CREATION] === true;
}
