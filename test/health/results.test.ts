import { describe, expect, it } from 'vitest';
import { HealthMonitor } from '../../src/index.js';
import { ManualClock } from '../../src/testing/index.js';
import { deferred } from '../helpers/promises.js';

const clock = new ManualClock();

describe('what a check returns', () => {
  it.each<[string, unknown]>([
    ['"constructor"', 'constructor'],
    ['"__proto__"', '__proto__'],
    ['"toString"', 'toString'],
    ['"hasOwnProperty"', 'hasOwnProperty'],
    ['"Healthy"', 'Healthy'],
    ['{ status: "hasOwnProperty" }', { status: 'hasOwnProperty' }],
    ['{ status: "__proto__" }', { status: '__proto__' }],
    ['{ status: "valueOf" }', { status: 'valueOf' }],
    ['{}', {}],
    ['null', null],
    ['0', 0],
    ['1', 1],
    ['an array', ['healthy']],
  ])('counts an unknown result, %s, as unhealthy', async (_label, result) => {
    const health = new HealthMonitor({ clock }).register('dep', () => result as never, { critical: true });
    const report = await health.check();
    expect(report.status).toBe('unhealthy');
    expect(report.components[0]).toMatchObject({ status: 'unhealthy', detail: /^check returned / });
  });

  it('cannot override its own name, kind or critical flag', async () => {
    const health = new HealthMonitor({ clock }).register(
      'db',
      () =>
        ({
          status: 'unhealthy',
          detail: 'down',
          critical: false,
          name: 'something-else',
          kind: 'circuit-breaker',
        }) as never,
      { critical: true },
    );
    const report = await health.check();
    expect(report.status).toBe('unhealthy');
    expect(report.components).toEqual([
      { name: 'db', kind: 'check', critical: true, status: 'unhealthy', detail: 'down' },
    ]);
    // and the other way round: a non-critical check cannot make itself critical
    const lenient = new HealthMonitor({ clock }).register(
      'cache',
      () => ({ status: 'unhealthy', critical: true }) as never,
    );
    expect((await lenient.check()).status).toBe('degraded');
  });

  it('reads status and detail once each (a getter cannot answer differently later)', async () => {
    let reads = 0;
    const result = {
      get status() {
        reads++;
        return reads === 1 ? 'healthy' : 'unhealthy';
      },
    };
    const health = new HealthMonitor({ clock }).register('flaky', () => result as never, { critical: true });
    expect((await health.check()).status).toBe('healthy');
    expect(reads).toBe(1);
  });

  it('counts a result whose status getter throws as a failed check', async () => {
    const health = new HealthMonitor({ clock }).register(
      'hostile',
      () =>
        new Proxy({} as never, {
          get(_target, key) {
            if (key === 'status') throw new Error('trap');
            return undefined;
          },
        }),
      { critical: true },
    );
    const report = await health.check();
    expect(report.status).toBe('unhealthy');
    expect(report.components[0]!.detail).toMatchObject({ message: 'trap' });
  });
});

describe('overlapping runs of one check', () => {
  it('keep the result of the run started last, even when an older, slower run ends after it', async () => {
    const runs = [deferred<boolean>(), deferred<boolean>()];
    let n = 0;
    const health = new HealthMonitor({ clock }).register('db', () => runs[n++]!.promise, { critical: true });
    const older = health.check();
    const newer = health.check();
    runs[1]!.resolve(true); // the newer run: healthy
    expect((await newer).status).toBe('healthy');
    runs[0]!.resolve(false); // the older run ends last: unhealthy, stale
    expect((await older).status).toBe('healthy');
    expect(health.status).toBe('healthy');
  });

  it('apply an older run that ends while the newer one is still running, until the newer ends', async () => {
    const runs = [deferred<boolean>(), deferred<boolean>()];
    let n = 0;
    const health = new HealthMonitor({ clock }).register('db', () => runs[n++]!.promise, { critical: true });
    const older = health.check();
    const newer = health.check();
    runs[0]!.resolve(false);
    expect((await older).status).toBe('unhealthy');
    runs[1]!.resolve(true);
    expect((await newer).status).toBe('healthy');
    expect(health.status).toBe('healthy');
  });
});
