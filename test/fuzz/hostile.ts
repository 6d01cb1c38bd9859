/**
 * Hostile values for the fuzz suite (test/property/fuzz.property.test.ts): wrong types, NaN,
 * ±Infinity, huge and negative numbers, getters and Proxies that throw, objects with an own
 * `__proto__` key. Each is made afresh for every use and prints as its label in a counterexample.
 */
import { getEventListeners } from 'node:events';
import fc from 'fast-check';
import { ManualClock } from '../../src/testing/index.js';

/** Whether an API must accept a value (`valid`), must refuse it (`invalid`), or may do either. */
export type Verdict = 'valid' | 'invalid' | 'either';

/** What kind of thing a hostile value is, beyond what `typeof` tells. */
export type Special =
  | 'plain'
  | 'throwing-proxy'
  | 'revoked-proxy'
  | 'throwing-getters'
  | 'throwing-toPrimitive'
  | 'proto-key'
  | 'exotic-object'
  | 'fake-signal';

export interface Hostile {
  readonly label: string;
  readonly special: Special;
  make(): unknown;
}

export function hostile(label: string, make: () => unknown, special: Special = 'plain'): Hostile {
  return { label, special, make, [fc.toStringMethod]: () => label } as Hostile;
}

const trap = (name: string) => () => {
  throw new Error(`hostile proxy: ${name} trap`);
};

/** A Proxy every trap of which throws a plain Error. */
export function throwingProxy<T extends object>(target: T): T {
  return new Proxy(target, {
    get: trap('get'),
    set: trap('set'),
    has: trap('has'),
    ownKeys: trap('ownKeys'),
    getOwnPropertyDescriptor: trap('getOwnPropertyDescriptor'),
    getPrototypeOf: trap('getPrototypeOf'),
    defineProperty: trap('defineProperty'),
    deleteProperty: trap('deleteProperty'),
    apply: trap('apply'),
  });
}

export function revokedProxy(): object {
  const { proxy, revoke } = Proxy.revocable({}, {});
  revoke();
  return proxy;
}

/** An object whose own enumerable `keys` are getters that throw a plain Error. */
export function throwingGetters(keys: readonly string[]): object {
  const value = {};
  for (const key of keys) {
    Object.defineProperty(value, key, {
      enumerable: true,
      get() {
        throw new Error(`hostile getter: ${key}`);
      },
    });
  }
  return value;
}

/**
 * An object with an own `__proto__` key holding `inner`, as `JSON.parse` makes from untrusted
 * input, and `rest`'s own keys besides. Its prototype is still Object.prototype.
 */
export function protoKey(inner: Record<string, unknown> = { polluted: true }, rest: object = {}): object {
  const value = JSON.parse(`{"__proto__":${JSON.stringify(inner)}}`) as Record<string, unknown>;
  for (const [key, field] of Object.entries(rest)) value[key] = field;
  return value;
}

const NUMBERS: ReadonlyArray<[string, number]> = [
  ['NaN', Number.NaN],
  ['Infinity', Number.POSITIVE_INFINITY],
  ['-Infinity', Number.NEGATIVE_INFINITY],
  ['0', 0],
  ['-0', -0],
  ['1', 1],
  ['-1', -1],
  ['0.5', 0.5],
  ['1.5', 1.5],
  ['2', 2],
  ['10', 10],
  ['1000', 1000],
  ['1e6 + 1', 1_000_001],
  ['2^31 - 1', 2 ** 31 - 1],
  ['2^31', 2 ** 31],
  ['2^53 + 2', 2 ** 53 + 2],
  ['Number.MAX_VALUE', Number.MAX_VALUE],
  ['-Number.MAX_VALUE', -Number.MAX_VALUE],
  ['Number.MIN_VALUE', Number.MIN_VALUE],
];

/**
 * Kinds of hostile value to leave out, for triage: `FUZZ_EXCLUDE=throwing-proxy,revoked-proxy`
 * shows what fails besides Proxies (each property stops at its first counterexample).
 */
export const EXCLUDED: ReadonlySet<string> = new Set(
  (process.env.FUZZ_EXCLUDE ?? '').split(',').filter((s) => s !== ''),
);

/** Every fixed hostile value; fast-check runs each as an example before its random ones. */
export const FIXED: readonly Hostile[] = (<Hostile[]>[
  hostile('undefined', () => undefined),
  hostile('null', () => null),
  ...NUMBERS.map(([label, n]) => hostile(label, () => n)),
  hostile('""', () => ''),
  hostile('"x"', () => 'x'),
  hostile('"5"', () => '5'),
  hostile('"__proto__"', () => '__proto__'),
  hostile('true', () => true),
  hostile('false', () => false),
  hostile('5n', () => 5n),
  hostile('Symbol("s")', () => Symbol('s')),
  hostile('[]', () => []),
  hostile('[1]', () => [1]),
  hostile('{}', () => ({})),
  hostile('Object.create(null)', () => Object.create(null)),
  hostile('() => {}', () => () => {}),
  hostile('class {}', () => class {}),
  hostile('new Number(5)', () => new Number(5), 'exotic-object'),
  hostile('new Date(0)', () => new Date(0), 'exotic-object'),
  hostile('new Map()', () => new Map(), 'exotic-object'),
  hostile('new Error("e")', () => new Error('e'), 'exotic-object'),
  hostile('Promise.resolve(1)', () => Promise.resolve(1), 'exotic-object'),
  hostile('throwing Proxy', () => throwingProxy({}), 'throwing-proxy'),
  hostile('throwing Proxy of a function', () => throwingProxy(() => {}), 'throwing-proxy'),
  hostile('revoked Proxy', revokedProxy, 'revoked-proxy'),
  hostile(
    '{ [Symbol.toPrimitive]() { throw } }',
    () => ({
      [Symbol.toPrimitive]() {
        throw new Error('hostile toPrimitive');
      },
    }),
    'throwing-toPrimitive',
  ),
  hostile(
    '{ get now() { throw }, get setTimeout() { throw } }',
    () => throwingGetters(['now', 'setTimeout']),
    'throwing-getters',
  ),
  hostile('JSON.parse(\'{"__proto__":{"polluted":true}}\')', () => protoKey(), 'proto-key'),
  hostile('new AbortController().signal', () => new AbortController().signal, 'exotic-object'),
  hostile('AbortSignal.abort()', () => AbortSignal.abort(), 'exotic-object'),
  hostile(
    'fake signal { aborted: false, addEventListener() {} }',
    () => ({ aborted: false, reason: undefined, addEventListener() {}, removeEventListener() {} }),
    'fake-signal',
  ),
]).filter((h) => !EXCLUDED.has(h.special));

/** The fixed values, and random numbers and strings. */
export const anyHostile: fc.Arbitrary<Hostile> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...FIXED) },
  { weight: 2, arbitrary: fc.double().map((n) => hostile(String(Object.is(n, -0) ? '-0' : n), () => n)) },
  { weight: 1, arbitrary: fc.integer().map((n) => hostile(String(n), () => n)) },
  { weight: 1, arbitrary: fc.string({ maxLength: 8 }).map((s) => hostile(JSON.stringify(s), () => s)) },
);

/**
 * `fc.assert` parameters: every fixed value first, then `random` random ones (fast-check
 * counts the examples in `numRuns`).
 */
export function params(random = 30): fc.Parameters<[Hostile]> {
  return {
    numRuns: FIXED.length + random,
    examples: FIXED.map((h) => [h] as [Hostile]),
    endOnFailure: true,
    includeErrorInReport: true,
  };
}

// --- domains --------------------------------------------------------------------------------

export const MAX_TIMER = 2 ** 31 - 1;

export const isNumber = (v: unknown): v is number => typeof v === 'number';
export const intAtLeast =
  (min: number, max = Number.MAX_SAFE_INTEGER) =>
  (v: unknown) =>
    Number.isSafeInteger(v) && (v as number) >= min && (v as number) <= max;
export const inRange = (min: number, max: number) => (v: unknown) => isNumber(v) && v >= min && v <= max;
export const isInfinity = (v: unknown) => v === Number.POSITIVE_INFINITY;
export const isFunction = (v: unknown) => typeof v === 'function';
export const nonEmptyString = (v: unknown) => typeof v === 'string' && v !== '';
export const never = () => false;
export const always = () => true;

/**
 * The verdict for a value: `valid` where `valid` holds, `either` where `either` holds, else
 * `invalid`. A predicate that throws (a Proxy's trap) means `invalid`.
 */
export function domain(valid: (v: unknown) => boolean, either: (v: unknown) => boolean = never) {
  return (_h: Hostile, value: unknown): Verdict => {
    try {
      if (valid(value)) return 'valid';
      if (either(value)) return 'either';
    } catch {
      // a hostile value that cannot even be classified
    }
    return 'invalid';
  };
}

// --- outcomes -------------------------------------------------------------------------------

export type Outcome<T> = { ok: true; value: T } | { ok: false; error: unknown };

export function attempt<T>(f: () => T): Outcome<T> {
  try {
    return { ok: true, value: f() };
  } catch (error) {
    return { ok: false, error };
  }
}

export type Settled<T> =
  | { status: 'resolved'; value: T }
  | { status: 'rejected'; error: unknown }
  | { status: 'hang' };

/** Waits for `promise` at most `ms` of real time. */
export async function within<T>(promise: PromiseLike<T>, ms = 1_000): Promise<Settled<T>> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<Settled<T>>((resolve) => {
    timer = setTimeout(() => resolve({ status: 'hang' }), ms);
  });
  try {
    return await Promise.race([
      Promise.resolve(promise).then(
        (value): Settled<T> => ({ status: 'resolved', value }),
        (error): Settled<T> => ({ status: 'rejected', error }),
      ),
      hang,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Whether `message` names one of `names` as a word (`window` in `window.size must be…`). */
export function names(message: string, candidates: readonly string[]): boolean {
  return candidates.some((name) =>
    new RegExp(`(^|[^A-Za-z0-9_$])${escapeRegExp(name)}($|[^A-Za-z0-9_$])`).test(message),
  );
}

/** Describes an error for an assertion message, without trusting it. */
export function describeError(error: unknown): string {
  try {
    if (error instanceof Error) return `${error.constructor.name}: ${error.message}`;
    return `non-Error thrown: ${typeof error}`;
  } catch {
    return 'an unprintable error';
  }
}

/**
 * Undefined when `error` is a TypeError or RangeError whose message names one of `candidates`;
 * otherwise what is wrong with it.
 */
export function badError(error: unknown, candidates: readonly string[]): string | undefined {
  if (!(error instanceof TypeError || error instanceof RangeError)) {
    return `expected a TypeError or RangeError naming ${candidates.join(' or ')}, got ${describeError(error)}`;
  }
  if (!names(error.message, candidates)) {
    return `expected the message to name ${candidates.join(' or ')}, got ${describeError(error)}`;
  }
  return undefined;
}

// --- leaks ----------------------------------------------------------------------------------

/** A ManualClock that counts what is asked of it. */
export class SpyClock extends ManualClock {
  nowCalls = 0;
  setTimeoutCalls = 0;

  override now(): number {
    this.nowCalls++;
    return super.now();
  }

  override setTimeout(callback: () => void, ms: number) {
    this.setTimeoutCalls++;
    return super.setTimeout(callback, ms);
  }
}

/** Listeners on `process`, by event: a constructor that throws must leave this unchanged. */
export function processListeners(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const event of process.eventNames()) counts[String(event)] = process.listenerCount(event);
  return counts;
}

export function abortListeners(signal: AbortSignal): number {
  return getEventListeners(signal, 'abort').length;
}
