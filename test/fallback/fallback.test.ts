import { describe, expect, it, vi } from 'vitest';
import {
  type ExecuteContext,
  type FallbackPolicy,
  type FellBackEvent,
  fallback,
  isListenerError,
  type ListenerError,
  pipeline,
  timeout,
} from '../../src/index.js';
import { flushPromises, ManualClock } from '../../src/testing/index.js';
import { track } from '../helpers/promises.js';
import { captureWarnings } from '../helpers/warnings.js';

function recordFellBack(policy: FallbackPolicy<unknown>) {
  const events: FellBackEvent[] = [];
  policy.on('fellBack', (e) => events.push(e));
  return events;
}

const boom = new Error('boom');
const fail = (): never => {
  throw boom;
};

describe('fallback: value and function', () => {
  it('answers a value when the call fails', async () => {
    const policy = fallback('cached');
    await expect(policy.execute(fail)).resolves.toBe('cached');
    await expect(policy.execute(() => Promise.reject(boom))).resolves.toBe('cached');
  });

  it('passes a success through without calling the fallback', async () => {
    const substitute = vi.fn(() => 'cached');
    const policy = fallback(substitute);
    await expect(policy.execute(() => 'fresh')).resolves.toBe('fresh');
    expect(substitute).not.toHaveBeenCalled();
  });

  it('calls a function fallback with the error and the context', async () => {
    const substitute = vi.fn(
      (error: unknown, ctx: ExecuteContext) => `${(error as Error).message}:${ctx.key}`,
    );
    const policy = fallback(substitute);
    const controller = new AbortController();
    await expect(policy.execute(fail, { signal: controller.signal, key: 'k1' })).resolves.toBe('boom:k1');
    expect(substitute).toHaveBeenCalledTimes(1);
    const [error, ctx] = substitute.mock.calls[0]!;
    expect(error).toBe(boom);
    expect(ctx.signal).toBe(controller.signal);
    expect(ctx.key).toBe('k1');
    expect(ctx.attempt).toBe(0);
  });

  it('awaits an async fallback function', async () => {
    const policy = fallback(async (error: unknown) => {
      await Promise.resolve();
      return { degraded: true, error };
    });
    await expect(policy.execute(fail)).resolves.toEqual({ degraded: true, error: boom });
  });

  it('a fallback function that throws rejects with its error (e.g. to wrap the original)', async () => {
    const wrapped = new Error('wrapped', { cause: boom });
    const policy = fallback(() => {
      throw wrapped;
    });
    await expect(policy.execute(fail)).rejects.toBe(wrapped);
    const asyncPolicy = fallback(async () => {
      throw wrapped;
    });
    await expect(asyncPolicy.execute(fail)).rejects.toBe(wrapped);
  });

  it('falls back on a TimeoutError from a timeout inside it', async () => {
    const clock = new ManualClock();
    const policy = pipeline(fallback('slow path'), timeout({ ms: 10, strategy: 'aggressive', clock }));
    const p = policy.execute(() => new Promise<string>(() => {}));
    clock.advance(10);
    await expect(p).resolves.toBe('slow path');
  });
});

describe('fallback: shouldFallback', () => {
  it('rethrows an error it declines, unchanged, and receives the error', async () => {
    const shouldFallback = vi.fn((error: unknown) => (error as Error).message !== 'auth');
    const policy = fallback('cached', { shouldFallback });
    const auth = new Error('auth');
    await expect(
      policy.execute(() => {
        throw auth;
      }),
    ).rejects.toBe(auth);
    expect(shouldFallback).toHaveBeenCalledWith(auth);
    await expect(policy.execute(fail)).resolves.toBe('cached');
  });

  it('does not emit fellBack for a declined error', async () => {
    const policy = fallback('cached', { shouldFallback: () => false });
    const events = recordFellBack(policy);
    await expect(policy.execute(fail)).rejects.toBe(boom);
    expect(events).toEqual([]);
  });
});

describe('fallback: caller abort', () => {
  it('does not fall back when the caller aborted the call', async () => {
    const substitute = vi.fn(() => 'cached');
    const policy = fallback(substitute);
    const controller = new AbortController();
    const reason = new Error('caller gave up');
    const p = policy.execute(
      ({ signal }) =>
        new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason))),
      { signal: controller.signal },
    );
    controller.abort(reason);
    await expect(p).rejects.toBe(reason);
    expect(substitute).not.toHaveBeenCalled();
  });

  it('does not run, nor fall back for, a call aborted before it started', async () => {
    const substitute = vi.fn(() => 'cached');
    const policy = fallback(substitute);
    const controller = new AbortController();
    const reason = new Error('already');
    controller.abort(reason);
    const fn = vi.fn(() => 'fresh');
    await expect(policy.execute(fn, { signal: controller.signal })).rejects.toBe(reason);
    expect(fn).not.toHaveBeenCalled();
    expect(substitute).not.toHaveBeenCalled();
  });
});

describe('fallback: events', () => {
  it('emits fellBack {error, stale: false} before answering the fallback', async () => {
    const policy = fallback(() => 'cached');
    const events = recordFellBack(policy);
    await policy.execute(fail);
    expect(events).toEqual([{ error: boom, stale: false }]);
    expect(events[0]?.error).toBe(boom);
  });
});

describe('fallback: staleIfError', () => {
  function setup(maxAge = 1_000, maxEntries = 3) {
    const clock = new ManualClock();
    const policy = fallback('default', { clock, staleIfError: { maxAge, maxEntries } });
    const events = recordFellBack(policy);
    const ok = (key: string, value: string) => policy.execute(() => value, { key });
    const failFor = (key: string, error: unknown = boom) =>
      policy.execute(
        () => {
          throw error;
        },
        { key },
      );
    return { clock, policy, events, ok, failFor };
  }

  it('serves the last good result for the key when the call fails', async () => {
    const { policy, events, ok, failFor } = setup();
    await ok('orders:1', 'v1');
    await ok('orders:1', 'v2');
    await ok('orders:2', 'w1');
    await expect(failFor('orders:1')).resolves.toBe('v2');
    await expect(failFor('orders:2')).resolves.toBe('w1');
    expect(events).toEqual([
      { error: boom, stale: true },
      { error: boom, stale: true },
    ]);
    expect(policy.cachedEntries).toBe(2);
  });

  it('falls back to the value when the key has no stale entry', async () => {
    const { events, ok, failFor } = setup();
    await ok('a', 'A');
    await expect(failFor('b')).resolves.toBe('default');
    expect(events).toEqual([{ error: boom, stale: false }]);
  });

  it('serves an entry up to maxAge old, by the clock, and not after', async () => {
    const { clock, policy, ok, failFor } = setup(1_000);
    await ok('k', 'fresh');
    clock.advance(1_000);
    await expect(failFor('k')).resolves.toBe('fresh');
    clock.advance(1);
    await expect(failFor('k')).resolves.toBe('default');
    expect(policy.cachedEntries).toBe(0);
  });

  it('a new success refreshes the age of the entry', async () => {
    const { clock, ok, failFor } = setup(1_000);
    await ok('k', 'one');
    clock.advance(900);
    await ok('k', 'two');
    clock.advance(900);
    await expect(failFor('k')).resolves.toBe('two');
  });

  it('keeps at most maxEntries keys, dropping the least recently used', async () => {
    const { policy, ok, failFor } = setup(60_000, 3);
    await ok('a', 'A');
    await ok('b', 'B');
    await ok('c', 'C');
    expect(policy.cachedEntries).toBe(3);
    // A stale hit counts as a use: `a` becomes the most recent, `b` the least.
    await expect(failFor('a')).resolves.toBe('A');
    await ok('d', 'D');
    expect(policy.cachedEntries).toBe(3);
    await expect(failFor('b')).resolves.toBe('default');
    await expect(failFor('a')).resolves.toBe('A');
    await expect(failFor('c')).resolves.toBe('C');
    await expect(failFor('d')).resolves.toBe('D');
    for (let i = 0; i < 1_000; i++) await ok(`k${i}`, 'x');
    expect(policy.cachedEntries).toBe(3);
  });

  it('uses ctx.key by default, and a key function when given one', async () => {
    const clock = new ManualClock();
    const key = vi.fn((ctx: ExecuteContext) => `user:${ctx.key ?? 'anon'}`);
    const policy = fallback('default', { clock, staleIfError: { key, maxAge: 100 } });
    await policy.execute(() => 'mine', { key: '7' });
    await expect(policy.execute(fail, { key: '7' })).resolves.toBe('mine');
    await expect(policy.execute(fail)).resolves.toBe('default');
    await policy.execute(() => 'anonymous');
    await expect(policy.execute(fail)).resolves.toBe('anonymous');
    expect(key.mock.calls.map(([ctx]) => ctx.key)).toEqual(['7', '7', undefined, undefined, undefined]);
  });

  it('calls without a key share the "" entry by default', async () => {
    const { ok, failFor, policy } = setup();
    await policy.execute(() => 'shared');
    await expect(policy.execute(fail)).resolves.toBe('shared');
    await ok('x', 'X');
    await expect(failFor('x')).resolves.toBe('X');
  });

  it('honours shouldFallback for stale entries too', async () => {
    const clock = new ManualClock();
    const policy = fallback('default', {
      clock,
      shouldFallback: (e) => e !== boom,
      staleIfError: { maxAge: 100 },
    });
    await policy.execute(() => 'good', { key: 'k' });
    await expect(policy.execute(fail, { key: 'k' })).rejects.toBe(boom);
  });

  it('does not cache failures or fallback answers', async () => {
    const { policy, failFor } = setup();
    await failFor('k');
    expect(policy.cachedEntries).toBe(0);
  });
});

describe('fallback: validation', () => {
  const cases: [string, () => unknown, ErrorConstructor, RegExp][] = [
    ['options 1', () => fallback('x', 1 as never), TypeError, /fallback options.*1/],
    [
      'shouldFallback',
      () => fallback('x', { shouldFallback: 'yes' as never }),
      TypeError,
      /shouldFallback.*"yes"/,
    ],
    ['clock', () => fallback('x', { clock: {} as never }), TypeError, /clock/],
    ['unknown option', () => fallback('x', { stale: true } as never), TypeError, /unknown option "stale"/],
    ['staleIfError 1', () => fallback('x', { staleIfError: 1 as never }), TypeError, /staleIfError.*1/],
    ['maxAge missing', () => fallback('x', { staleIfError: {} as never }), TypeError, /maxAge.*undefined/],
    ['maxAge -1', () => fallback('x', { staleIfError: { maxAge: -1 } }), RangeError, /maxAge.*-1/],
    [
      'maxAge NaN',
      () => fallback('x', { staleIfError: { maxAge: Number.NaN } }),
      RangeError,
      /staleIfError\.maxAge must be a number of ms >= 0 or Infinity, got NaN/,
    ],
    [
      'maxAge null',
      () => fallback('x', { staleIfError: { maxAge: null as never } }),
      TypeError,
      /maxAge.*null/,
    ],
    [
      'maxEntries Infinity (a cache outlives its calls)',
      () => fallback('x', { staleIfError: { maxAge: 1, maxEntries: Number.POSITIVE_INFINITY } }),
      RangeError,
      /staleIfError\.maxEntries.*Infinity/,
    ],
    ['options null', () => fallback('x', null as never), TypeError, /fallback options.*null/],
    ['name null', () => fallback('x', { name: null as never }), TypeError, /name.*null/],
    [
      'maxEntries 0',
      () => fallback('x', { staleIfError: { maxAge: 1, maxEntries: 0 } }),
      RangeError,
      /maxEntries.*0/,
    ],
    [
      'key not a function',
      () => fallback('x', { staleIfError: { maxAge: 1, key: 'k' as never } }),
      TypeError,
      /staleIfError\.key.*"k"/,
    ],
    [
      'staleIfError unknown',
      () => fallback('x', { staleIfError: { maxAge: 1, ttl: 1 } as never }),
      TypeError,
      /unknown option "ttl"/,
    ],
  ];
  it.each(cases)('%s', (_name, create, type, message) => {
    expect(create).toThrow(type);
    expect(create).toThrow(message);
  });
});

describe('fallback: staleIfError maxAge Infinity (issue 15 item 1)', () => {
  it('serves the last good result however old it is', async () => {
    const clock = new ManualClock();
    const policy = fallback('default', { clock, staleIfError: { maxAge: Number.POSITIVE_INFINITY } });
    await policy.execute(() => 'fresh', { key: 'k' });
    clock.advance(50 * 365 * 24 * 3_600_000);
    await expect(policy.execute(fail, { key: 'k' })).resolves.toBe('fresh');
    await expect(policy.execute(fail, { key: 'other' })).resolves.toBe('default');
  });
});

describe('fallback: execute(non-function)', () => {
  it('rejects at once with the TypeError and does not fall back from it', async () => {
    const substitute = vi.fn(() => 'cached');
    const policy = fallback(substitute, { staleIfError: { maxAge: Number.POSITIVE_INFINITY } });
    const events = recordFellBack(policy);
    await policy.execute(() => 'fresh');
    const p = policy.execute('not a function' as never);
    const settled = track(p);
    await Promise.resolve();
    const outcome = settled();
    expect(outcome.state).toBe('rejected');
    const error = (outcome as { value: unknown }).value;
    expect(error).toBeInstanceOf(TypeError);
    expect((error as Error).message).toBe('execute: fn must be a function, got "not a function"');
    expect(substitute).not.toHaveBeenCalled();
    expect(events).toEqual([]);
  });

  it('also outermost in a pipeline: the TypeError reaches the caller, not the fallback value', async () => {
    const policy = pipeline(fallback('cached'), timeout(100));
    await expect(policy.execute(undefined as never)).rejects.toThrow(/fn must be a function, got undefined/);
  });
});

describe('fallback: a throwing fellBack listener (issue 15 item 8)', () => {
  it.each([
    ['the fallback value', false],
    ['a stale result', true],
  ] as const)(
    'when serving %s: the call still answers it, other listeners still run',
    async (_name, stale) => {
      const warnings = captureWarnings();
      const policy = fallback<string>('default', { staleIfError: { maxAge: 1_000 } });
      const thrown = new Error('listener bug');
      policy.on('fellBack', () => {
        throw thrown;
      });
      const events = recordFellBack(policy as FallbackPolicy<unknown>); // registered after the throwing one
      if (stale) await policy.execute(() => 'last good', { key: 'k' });
      await expect(policy.execute(fail, { key: 'k' })).resolves.toBe(stale ? 'last good' : 'default');
      expect(events).toEqual([{ error: boom, stale }]);
      await flushPromises();
      expect(warnings).toHaveLength(1);
      const warning = warnings[0] as ListenerError;
      expect(isListenerError(warning)).toBe(true);
      expect(warning.event).toBe('fellBack');
      expect(warning.policy).toBe('fallback');
      expect(warning.cause).toBe(thrown);
    },
  );
});
