import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CircuitBreaker } from '../../src/circuit-breaker/index.js';
import type { StoreErrorEvent } from '../../src/circuit-breaker/store.js';
import { redisCircuitStore } from '../../src/redis/index.js';
import { ThrowawayRedis } from '../helpers/throwaway-redis.js';

const why = ThrowawayRedis.unavailable();
if (why !== undefined) {
  if (process.env.CI === 'true') throw new Error(`${why}: CI=true requires redis-server`);
  console.warn(`\n!!! SKIPPING the Redis outage tests: ${why}.\n`);
}

const COMMAND_TIMEOUT = 100;
const OPEN_TIMEOUT = 150;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const boom = new Error('dependency down');

describe.runIf(why === undefined)('a Redis that hangs (SIGSTOP) mid-traffic', () => {
  let redis: ThrowawayRedis;
  const clients: { destroy(): void }[] = [];

  async function connect() {
    const client = createClient({ url: redis.url });
    client.on('error', () => {}); // the breaker reports what matters (storeError)
    await client.connect();
    clients.push(client);
    return client;
  }

  async function breakerOn(client: Awaited<ReturnType<typeof connect>>) {
    const store = redisCircuitStore({
      client,
      prefix: 'outage',
      flushInterval: 20,
      syncInterval: 50,
      commandTimeout: COMMAND_TIMEOUT,
    });
    const breaker = new CircuitBreaker({ name: 'db', failureThreshold: 3, openTimeout: OPEN_TIMEOUT, store });
    await sleep(30); // the first read
    return breaker;
  }

  beforeAll(async () => {
    redis = await ThrowawayRedis.create();
  }, 20_000);

  afterAll(async () => {
    redis.resume();
    for (const c of clients) c.destroy();
    await redis.stop();
  });

  it('no call waits longer than commandTimeout, the breaker goes on locally, and resyncs after SIGCONT', async () => {
    const a = await breakerOn(await connect());
    const errors: StoreErrorEvent[] = [];
    const recovered: number[] = [];
    a.on('storeError', (e) => errors.push(e));
    a.on('storeRecovered', (e) => recovered.push(e.downFor));
    let slowest = 0;
    const timed = async <T>(fn: () => Promise<T>): Promise<T | unknown> => {
      const start = performance.now();
      try {
        return await fn();
      } catch (error) {
        return error;
      } finally {
        slowest = Math.max(slowest, performance.now() - start);
      }
    };

    // Open the shared circuit while Redis is up, then freeze Redis before the probe is due.
    for (let i = 0; i < 3; i++) await timed(() => a.execute(() => Promise.reject(boom)));
    await sleep(60);
    expect(a.state).toBe('open');
    expect(errors).toEqual([]);
    redis.pause();
    await sleep(OPEN_TIMEOUT);

    // The due probe asks Redis for the lease, waits at most commandTimeout, then probes locally.
    expect(await timed(() => a.execute(async () => 'probed'))).toBe('probed');
    expect(a.state).toBe('closed');
    expect(errors.map((e) => e.operation)).toEqual(['acquireProbe']);

    // Traffic goes on, decided locally: failures trip it, successes pass, nothing waits on Redis.
    for (let i = 0; i < 50; i++) await timed(() => a.execute(async () => i));
    for (let i = 0; i < 3; i++) await timed(() => a.execute(() => Promise.reject(boom)));
    expect(a.state).toBe('open');
    a.isolate(); // made during the outage: pushed when Redis returns
    expect(slowest).toBeLessThan(COMMAND_TIMEOUT + 100); // + timers firing late on a loaded machine
    expect(errors).toHaveLength(1);

    redis.resume();
    const start = performance.now();
    while (recovered.length === 0 && performance.now() - start < 3_000) await sleep(10);
    expect(recovered).toHaveLength(1);
    await sleep(50);

    // Resynchronized: a breaker of another process reads the isolation made during the outage.
    const b = await breakerOn(await connect());
    expect(b.state).toBe('isolated');
    // And a's view follows b's reset (no pub/sub here: its periodic read, while it is in use).
    b.reset();
    await a.execute(async () => 1).catch(() => {});
    await sleep(150);
    expect(a.state).toBe('closed');
    a[Symbol.dispose]();
    b[Symbol.dispose]();
  }, 20_000);
});
