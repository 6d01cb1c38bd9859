import type { Clock, RandomSource } from './clock.js';

/** How a received value is shown in a validation message. */
export function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'function') return 'a function';
  if (Array.isArray(value)) return 'an array';
  if (value === null) return 'null';
  if (typeof value === 'object') return 'an object';
  return String(value);
}

export function integer(name: string, value: unknown, min: number): number {
  if (typeof value !== 'number')
    throw new TypeError(`${name} must be an integer >= ${min}, got ${show(value)}`);
  if (!Number.isInteger(value) || value < min) {
    throw new RangeError(`${name} must be an integer >= ${min}, got ${show(value)}`);
  }
  return value;
}

/** A duration in ms: finite and >= `min`. */
export function milliseconds(name: string, value: unknown, min = 0): number {
  if (typeof value !== 'number')
    throw new TypeError(`${name} must be a number of ms >= ${min}, got ${show(value)}`);
  if (!Number.isFinite(value) || value < min) {
    throw new RangeError(`${name} must be a finite number of ms >= ${min}, got ${show(value)}`);
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

export function object(name: string, value: unknown): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new TypeError(`${name} must be an object, got ${show(value)}`);
  }
  return value as Record<string, unknown>;
}

export function clock(name: string, value: unknown): Clock {
  const c = object(name, value);
  if (typeof c.now !== 'function' || typeof c.setTimeout !== 'function') {
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
