import { describe, expect, it } from 'vitest';
import {
  type AdaptiveLimitOptions,
  type AdaptiveLimitPolicy,
  type AdaptiveLimitRejectedEvent,
  adaptiveLimit,
  type LimitChangedEvent,
} from '../../src/adaptive-limit/index.js';
import type { AdaptiveLimitHealth } from '../../src/health/health.js';
import {
  BrokenCircuitError,
  BulkheadRejectedError,
  CircuitBreaker,
  HealthMonitor,
  IsolatedCircuitError,
  isOverloadedError,
  OverloadedError,
  type Priority,
  pipeline,
  TimeoutError,
} from '../../src/index.js';
import type { AdaptiveLimitLike } from '../../src/telemetry/observe.js';
import { flushPromises, ManualClock } from '../../src/testing/index.js';
import { type Deferred, deferred, track } from '../helpers/promises.js';

function setup(options: Omit<AdaptiveLimitOptions, 'clock'> = {}) {
  const clock = new ManualClock();
  const policy = adaptiveLimit({ clock, ...options });
  const changes: LimitChangedEvent[] = [];
  const rejected: AdaptiveLimitRejectedEvent[] = [];
  policy.on('limitChanged', (e) => changes.push(e));
  policy.on('rejected', (e) => rejected.push(e));
  const started: string[] = [];
  const work = new Map<string, Deferred<string>>();
  /** A call held in flight until `finish(name)`. */
  const call = (name: string, priority?: Priority, signal?: AbortSignal) => {
    const d = deferred();
    work.set(name, d);
    const promise = policy.execute(
      () => {
        started.push(name);
        return d.promise;
      },
      { priority, signal },
    );
    promise.catch(() => {});
    return { promise, settled: track(promise) };
  };
  const finish = async (name: string, error?: unknown) => {
    const d = work.get(name)!;
    if (error === undefined) d.resolve(name);
    else d.reject(error);
    await flushPromises();
  };
  /** `n` calls at once, each settling `rtt` ms later (rejecting with `error` when given); waits for all. */
  const round = async (n: number, rtt: number, error?: unknown) => {
    const calls = Array.from({ length: n }, () =>
      policy
        .execute(
          () =>
            new Promise<void>((resolve, reject) =>
              clock.setTimeout(() => (error === undefined ? resolve() : reject(error)), rtt),
            ),
        )
        .catch(() => {}),
    );
    while (policy.inFlight + policy.queued > 0) await clock.advanceAsync(rtt);
    await Promise.all(calls);
  };
  return { clock, policy, changes, rejected, started, call, finish, round };
}

/** AIMD with a fixed window, whose limit moves only when the test says so. */
const aimd = (o: Omit<AdaptiveLimitOptions, 'clock' | 'algorithm'> = {}) =>
  setup({ algorithm: 'aimd', windowDuration: 100, maxLimit: 100, ...o });

describe('adaptiveLimit: admission and queue', () => {
  it('rejects a call over the limit with OverloadedError (reason limit) without running it', async () => {
    const { policy, call, started, rejected, finish } = aimd({ initialLimit: 2 });
    call('a');
    call('b');
    const c = call('c', 'high');
    const error = await c.promise.catch((e: unknown) => e);
    expect(isOverloadedError(error)).toBe(true);
    expect(error).toBeInstanceOf(OverloadedError);
    expect(error).toMatchObject({ reason: 'limit', priority: 'high', pressure: 1 });
    expect(started).toEqual(['a', 'b']);
    expect(rejected).toEqual([{ priority: 'high', reason: 'limit' }]);
    expect(policy.inFlight).toBe(2);
    await finish('a');
    await finish('b');
    expect(policy.inFlight).toBe(0);
  });

  it('serves the queue by priority, then by arrival', async () => {
    const { policy, call, started, finish } = aimd({ initialLimit: 1, maxQueue: 10 });
    call('first');
    call('low', 'low');
    call('normal-1');
    call('background', 'background');
    call('critical', 'critical');
    call('normal-2', 'normal');
    call('high', 'high');
    await flushPromises();
    expect(policy.queued).toBe(6);
    for (const name of ['first', 'critical', 'high', 'normal-1', 'normal-2', 'low', 'background']) {
      await finish(name);
    }
    expect(started).toEqual(['first', 'critical', 'high', 'normal-1', 'normal-2', 'low', 'background']);
    expect(policy.queued).toBe(0);
    expect(policy.inFlight).toBe(0);
  });

  it('gives a full queue place to a more important arrival, rejecting the newest least important waiter', async () => {
    const { call, rejected, finish, started } = aimd({ initialLimit: 1, maxQueue: 2 });
    call('running');
    const low1 = call('low-1', 'low');
    const low2 = call('low-2', 'low');
    const critical = call('critical', 'critical');
    await flushPromises();
    expect(low2.settled()).toMatchObject({ state: 'rejected', value: { reason: 'limit', priority: 'low' } });
    expect(low1.settled().state).toBe('pending');
    // An arrival no more important than every waiter is the one turned away.
    const low3 = call('low-3', 'low');
    await flushPromises();
    expect(low3.settled()).toMatchObject({ state: 'rejected', value: { reason: 'limit' } });
    expect(rejected).toEqual([
      { priority: 'low', reason: 'limit' },
      { priority: 'low', reason: 'limit' },
    ]);
    await finish('running');
    await finish('critical');
    await finish('low-1');
    expect(started).toEqual(['running', 'critical', 'low-1']);
    expect(critical.settled().state).toBe('fulfilled');
  });

  it('rejects a call that waited past queueTimeout with reason queue-timeout, and leaves no timer', async () => {
    const { clock, policy, call, rejected, finish, started } = aimd({
      initialLimit: 1,
      maxQueue: 5,
      queueTimeout: 50,
    });
    call('a');
    const b = call('b', 'low');
    await flushPromises();
    expect(clock.pendingTimers).toBe(1);
    clock.advance(49);
    await flushPromises();
    expect(b.settled().state).toBe('pending');
    clock.advance(1);
    await flushPromises();
    expect(b.settled()).toMatchObject({
      state: 'rejected',
      value: { name: 'OverloadedError', reason: 'queue-timeout', priority: 'low' },
    });
    expect(rejected).toEqual([{ priority: 'low', reason: 'queue-timeout' }]);
    expect(policy.queued).toBe(0);
    expect(clock.pendingTimers).toBe(0);
    await finish('a');
    expect(started).toEqual(['a']);
  });

  it('clears the queue timer when the call is handed a slot', async () => {
    const { clock, call, finish } = aimd({ initialLimit: 1, maxQueue: 5, queueTimeout: 1_000 });
    call('a');
    const b = call('b');
    await flushPromises();
    expect(clock.pendingTimers).toBe(1);
    await finish('a');
    expect(clock.pendingTimers).toBe(0);
    await finish('b');
    expect(b.settled()).toEqual({ state: 'fulfilled', value: 'b' });
  });

  it("removes a queued call when its caller aborts, with the caller's reason and no rejected event", async () => {
    const { policy, call, rejected, finish, started, clock } = aimd({
      initialLimit: 1,
      maxQueue: 5,
      queueTimeout: 1_000,
    });
    call('a');
    const controller = new AbortController();
    const b = call('b', 'normal', controller.signal);
    call('c');
    await flushPromises();
    const reason = new Error('caller gave up');
    controller.abort(reason);
    await flushPromises();
    expect(b.settled()).toEqual({ state: 'rejected', value: reason });
    expect(policy.queued).toBe(1);
    expect(rejected).toEqual([]);
    await finish('a');
    await finish('c');
    expect(started).toEqual(['a', 'c']);
    expect(clock.pendingTimers).toBe(0);
  });

  it('does not run a call whose signal aborted before it arrived', async () => {
    const { policy, started } = aimd();
    const reason = new Error('already');
    const promise = policy.execute(
      () => {
        started.push('x');
      },
      { signal: AbortSignal.abort(reason) },
    );
    await expect(promise).rejects.toBe(reason);
    expect(started).toEqual([]);
  });

  it('rejects bad execute arguments instead of throwing', async () => {
    const { policy } = aimd();
    const bad = policy.execute(42 as never);
    await expect(bad).rejects.toThrow(TypeError);
    await expect(policy.execute(() => 1, { priority: 'urgent' as never })).rejects.toThrow(
      /priority must be one of critical, high, normal, low, background, got "urgent"/,
    );
  });

  it('passes results and errors through unchanged', async () => {
    const { policy } = aimd();
    await expect(policy.execute(() => 7)).resolves.toBe(7);
    const error = new Error('boom');
    await expect(
      policy.execute(() => {
        throw error;
      }),
    ).rejects.toBe(error);
    expect(policy.inFlight).toBe(0);
  });

  it('aborts nothing when the limit falls below the calls in flight; new calls wait until in-flight is below it', async () => {
    const { policy, call, finish, started } = aimd({ initialLimit: 4, maxQueue: 5 });
    for (const name of ['a', 'b', 'c']) call(name);
    const d = call('d');
    await finish('d', new Error('drop')); // halves the limit: 4 -> 2
    expect(policy.limit).toBe(2);
    expect(policy.inFlight).toBe(3);
    call('e');
    await finish('a');
    expect(started).toEqual(['a', 'b', 'c', 'd']);
    await finish('b');
    expect(started).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(d.settled().state).toBe('rejected');
  });
});

describe('adaptiveLimit: what counts', () => {
  it('AIMD halves the limit on a drop, once per episode', async () => {
    const { clock, policy, round, changes } = aimd({ initialLimit: 40 });
    await round(10, 10, new Error('down'));
    expect(policy.limit).toBe(20);
    expect(changes).toEqual([{ from: 40, to: 20 }]);
    // More drops in the same window belong to the same episode...
    await round(10, 10, new Error('still down'));
    expect(policy.limit).toBe(20);
    // ...and a later window's drops are a new episode, which halves it again, once.
    await clock.advanceAsync(100);
    await round(10, 10, new Error('down again'));
    expect(policy.limit).toBe(10);
    expect(changes).toEqual([
      { from: 40, to: 20 },
      { from: 20, to: 10 },
    ]);
  });

  it('AIMD grows by one per window without a drop in which in-flight reached half the limit', async () => {
    const { policy, round, changes } = aimd({ initialLimit: 10 });
    await round(10, 100);
    expect(policy.limit).toBe(11);
    await round(10, 100);
    expect(policy.limit).toBe(12);
    expect(changes).toEqual([
      { from: 10, to: 11 },
      { from: 11, to: 12 },
    ]);
    // A window whose calls never filled half the limit teaches nothing: the caller was the limit.
    await round(5, 100);
    await round(5, 100);
    expect(policy.limit).toBe(12);
  });

  it('AIMD counts a success slower than timeout as a drop, and honours isDrop', async () => {
    const slow = aimd({ initialLimit: 40, timeout: 50 });
    await slow.round(10, 60);
    expect(slow.policy.limit).toBe(20);
    const picky = aimd({ initialLimit: 40, isDrop: (e) => e instanceof TimeoutError });
    await picky.round(10, 100, new Error('a 404 is not overload'));
    expect(picky.policy.limit).toBe(40);
    await picky.round(10, 100, new TimeoutError(100));
    expect(picky.policy.limit).toBe(20);
  });

  it('learns nothing from rejections by inner breakwater policies (open or isolated breaker, overload, full bulkhead)', async () => {
    for (const error of [
      new BrokenCircuitError('db', 1_000),
      new IsolatedCircuitError('db'),
      new OverloadedError('pressure', 'normal', 2, 1_000),
      new BulkheadRejectedError('full', 1, 0),
    ]) {
      const { policy, round, changes } = aimd({ initialLimit: 40 });
      await round(20, 10, error);
      expect(policy.limit, error.name).toBe(40);
      expect(changes).toEqual([]);
    }
  });

  it('learns nothing from an open breaker inside it, in a pipeline', async () => {
    const clock = new ManualClock();
    const limit = adaptiveLimit({ algorithm: 'aimd', initialLimit: 40, windowDuration: 100 });
    const breaker = new CircuitBreaker({ failureThreshold: 1 });
    breaker.isolate();
    const policy = pipeline({ clock }, limit, breaker);
    for (let i = 0; i < 30; i++) {
      clock.advance(10);
      await policy.execute(() => 1).catch(() => {});
    }
    expect(limit.limit).toBe(40);
  });

  it('learns nothing from a running call whose caller aborted (not a drop)', async () => {
    const { policy, clock } = aimd({ initialLimit: 40 });
    const calls = Array.from({ length: 10 }, () => {
      const controller = new AbortController();
      const p = policy.execute(
        ({ signal }) =>
          new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason))),
        { signal: controller.signal },
      );
      p.catch(() => {});
      return { controller, p };
    });
    clock.advance(200);
    for (const c of calls) c.controller.abort(new Error('client left'));
    await flushPromises();
    expect(policy.inFlight).toBe(0);
    expect(policy.limit).toBe(40);
  });

  it('Gradient2 measures the no-load RTT first, then shrinks while the RTT rises past tolerance', async () => {
    const { policy, round, changes } = setup({ initialLimit: 20, windowDuration: 100, maxQueue: Infinity });
    // The probe: 100 calls at up to half the limit, 10 ms each.
    await round(100, 10);
    expect(policy.limit).toBe(20);
    // Saturated windows at three times the no-load RTT: g = 1.1 / 3, floored at 0.5.
    await round(20, 100);
    expect(policy.limit).toBe(18); // 0.8 * 20 + 0.2 * 10
    const before = policy.limit;
    await round(20, 100);
    expect(policy.limit).toBeLessThan(before);
    expect(changes[0]).toEqual({ from: 20, to: 18 });
  });

  it('Gradient2 grows by smoothing x queueSize per saturated window while the RTT stays within tolerance', async () => {
    const { policy, round, changes } = setup({
      initialLimit: 20,
      windowDuration: 10,
      queueSize: 5,
      maxQueue: Infinity,
    });
    await round(100, 10); // the probe: 100 calls at up to half the limit, no-load RTT 10 ms
    await round(20, 10);
    expect(policy.limit).toBe(21); // 0.8 * 20 + 0.2 * (20 + 5)
    await round(21, 10.5); // 5 % slower: within tolerance (1.1), no queueing seen
    expect(policy.limit).toBe(22);
    expect(changes).toEqual([
      { from: 20, to: 21 },
      { from: 21, to: 22 },
    ]);
  });

  it('Gradient2 holds while the caller, not the dependency, is the limit', async () => {
    const { policy, round } = setup({ initialLimit: 20, windowDuration: 10, maxQueue: Infinity });
    await round(100, 10);
    for (let i = 0; i < 5; i++) await round(9, 100); // in-flight 9 < 20 / 2
    expect(policy.limit).toBe(20);
  });
});

describe('adaptiveLimit: the periodic probe', () => {
  it('re-measures the no-load RTT every probeInterval at half the limit, without moving the limit', async () => {
    const { policy, round, changes, call, started, finish, clock } = setup({
      initialLimit: 20,
      windowDuration: 10,
      probeInterval: 1_000,
      maxQueue: Infinity,
    });
    await round(100, 10); // the first probe
    clock.advance(1_000);
    await round(20, 10); // a window closes past probeInterval: the next one is a probe
    const limit = policy.limit;
    const names = Array.from({ length: 20 }, (_, i) => `p${i}`);
    for (const name of names) call(name);
    await flushPromises();
    expect(started).toHaveLength(Math.ceil(limit / 2));
    expect(policy.queued).toBe(20 - Math.ceil(limit / 2));
    for (const name of names) await finish(name);
    expect(started).toHaveLength(20);
    expect(policy.limit).toBe(limit);
    expect(changes.every((c) => c.to > c.from)).toBe(true);
  });
});

describe('adaptiveLimit: what the health monitor and the metrics adapters read', () => {
  it('has the structural shape they expect', async () => {
    const policy = adaptiveLimit({ name: 'db', algorithm: 'aimd', initialLimit: 3, maxQueue: 2 });
    const forHealth: AdaptiveLimitHealth = policy;
    const forMetrics: AdaptiveLimitLike = policy;
    expect(forHealth).toMatchObject({ kind: 'adaptive-limit', name: 'db', limit: 3, minLimit: 1 });
    expect(forMetrics).toMatchObject({ inFlight: 0, queued: 0, maxQueue: 2 });
    const monitor = new HealthMonitor();
    monitor.register(policy);
    const report = await monitor.check();
    expect(report.components[0]).toMatchObject({ name: 'db', kind: 'adaptive-limit', status: 'healthy' });
  });
});

/** An aimd limit of 2 on a ManualClock that counts its reads, with windows of 1 s. */
function countingReads() {
  const clock = new ManualClock();
  const counted = { reads: 0 };
  const counting = {
    now: () => {
      counted.reads++;
      return clock.now();
    },
    setTimeout: clock.setTimeout.bind(clock),
  };
  const policy = adaptiveLimit({
    algorithm: 'aimd',
    clock: counting,
    initialLimit: 2,
    windowDuration: 1_000,
  });
  return { clock, counted, policy };
}

describe('adaptiveLimit: timing cost', () => {
  it('reads the clock for every call until a window holds 512 RTTs, then for one call in 16, and windows still close', async () => {
    const { clock, counted, policy } = countingReads();
    for (let i = 0; i < 512; i++) await policy.execute(() => 1);
    expect(counted.reads).toBe(2 * 512);
    counted.reads = 0;
    for (let i = 0; i < 1_600; i++) await policy.execute(() => 1);
    expect(counted.reads).toBe(2 * 100);
    // Sequential calls fill half of a limit of 2: the window that closes after 1 s grows it.
    clock.advance(1_000);
    for (let i = 0; i < 16; i++) await policy.execute(() => 1);
    expect(policy.limit).toBe(3);
  });
});

describe('adaptiveLimit: sampling a busy window', () => {
  it('times one call in 32 once the window holds 512 more RTTs, and every call again after it closes', async () => {
    const { clock, counted, policy } = countingReads();
    for (let i = 0; i < 512 + 512 * 16; i++) await policy.execute(() => 1);
    expect(counted.reads).toBe(2 * (512 + 512));
    counted.reads = 0;
    for (let i = 0; i < 3_200; i++) await policy.execute(() => 1);
    expect(counted.reads).toBe(2 * 100);
    // The window closes at the next timed call after 1 s; the next one times every call again.
    clock.advance(1_000);
    for (let i = 0; i < 32; i++) await policy.execute(() => 1);
    expect(policy.limit).toBe(3);
    counted.reads = 0;
    for (let i = 0; i < 100; i++) await policy.execute(() => 1);
    expect(counted.reads).toBe(2 * 100);
  });

  it('passes results and errors through unchanged on an untimed call, and still backs off on its drop', async () => {
    const { policy } = aimd({ initialLimit: 10 });
    for (let i = 0; i < 512; i++) await policy.execute(() => 1);
    // From here one call in 16 is timed: of the next 15, each kind below runs untimed at least once.
    const error = new Error('boom');
    for (let i = 0; i < 3; i++) {
      await expect(policy.execute(() => 7)).resolves.toBe(7);
      await expect(policy.execute(async () => 8)).resolves.toBe(8);
      await expect(
        policy.execute(() => {
          throw error;
        }),
      ).rejects.toBe(error);
      expect(policy.inFlight).toBe(0);
    }
    // The first drop halved the limit at once (10 -> 5); the later ones are the same episode.
    expect(policy.limit).toBe(5);
    await expect(policy.execute(() => Promise.reject(error))).rejects.toBe(error);
    expect(policy.inFlight).toBe(0);
  });

  it('counts in a window the calls still in flight when it opened, though none is admitted in it', async () => {
    const { policy, changes, clock } = aimd({ initialLimit: 20, minWindowSamples: 1 });
    const held = Array.from({ length: 12 }, () => deferred());
    for (const d of held) void policy.execute(() => d.promise);
    // One call settles after the window's 100 ms: 12 were in flight (>= 20 / 2), so 20 -> 21.
    clock.advance(100);
    held[0]!.resolve('a');
    await flushPromises();
    expect(policy.limit).toBe(21);
    // The next window admits nothing, but the 11 still running fill half of 21: 21 -> 22.
    clock.advance(100);
    held[1]!.resolve('b');
    await flushPromises();
    expect(policy.limit).toBe(22);
    // The one after holds 10 in flight, under half of 22: the caller is the limit.
    clock.advance(100);
    held[2]!.resolve('c');
    await flushPromises();
    expect(policy.limit).toBe(22);
    expect(changes).toEqual([
      { from: 20, to: 21 },
      { from: 21, to: 22 },
    ]);
    for (const d of held) d.resolve('done');
    await flushPromises();
    expect(policy.inFlight).toBe(0);
  });
});

describe('adaptiveLimit: timers and defaults', () => {
  it('holds no timer while idle or after calls settle', async () => {
    const { clock, round, policy } = setup({ maxQueue: 10, queueTimeout: 500 });
    expect(clock.pendingTimers).toBe(0);
    await round(30, 10);
    expect(clock.pendingTimers).toBe(0);
    clock.advance(3_600_000);
    expect(clock.pendingTimers).toBe(0);
    expect(policy.inFlight + policy.queued).toBe(0);
  });

  it("takes a pipeline's clock", async () => {
    const clock = new ManualClock();
    const limit = adaptiveLimit({ algorithm: 'aimd', initialLimit: 1, maxQueue: 1, queueTimeout: 10 });
    const policy = pipeline({ clock }, limit);
    const hold = deferred<number>();
    const a = policy.execute(() => hold.promise);
    const b = track(policy.execute(() => 2));
    await flushPromises();
    clock.advance(10);
    await flushPromises();
    expect(b()).toMatchObject({ state: 'rejected', value: { reason: 'queue-timeout' } });
    hold.resolve(1);
    await expect(a).resolves.toBe(1);
  });

  it('has documented defaults and readable state', () => {
    const policy: AdaptiveLimitPolicy = adaptiveLimit();
    expect(policy).toMatchObject({
      name: 'adaptive-limit',
      kind: 'adaptive-limit',
      algorithm: 'gradient2',
      limit: 20,
      minLimit: 1,
      maxLimit: 200,
      maxQueue: 0,
      queueTimeout: undefined,
      inFlight: 0,
      queued: 0,
    });
    expect(adaptiveLimit({ maxLimit: 5 }).limit).toBe(5);
    expect(adaptiveLimit({ minLimit: 300 }).maxLimit).toBe(300);
  });
});

describe('adaptiveLimit: options', () => {
  const cases: [AdaptiveLimitOptions, ErrorConstructor, RegExp][] = [
    [{ algorithm: 'vegas' as never }, TypeError, /algorithm must be "gradient2" or "aimd", got "vegas"/],
    [{ minLimit: 0 }, RangeError, /minLimit must be an integer >= 1, got 0/],
    [{ minLimit: 1.5 }, RangeError, /minLimit/],
    [{ maxLimit: 5, minLimit: 10 }, RangeError, /maxLimit must be an integer >= 10, got 5/],
    [{ initialLimit: 300 }, RangeError, /initialLimit must be an integer in \[1, 200\], got 300/],
    [{ initialLimit: '5' as never }, TypeError, /initialLimit/],
    [{ windowDuration: -1 }, RangeError, /windowDuration/],
    [{ minWindowSamples: 0 }, RangeError, /minWindowSamples/],
    [{ tolerance: 0.9 }, RangeError, /tolerance must be a finite number >= 1, got 0.9/],
    [{ smoothing: 0 }, RangeError, /smoothing must be a number in \(0, 1\], got 0/],
    [{ queueSize: -1 }, RangeError, /queueSize/],
    [{ queueSize: 'x' as never }, TypeError, /queueSize/],
    [{ probeInterval: -5 }, RangeError, /probeInterval/],
    [{ algorithm: 'aimd', backoffRatio: 1 }, RangeError, /backoffRatio must be a number in \(0, 1\), got 1/],
    [{ algorithm: 'aimd', backoffRatio: 0 }, RangeError, /backoffRatio/],
    [{ algorithm: 'aimd', increase: 0 }, RangeError, /increase must be a finite number > 0, got 0/],
    [{ algorithm: 'aimd', timeout: Number.NaN }, RangeError, /timeout/],
    [{ algorithm: 'aimd', isDrop: true as never }, TypeError, /isDrop must be a function/],
    [
      { algorithm: 'aimd', tolerance: 1.5 },
      TypeError,
      /option tolerance applies to algorithm "gradient2", not "aimd"/,
    ],
    [{ backoffRatio: 0.5 }, TypeError, /option backoffRatio applies to algorithm "aimd", not "gradient2"/],
    [{ maxQueue: -1 }, RangeError, /maxQueue/],
    [{ queueTimeout: -1 }, RangeError, /queueTimeout/],
    [{ name: '' }, TypeError, /name must be a non-empty string/],
    [{ clock: {} as never }, TypeError, /clock must have now\(\) and setTimeout/],
    [{ maxConcurrent: 3 } as never, TypeError, /unknown option "maxConcurrent"/],
  ];
  for (const [options, type, message] of cases) {
    it(`rejects ${JSON.stringify(options)} with a ${type.name}`, () => {
      expect(() => adaptiveLimit(options)).toThrow(type);
      expect(() => adaptiveLimit(options)).toThrow(message);
    });
  }

  it('rejects options that are not an object', () => {
    expect(() => adaptiveLimit(null as never)).toThrow(/adaptiveLimit options must be an object, got null/);
  });

  it('accepts a queueSize function of the limit; one that answers nonsense or throws adds no headroom', async () => {
    const seen: number[] = [];
    const grows = setup({
      initialLimit: 20,
      windowDuration: 10,
      maxQueue: Infinity,
      queueSize: (limit) => {
        seen.push(limit);
        return 5;
      },
    });
    await grows.round(100, 10);
    await grows.round(20, 10);
    expect(grows.policy.limit).toBe(21);
    expect(seen).toEqual([20]);
    for (const queueSize of [
      () => Number.NaN,
      () => {
        throw new Error('oops');
      },
    ]) {
      const { policy, round } = setup({
        initialLimit: 20,
        windowDuration: 10,
        maxQueue: Infinity,
        queueSize,
      });
      await round(100, 10);
      await round(20, 10);
      expect(policy.limit).toBe(20);
    }
  });
});
