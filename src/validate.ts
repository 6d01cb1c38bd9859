import type { Clock, RandomSource } from './clock.js';

/** How a received value is shown in a validation message. */
export function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'function') return 'a function';
  if (value === null) return 'null';
  if (typeof value === 'object') {
    try {
      return Array.isArray(value) ? 'an array' : 'an object';
    } catch {
      return 'an object'; // a revoked Proxy throws on any question
    }
  }
  if (typeof value === 'symbol') return value.toString();
  return String(value);
}

export function integer(name: string, value: unknown, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `in [${min}, ${max}]`;
  if (typeof value !== 'number')
    throw new TypeError(`${name} must be an integer ${range}, got ${show(value)}`);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`${name} must be an integer ${range}, got ${show(value)}`);
  }
  return value;
}

/** A duration in ms: finite, >= `min` and at most `max`. */
export function milliseconds(name: string, value: unknown, min = 0, max = Number.MAX_VALUE): number {
  const range = max === Number.MAX_VALUE ? `>= ${min}` : `in [${min}, ${max}]`;
  if (typeof value !== 'number')
    throw new TypeError(`${name} must be a number of ms ${range}, got ${show(value)}`);
  if (!Number.isFinite(value) || value < min || value > max) {
    throw new RangeError(`${name} must be a finite number of ms ${range}, got ${show(value)}`);
  }
  return value;
}

/** A finite number >= `min`. */
export function finite(name: string, value: unknown, min: number): number {
  if (typeof value !== 'number')
    throw new TypeError(`${name} must be a finite number >= ${min}, got ${show(value)}`);
  if (!Number.isFinite(value) || value < min) {
    throw new RangeError(`${name} must be a finite number >= ${min}, got ${show(value)}`);
  }
  return value;
}

/** A fraction in `[0, 1]`, or `(0, 1]` when `exclusiveZero`. */
export function ratio(name: string, value: unknown, exclusiveZero = false): number {
  const range = exclusiveZero ? '(0, 1]' : '[0, 1]';
  if (typeof value !== 'number')
    throw new TypeError(`${name} must be a number in ${range}, got ${show(value)}`);
  if (!(value <= 1 && (exclusiveZero ? value > 0 : value >= 0))) {
    throw new RangeError(`${name} must be a number in ${range}, got ${show(value)}`);
  }
  return value;
}

export function func<F extends Function>(name: string, value: unknown): F {
  if (typeof value !== 'function') throw new TypeError(`${name} must be a function, got ${show(value)}`);
  return value as F;
}

export function string(name: string, value: unknown): string {
  if (typeof value !== 'string' || value === '') {
    throw new TypeError(`${name} must be a non-empty string, got ${show(value)}`);
  }
  return value;
}

/**
 * An options object, copied: only its own enumerable properties, each read once, into an
 * object with no prototype. A polluted `Object.prototype` cannot lend an option, and a
 * getter cannot answer one value to validation and another to use.
 */
export function object(name: string, value: unknown): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || readable(name, () => Array.isArray(value))) {
    throw new TypeError(`${name} must be an object, got ${show(value)}`);
  }
  const copy: Record<string, unknown> = Object.create(null);
  let key = '';
  try {
    for (key of Object.keys(value)) copy[key] = (value as Record<string, unknown>)[key];
  } catch (error) {
    throw new TypeError(`${name}${key === '' ? '' : `.${key}`} could not be read`, { cause: error });
  }
  return copy;
}

/**
 * Runs `read` (a property read, an `instanceof`) on a value from outside, turning whatever a
 * hostile getter or Proxy throws into a TypeError that names the option.
 */
export function readable<T>(name: string, read: () => T): T {
  try {
    return read();
  } catch (error) {
    throw new TypeError(`${name} could not be read`, { cause: error });
  }
}

/** `value instanceof type`, for a value from outside (a Proxy's getPrototypeOf may throw). */
export function isInstance(
  name: string,
  value: unknown,
  type: abstract new (...args: never[]) => unknown,
): boolean {
  return typeof value === 'object' && value !== null && readable(name, () => value instanceof type);
}

/** Node fires a timer of more than 2^31 - 1 ms (about 24.8 days) after 1 ms: the longest wait a timer can take. */
export const MAX_TIMER = 2 ** 31 - 1;

/**
 * A limit in ms that may be `Infinity` (no limit); finite values must be >= `min` and at
 * most {@link MAX_TIMER}, the longest a timer can wait.
 */
export function msOrUnlimited(name: string, value: unknown, min = 0): number {
  if (typeof value !== 'number')
    throw new TypeError(`${name} must be a number of ms >= ${min} or Infinity, got ${show(value)}`);
  if (value === Number.POSITIVE_INFINITY) return value;
  if (!(value >= min && value <= MAX_TIMER)) {
    throw new RangeError(
      `${name} must be a number of ms in [${min}, ${MAX_TIMER}] or Infinity, got ${show(value)}`,
    );
  }
  return value;
}

/** A count that may be `Infinity` (no limit); finite values must be integers >= `min`. */
export function countOrUnlimited(name: string, value: unknown, min: number): number {
  if (typeof value !== 'number')
    throw new TypeError(`${name} must be an integer >= ${min} or Infinity, got ${show(value)}`);
  if (value === Number.POSITIVE_INFINITY) return value;
  if (!Number.isSafeInteger(value) || value < min) {
    throw new RangeError(`${name} must be an integer >= ${min} or Infinity, got ${show(value)}`);
  }
  return value;
}

export function clock(name: string, value: unknown): Clock {
  // Not copied: a clock is an object with behaviour (often a class instance), not options.
  if (typeof value !== 'object' || value === null)
    throw new TypeError(`${name} must be a Clock, got ${show(value)}`);
  const c = value as Partial<Clock>;
  const [now, setTimeout] = readable(name, () => [c.now, c.setTimeout]);
  if (typeof now !== 'function' || typeof setTimeout !== 'function') {
    throw new TypeError(`${name} must have now() and setTimeout(callback, ms), got ${show(value)}`);
  }
  return value as Clock;
}

export function random(name: string, value: unknown): RandomSource {
  return func<RandomSource>(name, value);
}

/** Rejects keys an options object does not know, so a misspelt option is an error, not a silent default. */
export function knownKeys(what: string, options: object, keys: readonly string[]): void {
  for (const key of Object.keys(options)) {
    if (!keys.includes(key)) {
      throw new TypeError(
        `${what}: unknown option ${JSON.stringify(key)}; known options are ${keys.join(', ')}`,
      );
    }
  }
}
