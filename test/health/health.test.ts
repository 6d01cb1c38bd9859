import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  bulkhead,
  CircuitBreaker,
  HealthMonitor,
  type HealthStatus,
  type StatusChangedEvent,
} from '../../src/index.js';
import { ManualClock } from '../../src/testing/index.js';

const clock = new ManualClock();

describe('HealthMonitor rules', () => {
  it('is healthy when every breaker is closed and every check passes', async () => {
    const health = new HealthMonitor({ clock });
    health.register(new CircuitBreaker({ name: 'orders', clock }), { critical: true });
    health.register('disk', () => true);
    const report = await health.check();
    expect(report.status).toBe('healthy');
    expect(report.components.map((c) => [c.name, c.status])).toEqual([
      ['orders', 'healthy'],
      ['disk', 'healthy'],
    ]);
  });

  it('is unhealthy when a critical breaker is open', async () => {
    const breaker = new CircuitBreaker({ name: 'orders', clock, failureThreshold: 1 });
    const health = new HealthMonitor({ clock }).register(breaker, { critical: true });
    await breaker.execute(() => Promise.reject(new Error('down'))).catch(() => {});
    expect(breaker.state).toBe('open');
    expect((await health.check()).status).toBe('unhealthy');
  });

  it('is unhealthy when a critical breaker is isolated', async () => {
    const breaker = new CircuitBreaker({ name: 'orders', clock });
    const health = new HealthMonitor({ clock }).register(breaker, { critical: true });
    breaker.isolate();
    expect((await health.check()).status).toBe('unhealthy');
  });

  it('is degraded, not unhealthy, when a non-critical breaker is open', async () => {
    const search = new CircuitBreaker({ name: 'search', clock, failureThreshold: 1 });
    const health = new HealthMonitor({ clock })
      .register(new CircuitBreaker({ name: 'orders', clock }), { critical: true })
      .register(search);
    await search.execute(() => Promise.reject(new Error('down'))).catch(() => {});
    const report = await health.check();
    expect(report.status).toBe('degraded');
    expect(report.components.find((c) => c.name === 'search')).toMatchObject({
      status: 'unhealthy',
      detail: 'open',
    });
  });

  it('is degraded while a breaker (critical or not) is half-open', async () => {
    const c = new ManualClock();
    const breaker = new CircuitBreaker({ name: 'orders', clock: c, failureThreshold: 1, openTimeout: 100 });
    const health = new HealthMonitor({ clock: c }).register(breaker, { critical: true });
    await breaker.execute(() => Promise.reject(new Error('down'))).catch(() => {});
    c.advance(100);
    let release!: () => void;
    const probe = breaker.execute(() => new Promise<void>((r) => (release = r)));
    expect(breaker.state).toBe('half-open');
    expect((await health.check()).status).toBe('degraded');
    release();
    await probe;
    expect((await health.check()).status).toBe('healthy');
  });

  it('is degraded when a bulkhead is full, healthy again when it drains', async () => {
    const b = bulkhead({ maxConcurrent: 1, maxQueue: 1 });
    const health = new HealthMonitor({ clock }).register(b, { name: 'pool' });
    let release!: () => void;
    const running = b.execute(() => new Promise<void>((r) => (release = r)));
    expect((await health.check()).status).toBe('healthy');
    const queued = b.execute(async () => {});
    const report = await health.check();
    expect(report.status).toBe('degraded');
    expect(report.components[0]).toMatchObject({ name: 'pool', detail: { inFlight: 1, queued: 1 } });
    release();
    await Promise.all([running, queued]);
    expect((await health.check()).status).toBe('healthy');
  });

  it.each<[string, unknown, HealthStatus, HealthStatus]>([
    ['false', false, 'unhealthy', 'degraded'],
    ['a thrown error', new Error('no disk'), 'unhealthy', 'degraded'],
    ['"degraded"', 'degraded', 'degraded', 'degraded'],
    ['{ status: "unhealthy" }', { status: 'unhealthy', detail: 'x' }, 'unhealthy', 'degraded'],
  ])('weighs a check returning %s by criticality', async (_label, outcome, critical, nonCritical) => {
    const check = () => {
      if (outcome instanceof Error) throw outcome;
      return outcome as HealthStatus;
    };
    const a = new HealthMonitor({ clock }).register('dep', check, { critical: true });
    const b = new HealthMonitor({ clock }).register('dep', check);
    expect((await a.check()).status).toBe(critical);
    expect((await b.check()).status).toBe(nonCritical);
  });

  it('fails a custom check that outlives its timeout, aborting its signal, and leaves no timer', async () => {
    const c = new ManualClock();
    const health = new HealthMonitor({ clock: c, checkTimeout: 1_000 });
    let seen: AbortSignal | undefined;
    health.register(
      'slow',
      (signal) => {
        seen = signal;
        return new Promise<boolean>(() => {});
      },
      { critical: true },
    );
    const pending = health.check();
    await c.advanceAsync(999);
    expect(seen?.aborted).toBe(false);
    await c.advanceAsync(1);
    const report = await pending;
    expect(report.status).toBe('unhealthy');
    expect(seen?.aborted).toBe(true);
    expect(report.components[0]!.detail).toMatchObject({
      name: 'TimeoutError',
      message: expect.stringMatching(/1000 ms/),
    });
    expect(c.pendingTimers).toBe(0);
  });

  it('clears the timer of a check that finished in time', async () => {
    const c = new ManualClock();
    const health = new HealthMonitor({ clock: c }).register('quick', async () => true);
    await health.check();
    expect(c.pendingTimers).toBe(0);
  });

  it('emits statusChanged on every change, at once when a breaker moves', async () => {
    const breaker = new CircuitBreaker({ name: 'orders', clock, failureThreshold: 1 });
    const health = new HealthMonitor({ clock }).register(breaker, { critical: true });
    const events: StatusChangedEvent[] = [];
    health.on('statusChanged', (e) => events.push(e));
    await breaker.execute(() => Promise.reject(new Error('down'))).catch(() => {});
    expect(events.map((e) => [e.from, e.to])).toEqual([['healthy', 'unhealthy']]);
    breaker.reset();
    expect(events.map((e) => [e.from, e.to])).toEqual([
      ['healthy', 'unhealthy'],
      ['unhealthy', 'healthy'],
    ]);
    await health.check();
    expect(events).toHaveLength(2);
  });

  it('stops listening to a breaker once unregistered or disposed', () => {
    const breaker = new CircuitBreaker({ name: 'orders', clock });
    const health = new HealthMonitor({ clock }).register(breaker);
    expect(breaker.listenerCount('stateChanged')).toBe(1);
    expect(health.unregister('orders')).toBe(true);
    expect(breaker.listenerCount('stateChanged')).toBe(0);
    health.register(breaker);
    health.dispose();
    expect(breaker.listenerCount('stateChanged')).toBe(0);
  });

  it('rejects bad registrations with errors that name the problem', () => {
    const health = new HealthMonitor({ clock });
    expect(() => health.register({} as never)).toThrow(TypeError);
    expect(() => health.register('x', 'nope' as never)).toThrow(/check must be a function/);
    expect(() => health.register('x', () => true, { critical: 'yes' as never })).toThrow(
      /critical must be a boolean/,
    );
    health.register('x', () => true);
    expect(() => health.register('x', () => true)).toThrow(/already registered/);
    expect(() => new HealthMonitor({ checkTimeout: 0 })).toThrow(
      /checkTimeout must be a finite number of ms >= 1, got 0/,
    );
  });
});

describe('HealthMonitor.handler over HTTP', () => {
  let server: http.Server | undefined;
  afterEach(async () => {
    if (server) await new Promise((r) => server!.close(r));
    server = undefined;
  });

  async function get(health: HealthMonitor, method = 'GET') {
    server = http.createServer(health.handler()).listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    const response = await fetch(`http://127.0.0.1:${port}/health`, { method });
    return {
      status: response.status,
      type: response.headers.get('content-type'),
      body: await response.text(),
    };
  }

  it('answers 200 with a JSON report when healthy', async () => {
    const res = await get(new HealthMonitor().register(new CircuitBreaker({ name: 'orders' })));
    expect(res.status).toBe(200);
    expect(res.type).toMatch(/application\/json/);
    expect(JSON.parse(res.body)).toEqual({
      status: 'healthy',
      components: [
        { name: 'orders', kind: 'circuit-breaker', critical: false, status: 'healthy', detail: 'closed' },
      ],
    });
  });

  it('answers 200 when degraded', async () => {
    const res = await get(new HealthMonitor().register('cache', () => 'degraded' as const));
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body).status).toBe('degraded');
  });

  it('answers 503 when unhealthy, with a generic reason, not the error message, in the body', async () => {
    const health = new HealthMonitor().register(
      'db',
      () => {
        throw new Error('connection refused');
      },
      { critical: true },
    );
    const res = await get(health);
    expect(res.status).toBe(503);
    expect(JSON.parse(res.body).components[0]).toMatchObject({ status: 'unhealthy', detail: 'check failed' });
    expect(res.body).not.toContain('connection refused');
  });

  it('answers HEAD with the status and no body', async () => {
    const breaker = new CircuitBreaker({ name: 'orders' });
    breaker.isolate();
    const res = await get(new HealthMonitor().register(breaker, { critical: true }), 'HEAD');
    expect(res.status).toBe(503);
    expect(res.body).toBe('');
  });
});
