import { afterEach, describe, expect, it } from 'vitest';
import { Emitter } from '../../src/emitter.js';
import { type AdaptiveLimitHealth, HealthMonitor, type StatusChangedEvent } from '../../src/health/index.js';
import { type LoadShedderPolicy, loadShedder } from '../../src/shedder/index.js';
import { ManualClock } from '../../src/testing/index.js';

const shedders: LoadShedderPolicy[] = [];
afterEach(() => {
  for (const s of shedders.splice(0)) s.dispose();
});

/** A shedder whose readings the test sets: `sample(pressure)` moves it to that pressure. */
function probed(name?: string) {
  const clock = new ManualClock();
  let delay = 0;
  const shedder = loadShedder({
    maxEventLoopDelay: 1,
    sampleInterval: 10,
    clock,
    probe: () => ({ eventLoopDelay: delay }),
    ...(name === undefined ? {} : { name }),
  });
  shedders.push(shedder);
  const sample = (pressure: number) => {
    delay = pressure;
    clock.advance(10);
  };
  return { shedder, sample };
}

/** A stand-in with the shape of `adaptiveLimit(...)`. */
class FakeLimit
  extends Emitter<{ limitChanged: [{ from: number; to: number }] }>
  implements AdaptiveLimitHealth
{
  readonly kind = 'adaptive-limit' as const;
  name = 'orders-db';
  limit = 10;
  minLimit = 2;
  inFlight = 0;
  queued = 0;
  maxQueue = 5;
  move(to: number): void {
    const from = this.limit;
    this.limit = to;
    this.emit('limitChanged', { from, to });
  }
}

describe('HealthMonitor with a load shedder', () => {
  it('is healthy while nothing is shed, degraded while any priority is, unhealthy while high is', async () => {
    const { shedder, sample } = probed();
    const health = new HealthMonitor().register(shedder);
    const changes: StatusChangedEvent[] = [];
    health.on('statusChanged', (e) => changes.push(e));
    expect((await health.check()).status).toBe('healthy');
    sample(0.6); // background shed
    expect(health.status).toBe('degraded'); // at once, no check() needed
    sample(0.95);
    sample(1.2); // high shed: only critical calls are served
    expect(health.status).toBe('unhealthy');
    const report = await health.check();
    expect(report.retryAfter).toBe(10);
    expect(report.components[0]).toMatchObject({
      name: 'load-shedder',
      kind: 'load-shedder',
      critical: true,
      status: 'unhealthy',
      retryAfter: 10,
      detail: { pressure: 1.2, shedding: ['high', 'normal', 'low', 'background'] },
    });
    sample(0);
    expect(health.status).toBe('healthy');
    expect(changes.map((e) => [e.from, e.to])).toEqual([
      ['healthy', 'degraded'],
      ['degraded', 'unhealthy'],
      ['unhealthy', 'healthy'],
    ]);
  });

  it('weighs as degraded at most when registered as not critical', () => {
    const { shedder, sample } = probed();
    const health = new HealthMonitor().register(shedder, { critical: false, name: 'cpu' });
    sample(2);
    expect(health.status).toBe('degraded');
  });

  it('stops following the shedder once unregistered or disposed', () => {
    const { shedder } = probed('a');
    const health = new HealthMonitor().register(shedder);
    expect(shedder.listenerCount('sheddingChanged')).toBe(1);
    health.unregister('a');
    expect(shedder.listenerCount('sheddingChanged')).toBe(0);
    health.register(shedder);
    health.dispose();
    expect(shedder.listenerCount('sheddingChanged')).toBe(0);
  });
});

describe('HealthMonitor with an adaptive limit', () => {
  it('is degraded when the limit has no room left, or sits at minLimit with calls waiting', async () => {
    const limit = new FakeLimit();
    const health = new HealthMonitor().register(limit);
    expect((await health.check()).components[0]).toMatchObject({
      name: 'orders-db',
      kind: 'adaptive-limit',
      critical: false,
      status: 'healthy',
      detail: { limit: 10, minLimit: 2, inFlight: 0, queued: 0, maxQueue: 5 },
    });
    limit.inFlight = 10;
    limit.queued = 5;
    expect((await health.check()).status).toBe('degraded');
    limit.inFlight = 2;
    limit.queued = 1;
    expect((await health.check()).status).toBe('healthy');
    limit.move(2); // at its floor with a call waiting: refreshed at once
    expect(health.status).toBe('degraded');
    limit.queued = 0;
    limit.move(3);
    expect(health.status).toBe('healthy');
    health.dispose();
    expect(limit.listenerCount('limitChanged')).toBe(0);
  });

  it('rejects an object that only claims to be one', () => {
    expect(() => new HealthMonitor().register({ kind: 'adaptive-limit' } as never)).toThrow(
      /expected a CircuitBreaker, a bulkhead, a load shedder, an adaptive limit/,
    );
  });
});
