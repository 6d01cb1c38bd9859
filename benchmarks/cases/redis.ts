/**
 * Shared circuit state on Redis (`breakwater/redis`, issue 12).
 *
 * - `redisSuccess` (in the results table): the success path of a breaker with
 *   `redisCircuitStore` against the same breaker without a store; target <= 2x.
 * - Run directly (`tsx benchmarks/cases/redis.ts`, from the sources) for what a ratio cannot
 *   show: the time an open transition takes to reach every process, and Redis commands per
 *   1,000 calls (INFO commandstats of a redis-server of its own, so nothing else counts).
 *
 * Both need a Redis: REDIS_URL, else redis://127.0.0.1:6379.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createClient } from 'redis';
import type * as RedisEntry from '../../src/redis/index.js';
import { built } from '../lib/dist.js';
import type { RatioCase } from '../lib/types.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/** Run directly, connections keep the process alive while it waits on Redis; the harness's worker must exit when timed. */
let keepAlive = false;

async function connect(url = REDIS_URL) {
  const client = createClient({ url });
  client.on('error', () => {});
  await client.connect();
  if (!keepAlive) client.unref();
  return client;
}

export const redisSuccess: RatioCase = {
  kind: 'ratio',
  id: 'redis-success',
  title: 'Success through a breaker whose state is shared on Redis',
  baselineLabel: 'the same breaker without a store',
  baseline: {
    name: 'baseline',
    setup: async () => {
      const { bw, readsSignal } = await import('../lib/libraries.js');
      const breaker = new bw.CircuitBreaker({ name: 'bench' });
      return { op: () => breaker.execute(readsSignal) };
    },
  },
  contenders: [
    {
      name: 'breakwater + redisCircuitStore',
      setup: async () => {
        const lib: typeof import('../lib/libraries.js') = await import('../lib/libraries.js');
        const { bw, readsSignal } = lib;
        // Loaded when timed only, from the build measured (BREAKWATER_DIST, else dist/).
        const { redisCircuitStore } = (await import(built('redis.js'))) as typeof RedisEntry;
        const client = await connect();
        const store = redisCircuitStore({ client, prefix: `bench-${process.pid}` });
        const breaker = new bw.CircuitBreaker({ name: 'bench', store } as never);
        lib.check((await breaker.execute(readsSignal)) === 1, 'returns the result');
        return {
          op: () => breaker.execute(readsSignal),
          verify: () => lib.check(breaker.state === 'closed', 'closed'),
        };
      },
    },
  ],
  targets: [{ row: 'breakwater + redisCircuitStore', ratio: 2, source: 'issue 12' }],
  note: 'Outcomes are batched (flushInterval 100 ms, flushSize 1,000): the call path never awaits Redis while closed.',
};

// ---------------------------------------------------------------------------------------------
// Run directly: from the sources, with figures a ratio cannot carry.

type Breakwater = typeof import('../../src/index.js');

async function successRatio(
  bw: Breakwater,
  redis: typeof RedisEntry,
): Promise<{ local: number; shared: number }> {
  const client = await connect();
  const store = redis.redisCircuitStore({ client, prefix: `bench-${process.pid}` });
  const local = new bw.CircuitBreaker({ name: 'local' });
  const shared = new bw.CircuitBreaker({ name: 'shared', store });
  const fn = async () => 1;
  const time = async (b: InstanceType<Breakwater['CircuitBreaker']>, n: number) => {
    const start = performance.now();
    for (let i = 0; i < n; i++) await b.execute(fn);
    return ((performance.now() - start) * 1e6) / n;
  };
  await time(local, 50_000);
  await time(shared, 50_000);
  const l: number[] = [];
  const s: number[] = [];
  for (let round = 0; round < 10; round++) {
    l.push(await time(local, 100_000));
    s.push(await time(shared, 100_000));
  }
  shared[Symbol.dispose]();
  await client.quit();
  return { local: median(l), shared: median(s) };
}

/** ms from the call that trips the circuit in one process until each of `n` others reads open. */
async function propagation(bw: Breakwater, redis: typeof RedisEntry, n: number, pubsub: boolean) {
  const prefix = `bench-prop-${process.pid}-${pubsub}`;
  const connections: Awaited<ReturnType<typeof connect>>[] = [];
  const breakers = [];
  for (let i = 0; i <= n; i++) {
    const client = await connect();
    const subscriber = pubsub ? await client.duplicate().connect() : undefined;
    connections.push(client, ...(subscriber ? [subscriber] : []));
    const store = redis.redisCircuitStore({
      client,
      subscriber,
      prefix,
      flushInterval: 100,
      syncInterval: 1_000,
    });
    breakers.push(new bw.CircuitBreaker({ name: 'db', failureThreshold: 1, openTimeout: 60_000, store }));
  }
  await sleep(50);
  const samples: number[] = [];
  for (let round = 0; round < (pubsub ? 20 : 5); round++) {
    const [first, ...others] = breakers;
    for (const b of others) b.execute(async () => 1).catch(() => {}); // in use: kept fresh
    const opened = others.map(
      (b) => new Promise<number>((resolve) => b.once('stateChanged', () => resolve(performance.now()))),
    );
    const start = performance.now();
    await first!.execute(() => Promise.reject(new Error('x'))).catch(() => {});
    samples.push(Math.max(...(await Promise.all(opened))) - start);
    first!.reset();
    // Every view closed again (at most a sync later), and in use.
    for (let i = 0; i < (pubsub ? 1 : 12); i++) {
      for (const b of others) b.execute(async () => 1).catch(() => {});
      await sleep(100);
    }
  }
  for (const b of breakers) b[Symbol.dispose]();
  for (const c of connections) await c.quit();
  return { median: median(samples), max: Math.max(...samples) };
}

/** Redis commands per 1,000 successful calls, on a redis-server of its own. */
async function commandsPer1000(bw: Breakwater, redis: typeof RedisEntry, spreadMs: number) {
  const dir = mkdtempSync(join(tmpdir(), 'bw-bench-redis-'));
  const port = await freePort();
  const server = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--dir', dir],
    {
      stdio: 'ignore',
    },
  );
  try {
    await sleep(300);
    const client = await connect(`redis://127.0.0.1:${port}`);
    const store = redis.redisCircuitStore({ client, prefix: 'count' });
    const breaker = new bw.CircuitBreaker({ name: 'db', store });
    await sleep(50);
    // Round trips are the EVALSHA/EVAL calls; commandstats also counts what the scripts run inside.
    const total = async () => {
      const info = String(await client.sendCommand(['INFO', 'commandstats']));
      let calls = 0;
      let trips = 0;
      for (const m of info.matchAll(/^cmdstat_(\w+):calls=(\d+)/gm)) {
        if (m[1] === 'info') continue;
        calls += Number(m[2]);
        if (m[1] === 'evalsha' || m[1] === 'eval') trips += Number(m[2]);
      }
      return { calls, trips };
    };
    const before = await total();
    const start = performance.now();
    for (let i = 0; i < 1_000; i++) {
      await breaker.execute(async () => 1);
      if (spreadMs > 0) await sleep(spreadMs / 1_000);
    }
    const ms = performance.now() - start;
    await sleep(1_200); // the last flush and sync
    const after = await total();
    const commands = { trips: after.trips - before.trips, inside: after.calls - before.calls };
    breaker[Symbol.dispose]();
    await client.quit();
    return { commands, ms };
  } finally {
    server.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  keepAlive = true;
  const bw = (await import('../../src/index.js')) as Breakwater;
  const redis = await import('../../src/redis/index.js');
  const { local, shared } = await successRatio(bw, redis);
  console.log(
    `success path: local ${local.toFixed(0)} ns, with redisCircuitStore ${shared.toFixed(0)} ns (${(shared / local).toFixed(2)}x)`,
  );
  for (const pubsub of [true, false]) {
    const p = await propagation(bw, redis, 4, pubsub);
    console.log(
      `open transition to 4 other breakers (${pubsub ? 'pub/sub' : 'periodic read only, syncInterval 1,000'}): median ${p.median.toFixed(1)} ms, max ${p.max.toFixed(1)} ms`,
    );
  }
  for (const spread of [0, 2_000]) {
    const { commands, ms } = await commandsPer1000(bw, redis, spread);
    console.log(
      `per 1,000 calls made over ${ms.toFixed(0)} ms (defaults): ${commands.trips} script calls (round trips), ${commands.inside} commands executed by Redis in all`,
    );
  }
}
