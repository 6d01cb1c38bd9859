import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { injectFault } from '../../src/chaos/index.js';
import { Flag } from '../../src/config/index.js';
import { type DashboardHandler, dashboard } from '../../src/dashboard/index.js';
import { bulkhead, CircuitBreaker, HealthMonitor, pipeline, timeout } from '../../src/index.js';
import { ManualClock } from '../../src/testing/index.js';

export const TOKEN = 'test-token-0123456789abcdef';
/** A fixed time, so the page's clock, counts and countdowns render the same on every run. */
export const START = Date.UTC(2026, 0, 15, 12, 0, 0);

/**
 * A small service under the dashboard: two breakers, a bulkhead, a chaos flag and a health
 * monitor, all on one manual clock, with two minutes of recorded traffic (an outage at 70 s
 * opens orders-db, which rejects calls until it closes again at 100 s).
 */
export interface Service {
  readonly url: string;
  readonly clock: ManualClock;
  readonly orders: CircuitBreaker;
  readonly search: CircuitBreaker;
  readonly handler: DashboardHandler;
  readonly server: Server;
  /** Fails orders-db calls until its breaker opens (5 consecutive failures). */
  trip(): Promise<void>;
  close(): Promise<void>;
}

export async function startService(options: { interval?: number } = {}): Promise<Service> {
  const clock = new ManualClock(START);
  const orders = new CircuitBreaker({ name: 'orders-db', clock, openTimeout: 30_000 });
  const search = new CircuitBreaker({ name: 'search', clock, failureRateThreshold: 0.5, minimumCalls: 20 });
  const pool = bulkhead({ name: 'orders-pool', maxConcurrent: 8, maxQueue: 16 });
  const chaos = new Flag({ name: 'chaos' });
  const faults = injectFault({ name: 'orders-faults', rate: 0.05, enabled: chaos.read });
  chaos.controls(faults);
  const health = new HealthMonitor({ clock })
    .register(orders, { critical: true })
    .register(search)
    .register(pool)
    .register('disk', () => true);
  const handler = dashboard({
    policies: [pipeline(pool, orders, timeout({ ms: 1_000, clock })), search, faults, chaos],
    health,
    title: 'Orders service',
    basePath: '/dashboard',
    controls: { token: TOKEN },
    clock,
    interval: options.interval ?? 1_000,
  });
  // Two minutes of traffic; each call takes a few ms of the manual clock.
  for (let second = 0; second < 120; second++) {
    for (let k = 0; k < 6; k++) {
      await orders
        .execute(() => {
          clock.advance(8 + ((second * 7 + k * 13) % 40));
          // A short outage at t=70 s trips the breaker; it rejects calls until a probe at t=100 s succeeds.
          if ((second % 15 === 3 && k === 2) || (second >= 70 && second < 73))
            throw new Error('connection reset');
          return 'ok';
        })
        .catch(() => {});
    }
    for (let k = 0; k < 3; k++) {
      await search.execute(() => {
        clock.advance(2 + k);
        return 'ok';
      });
    }
    clock.advance(1_000 - (clock.now() - START - second * 1_000));
  }
  const server = createServer((req, res) => handler(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/dashboard/`,
    clock,
    orders,
    search,
    handler,
    server,
    async trip() {
      for (let i = 0; i < 5; i++) {
        await orders
          .execute(() => {
            clock.advance(30);
            throw new Error('connection refused');
          })
          .catch(() => {});
      }
    },
    async close() {
      handler.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
