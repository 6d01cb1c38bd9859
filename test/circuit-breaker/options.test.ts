import { describe, expect, it } from 'vitest';
import { CircuitBreaker, type CircuitBreakerOptions } from '../../src/circuit-breaker/index.js';
import { flushPromises, ManualClock } from '../../src/testing/index.js';
import { captureWarnings } from '../helpers/warnings.js';

type ErrorClass = typeof TypeError | typeof RangeError;

/** Builds a breaker from options that are not type-correct on purpose. */
function construct(options: unknown): CircuitBreaker {
  return new CircuitBreaker(options as CircuitBreakerOptions);
}

function thrown(options: unknown): unknown {
  try {
    construct(options);
  } catch (error) {
    return error;
  }
  return undefined;
}

const rate = { failureRateThreshold: 0.5 };
const slow = { slowCallRateThreshold: 0.5 };

describe('option validation', () => {
  const cases: [string, unknown, ErrorClass, string][] = [
    // name
    ['an empty name', { name: '' }, TypeError, 'name must be a non-empty string, got ""'],
    ['a numeric name', { name: 5 }, TypeError, 'name must be a non-empty string, got 5'],
    ['a null name', { name: null }, TypeError, 'name must be a non-empty string, got null'],
    // failureThreshold
    [
      'failureThreshold 0',
      { failureThreshold: 0 },
      RangeError,
      'failureThreshold must be an integer >= 1, got 0',
    ],
    [
      'failureThreshold -1',
      { failureThreshold: -1 },
      RangeError,
      'failureThreshold must be an integer >= 1, got -1',
    ],
    [
      'failureThreshold 1.5',
      { failureThreshold: 1.5 },
      RangeError,
      'failureThreshold must be an integer >= 1, got 1.5',
    ],
    [
      'failureThreshold NaN',
      { failureThreshold: Number.NaN },
      RangeError,
      'failureThreshold must be an integer >= 1, got NaN',
    ],
    [
      'failureThreshold Infinity',
      { failureThreshold: Number.POSITIVE_INFINITY },
      RangeError,
      'failureThreshold must be an integer >= 1, got Infinity',
    ],
    [
      'failureThreshold "5"',
      { failureThreshold: '5' },
      TypeError,
      'failureThreshold must be an integer >= 1, got "5"',
    ],
    [
      'failureThreshold null',
      { failureThreshold: null },
      TypeError,
      'failureThreshold must be an integer >= 1, got null',
    ],
    // successThreshold
    [
      'successThreshold 0',
      { successThreshold: 0 },
      RangeError,
      'successThreshold must be an integer >= 1, got 0',
    ],
    [
      'successThreshold 2.5',
      { successThreshold: 2.5 },
      RangeError,
      'successThreshold must be an integer >= 1, got 2.5',
    ],
    [
      'successThreshold true',
      { successThreshold: true },
      TypeError,
      'successThreshold must be an integer >= 1, got true',
    ],
    // halfOpenMaxCalls
    [
      'halfOpenMaxCalls 0',
      { halfOpenMaxCalls: 0 },
      RangeError,
      'halfOpenMaxCalls must be an integer >= 1, got 0',
    ],
    [
      'halfOpenMaxCalls an object',
      { halfOpenMaxCalls: {} },
      TypeError,
      'halfOpenMaxCalls must be an integer >= 1, got an object',
    ],
    // openTimeout
    [
      'openTimeout -1',
      { openTimeout: -1 },
      RangeError,
      'openTimeout must be a finite number of ms in [0, 2147483647], got -1',
    ],
    [
      'openTimeout Infinity',
      { openTimeout: Number.POSITIVE_INFINITY },
      RangeError,
      'openTimeout must be a finite number of ms in [0, 2147483647], got Infinity',
    ],
    [
      'openTimeout NaN',
      { openTimeout: Number.NaN },
      RangeError,
      'openTimeout must be a finite number of ms in [0, 2147483647], got NaN',
    ],
    [
      'openTimeout "1000"',
      { openTimeout: '1000' },
      TypeError,
      'openTimeout must be a number of ms in [0, 2147483647], got "1000"',
    ],
    [
      'openTimeout null',
      { openTimeout: null },
      TypeError,
      'openTimeout must be a number of ms in [0, 2147483647], got null',
    ],
    // isFailure
    ['isFailure a string', { isFailure: 'yes' }, TypeError, 'isFailure must be a function, got "yes"'],
    ['isFailure null', { isFailure: null }, TypeError, 'isFailure must be a function, got null'],
    // failureRateThreshold
    [
      'failureRateThreshold 0',
      { failureRateThreshold: 0 },
      RangeError,
      'failureRateThreshold must be a number in (0, 1], got 0',
    ],
    [
      'failureRateThreshold 1.5',
      { failureRateThreshold: 1.5 },
      RangeError,
      'failureRateThreshold must be a number in (0, 1], got 1.5',
    ],
    [
      'failureRateThreshold -0.5',
      { failureRateThreshold: -0.5 },
      RangeError,
      'failureRateThreshold must be a number in (0, 1], got -0.5',
    ],
    [
      'failureRateThreshold NaN',
      { failureRateThreshold: Number.NaN },
      RangeError,
      'failureRateThreshold must be a number in (0, 1], got NaN',
    ],
    [
      'failureRateThreshold "50%"',
      { failureRateThreshold: '50%' },
      TypeError,
      'failureRateThreshold must be a number in (0, 1], got "50%"',
    ],
    // slowCallRateThreshold / slowCallDuration
    [
      'slowCallRateThreshold 0',
      { slowCallDuration: 100, slowCallRateThreshold: 0 },
      RangeError,
      'slowCallRateThreshold must be a number in (0, 1], got 0',
    ],
    [
      'slowCallRateThreshold 2',
      { slowCallDuration: 100, slowCallRateThreshold: 2 },
      RangeError,
      'slowCallRateThreshold must be a number in (0, 1], got 2',
    ],
    [
      'slowCallDuration -1',
      { slowCallDuration: -1, ...slow },
      RangeError,
      'slowCallDuration must be a finite number of ms >= 0, got -1',
    ],
    [
      'slowCallDuration Infinity',
      { slowCallDuration: Number.POSITIVE_INFINITY, ...slow },
      RangeError,
      'slowCallDuration must be a finite number of ms >= 0, got Infinity',
    ],
    [
      'slowCallDuration "1s"',
      { slowCallDuration: '1s', ...slow },
      TypeError,
      'slowCallDuration must be a number of ms >= 0, got "1s"',
    ],
    [
      'slowCallDuration without slowCallRateThreshold',
      { slowCallDuration: 100 },
      TypeError,
      'slowCallDuration and slowCallRateThreshold go together, got slowCallDuration 100 and slowCallRateThreshold undefined',
    ],
    [
      'slowCallRateThreshold without slowCallDuration',
      { slowCallRateThreshold: 0.5 },
      TypeError,
      'slowCallDuration and slowCallRateThreshold go together, got slowCallDuration undefined and slowCallRateThreshold 0.5',
    ],
    // window
    [
      'a window without rate mode',
      { window: { type: 'count', size: 10 } },
      TypeError,
      'window needs failureRateThreshold or slowCallRateThreshold, got window an object without either',
    ],
    [
      'minimumCalls without rate mode',
      { minimumCalls: 5 },
      TypeError,
      'minimumCalls needs failureRateThreshold or slowCallRateThreshold, got minimumCalls 5 without either',
    ],
    ['a string window', { ...rate, window: 'count' }, TypeError, 'window must be an object, got "count"'],
    ['a null window', { ...rate, window: null }, TypeError, 'window must be an object, got null'],
    ['an array window', { ...rate, window: [] }, TypeError, 'window must be an object, got an array'],
    [
      'an unknown window type',
      { ...rate, window: { type: 'sliding', size: 10 } },
      TypeError,
      'window.type must be "count" or "time", got "sliding"',
    ],
    [
      'a window without type',
      { ...rate, window: { size: 10 } },
      TypeError,
      'window.type must be "count" or "time", got undefined',
    ],
    [
      'window.size 0',
      { ...rate, window: { type: 'count', size: 0 } },
      RangeError,
      'window.size must be an integer in [1, 1000000], got 0',
    ],
    [
      'window.size 2.5',
      { ...rate, window: { type: 'count', size: 2.5 } },
      RangeError,
      'window.size must be an integer in [1, 1000000], got 2.5',
    ],
    [
      'a count window without size',
      { ...rate, window: { type: 'count' } },
      TypeError,
      'window.size must be an integer in [1, 1000000], got undefined',
    ],
    [
      'window.duration 0',
      { ...rate, window: { type: 'time', duration: 0 } },
      RangeError,
      'window.duration must be a finite number of ms in [1, 2147483647], got 0',
    ],
    [
      'window.duration Infinity',
      { ...rate, window: { type: 'time', duration: Number.POSITIVE_INFINITY } },
      RangeError,
      'window.duration must be a finite number of ms in [1, 2147483647], got Infinity',
    ],
    [
      'a time window without duration',
      { ...rate, window: { type: 'time' } },
      TypeError,
      'window.duration must be a number of ms in [1, 2147483647], got undefined',
    ],
    [
      'window.buckets 0',
      { ...rate, window: { type: 'time', duration: 1_000, buckets: 0 } },
      RangeError,
      'window.buckets must be an integer in [1, 1000], got 0',
    ],
    [
      'window.buckets 1.5',
      { ...rate, window: { type: 'time', duration: 1_000, buckets: 1.5 } },
      RangeError,
      'window.buckets must be an integer in [1, 1000], got 1.5',
    ],
    // minimumCalls
    [
      'minimumCalls 0',
      { ...rate, minimumCalls: 0 },
      RangeError,
      'minimumCalls must be an integer >= 1, got 0',
    ],
    [
      'minimumCalls "10"',
      { ...rate, minimumCalls: '10' },
      TypeError,
      'minimumCalls must be an integer >= 1, got "10"',
    ],
    [
      'minimumCalls above the size of a count window',
      { ...rate, minimumCalls: 20, window: { type: 'count', size: 10 } },
      RangeError,
      'minimumCalls must be <= window.size (10), got 20',
    ],
    // clock
    ['a string clock', { clock: 'system' }, TypeError, 'clock must be a Clock, got "system"'],
    [
      'a clock without setTimeout',
      { clock: { now: () => 0 } },
      TypeError,
      'clock must have now() and setTimeout(callback, ms), got an object',
    ],
    ['a null clock', { clock: null }, TypeError, 'clock must be a Clock, got null'],
    // the options object itself
    ['null options', null, TypeError, 'options must be an object, got null'],
    ['numeric options', 5, TypeError, 'options must be an object, got 5'],
    ['array options', [], TypeError, 'options must be an object, got an array'],
  ];

  it.each(cases)('rejects %s', (_, options, errorClass, message) => {
    const error = thrown(options);
    expect(error).toBeInstanceOf(errorClass);
    expect((error as Error).message).toBe(message);
  });

  it('rejects unknown option names, naming the option', () => {
    const error = thrown({ failureTreshold: 3 });
    expect(error).toBeInstanceOf(TypeError);
    expect((error as Error).message).toMatch(
      /^CircuitBreaker: unknown option "failureTreshold"; known options are /,
    );
    expect((error as Error).message).toContain('failureThreshold');
  });

  it('rejects a "__proto__" key in options parsed from JSON', () => {
    const options = JSON.parse('{"__proto__": {"failureThreshold": 1}}') as unknown;
    const error = thrown(options);
    expect(error).toBeInstanceOf(TypeError);
    expect((error as Error).message).toContain('unknown option "__proto__"');
    expect(({} as Record<string, unknown>).failureThreshold).toBeUndefined();
  });

  it('rejects unknown keys inside window', () => {
    const count = thrown({ ...rate, window: { type: 'count', size: 10, duration: 5 } });
    expect(count).toBeInstanceOf(TypeError);
    expect((count as Error).message).toMatch(/^window: unknown option "duration"/);
    const time = thrown({ ...rate, window: { type: 'time', duration: 1_000, size: 5 } });
    expect(time).toBeInstanceOf(TypeError);
    expect((time as Error).message).toMatch(/^window: unknown option "size"/);
  });

  it('accepts every option at once, and no options at all', () => {
    expect(() => new CircuitBreaker()).not.toThrow();
    expect(() => new CircuitBreaker({})).not.toThrow();
    expect(
      () =>
        new CircuitBreaker({
          name: 'all',
          failureThreshold: 3,
          successThreshold: 2,
          openTimeout: (opens) => opens * 1_000,
          halfOpenMaxCalls: 2,
          isFailure: () => true,
          failureRateThreshold: 1,
          window: { type: 'time', duration: 10_000, buckets: 10 },
          minimumCalls: 1,
          slowCallDuration: 0,
          slowCallRateThreshold: 1,
          initialState: { version: 1, state: 'closed', openUntil: null, consecutiveOpens: 0 },
          clock: new ManualClock(),
        }),
    ).not.toThrow();
  });

  it('accepts the boundary values', () => {
    expect(() => construct({ failureThreshold: 1, successThreshold: 1, halfOpenMaxCalls: 1 })).not.toThrow();
    expect(() => construct({ openTimeout: 0 })).not.toThrow();
    expect(() => construct({ failureRateThreshold: 1 })).not.toThrow();
    expect(() => construct({ failureRateThreshold: Number.MIN_VALUE })).not.toThrow();
    expect(() => construct({ ...rate, minimumCalls: 10, window: { type: 'count', size: 10 } })).not.toThrow();
    expect(() => construct({ ...rate, window: { type: 'time', duration: 1, buckets: 1 } })).not.toThrow();
    expect(() => construct({ slowCallDuration: 0, slowCallRateThreshold: 1 })).not.toThrow();
  });

  it('treats an explicit undefined as not given', () => {
    expect(() =>
      construct({ name: undefined, failureThreshold: undefined, window: undefined }),
    ).not.toThrow();
  });

  it('does not change the options object it was given', () => {
    const options = { failureRateThreshold: 0.5, window: { type: 'count' as const, size: 4 } };
    const copy = structuredClone(options);
    construct(options);
    expect(options).toEqual(copy);
  });
});

describe('openTimeout function results', () => {
  it.each([
    [-5, '-5'],
    [Number.NaN, 'NaN'],
    [Number.POSITIVE_INFINITY, 'Infinity'],
    ['30000', '"30000"'],
    [2 ** 31, String(2 ** 31)],
  ])(
    "a function returning %s still opens the circuit, for 30 s, keeps the call's error, and warns",
    async (value, shown) => {
      const warnings = captureWarnings();
      const boom = new Error('boom');
      const clock = new ManualClock();
      const breaker = new CircuitBreaker({ clock, failureThreshold: 1, openTimeout: () => value as number });
      await expect(breaker.execute(() => Promise.reject(boom))).rejects.toBe(boom);
      expect(breaker.state).toBe('open');
      expect(breaker.retryAfter).toBe(30_000);
      expect(breaker.snapshot().openUntil).toBe(30_000);
      await flushPromises();
      expect(warnings.map((w) => w.message)).toEqual([
        `openTimeout(1) must return a number of ms in [0, 2147483647], got ${shown}; opened for 30000 ms`,
      ]);
      warnings.stop();
    },
  );

  it('a function that throws still opens the circuit, for its last good answer, with the throw as the warning cause', async () => {
    const warnings = captureWarnings();
    const oops = new Error('oops');
    const clock = new ManualClock();
    const breaker = new CircuitBreaker({
      clock,
      failureThreshold: 1,
      openTimeout: (opens) => {
        if (opens === 2) throw oops;
        return 500;
      },
    });
    const boom = new Error('boom');
    await expect(breaker.execute(() => Promise.reject(boom))).rejects.toBe(boom);
    expect(breaker.retryAfter).toBe(500);
    clock.advance(500);
    await expect(breaker.execute(() => Promise.reject(boom))).rejects.toBe(boom); // the probe fails
    expect(breaker.state).toBe('open');
    expect(breaker.retryAfter).toBe(500);
    await flushPromises();
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.cause).toBe(oops);
    warnings.stop();
  });

  it('a snapshot of a circuit opened by a bad answer is one the breaker restores', async () => {
    const warnings = captureWarnings();
    const clock = new ManualClock();
    const breaker = new CircuitBreaker({ clock, failureThreshold: 1, openTimeout: () => '30000' as never });
    await breaker.execute(() => Promise.reject(new Error('x'))).catch(() => {});
    const restored = new CircuitBreaker({ clock, initialState: breaker.snapshot() });
    expect(restored.state).toBe('open');
    expect(restored.retryAfter).toBe(30_000);
    await flushPromises();
    warnings.stop();
  });
});
