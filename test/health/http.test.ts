import { describe, expect, it } from 'vitest';
import { CircuitBreaker, HealthMonitor, isBreakwaterError } from '../../src/index.js';
import { ManualClock } from '../../src/testing/index.js';
import { callHandler, collectWarnings, nextTick, request } from './support.js';

const warnings = collectWarnings();

function cyclic(): unknown {
  const detail: Record<string, unknown> = { host: 'db-1' };
  detail.self = detail;
  return detail;
}

describe('handler() with details JSON cannot hold', () => {
  it.each<[string, () => unknown]>([
    ['a cyclic object', cyclic],
    [
      'a throwing toJSON',
      () => ({
        toJSON() {
          throw new Error('no');
        },
      }),
    ],
    [
      'a Proxy whose traps throw',
      () =>
        new Proxy(
          {},
          {
            ownKeys() {
              throw new Error('trap');
            },
          },
        ),
    ],
  ])('answers with %s replaced by a marker, the status code still right', async (_label, detail) => {
    const health = new HealthMonitor()
      .register('db', () => ({ status: 'unhealthy', detail: detail() }) as never, { critical: true })
      .register('cache', () => ({ status: 'healthy', detail: { hits: 3 } }) as never);
    const res = await request(health);
    expect(res.status).toBe(503);
    expect(JSON.parse(res.body)).toEqual({
      status: 'unhealthy',
      components: [
        { name: 'db', kind: 'check', critical: true, status: 'unhealthy', detail: '[unserializable]' },
        { name: 'cache', kind: 'check', critical: false, status: 'healthy', detail: { hits: 3 } },
      ],
    });
  });

  it('sends a BigInt as its decimal string, and a healthy report stays 200', async () => {
    const health = new HealthMonitor().register(
      'disk',
      () => ({ status: 'healthy', detail: { free: 2n ** 64n } }) as never,
    );
    const res = await request(health);
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body).components[0].detail).toEqual({ free: '18446744073709551616' });
  });
});

describe('handler() does not leak internal error messages', () => {
  it('sends "check failed" for a check that threw; check() keeps the error', async () => {
    const error = new Error('connect ECONNREFUSED 10.1.2.3:5432 (user=admin)');
    const health = new HealthMonitor().register(
      'db',
      () => {
        throw error;
      },
      { critical: true },
    );
    const res = await request(health);
    expect(res.status).toBe(503);
    expect(res.body).not.toContain('ECONNREFUSED');
    expect(JSON.parse(res.body).components[0]).toMatchObject({ status: 'unhealthy', detail: 'check failed' });
    expect((await health.check()).components[0]!.detail).toBe(error);
  });

  it('sends "check timed out after N ms" for a check that timed out', async () => {
    const clock = new ManualClock();
    const health = new HealthMonitor({ clock, checkTimeout: 250 }).register(
      'slow',
      () => new Promise<boolean>(() => {}),
      { critical: true },
    );
    const answer = callHandler(health);
    await clock.advanceAsync(250);
    const res = await answer;
    expect(res.status).toBe(503);
    expect(JSON.parse(res.body!).components[0].detail).toBe('check timed out after 250 ms');
    expect(clock.pendingTimers).toBe(0);
  });

  it('sends "check returned an invalid result" rather than what was returned', async () => {
    const health = new HealthMonitor().register('db', () => 'password=hunter2' as never, { critical: true });
    const res = await request(health);
    expect(res.status).toBe(503);
    expect(res.body).not.toContain('hunter2');
    expect(JSON.parse(res.body).components[0].detail).toBe('check returned an invalid result');
  });

  it('replaces an Error inside a returned detail with "[error]"', async () => {
    const health = new HealthMonitor().register(
      'db',
      () => ({ status: 'degraded', detail: { replica: 'lagging', last: new Error('secret host') } }) as never,
    );
    const res = await request(health);
    expect(res.status).toBe(200);
    expect(res.body).not.toContain('secret host');
    expect(JSON.parse(res.body).components[0].detail).toEqual({ replica: 'lagging', last: '[error]' });
  });

  it('answers 500 with a generic body when no report can be made, and warns with the cause', async () => {
    const health = new HealthMonitor();
    const secret = new Error('internal: /etc/app/secret.yaml');
    health.check = () => Promise.reject(secret);
    const res = await request(health);
    expect(res.status).toBe(500);
    expect(res.headers.get('content-type')).toMatch(/application\/json/);
    expect(res.body).not.toContain('secret');
    expect(JSON.parse(res.body)).toEqual({ status: 'unhealthy', error: 'health report failed' });
    await nextTick();
    expect(warnings).toHaveLength(1);
    expect(isBreakwaterError(warnings[0])).toBe(true);
    expect(warnings[0]!.cause).toBe(secret);
  });

  it('answers even when a statusChanged listener throws', async () => {
    const health = new HealthMonitor().register('db', () => false, { critical: true });
    health.on('statusChanged', () => {
      throw new Error('listener secret');
    });
    const res = await request(health);
    expect(res.status).toBe(503);
    expect(res.body).not.toContain('listener secret');
    await nextTick();
    expect(warnings.map((w) => w.name)).toEqual(['ListenerError']);
  });
});

describe('retryAfter for open breakers', () => {
  async function tripped(clock: ManualClock, name = 'orders') {
    const breaker = new CircuitBreaker({ name, clock, failureThreshold: 1, openTimeout: 30_000 });
    await breaker.execute(() => Promise.reject(new Error('down'))).catch(() => {});
    return breaker;
  }

  it('reports ms until a probe and the reason, and a Retry-After header in whole seconds rounded up', async () => {
    const clock = new ManualClock();
    const breaker = new CircuitBreaker({ name: 'orders', clock, failureThreshold: 1, openTimeout: 30_000 });
    const health = new HealthMonitor({ clock }).register(breaker, { critical: true });
    await breaker.execute(() => Promise.reject(new Error('down'))).catch(() => {});
    clock.advance(1_500);

    const report = await health.check();
    expect(report).toMatchObject({ status: 'unhealthy', retryAfter: 28_500 });
    expect(report.components[0]).toMatchObject({
      detail: 'open',
      retryAfter: 28_500,
      reason: 'consecutive-failures',
    });

    const res = await request(health);
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('29');
    expect(JSON.parse(res.body)).toEqual({
      status: 'unhealthy',
      retryAfter: 28_500,
      components: [
        {
          name: 'orders',
          kind: 'circuit-breaker',
          critical: true,
          status: 'unhealthy',
          retryAfter: 28_500,
          reason: 'consecutive-failures',
          detail: 'open',
        },
      ],
    });
  });

  it('waits for the last of several open critical breakers', async () => {
    const clock = new ManualClock();
    const a = await tripped(clock, 'a');
    clock.advance(10_000);
    const b = await tripped(clock, 'b');
    const health = new HealthMonitor({ clock })
      .register(a, { critical: true })
      .register(b, { critical: true });
    const res = await callHandler(health);
    expect(res.status).toBe(503);
    expect(res.headers['retry-after']).toBe(30);
  });

  it('sends no Retry-After when the time is not known: an isolated breaker or a failing critical check', async () => {
    const clock = new ManualClock();
    const isolated = new CircuitBreaker({ name: 'orders', clock });
    const a = new HealthMonitor({ clock }).register(isolated, { critical: true });
    isolated.isolate();
    const resA = await callHandler(a);
    expect(resA.status).toBe(503);
    expect(resA.headers['retry-after']).toBeUndefined();
    expect(JSON.parse(resA.body!).components[0]).not.toHaveProperty('retryAfter');
    expect(JSON.parse(resA.body!).components[0].reason).toBe('isolated');

    const b = new HealthMonitor({ clock })
      .register(await tripped(clock), { critical: true })
      .register('db', () => false, { critical: true });
    const resB = await callHandler(b);
    expect(resB.status).toBe(503);
    expect(resB.headers['retry-after']).toBeUndefined();
    expect(JSON.parse(resB.body!)).not.toHaveProperty('retryAfter');
  });

  it('sends no Retry-After with a 200: a non-critical open breaker still reports its retryAfter', async () => {
    const clock = new ManualClock();
    const health = new HealthMonitor({ clock }).register(await tripped(clock));
    const res = await callHandler(health);
    expect(res.status).toBe(200);
    expect(res.headers['retry-after']).toBeUndefined();
    const body = JSON.parse(res.body!);
    expect(body).not.toHaveProperty('retryAfter');
    expect(body.components[0]).toMatchObject({ status: 'unhealthy', retryAfter: 30_000 });
  });

  it('reports retryAfter 0 and degraded once a probe is due', async () => {
    const clock = new ManualClock();
    const health = new HealthMonitor({ clock }).register(await tripped(clock), { critical: true });
    clock.advance(30_000);
    const report = await health.check();
    expect(report.status).toBe('degraded');
    expect(report).not.toHaveProperty('retryAfter');
    expect(report.components[0]).toMatchObject({ status: 'degraded', retryAfter: 0 });
  });
});
