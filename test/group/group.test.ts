import { describe, expect, it, vi } from 'vitest';
import { CircuitBreaker } from '../../src/circuit-breaker/index.js';
import { BreakwaterError, BrokenCircuitError, IsolatedCircuitError } from '../../src/errors.js';
import {
  BreakerCreationError,
  type BreakerEvictedEvent,
  CircuitBreakerGroup,
  type CircuitBreakerGroupOptions,
  isBreakerCreationError,
} from '../../src/group/index.js';
import { ManualClock } from '../../src/testing/index.js';
import { deferred } from '../helpers/promises.js';
import { captureWarnings } from '../helpers/warnings.js';

const boom = new Error('boom');
const fail = () => Promise.reject(boom);
const ok = () => 'ok';

function group(options: CircuitBreakerGroupOptions = {}, clock = new ManualClock()) {
  const g = new CircuitBreakerGroup({ clock, ...options });
  const evicted: BreakerEvictedEvent[] = [];
  const created: string[] = [];
  const forgotten: string[] = [];
  g.on('evicted', (e) => evicted.push(e));
  g.on('created', (e) => created.push(e.key));
  g.on('forgotten', (e) => forgotten.push(e.key));
  return { g, clock, evicted, created, forgotten };
}

/** Opens `key`'s breaker (failureThreshold 1 is expected from `create`). */
async function trip(g: CircuitBreakerGroup, key: string): Promise<void> {
  await expect(g.execute(key, fail)).rejects.toBe(boom);
  expect(g.peek(key)?.state).toBe('open');
}

describe('CircuitBreakerGroup options', () => {
  it('takes no options: default breakers, maxSize 10,000, no idle eviction', () => {
    const g = new CircuitBreakerGroup();
    expect(g.maxSize).toBe(10_000);
    expect(g.idleTimeout).toBe(Number.POSITIVE_INFINITY);
    expect(g.maxRemembered).toBe(10_000);
    expect(g.name).toBe('circuit-breaker-group');
    expect(g.kind).toBe('circuit-breaker-group');
    expect(g.get('a')).toBeInstanceOf(CircuitBreaker);
  });

  it('defaults maxRemembered to maxSize', () => {
    expect(new CircuitBreakerGroup({ maxSize: 7 }).maxRemembered).toBe(7);
  });

  it.each([
    [{ maxSize: 0 }, RangeError, /maxSize must be an integer >= 1, got 0/],
    [{ maxSize: 1.5 }, RangeError, /maxSize must be an integer >= 1, got 1.5/],
    [{ maxSize: '10' }, TypeError, /maxSize must be an integer >= 1, got "10"/],
    [{ maxSize: Number.POSITIVE_INFINITY }, RangeError, /maxSize/],
    [
      { idleTimeout: 0 },
      RangeError,
      /idleTimeout must be a number of ms in \[1, 2147483647\] or Infinity, got 0/,
    ],
    [{ idleTimeout: Number.NaN }, RangeError, /idleTimeout.*got NaN/],
    [{ idleTimeout: '1s' }, TypeError, /idleTimeout.*got "1s"/],
    [{ maxRemembered: -1 }, RangeError, /maxRemembered must be an integer >= 0 or Infinity, got -1/],
    [{ create: {} }, TypeError, /create must be a function, got an object/],
    [{ name: '' }, TypeError, /name must be a non-empty string, got ""/],
    [{ clock: Date }, TypeError, /clock must be a Clock/],
    [{ maxsize: 5 }, TypeError, /unknown option "maxsize"/],
  ])('refuses %o', (options, type, message) => {
    expect(() => new CircuitBreakerGroup(options as CircuitBreakerGroupOptions)).toThrow(type);
    expect(() => new CircuitBreakerGroup(options as CircuitBreakerGroupOptions)).toThrow(message);
  });

  it('refuses options that are not an object', () => {
    expect(() => new CircuitBreakerGroup(null as never)).toThrow(TypeError);
    expect(() => new CircuitBreakerGroup(5 as never)).toThrow(/must be an object, got 5/);
  });

  it('accepts Infinity for idleTimeout and maxRemembered', () => {
    const g = new CircuitBreakerGroup({
      idleTimeout: Number.POSITIVE_INFINITY,
      maxRemembered: Number.POSITIVE_INFINITY,
    });
    expect(g.idleTimeout).toBe(Number.POSITIVE_INFINITY);
    expect(g.maxRemembered).toBe(Number.POSITIVE_INFINITY);
  });
});

describe('one breaker per key', () => {
  it('makes a key breaker on first use from create(key), then returns the same object', () => {
    const create = vi.fn((key: string) => ({ failureThreshold: key.length }));
    const { g, created } = group({ create });
    const a = g.get('a');
    expect(g.get('a')).toBe(a);
    expect(g.get('bb')).not.toBe(a);
    expect(create.mock.calls).toEqual([['a'], ['bb']]);
    expect(created).toEqual(['a', 'bb']);
    expect(g.size).toBe(2);
    expect(g.has('a')).toBe(true);
    expect(g.has('c')).toBe(false);
  });

  it('names each breaker after its key unless create names it', () => {
    const { g } = group({ create: (key) => (key === 'named' ? { name: 'custom' } : { name: undefined }) });
    expect(g.get('db-1').name).toBe('db-1');
    expect(g.get('named').name).toBe('custom');
  });

  it('failures on one key open only that key breaker', async () => {
    const { g } = group({ create: () => ({ failureThreshold: 2 }) });
    await g.execute('a', fail).catch(() => {});
    await g.execute('a', fail).catch(() => {});
    expect(g.get('a').state).toBe('open');
    expect(g.get('b').state).toBe('closed');
    await expect(g.execute('b', ok)).resolves.toBe('ok');
    const rejected = await g.execute('a', ok).catch((error: unknown) => error);
    expect(rejected).toBeInstanceOf(BrokenCircuitError);
    expect((rejected as BrokenCircuitError).breaker).toBe('a');
  });

  it('hands the group clock to breakers that name none, and leaves their own', async () => {
    const clock = new ManualClock(1_000);
    const own = new ManualClock(5_000);
    const { g } = group(
      {
        create: (key) => ({
          failureThreshold: 1,
          openTimeout: 100,
          ...(key === 'own' ? { clock: own } : {}),
        }),
      },
      clock,
    );
    await trip(g, 'shared');
    await trip(g, 'own');
    expect(g.get('shared').snapshot().openUntil).toBe(1_100);
    expect(g.get('own').snapshot().openUntil).toBe(5_100);
  });

  it('passes the call context (signal, key, priority) through to fn', async () => {
    const { g } = group();
    const controller = new AbortController();
    const seen = await g.execute('a', (ctx) => ctx, {
      signal: controller.signal,
      key: 'op',
      priority: 'high',
    });
    expect(seen.signal).toBe(controller.signal);
    expect(seen.key).toBe('op');
    expect(seen.priority).toBe('high');
  });
});

describe('bad arguments', () => {
  it('get throws a TypeError for a key that is not a non-empty string', () => {
    const { g } = group();
    for (const key of ['', 1, undefined, null, {}]) {
      expect(() => g.get(key as string)).toThrow(TypeError);
    }
    expect(() => g.get('' as string)).toThrow(/key must be a non-empty string, got ""/);
    expect(g.size).toBe(0);
  });

  it('execute rejects (never throws) for a bad key, without calling fn', async () => {
    const { g } = group();
    const fn = vi.fn(ok);
    const result = g.execute(42 as unknown as string, fn);
    await expect(result).rejects.toThrow(TypeError);
    await expect(g.execute(undefined as unknown as string, fn)).rejects.toThrow(
      /key must be a non-empty string/,
    );
    expect(fn).not.toHaveBeenCalled();
    expect(g.size).toBe(0);
  });

  it('execute rejects a fn that is not a function, and bad options, without making a breaker', async () => {
    const { g, created } = group();
    await expect(g.execute('a', 'nope' as never)).rejects.toThrow(/fn must be a function, got "nope"/);
    const fn = vi.fn(ok);
    await expect(g.execute('a', fn, { signal: 'x' as never })).rejects.toThrow(
      /signal must be an AbortSignal/,
    );
    await expect(g.execute('a', fn, 7 as never)).rejects.toThrow(TypeError);
    expect(fn).not.toHaveBeenCalled();
    expect(created).toEqual([]);
    expect(g.size).toBe(0);
  });

  it('execute rejects with the caller signal reason when already aborted, without calling fn', async () => {
    const { g } = group();
    const controller = new AbortController();
    const reason = new Error('gone');
    controller.abort(reason);
    const fn = vi.fn(ok);
    await expect(g.execute('a', fn, { signal: controller.signal })).rejects.toBe(reason);
    expect(fn).not.toHaveBeenCalled();
  });
});

describe('a create that fails', () => {
  it('fails that call with a BreakerCreationError whose cause is what create threw, and tries again next time', async () => {
    const thrown = new Error('no config for tenant');
    let calls = 0;
    const { g, created } = group({
      create: () => {
        calls++;
        if (calls === 1) throw thrown;
        return { failureThreshold: 3 };
      },
    });
    const fn = vi.fn(ok);
    const error = await g.execute('t1', fn).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BreakerCreationError);
    expect(error).toBeInstanceOf(BreakwaterError);
    expect(isBreakerCreationError(error)).toBe(true);
    expect((error as BreakerCreationError).name).toBe('BreakerCreationError');
    expect((error as BreakerCreationError).key).toBe('t1');
    expect((error as Error).cause).toBe(thrown);
    expect((error as Error).message).toBe(
      'Could not create the circuit breaker for key "t1": no config for tenant',
    );
    expect(fn).not.toHaveBeenCalled();
    expect(g.size).toBe(0);
    expect(created).toEqual([]);
    await expect(g.execute('t1', fn)).resolves.toBe('ok');
    expect(created).toEqual(['t1']);
  });

  it.each([
    [{ failureThreshold: 0 }, RangeError, /failureThreshold must be an integer >= 1, got 0/],
    [{ failureTreshold: 3 }, TypeError, /unknown option "failureTreshold"/],
    [null, TypeError, /create must return CircuitBreaker options \(an object\) or undefined, got null/],
    [[], TypeError, /got an array/],
    ['fast', TypeError, /got "fast"/],
  ])('fails with the validation error as cause when create returns %o', (answer, type, message) => {
    const { g } = group({ create: () => answer as never });
    let error: unknown;
    try {
      g.get('k');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(BreakerCreationError);
    expect((error as Error).cause).toBeInstanceOf(type);
    expect(((error as Error).cause as Error).message).toMatch(message);
    expect((error as Error).message).toMatch(message);
    expect(g.size).toBe(0);
  });

  it('shortens a very long key in the message', () => {
    const { g } = group({ create: () => null as never });
    const key = 'x'.repeat(1_000);
    expect(() => g.get(key)).toThrow(/key "x{100}"\.\.\.: /);
  });
});

describe('LRU eviction past maxSize', () => {
  it('evicts the least recently used breaker, and size never exceeds maxSize', () => {
    const { g, evicted, created } = group({ maxSize: 2 });
    const a = g.get('a');
    g.get('b');
    g.get('a'); // b is now the least recently used
    g.get('c');
    expect(g.size).toBe(2);
    expect(evicted.map((e) => [e.key, e.reason, e.state, e.remembered])).toEqual([
      ['b', 'lru', 'closed', false],
    ]);
    expect(g.has('b')).toBe(false);
    expect(g.get('a')).toBe(a);
    g.get('b');
    expect(evicted.map((e) => e.key)).toEqual(['b', 'c']);
    expect(created).toEqual(['a', 'b', 'c', 'b']);
    expect(g.size).toBe(2);
  });

  it('peek and has do not count as use', () => {
    const { g, evicted } = group({ maxSize: 2 });
    g.get('a');
    g.get('b');
    expect(g.peek('a')).toBeDefined();
    expect(g.has('a')).toBe(true);
    g.get('c');
    expect(evicted.map((e) => e.key)).toEqual(['a']);
  });

  it('a key breaker evicted and used again is a new object', () => {
    const { g } = group({ maxSize: 1 });
    const a = g.get('a');
    g.get('b');
    expect(g.get('a')).not.toBe(a);
  });

  it('removes the evicted breaker listeners, so nothing leaks per key', async () => {
    const { g } = group({ maxSize: 1 });
    const a = g.get('a');
    const seen: unknown[] = [];
    a.on('succeeded', (e) => seen.push(e));
    await g.execute('a', ok);
    expect(seen).toHaveLength(1);
    g.get('b');
    expect(a.listenerCount('succeeded')).toBe(0);
    await a.execute(ok);
    expect(seen).toHaveLength(1);
  });
});

describe('idle eviction (no timers)', () => {
  it('evicts a breaker unused for idleTimeout when the group is next used, and holds no timer', () => {
    const { g, clock, evicted } = group({ idleTimeout: 1_000 });
    g.get('a');
    clock.advance(500);
    g.get('b');
    clock.advance(499);
    g.get('b');
    expect(evicted).toEqual([]);
    clock.advance(1); // a: idle for 1,000 ms
    expect(g.has('a')).toBe(false); // read-only: has answers as get would
    expect(g.size).toBe(2);
    g.get('b');
    expect(evicted.map((e) => [e.key, e.reason])).toEqual([['a', 'idle']]);
    expect(g.size).toBe(1);
    expect(clock.pendingTimers).toBe(0);
  });

  it('replaces the idle breaker of the key being used', () => {
    const { g, clock, evicted } = group({ idleTimeout: 1_000 });
    const a = g.get('a');
    clock.advance(1_000);
    const again = g.get('a');
    expect(again).not.toBe(a);
    expect(evicted.map((e) => [e.key, e.reason])).toEqual([['a', 'idle']]);
  });

  it('evicts at most two idle breakers per call, and the rest on later calls', () => {
    const { g, clock, evicted } = group({ idleTimeout: 100 });
    for (const k of ['a', 'b', 'c', 'd', 'e']) g.get(k);
    clock.advance(50);
    g.get('fresh');
    clock.advance(50);
    g.get('fresh');
    expect(evicted.map((e) => e.key)).toEqual(['a', 'b']);
    g.get('fresh');
    expect(evicted.map((e) => e.key)).toEqual(['a', 'b', 'c', 'd']);
    g.get('fresh');
    expect(evicted.map((e) => e.key)).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(g.size).toBe(1);
  });

  it('iterating evicts every idle breaker first', () => {
    const { g, clock, evicted } = group({ idleTimeout: 100 });
    for (const k of ['a', 'b', 'c']) g.get(k);
    clock.advance(60);
    g.get('d');
    clock.advance(40);
    expect([...g.keys()]).toEqual(['d']);
    expect(evicted.map((e) => e.key)).toEqual(['a', 'b', 'c']);
  });

  it('reads no clock on the call path by default (idleTimeout Infinity)', () => {
    const clock = new ManualClock();
    const now = vi.spyOn(clock, 'now');
    const g = new CircuitBreakerGroup({ clock, maxSize: 2 });
    for (const k of ['a', 'b', 'a', 'c', 'a']) g.get(k);
    expect(now).not.toHaveBeenCalled();
    clock.advance(1e9);
    expect(g.has('a')).toBe(true);
  });
});

describe('an evicted breaker that was not closed is not silently reset', () => {
  const options = { create: () => ({ failureThreshold: 1, openTimeout: 10_000 }), maxSize: 1 };

  it('an open breaker evicted by LRU comes back open until its openUntil, then lets one probe decide', async () => {
    const { g, clock, evicted } = group(options);
    const restored: unknown[] = [];
    g.on('created', (e) => restored.push(e.restored));
    await trip(g, 'a');
    const openUntil = g.get('a').snapshot().openUntil;
    expect(openUntil).toBe(10_000);
    clock.advance(4_000);
    g.get('b'); // evicts a
    expect(evicted.map((e) => [e.key, e.reason, e.state, e.remembered])).toEqual([
      ['a', 'lru', 'open', true],
    ]);
    expect(g.rememberedSize).toBe(1);
    const fn = vi.fn(ok);
    const error = await g.execute('a', fn).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BrokenCircuitError);
    expect((error as BrokenCircuitError).retryAfter).toBe(6_000);
    expect(fn).not.toHaveBeenCalled();
    expect(restored.at(-1)).toEqual({ version: 1, state: 'open', openUntil: 10_000, consecutiveOpens: 1 });
    expect(g.rememberedSize).toBe(0);
    clock.advance(5_999);
    await expect(g.execute('a', fn)).rejects.toBeInstanceOf(BrokenCircuitError);
    clock.advance(1);
    await expect(g.execute('a', fn)).resolves.toBe('ok'); // the probe
    expect(fn).toHaveBeenCalledTimes(1);
    expect(g.get('a').state).toBe('closed');
  });

  it('an open breaker evicted for idleness (idleTimeout < openTimeout) stays open', async () => {
    const { g, clock, evicted } = group({ ...options, maxSize: 10, idleTimeout: 1_000 });
    await trip(g, 'a');
    clock.advance(1_000);
    g.get('b');
    expect(evicted.map((e) => [e.key, e.reason, e.remembered])).toEqual([['a', 'idle', true]]);
    await expect(g.execute('a', ok)).rejects.toBeInstanceOf(BrokenCircuitError);
    expect(g.get('a').retryAfter).toBe(9_000);
  });

  it('a half-open breaker comes back open and due: the next call is a probe', async () => {
    const { g, clock } = group(options);
    await trip(g, 'a');
    clock.advance(10_000);
    const probe = deferred();
    const inFlight = g.execute('a', () => probe.promise);
    expect(g.peek('a')?.state).toBe('half-open');
    g.get('b'); // evicts a while its probe is in flight
    const fn = vi.fn(ok);
    await expect(g.execute('a', fn)).resolves.toBe('ok'); // a new probe
    expect(fn).toHaveBeenCalledTimes(1);
    probe.resolve('late');
    await expect(inFlight).resolves.toBe('late');
  });

  it('isolated and disabled breakers come back isolated and disabled', async () => {
    const { g } = group({ maxSize: 1, maxRemembered: 2 });
    g.get('iso').isolate();
    g.get('dis'); // evicts iso
    g.get('dis').disable();
    g.get('x'); // evicts dis
    await expect(g.execute('iso', ok)).rejects.toBeInstanceOf(IsolatedCircuitError);
    expect(g.peek('iso')?.state).toBe('isolated');
    expect(g.get('dis').state).toBe('disabled');
  });

  it('a closed breaker comes back closed, counting afresh', async () => {
    const { g } = group({ create: () => ({ failureThreshold: 2 }), maxSize: 1 });
    await g.execute('a', fail).catch(() => {});
    g.get('b');
    await g.execute('a', fail).catch(() => {});
    expect(g.get('a').state).toBe('closed');
    expect(g.rememberedSize).toBe(0);
  });

  it('remembers at most maxRemembered keys, dropping the oldest with a forgotten event', async () => {
    const { g, forgotten } = group({ ...options, maxSize: 1, maxRemembered: 2 });
    const dropped: unknown[] = [];
    g.on('forgotten', (e) => dropped.push(e.snapshot));
    await trip(g, 'a');
    await trip(g, 'b'); // a remembered
    await trip(g, 'c'); // b remembered
    await trip(g, 'd'); // c remembered: a forgotten
    expect(forgotten).toEqual(['a']);
    expect(dropped).toEqual([{ version: 1, state: 'open', openUntil: 10_000, consecutiveOpens: 1 }]);
    expect(g.rememberedSize).toBe(2);
    expect(g.get('b').state).toBe('open');
    expect(g.get('a').state).toBe('closed');
  });

  it('with maxRemembered 0 an open breaker is forgotten at once, and says so', async () => {
    const { g, evicted, forgotten } = group({ ...options, maxRemembered: 0 });
    await trip(g, 'a');
    g.get('b');
    expect(evicted.map((e) => [e.key, e.remembered])).toEqual([['a', false]]);
    expect(forgotten).toEqual(['a']);
    expect(g.get('a').state).toBe('closed');
  });

  it('a call in flight on an evicted breaker that opens it is remembered for the key', async () => {
    const { g } = group(options);
    const call = deferred();
    const inFlight = g.execute('a', () => call.promise);
    g.get('b'); // evicts a (closed, nothing to remember)
    expect(g.rememberedSize).toBe(0);
    call.reject(boom);
    await expect(inFlight).rejects.toBe(boom);
    expect(g.rememberedSize).toBe(1);
    await expect(g.execute('a', ok)).rejects.toBeInstanceOf(BrokenCircuitError);
  });

  it('an evicted breaker opening later changes nothing once the key has a newer breaker', async () => {
    const { g } = group({ ...options, maxSize: 2 });
    const call = deferred();
    const inFlight = g.execute('a', () => call.promise);
    g.get('b');
    g.get('c'); // evicts a
    const fresh = g.get('a'); // evicts b
    call.reject(boom);
    await expect(inFlight).rejects.toBe(boom);
    expect(g.get('a')).toBe(fresh);
    expect(fresh.state).toBe('closed');
    expect(g.rememberedSize).toBe(0);
  });
});

describe('delete', () => {
  it('evicts the breaker with reason deleted and forgets its state: the next one is new and closed', async () => {
    const { g, evicted } = group({ create: () => ({ failureThreshold: 1 }) });
    await trip(g, 'a');
    const a = g.get('a');
    expect(g.delete('a')).toBe(true);
    expect(evicted.map((e) => [e.key, e.reason, e.state, e.remembered])).toEqual([
      ['a', 'deleted', 'open', false],
    ]);
    expect(g.rememberedSize).toBe(0);
    const fresh = g.get('a');
    expect(fresh).not.toBe(a);
    expect(fresh.state).toBe('closed');
    expect(g.delete('nope')).toBe(false);
  });

  it('forgets a remembered state of a key that has no breaker', async () => {
    const { g } = group({ create: () => ({ failureThreshold: 1 }), maxSize: 1 });
    await trip(g, 'a');
    g.get('b');
    expect(g.rememberedSize).toBe(1);
    expect(g.delete('a')).toBe(true);
    expect(g.rememberedSize).toBe(0);
    expect(g.get('a').state).toBe('closed');
  });
});

describe('iteration', () => {
  it('yields [key, breaker] least recently used first, without counting as use', () => {
    const { g, evicted } = group({ maxSize: 3 });
    const a = g.get('a');
    const b = g.get('b');
    const c = g.get('c');
    g.get('a');
    expect([...g]).toEqual([
      ['b', b],
      ['c', c],
      ['a', a],
    ]);
    expect([...g.entries()].map(([k]) => k)).toEqual(['b', 'c', 'a']);
    expect([...g.keys()]).toEqual(['b', 'c', 'a']);
    expect([...g.values()]).toEqual([b, c, a]);
    g.get('d');
    expect(evicted.map((e) => e.key)).toEqual(['b']);
  });

  it('a loop body that uses the group sees each key once', () => {
    const { g } = group({ maxSize: 10 });
    for (const k of ['a', 'b', 'c']) g.get(k);
    const seen: string[] = [];
    for (const [key] of g) {
      seen.push(key);
      g.get(key);
    }
    expect(seen).toEqual(['a', 'b', 'c']);
  });
});

describe('events', () => {
  it('lets listeners attach to each breaker from created', async () => {
    const { g } = group({ create: () => ({ failureThreshold: 1 }) });
    const moves: string[] = [];
    g.on('created', ({ key, breaker }) => breaker.on('stateChanged', ({ to }) => moves.push(`${key}:${to}`)));
    await trip(g, 'a');
    await g.execute('b', ok);
    expect(moves).toEqual(['a:open']);
  });

  it('emits after its bookkeeping, so a listener may use the group', () => {
    const g = new CircuitBreakerGroup({ maxSize: 2, clock: new ManualClock() });
    const sizes: number[] = [];
    g.on('evicted', ({ key }) => {
      sizes.push(g.size);
      if (key === 'a') g.get('x'); // evicts again from inside a listener
    });
    g.on('created', () => sizes.push(g.size));
    g.get('a');
    g.get('b');
    g.get('c');
    expect(g.size).toBe(2);
    expect([...g.keys()]).toEqual(['c', 'x']);
    expect(sizes.every((s) => s <= 2)).toBe(true);
  });

  it('a listener that throws becomes a warning and changes nothing', async () => {
    const warnings = captureWarnings();
    const g = new CircuitBreakerGroup({ maxSize: 1, clock: new ManualClock() });
    g.on('created', () => {
      throw new Error('listener bug');
    });
    await expect(g.execute('a', ok)).resolves.toBe('ok');
    g.get('b');
    expect(g.size).toBe(1);
    await new Promise((r) => setImmediate(r));
    expect(warnings.map((w) => w.name)).toEqual(['ListenerError', 'ListenerError']);
  });

  it('a create that uses the group for the same key yields one breaker', () => {
    const g: CircuitBreakerGroup = new CircuitBreakerGroup({
      create: (key) => {
        if (key === 'a' && !inner) {
          inner = true;
          innerBreaker = g.get('a');
        }
        return undefined;
      },
    });
    let inner = false;
    let innerBreaker: CircuitBreaker | undefined;
    const outer = g.get('a');
    expect(outer).toBe(innerBreaker);
    expect(g.size).toBe(1);
  });
});

describe('dispose', () => {
  it('disposes every breaker, forgets every key and removes listeners', async () => {
    const { g } = group({ create: () => ({ failureThreshold: 1 }), maxSize: 1 });
    await trip(g, 'a');
    const b = g.get('b');
    b.on('stateChanged', () => {});
    g[Symbol.dispose]();
    expect(g.size).toBe(0);
    expect(g.rememberedSize).toBe(0);
    expect(b.listenerCount('stateChanged')).toBe(0);
    expect(g.listenerCount('evicted')).toBe(0);
    expect(g.get('a').state).toBe('closed');
  });
});
