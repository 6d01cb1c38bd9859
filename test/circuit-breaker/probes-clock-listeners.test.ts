import { describe, expect, it } from 'vitest';
import { BrokenCircuitError, CircuitBreaker, HealthMonitor, pipeline, timeout } from '../../src/index.js';
import { ManualClock } from '../../src/testing/index.js';
import { deferred } from './helpers.js';

const boom = () => Promise.reject(new Error('down'));

/** A ManualClock that counts how often it is read. */
function countingClock() {
  const clock = new ManualClock();
  const counted = {
    reads: 0,
    clock,
    now: () => {
      counted.reads++;
      return clock.now();
    },
    setTimeout: clock.setTimeout.bind(clock),
  };
  return counted;
}

describe('halfOpenTimeout', () => {
  it('by default keeps a never-settling probe in charge: every other call is rejected', async () => {
    const clock = new ManualClock();
    const breaker = new CircuitBreaker({ clock, failureThreshold: 1, openTimeout: 100 });
    await breaker.execute(boom).catch(() => {});
    clock.advance(100);
    void breaker.execute(() => new Promise(() => {}));
    clock.advance(3_600_000);
    await expect(breaker.execute(async () => 1)).rejects.toBeInstanceOf(BrokenCircuitError);
    expect(breaker.state).toBe('half-open');
  });

  it('gives up on probes that outlive it, and ignores their outcome when they settle', async () => {
    const clock = new ManualClock();
    const breaker = new CircuitBreaker({
      clock,
      failureThreshold: 1,
      openTimeout: 100,
      halfOpenTimeout: 500,
    });
    await breaker.execute(boom).catch(() => {});
    clock.advance(100);
    const stuck = deferred<number>();
    const stale = breaker.execute(() => stuck.promise);
    clock.advance(499);
    await expect(breaker.execute(async () => 1)).rejects.toBeInstanceOf(BrokenCircuitError);
    clock.advance(1);
    expect(await breaker.execute(async () => 2)).toBe(2); // a fresh probe, which closes the circuit
    expect(breaker.state).toBe('closed');
    stuck.reject(new Error('late failure'));
    await stale.catch(() => {});
    expect(breaker.state).toBe('closed'); // the abandoned probe does not count
  });

  it('counts from when a probe slot last came free, so steady slow probes still close the circuit', async () => {
    const clock = new ManualClock();
    const breaker = new CircuitBreaker({
      clock,
      failureThreshold: 1,
      openTimeout: 100,
      successThreshold: 3,
      halfOpenTimeout: 10_000,
    });
    await breaker.execute(boom).catch(() => {});
    clock.advance(100);
    // Probes that each take 4 s, one after another, for longer than halfOpenTimeout in all.
    for (let i = 0; i < 3; i++) {
      const probe = breaker.execute(
        () => new Promise((resolve) => clock.setTimeout(() => resolve(i), 4_000)),
      );
      await clock.advanceAsync(4_000);
      expect(await probe).toBe(i);
    }
    expect(breaker.state).toBe('closed');
  });

  it('keeps the successes already earned when it gives up on a stuck probe', async () => {
    const clock = new ManualClock();
    const breaker = new CircuitBreaker({
      clock,
      failureThreshold: 1,
      openTimeout: 100,
      successThreshold: 2,
      halfOpenTimeout: 1_000,
    });
    await breaker.execute(boom).catch(() => {});
    clock.advance(100);
    expect(await breaker.execute(async () => 'first')).toBe('first');
    void breaker.execute(() => new Promise(() => {})); // stuck
    clock.advance(1_000);
    expect(await breaker.execute(async () => 'second')).toBe('second');
    expect(breaker.state).toBe('closed');
  });

  it('is validated', () => {
    expect(() => new CircuitBreaker({ halfOpenTimeout: 0 })).toThrow(
      'halfOpenTimeout must be a number of ms in [1, 2147483647] or Infinity, got 0',
    );
    expect(() => new CircuitBreaker({ halfOpenTimeout: Number.POSITIVE_INFINITY })).not.toThrow();
  });
});

describe('rejection while open', () => {
  it('reads the clock once and carries the time left as retryAfter', async () => {
    const counting = countingClock();
    const breaker = new CircuitBreaker({ clock: counting, failureThreshold: 1, openTimeout: 1_000 });
    await breaker.execute(boom).catch(() => {});
    counting.clock.advance(250);
    counting.reads = 0;
    const error = await breaker.execute(async () => 1).catch((e: unknown) => e);
    expect((error as BrokenCircuitError).retryAfter).toBe(750);
    expect(counting.reads).toBe(1);
  });
});

describe('listeners and timing', () => {
  it('a stateChanged listener (as HealthMonitor adds) does not make calls read the clock', async () => {
    const counting = countingClock();
    const breaker = new CircuitBreaker({ clock: counting });
    new HealthMonitor({ clock: counting.clock }).register(breaker, { critical: true });
    expect(breaker.listenerCount('stateChanged')).toBe(1);
    for (let i = 0; i < 100; i++) await breaker.execute(async () => i);
    expect(counting.reads).toBe(0);
    breaker.on('succeeded', () => {});
    await breaker.execute(async () => 1);
    expect(counting.reads).toBe(2); // start and end, for the duration the listener receives
  });
});

describe('pipeline defaults', () => {
  it('the first pipeline to hand a breaker its clock wins, as for every other policy', async () => {
    const first = new ManualClock();
    const second = new ManualClock(1_000_000);
    const breaker = new CircuitBreaker({ failureThreshold: 1, openTimeout: 100 });
    pipeline({ clock: first }, breaker);
    pipeline({ clock: second }, breaker, timeout(10));
    await breaker.execute(boom).catch(() => {});
    second.advance(100); // the second clock moving must not let a probe through
    await expect(breaker.execute(async () => 'too early')).rejects.toBeInstanceOf(BrokenCircuitError);
    first.advance(100);
    expect(await breaker.execute(async () => 'probe')).toBe('probe');
  });
});

describe('health of an open breaker that is due for a probe', () => {
  it('is degraded, not unhealthy, so that traffic can come back and probe it', async () => {
    const clock = new ManualClock();
    const breaker = new CircuitBreaker({ clock, failureThreshold: 1, openTimeout: 1_000 });
    const health = new HealthMonitor({ clock }).register(breaker, { critical: true });
    await breaker.execute(boom).catch(() => {});
    expect((await health.check()).status).toBe('unhealthy');
    clock.advance(1_000);
    expect(breaker.state).toBe('open');
    expect((await health.check()).status).toBe('degraded');
  });
});
