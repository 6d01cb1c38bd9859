import { describe, expect, it } from 'vitest';
import { CircuitBreaker } from '../../src/circuit-breaker/index.js';
import { type BrokenCircuitError, isBrokenCircuitError } from '../../src/errors.js';
import { fallback, pipeline, retry } from '../../src/index.js';
import { ManualClock } from '../../src/testing/index.js';

const boom = new Error('boom');

describe('a disabled breaker', () => {
  it('runs every call and emits no succeeded, failed or ignored event, so nothing is counted as its outcome', async () => {
    const breaker = new CircuitBreaker({ clock: new ManualClock(), failureThreshold: 1 });
    const events: string[] = [];
    for (const event of ['succeeded', 'failed', 'ignored', 'rejected'] as const) {
      breaker.on(event, () => events.push(event));
    }
    breaker.disable();
    await expect(breaker.execute(() => 'ok')).resolves.toBe('ok');
    await expect(breaker.execute(() => Promise.reject(boom))).rejects.toBe(boom);
    await expect(
      breaker.execute(() => {
        throw boom;
      }),
    ).rejects.toBe(boom);
    expect(events).toEqual([]);
    expect(breaker.state).toBe('disabled');
    breaker.reset();
    await expect(breaker.execute(() => Promise.reject(boom))).rejects.toBe(boom);
    expect(events).toEqual(['failed']);
    expect(breaker.state).toBe('open');
  });
});

describe('execute with something that is not a function', () => {
  it.each([undefined, null, 1, 'fn', {}, Promise.resolve(1)])(
    'execute(%s) rejects with a named TypeError and is not counted',
    async (value) => {
      const breaker = new CircuitBreaker({ clock: new ManualClock(), failureThreshold: 1 });
      const failed: unknown[] = [];
      breaker.on('failed', (e) => failed.push(e));
      const error = await breaker.execute(value as never).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(TypeError);
      expect((error as Error).message).toMatch(/^execute: fn must be a function, got /);
      expect(failed).toEqual([]);
      expect(breaker.state).toBe('closed');
    },
  );

  it('is neither retried nor fallen back from in a pipeline', async () => {
    const breaker = new CircuitBreaker({ clock: new ManualClock(), failureThreshold: 1 });
    const policy = pipeline(
      fallback(() => 'fallback'),
      retry({ retries: 3 }),
      breaker,
    );
    const error = await policy.execute(undefined as never).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TypeError);
    expect(breaker.state).toBe('closed');
  });
});

describe('a probe whose result is hostile', () => {
  /** A real promise whose `constructor` getter throws: Promise.resolve() throws synchronously on it. */
  function hostilePromise(): Promise<string> {
    const p = Promise.resolve('x');
    Object.defineProperty(p, 'constructor', {
      get() {
        throw new Error('hostile constructor');
      },
    });
    return p;
  }

  /** A thenable whose `then` getter throws. */
  function hostileThenable(): PromiseLike<string> {
    return Object.defineProperty({}, 'then', {
      get() {
        throw new Error('hostile then');
      },
    }) as PromiseLike<string>;
  }

  it.each([
    ['a promise with a throwing constructor getter', hostilePromise, {}],
    ['a thenable with a throwing then getter', hostileThenable, {}],
    [
      'a promise with a throwing constructor getter (timed call)',
      hostilePromise,
      { signal: new AbortController().signal },
    ],
    [
      'a thenable with a throwing then getter (timed call)',
      hostileThenable,
      { signal: new AbortController().signal },
    ],
  ])('%s rejects, never throws, reopens the circuit and frees the probe slot', async (_, make, options) => {
    const clock = new ManualClock();
    const breaker = new CircuitBreaker({ clock, failureThreshold: 1, openTimeout: 10 });
    await breaker.execute(() => Promise.reject(boom)).catch(() => {});
    clock.advance(10);
    let result: Promise<unknown> | undefined;
    expect(() => {
      result = breaker.execute(make as () => Promise<string>, options);
    }).not.toThrow();
    await expect(result).rejects.toThrow(/hostile/);
    expect(breaker.state).toBe('open');
    clock.advance(10);
    await expect(breaker.execute(() => 'up')).resolves.toBe('up');
    expect(breaker.state).toBe('closed');
  });
});

describe('snapshots from outside', () => {
  it.each([1e308, Date.now() + 100 * 365 * 86_400_000])(
    'an openUntil of %d is clamped to now + openTimeout',
    (openUntil) => {
      const clock = new ManualClock(1_000);
      const breaker = new CircuitBreaker({
        clock,
        openTimeout: 5_000,
        initialState: { version: 1, state: 'open', openUntil, consecutiveOpens: 1 },
      });
      expect(breaker.retryAfter).toBe(5_000);
      expect(breaker.snapshot().openUntil).toBe(6_000);
    },
  );

  it('with a function openTimeout, openUntil is clamped to the longest timeout a breaker can set (2^31 - 1 ms)', () => {
    const breaker = new CircuitBreaker({
      clock: new ManualClock(0),
      openTimeout: (n) => n * 1_000,
      initialState: { version: 1, state: 'open', openUntil: 1e308, consecutiveOpens: 1 },
    });
    expect(breaker.retryAfter).toBe(2 ** 31 - 1);
  });

  it('an openUntil within the timeout is kept', () => {
    const breaker = new CircuitBreaker({
      clock: new ManualClock(1_000),
      openTimeout: 5_000,
      initialState: { version: 1, state: 'open', openUntil: 3_000, consecutiveOpens: 1 },
    });
    expect(breaker.retryAfter).toBe(2_000);
  });
});

describe('a polluted Object.prototype', () => {
  const polluted = [
    'initialState',
    'failureThreshold',
    'clock',
    'version',
    'state',
    'openUntil',
    'consecutiveOpens',
  ];

  function pollute(): void {
    const proto = Object.prototype as Record<string, unknown>;
    proto.initialState = { version: 1, state: 'isolated', openUntil: null, consecutiveOpens: 0 };
    proto.failureThreshold = 'x';
    proto.clock = 'x';
  }

  function clean(): void {
    for (const key of polluted) delete (Object.prototype as Record<string, unknown>)[key];
  }

  it('lends no option to new CircuitBreaker({ name })', async () => {
    pollute();
    try {
      const breaker = new CircuitBreaker({ name: 'orders' });
      expect(breaker.state).toBe('closed');
      await expect(breaker.execute(() => 1)).resolves.toBe(1);
    } finally {
      clean();
    }
  });

  it('lends no field to a snapshot', () => {
    const proto = Object.prototype as Record<string, unknown>;
    proto.state = 'isolated';
    proto.version = 1;
    proto.openUntil = null;
    proto.consecutiveOpens = 0;
    try {
      expect(() => new CircuitBreaker({ initialState: {} as never })).toThrow(
        new TypeError('initialState.version must be 1, got undefined'),
      );
    } finally {
      clean();
    }
  });
});

describe('rejections', () => {
  it('while half-open with every probe slot taken say so, with retryAfter 0', async () => {
    const clock = new ManualClock();
    const breaker = new CircuitBreaker({ name: 'db', clock, failureThreshold: 1, openTimeout: 10 });
    await breaker.execute(() => Promise.reject(boom)).catch(() => {});
    expect(((await breaker.execute(() => 1).catch((e: unknown) => e)) as Error).message).toBe(
      'Circuit "db" is open; retry after 10 ms',
    );
    clock.advance(10);
    const probe = breaker.execute(() => new Promise(() => {}));
    const error = await breaker.execute(() => 1).catch((e: unknown) => e);
    expect(isBrokenCircuitError(error)).toBe(true);
    expect((error as BrokenCircuitError).retryAfter).toBe(0);
    expect((error as Error).message).toBe('Circuit "db" is half-open and every probe slot is taken');
    expect((error as Error).cause).toBe(boom);
    void probe;
  });
});

describe('window bounds', () => {
  it('a time window of 100,000 buckets is refused at construction (it would count past 2^53 on an epoch clock)', () => {
    expect(
      () =>
        new CircuitBreaker({
          failureRateThreshold: 0.5,
          window: { type: 'time', duration: 1, buckets: 100_000 },
        }),
    ).toThrow(RangeError);
  });

  it('buckets shorter than 1 ms are refused', () => {
    expect(
      () =>
        new CircuitBreaker({
          failureRateThreshold: 0.5,
          window: { type: 'time', duration: 500, buckets: 1_000 },
        }),
    ).toThrow(new RangeError('window.buckets must be <= window.duration (500 ms), got 1000'));
  });

  it('a count window of 2^32 calls is refused; one of 1,000,000 is accepted', () => {
    expect(
      () => new CircuitBreaker({ failureRateThreshold: 0.5, window: { type: 'count', size: 2 ** 32 } }),
    ).toThrow(new RangeError('window.size must be an integer in [1, 1000000], got 4294967296'));
    expect(
      () => new CircuitBreaker({ failureRateThreshold: 0.5, window: { type: 'count', size: 1_000_000 } }),
    ).not.toThrow();
  });

  it('the largest time window still counts and ages out calls on an epoch clock', async () => {
    const clock = new ManualClock(Date.now());
    const breaker = new CircuitBreaker({
      clock,
      failureRateThreshold: 0.5,
      minimumCalls: 2,
      window: { type: 'time', duration: 1_000, buckets: 1_000 },
    });
    await breaker.execute(() => Promise.reject(boom)).catch(() => {});
    clock.advance(1_000); // the failure has aged out
    await breaker.execute(() => Promise.reject(boom)).catch(() => {});
    expect(breaker.state).toBe('closed');
    await breaker.execute(() => Promise.reject(boom)).catch(() => {});
    expect(breaker.state).toBe('open');
  });
});
