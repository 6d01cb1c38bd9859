import { EventEmitter } from 'node:events';
import { createServer, get, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { injectFault } from '../../src/chaos/index.js';
import { createPolicies, Flag } from '../../src/config/index.js';
import { type DashboardHandler, type DashboardOptions, dashboard } from '../../src/dashboard/index.js';
import { bulkhead, CircuitBreaker, HealthMonitor, pipeline, retry } from '../../src/index.js';
import { ManualClock } from '../../src/testing/index.js';

const TOKEN = 'a-token-of-16-chars-or-more';
const open: { server: Server; handler: DashboardHandler }[] = [];

async function serve(options: DashboardOptions): Promise<{ base: string; handler: DashboardHandler }> {
  const handler = dashboard(options);
  const server = createServer((req, res) => handler(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  open.push({ server, handler });
  return { base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, handler };
}

afterEach(async () => {
  for (const { server, handler } of open.splice(0)) {
    handler.close();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

/** Reads Server-Sent Events from `url` until `count` data events arrived; resolves them and the response. */
function events(
  url: string,
  count: number,
): Promise<{ data: unknown[]; raw: string; response: IncomingMessage }> {
  return new Promise((resolve, reject) => {
    const request = get(url, (response) => {
      let raw = '';
      const data: unknown[] = [];
      response.setEncoding('utf8').on('data', (chunk: string) => {
        raw += chunk;
        for (const m of chunk.matchAll(/^data: (.*)$/gm)) data.push(JSON.parse(m[1]!));
        if (data.length >= count) resolve({ data, raw, response });
      });
    });
    request.on('error', reject);
  });
}

describe('dashboard options', () => {
  it('refuses unknown options, a short token, a bad base path and duplicate breaker names', () => {
    expect(() => dashboard({ titel: 'x' } as DashboardOptions)).toThrow(/dashboard: unknown option "titel"/);
    expect(() => dashboard({ controls: { token: 'short' } })).toThrow(
      new RangeError('controls.token must be at least 16 characters, got 5'),
    );
    expect(() => dashboard({ basePath: '/dashboard/' })).toThrow(/basePath must be/);
    expect(() => dashboard({ interval: 0 })).toThrow(/interval must be a finite number of ms in \[10/);
    expect(() =>
      dashboard({ policies: [new CircuitBreaker({ name: 'a' }), new CircuitBreaker({ name: 'a' })] }),
    ).toThrow(/two circuit breakers are named "a"/);
    expect(() => dashboard({ policies: [42] as unknown as object })).toThrow(
      /policies\[0\] must be a policy/,
    );
    expect(() => dashboard({ health: {} as HealthMonitor })).toThrow(/health must be a HealthMonitor/);
  });
});

describe('dashboard view', () => {
  it('finds policies in pipelines, arrays and records, and duck-typed limits, shedders and queues', () => {
    const breaker = new CircuitBreaker({ name: 'orders-db' });
    const pool = bulkhead({ name: 'pool', maxConcurrent: 2, maxQueue: Number.POSITIVE_INFINITY });
    const flag = new Flag({ name: 'chaos', enabled: true });
    const faults = injectFault({ name: 'faults', rate: 0.5, enabled: flag.read });
    flag.controls(faults);
    const bare = injectFault({ name: 'bare', rate: 0.5 });
    const handler = dashboard({
      policies: {
        orders: pipeline(retry(), pool, breaker),
        extra: [
          { name: 'adaptive', kind: 'adaptive-limit', inFlight: 3, limit: 10, queued: 1 },
          { name: 'shedder', kind: 'load-shedder', pressure: 0.4, shedding: ['background'] },
          {
            name: 'later',
            enqueue() {},
            stats: async () => ({ depth: 7, inFlight: 1, deadLetters: 2, paused: false }),
          },
        ],
        chaos: { faults, bare, flag },
      },
    });
    const view = handler.view();
    handler.close();
    expect(view.breakers.map((b) => [b.name, b.state, b.retryAfter])).toEqual([['orders-db', 'closed', 0]]);
    expect(view.limits).toEqual([
      { name: 'pool', kind: 'bulkhead', inFlight: 0, queued: 0, limit: 2, maxQueue: null },
      { name: 'adaptive', kind: 'adaptive-limit', inFlight: 3, queued: 1, limit: 10, maxQueue: null },
    ]);
    expect(view.shedders).toEqual([{ name: 'shedder', pressure: 0.4, shedding: ['background'] }]);
    // A queue's stats() is asynchronous: read for each update, shown once it answered.
    expect(view.queues).toEqual([
      { name: 'later', depth: null, inFlight: null, deadLetters: null, paused: null },
    ]);
    expect(view.switches).toEqual([{ name: 'chaos', enabled: true, chaos: ['faults'] }]);
    expect(view.chaos).toEqual([
      { name: 'faults', flag: 'chaos' },
      { name: 'bare', flag: null },
    ]);
    expect(view.health).toBeNull();
    expect(view.controls).toBe(false);
  });

  it('shows what createPolicies built, each policy once however many pipelines share it', () => {
    const policies = createPolicies({
      breakers: { db: {} },
      bulkheads: { pool: { maxConcurrent: 4 } },
      flags: { chaos: false },
      chaos: { faults: { type: 'fault', rate: 0.1, flag: 'chaos' } },
      pipelines: {
        a: { policies: ['bulkhead:pool', 'breaker:db'] },
        b: { policies: ['chaos:faults', 'breaker:db'] },
      },
    });
    const handler = dashboard({ policies });
    const view = handler.view();
    handler.close();
    expect(view.breakers.map((b) => b.name)).toEqual(['db']);
    expect(view.limits.map((l) => l.name)).toEqual(['pool']);
    expect(view.switches).toEqual([{ name: 'chaos', enabled: false, chaos: ['faults'] }]);
    expect(view.chaos).toEqual([{ name: 'faults', flag: 'chaos' }]);
  });

  it('counts calls per second, the failure rate and p99 over the last 10 whole seconds, and the chart', async () => {
    const clock = new ManualClock(1_000_000);
    const breaker = new CircuitBreaker({ name: 'b', clock, failureThreshold: 1_000 });
    const handler = dashboard({ policies: [breaker], clock });
    for (let s = 0; s < 10; s++) {
      for (let k = 0; k < 10; k++) {
        await breaker
          .execute(() => {
            clock.advance(k === 9 ? 90 : 5);
            if (k === 0) throw new Error('down');
            return k;
          })
          .catch(() => {});
      }
      clock.advance(1_000 - 135);
    }
    const [b] = handler.view().breakers;
    handler.close();
    expect(b!.callsPerSecond).toBe(10);
    expect(b!.failureRate).toBe(0.1);
    // 100 durations: ninety of 5 ms and ten of 90 ms; the 99th percentile is 90.
    expect(b!.p99).toBe(90);
    expect(b!.history.ok).toHaveLength(60);
    expect(b!.history.ok.reduce((x, y) => x + y, 0)).toBe(90);
    expect(b!.history.failed.reduce((x, y) => x + y, 0)).toBe(10);
    // Isolated: never admits a probe, shown as null.
    breaker.isolate();
    const again = dashboard({ policies: [breaker], clock });
    expect(again.view().breakers[0]!.retryAfter).toBeNull();
    again.close();
    expect(breaker.listenerCount('succeeded')).toBe(0);
    expect(breaker.listenerCount('stateChanged')).toBe(0);
  });
});

describe('dashboard over HTTP', () => {
  it('serves one self-contained page that names no external resource', async () => {
    const { base } = await serve({
      policies: [new CircuitBreaker({ name: 'x' })],
      basePath: '/ops',
      title: '<T&>',
    });
    const response = await fetch(`${base}/ops/`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(response.headers.get('content-security-policy')).toContain("default-src 'none'");
    const html = await response.text();
    expect(html).toContain('<title>&#60;T&#38;&#62;</title>');
    // No external script, stylesheet, font or image: nothing is fetched but the page's own routes.
    expect(html).not.toMatch(/\b(src|href)\s*=|@import|url\(|@font-face/);
    expect(html.match(/https?:\/\/[^'"\s]*/g)).toEqual(['http://www.w3.org/2000/svg']); // an XML namespace, never fetched
    console.log(`dashboard page: ${Buffer.byteLength(html)} bytes (one breaker)`);
    expect(Buffer.byteLength(html)).toBeLessThan(16_000);
  });

  it('redirects the base path to its trailing slash, hands other paths to next, and 404s without next', async () => {
    const handler = dashboard({ basePath: '/dash' });
    const server = createServer((req, res) => handler(req, res, () => res.writeHead(299).end()));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    open.push({ server, handler });
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const redirect = await fetch(`${base}/dash?x=1`, { redirect: 'manual' });
    expect(redirect.status).toBe(308);
    expect(redirect.headers.get('location')).toBe('/dash/?x=1');
    expect((await fetch(`${base}/other`)).status).toBe(299);
    expect((await fetch(`${base}/dash/nothing`)).status).toBe(299);
    const { base: bare } = await serve({});
    expect((await fetch(`${bare}/nothing/here`)).status).toBe(404);
  });

  it('routes on the path a router hands over (Express strips its mount path)', async () => {
    const handler = dashboard({});
    const response = new FakeResponse();
    handler(
      { method: 'GET', url: '/state', originalUrl: '/mounted/state', headers: {} } as never,
      response as never,
    );
    await vi.waitFor(() => expect(response.code).toBe(200));
    expect(JSON.parse(response.body).title).toBe('breakwater');
    // The page asked for at the mount path without its slash is sent to it, so relative links resolve.
    const page = new FakeResponse();
    handler({ method: 'GET', url: '/', originalUrl: '/mounted', headers: {} } as never, page as never);
    await vi.waitFor(() => expect(page.code).toBe(308));
    handler.close();
  });

  it('streams updates, pushes a state change at once, and stops its timer when the last page goes', async () => {
    const clock = new ManualClock(5_000);
    const breaker = new CircuitBreaker({ name: 'b', clock });
    const { base, handler } = await serve({ policies: [breaker], clock, interval: 60_000 });
    expect(handler.watching).toBe(false);
    const first = await events(`${base}/events`, 1);
    expect(first.response.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    expect(first.raw.startsWith('retry: 2000\n\n')).toBe(true);
    expect((first.data[0] as { breakers: { state: string }[] }).breakers[0]!.state).toBe('closed');
    expect(handler.clients).toBe(1);
    expect(handler.watching).toBe(true);
    // The interval is a minute: the change arrives because a state change is pushed at once.
    const next = new Promise<unknown>((resolve) =>
      first.response.on('data', (chunk: string) => {
        const m = /^data: (.*)$/m.exec(chunk);
        if (m) resolve(JSON.parse(m[1]!));
      }),
    );
    breaker.isolate();
    expect(((await next) as { breakers: { state: string }[] }).breakers[0]!.state).toBe('isolated');
    first.response.destroy();
    await vi.waitFor(() => expect(handler.clients).toBe(0));
    expect(handler.watching).toBe(false);
  });

  it('sends a heartbeat when nothing changed for `heartbeat` ms, and nothing more', async () => {
    const clock = new ManualClock(0);
    const { base, handler } = await serve({ clock, interval: 10, heartbeat: 1_000 });
    const stream = await events(`${base}/events`, 1);
    let more = '';
    stream.response.on('data', (chunk: string) => {
      more += chunk;
    });
    clock.advance(1_000);
    await vi.waitFor(() => expect(more).toContain(': heartbeat\n\n'));
    expect(more).not.toContain('data:');
    stream.response.destroy();
    await vi.waitFor(() => expect(handler.clients).toBe(0));
  });

  it('turns away pages past maxClients with a 503', async () => {
    const { base } = await serve({ maxClients: 1 });
    const first = await events(`${base}/events`, 1);
    const second = await fetch(`${base}/events`);
    expect(second.status).toBe(503);
    first.response.destroy();
  });

  it('obeys controls only by POST with the token', async () => {
    const breaker = new CircuitBreaker({ name: 'orders db' });
    const flag = new Flag({ name: 'chaos' });
    const { base } = await serve({ policies: [breaker, flag], controls: { token: TOKEN } });
    const url = `${base}/breakers/orders%20db/isolate`;
    expect((await fetch(url, { method: 'POST' })).status).toBe(403);
    expect(
      (await fetch(url, { method: 'POST', headers: { 'x-breakwater-token': `${TOKEN}x` } })).status,
    ).toBe(403);
    expect((await fetch(url, { headers: { 'x-breakwater-token': TOKEN } })).status).toBe(405);
    expect(breaker.state).toBe('closed');
    const post = (path: string) =>
      fetch(`${base}/${path}`, { method: 'POST', headers: { 'x-breakwater-token': TOKEN } });
    const isolated = await post('breakers/orders%20db/isolate');
    expect(isolated.status).toBe(200);
    expect(await isolated.json()).toEqual({ name: 'orders db', state: 'isolated' });
    expect(breaker.state).toBe('isolated');
    expect((await post('breakers/orders%20db/disable')).status).toBe(200);
    expect(breaker.state).toBe('disabled');
    expect((await post('breakers/orders%20db/reset')).status).toBe(200);
    expect(breaker.state).toBe('closed');
    expect((await post('breakers/orders%20db/explode')).status).toBe(404);
    expect((await post('breakers/nobody/isolate')).status).toBe(404);
    expect(await (await post('flags/chaos/on')).json()).toEqual({ name: 'chaos', state: 'on' });
    expect(flag.enabled).toBe(true);
    expect((await post('flags/chaos/off')).status).toBe(200);
    expect(flag.enabled).toBe(false);
  });

  it('has no controls without the option: every control is a 403', async () => {
    const breaker = new CircuitBreaker({ name: 'b' });
    const { base } = await serve({ policies: [breaker] });
    const r = await fetch(`${base}/breakers/b/isolate`, {
      method: 'POST',
      headers: { 'x-breakwater-token': TOKEN },
    });
    expect(r.status).toBe(403);
    expect(breaker.state).toBe('closed');
  });

  it("reads each deferred queue's stats() for the page, and keeps the last when one fails", async () => {
    let fail = false;
    const queue = {
      name: 'mail',
      enqueue() {},
      stats: async () => {
        if (fail) throw new Error('store down');
        return { depth: 3, inFlight: 1, deadLetters: 4, paused: true };
      },
    };
    const { base } = await serve({ policies: [queue] });
    const expected = [{ name: 'mail', depth: 3, inFlight: 1, deadLetters: 4, paused: true }];
    expect(((await (await fetch(`${base}/state`)).json()) as { queues: unknown }).queues).toEqual(expected);
    fail = true;
    expect(((await (await fetch(`${base}/state`)).json()) as { queues: unknown }).queues).toEqual(expected);
  });

  it('shows the health monitor with its components', async () => {
    const breaker = new CircuitBreaker({ name: 'b' });
    const health = new HealthMonitor()
      .register(breaker, { critical: true })
      .register('disk', () => 'degraded');
    const { base } = await serve({ policies: [breaker], health });
    const state = (await (await fetch(`${base}/state`)).json()) as { health: unknown };
    expect(state.health).toEqual({
      status: 'degraded',
      components: [
        { name: 'b', kind: 'circuit-breaker', critical: true, status: 'healthy', reason: null },
        { name: 'disk', kind: 'check', critical: false, status: 'degraded', reason: null },
      ],
    });
  });
});

/** A response that records what is written, and can pretend to be a slow reader. */
class FakeResponse extends EventEmitter {
  code = 0;
  body = '';
  writableLength = 0;
  destroyed = false;
  writableEnded = false;
  headersSent = false;
  writeHead(code: number): this {
    this.code = code;
    this.headersSent = true;
    return this;
  }
  write(chunk: string): boolean {
    this.body += chunk;
    this.writableLength += chunk.length;
    return false; // never drains
  }
  end(chunk?: string): void {
    if (chunk) this.body += chunk;
    this.writableEnded = true;
  }
  destroy(): void {
    this.destroyed = true;
    this.emit('close');
  }
}

describe('a page that reads too slowly', () => {
  it('gets no update while its buffer is full, and is cut off past 256 KB unsent', async () => {
    const breaker = new CircuitBreaker({ name: 'b' });
    const handler = dashboard({ policies: [breaker] });
    const request = Object.assign(new EventEmitter(), { method: 'GET', url: '/events', headers: {} });
    const response = new FakeResponse();
    handler(request as unknown as IncomingMessage, response as unknown as ServerResponse);
    await vi.waitFor(() => expect(response.body).toContain('data: '));
    expect(handler.clients).toBe(1);
    const sent = response.body.length;
    breaker.isolate();
    await new Promise((resolve) => setImmediate(resolve));
    expect(response.body.length).toBe(sent); // blocked until 'drain'
    response.writableLength = 300 * 1024;
    response.emit('drain');
    breaker.disable();
    await vi.waitFor(() => expect(response.destroyed).toBe(true));
    expect(handler.clients).toBe(0);
    expect(handler.watching).toBe(false);
    handler.close();
  });
});
