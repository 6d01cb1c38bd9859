import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DemoDatabase, embeddedDatabase } from '../../examples/demo/database.js';
import { type DemoService, startService } from '../../examples/demo/service.js';

// The demo's service while it runs: orders through the pipeline, /health and /metrics beside them.
describe('the demo service', () => {
  let db: DemoDatabase;
  let service: DemoService;

  beforeAll(async () => {
    db = await embeddedDatabase();
    service = await startService(db);
  }, 60_000); // PGlite takes many seconds to start on a loaded machine

  afterAll(async () => {
    await service?.close();
    await db?.close();
  });

  it('answers an order from the database', async () => {
    const response = await fetch(`${service.url}/orders/7`);
    expect(response.status).toBe(200);
    expect(response.headers.get('x-source')).toBe('database');
    expect(await response.json()).toEqual({ id: 7, item: 'item-7', quantity: 1 });
  });

  it('serves /health as JSON, healthy while the database answers', async () => {
    const response = await fetch(`${service.url}/health`);
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({
      status: 'healthy',
      components: [{ name: 'orders-db', kind: 'circuit-breaker', status: 'healthy' }],
    });
  });

  it('serves stale answers during an outage, then /health degraded and /metrics counting it all', async () => {
    for (let id = 1; id <= 5; id++) await fetch(`${service.url}/orders/${id}`);
    db.startOutage();
    try {
      const sources: (string | null)[] = [];
      for (let i = 0; i < 30; i++) {
        const response = await fetch(`${service.url}/orders/${1 + (i % 5)}`);
        expect(response.status).toBe(200);
        sources.push(response.headers.get('x-source'));
      }
      expect(sources.every((s) => s === 'stale')).toBe(true);
      expect(service.breaker.state).toBe('open');
      const health = await (await fetch(`${service.url}/health`)).json();
      expect(health).toMatchObject({
        status: 'degraded',
        components: [{ name: 'orders-db', detail: 'open' }],
      });
      const metrics = await (await fetch(`${service.url}/metrics`)).text();
      expect(metrics).toMatch(/^demo_circuit_state\{name="orders-db",state="open"\} 1$/m);
      expect(metrics).toMatch(
        /^demo_calls_total\{name="orders-db",policy="circuit-breaker",outcome="rejected"\} [1-9]\d*$/m,
      );
      expect(metrics).toMatch(
        /^demo_calls_total\{name="fallback",policy="fallback",outcome="stale_fallback"\} 30$/m,
      );
    } finally {
      db.endOutage();
    }
  });
});
