import http from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  type AdaptiveLimitPolicy,
  adaptiveLimit,
  CircuitBreaker,
  exponential,
  fallback,
  HealthMonitor,
  isBreakwaterError,
  isOverloadedError,
  isPriority,
  type Priority,
  pipeline,
  RetryBudget,
  retry,
  timeout,
} from 'breakwater';
import { dashboard } from 'breakwater/dashboard';
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
  /** The adaptive concurrency limit in front of the database. */
  readonly limit: AdaptiveLimitPolicy;
  readonly health: HealthMonitor;
  readonly registry: Registry;
  /**
   * Background work inside the service (a report, a cache warm-up) reading one order through
   * the same limit at `background` priority: it waits behind requests, and is refused with an
   * OverloadedError when there is no room, never served stale.
   */
  background(id: number): Promise<Order>;
  /** Counters the dashboard reads. */
  readonly stats: {
    retries: number;
    rejected: number;
    timeouts: number;
    gaveUp: number;
    /** Calls the adaptive limit turned away (queue full, or waited too long), by priority. */
    shed: Record<Priority, number>;
  };
  close(): Promise<void>;
}

/**
 * The service under test: `GET /orders/:id` reads an order through a breakwater pipeline,
 * `GET /health` reports healthy/degraded/unhealthy, `GET /metrics` serves Prometheus text,
 * `GET /dashboard/` shows it all live. A request's `x-priority` header (`critical` ... `background`)
 * is its priority at the adaptive limit; background work is refused (503) rather than served stale.
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
  // At most `limit` database calls at once; the limit follows the database's latency (Gradient2),
  // and calls over it wait, most important first, or are refused. Short windows: the demo is short.
  const limit = adaptiveLimit({
    name: 'orders-db-limit',
    initialLimit: 16,
    minLimit: 2,
    maxLimit: 32,
    windowDuration: 100,
    minWindowSamples: 5,
    maxQueue: 32,
    queueTimeout: 500,
  });
  const attempt = timeout(250);
  // Outside the breaker: a refusal by the open breaker teaches the limit nothing, and a call
  // waiting for a slot is not yet on the 250 ms clock of an attempt.
  const guarded = pipeline(limit, retries, breaker, attempt, ...db.innerPolicies);
  const policy = pipeline(stale, guarded);

  const stats = {
    retries: 0,
    rejected: 0,
    timeouts: 0,
    gaveUp: 0,
    shed: { critical: 0, high: 0, normal: 0, low: 0, background: 0 },
  };
  retries.on('retried', () => stats.retries++);
  retries.on('gaveUp', () => stats.gaveUp++);
  breaker.on('rejected', () => stats.rejected++);
  attempt.on('timedOut', () => stats.timeouts++);
  limit.on('rejected', ({ priority }) => stats.shed[priority]++);

  const registry = new Registry();
  const metrics = instrument(policy, { registry, prefix: 'demo' });
  const health = new HealthMonitor();
  health.register(breaker, { critical: false, name: 'orders-db' });
  const board = dashboard({ policies: [policy], health, title: 'breakwater demo', basePath: '/dashboard' });

  const server = http.createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://localhost');
    if (url.pathname === '/dashboard' || url.pathname.startsWith('/dashboard/'))
      return board(request, response);
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
    const priority = request.headers['x-priority'] ?? 'normal';
    if (!isPriority(priority)) {
      response.writeHead(400, { 'content-type': 'text/plain' });
      response.end(`x-priority must be one of critical, high, normal, low, background; got ${priority}`);
      return;
    }
    const abort = new AbortController();
    request.on('close', () => {
      if (!response.writableFinished) abort.abort(new Error('client went away'));
    });
    let fresh = false;
    const read = async ({ signal }: { signal: AbortSignal }) => {
      const order = await db.order(Number(id), signal);
      fresh = true;
      return order;
    };

    const options = { signal: abort.signal, key: id, priority };
    // Background work is refused when there is no room (a 503 it may retry later), not served stale.
    const answer: Promise<Order | (Order & { degraded: true })> =
      priority === 'background' ? guarded.execute(read, options) : policy.execute(read, options);
    answer
      .then((order) => {
        const source: Source = fresh ? 'database' : 'degraded' in order ? 'fallback' : 'stale';
        response.writeHead(200, { 'content-type': 'application/json', 'x-source': source });
        response.end(JSON.stringify(order));
      })
      .catch((error: unknown) => {
        const type = isBreakwaterError(error) ? error.name : 'Error';
        const headers: http.OutgoingHttpHeaders = { 'content-type': 'application/json', 'x-error': type };
        if (isOverloadedError(error))
          headers['retry-after'] = String(Math.max(1, Math.ceil(error.retryAfter / 1000)));
        response.writeHead(503, headers);
        response.end(JSON.stringify({ error: type, message: (error as Error).message }));
      });
  });
  server.keepAliveTimeout = 1_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    breaker,
    limit,
    health,
    registry,
    stats,
    background: (id) =>
      guarded.execute(({ signal }) => db.order(id, signal), { key: String(id), priority: 'background' }),
    async close() {
      board.close(); // ends open event streams, else server.close() waits for the browser
      metrics.dispose();
      health.dispose();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
