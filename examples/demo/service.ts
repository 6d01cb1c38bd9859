import http from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  CircuitBreaker,
  exponential,
  fallback,
  HealthMonitor,
  isBreakwaterError,
  pipeline,
  RetryBudget,
  retry,
  timeout,
} from 'breakwater';
import { instrument } from 'breakwater/prometheus';
import { Registry } from 'prom-client';
import type { DemoDatabase } from './database.js';

export interface Order {
  id: number;
  item: string;
  quantity: number;
}

/** How a response was produced, for the dashboard and the summary. */
export type Source = 'database' | 'stale' | 'fallback';

export interface DemoService {
  readonly url: string;
  readonly breaker: CircuitBreaker;
  readonly health: HealthMonitor;
  readonly registry: Registry;
  /** Counters the dashboard reads. */
  readonly stats: { retries: number; rejected: number; timeouts: number; gaveUp: number };
  close(): Promise<void>;
}

/**
 * The service under test: `GET /orders/:id` reads an order through a breakwater pipeline,
 * `GET /health` reports healthy/degraded/unhealthy, `GET /metrics` serves Prometheus text.
 */
export async function startService(db: DemoDatabase): Promise<DemoService> {
  const breaker = new CircuitBreaker({
    name: 'orders-db',
    failureRateThreshold: 0.5,
    window: { type: 'time', duration: 2_000, buckets: 4 },
    minimumCalls: 10,
    failureThreshold: 5,
    openTimeout: 1_500,
    successThreshold: 2,
  });
  const budget = new RetryBudget({ ratio: 0.2, minPerSecond: 5 });
  // An open circuit's retryAfter over maxRetryAfter (default 1 s) fails fast; maxElapsed bounds any shorter wait.
  const retries = retry({
    retries: 2,
    backoff: exponential({ initial: 20, max: 200, jitter: 'full' }),
    maxElapsed: 400,
    budget,
  });
  const stale = fallback<Order & { degraded: true }>(
    (_error, ctx) => ({ id: Number(ctx.key), item: 'unknown', quantity: 0, degraded: true }),
    {
      staleIfError: { maxAge: 60_000, maxEntries: 10_000 },
    },
  );
  const policy = pipeline(stale, retries, breaker, timeout(250), ...db.innerPolicies);

  const stats = { retries: 0, rejected: 0, timeouts: 0, gaveUp: 0 };
  retries.on('retried', () => stats.retries++);
  retries.on('gaveUp', () => stats.gaveUp++);
  breaker.on('rejected', () => stats.rejected++);
  (policy.policies[3] as ReturnType<typeof timeout>).on('timedOut', () => stats.timeouts++);

  const registry = new Registry();
  const metrics = instrument(policy, { registry, prefix: 'demo' });
  const health = new HealthMonitor();
  health.register(breaker, { critical: false, name: 'orders-db' });

  const server = http.createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://localhost');
    const match = /^\/orders\/(\d+)$/.exec(url.pathname);
    if (url.pathname === '/health') return health.handler()(request, response);
    if (url.pathname === '/metrics') {
      registry.metrics().then(
        (text) => {
          response.writeHead(200, { 'content-type': registry.contentType });
          response.end(text);
        },
        (error: unknown) => {
          response.writeHead(500, { 'content-type': 'text/plain' });
          response.end(`metrics: ${(error as Error).message}`);
        },
      );
      return;
    }
    if (!match) {
      response.writeHead(404).end();
      return;
    }
    const id = match[1]!;
    const abort = new AbortController();
    request.on('close', () => {
      if (!response.writableFinished) abort.abort(new Error('client went away'));
    });
    let fresh = false;
    policy
      .execute(
        async ({ signal }) => {
          const order = await db.order(Number(id), signal);
          fresh = true;
          return order;
        },
        { signal: abort.signal, key: id },
      )
      .then((order) => {
        const source: Source = fresh ? 'database' : 'degraded' in order ? 'fallback' : 'stale';
        response.writeHead(200, { 'content-type': 'application/json', 'x-source': source });
        response.end(JSON.stringify(order));
      })
      .catch((error: unknown) => {
        const type = isBreakwaterError(error) ? error.name : 'Error';
        response.writeHead(503, { 'content-type': 'application/json', 'x-error': type });
        response.end(JSON.stringify({ error: type, message: (error as Error).message }));
      });
  });
  server.keepAliveTimeout = 1_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    breaker,
    health,
    registry,
    stats,
    async close() {
      metrics.dispose();
      health.dispose();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
