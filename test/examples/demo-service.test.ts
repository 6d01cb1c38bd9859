import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DemoDatabase, embeddedDatabase } from '../../examples/demo/database.js';
import { type DemoService, startService } from '../../examples/demo/service.js';

// The demo's service while it runs: orders through the pipeline, /health, /metrics and /dashboard/ beside them.
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

  it('serves the live dashboard page at /dashboard/, showing the breaker and the limit', async () => {
    const response = await fetch(`${service.url}/dashboard/`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/html/);
    const page = await response.text();
    expect(page).toMatch(/^<!doctype html>/i);
    expect(page).toContain('breakwater demo');
    expect(page).toContain('orders-db');
    expect(page).toContain('orders-db-limit');
  });

  it('takes a priority from x-priority, and refuses a bad one', async () => {
    const critical = await fetch(`${service.url}/orders/3`, { headers: { 'x-priority': 'critical' } });
    expect(critical.status).toBe(200);
    expect(await critical.json()).toEqual({ id: 3, item: 'item-3', quantity: 4 });
    const bad = await fetch(`${service.url}/orders/3`, { headers: { 'x-priority': 'urgent' } });
    expect(bad.status).toBe(400);
    expect(await bad.text()).toContain('urgent');
  });

  it('under a burst of background work, sheds some of it and still answers a critical request', async () => {
    const shedBefore = service.stats.shed.background;
    // More background reads at once than the limit (at most 16) and its queue (32) hold.
    const reads = Array.from({ length: 60 }, (_, i) =>
      service.background(1 + i).then(
        (order) => (order.id === 1 + i ? 'answered' : 'wrong order'),
        (error: Error) => error.name,
      ),
    );
    expect(service.limit.queued).toBeGreaterThan(0);
    const critical = await fetch(`${service.url}/orders/9`, { headers: { 'x-priority': 'critical' } });
    expect(critical.status).toBe(200);
    expect(critical.headers.get('x-source')).toBe('database');
    const outcomes = await Promise.all(reads);
    expect(new Set(outcomes)).toEqual(new Set(['answered', 'OverloadedError']));
    expect(service.stats.shed.background - shedBefore).toBe(outcomes.filter((o) => o !== 'answered').length);
    expect(service.stats.shed.critical).toBe(0);
    expect(service.limit.inFlight).toBe(0);
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
