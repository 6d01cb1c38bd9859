import { describe, expect, it } from 'vitest';
import {
  bulkhead,
  CircuitBreaker,
  HealthMonitor,
  isListenerError,
  type StateChangedEvent,
} from '../../src/index.js';
import { ManualClock } from '../../src/testing/index.js';
import { collectWarnings, nextTick } from './support.js';

const warnings = collectWarnings();

describe('a throwing statusChanged listener', () => {
  it('does not reject the breaker call whose transition it heard, nor starve later stateChanged listeners', async () => {
    const clock = new ManualClock();
    const breaker = new CircuitBreaker({ name: 'orders', clock, failureThreshold: 1, openTimeout: 100 });
    const health = new HealthMonitor({ clock }).register(breaker, { critical: true });
    const heard: string[] = [];
    health.on('statusChanged', () => {
      throw new Error('listener bug');
    });
    health.on('statusChanged', ({ to }) => heard.push(`health:${to}`));
    // Added after the monitor's own listener, so it runs after the one that ends in a throw.
    breaker.on('stateChanged', (e: StateChangedEvent) => heard.push(`breaker:${e.to}`));

    const failure = new Error('db down');
    await expect(breaker.execute(() => Promise.reject(failure))).rejects.toBe(failure);
    expect(breaker.state).toBe('open');
    expect(heard).toEqual(['health:unhealthy', 'breaker:open']);

    clock.advance(100);
    // The probe's transitions (open -> half-open -> closed) each throw in the health listener.
    await expect(breaker.execute(async () => 'fine')).resolves.toBe('fine');
    expect(breaker.state).toBe('closed');
    expect(heard).toEqual([
      'health:unhealthy',
      'breaker:open',
      'health:degraded',
      'breaker:half-open',
      'health:healthy',
      'breaker:closed',
    ]);
    expect(health.status).toBe('healthy');

    await nextTick();
    expect(warnings).toHaveLength(3);
    for (const warning of warnings) {
      expect(isListenerError(warning)).toBe(true);
      expect(warning).toMatchObject({ event: 'statusChanged', cause: { message: 'listener bug' } });
    }
  });

  it('does not reject check() or break register()', async () => {
    const health = new HealthMonitor({ clock: new ManualClock() });
    health.on('statusChanged', () => {
      throw new Error('listener bug');
    });
    health.register('db', () => false, { critical: true });
    await expect(health.check()).resolves.toMatchObject({ status: 'unhealthy' });
    expect(health.unregister('db')).toBe(true);
    expect(health.status).toBe('healthy');
    await nextTick();
    expect(warnings).toHaveLength(2); // healthy -> unhealthy, unhealthy -> healthy
  });
});

describe('dispose', () => {
  it('removes every listener it put on breakers, keeps other listeners, and stops emitting', () => {
    const clock = new ManualClock();
    const a = new CircuitBreaker({ name: 'a', clock });
    const b = new CircuitBreaker({ name: 'b', clock });
    const mine = () => {};
    a.on('stateChanged', mine);
    const health = new HealthMonitor({ clock })
      .register(a, { critical: true })
      .register(b)
      .register(b, { name: 'b-again' })
      .register(bulkhead({ maxConcurrent: 1 }))
      .register('disk', () => true);
    expect(a.listenerCount('stateChanged')).toBe(2);
    expect(b.listenerCount('stateChanged')).toBe(2);
    const events: string[] = [];
    health.on('statusChanged', ({ to }) => events.push(to));

    health.dispose();
    expect(a.listeners('stateChanged')).toEqual([mine]);
    expect(b.listenerCount('stateChanged')).toBe(0);
    expect(health.listenerCount('statusChanged')).toBe(0);
    a.isolate();
    expect(events).toEqual([]);
    health.dispose(); // twice is harmless
  });

  it('is what Symbol.dispose does', () => {
    const clock = new ManualClock();
    const breaker = new CircuitBreaker({ name: 'orders', clock });
    const health = new HealthMonitor({ clock }).register(breaker);
    expect(typeof health[Symbol.dispose]).toBe('function');
    expect(breaker.listenerCount('stateChanged')).toBe(1);
    health[Symbol.dispose]();
    expect(breaker.listenerCount('stateChanged')).toBe(0);
    expect(health.unregister('orders')).toBe(false);
  });

  it('leaves no listener behind when register throws for a duplicate name', () => {
    const clock = new ManualClock();
    const breaker = new CircuitBreaker({ name: 'orders', clock });
    const health = new HealthMonitor({ clock }).register('orders', () => true);
    expect(() => health.register(breaker)).toThrow(/already registered/);
    expect(breaker.listenerCount('stateChanged')).toBe(0);
  });
});
