import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { getHeapStatistics } from 'node:v8';
import { Worker } from 'node:worker_threads';
import {
  CircuitBreaker,
  type CircuitSnapshot,
  exponential,
  fallback,
  HealthMonitor,
  isBreakwaterError,
  isBrokenCircuitError,
  isPriority,
  type Policy,
  type Priority,
  pipeline,
  RetryBudget,
  retry,
  timeout,
} from 'breakwater';
import { abortable } from 'breakwater/pg';
import { instrument } from 'breakwater/prometheus';
import pg from 'pg';
import { Registry } from 'prom-client';
import { createClient } from 'redis';
import type { ServiceConfig, ServiceStats } from './config.js';
import type { Task } from './journal.js';
import { loadOptional, openBuffer } from './optional.js';

interface Item {
  id: number;
  name: string;
  price: number;
}

const SCHEMA = `
  create table if not exists items (id int primary key, name text not null, price int not null);
  insert into items select g, 'item-' || g, 100 + g % 900 from generate_series(1, 500) g on conflict do nothing;
  create table if not exists tasks (
    id text primary key, payload text not null, status text not null default 'pending',
    created_at timestamptz not null default now(), done_at timestamptz);
`;

/** Open timeout that doubles with each reopening without a close in between: 0.5 s, 1 s, 2 s, 4 s at most. */
export const openTimeout = (consecutiveOpens: number) => Math.min(500 * 2 ** (consecutiveOpens - 1), 4_000);

export interface App {
  url: string;
  close(): Promise<void>;
}

/**
 * The service under test: reads items (Redis cache, then PostgreSQL with stale fallback),
 * accepts tasks (into PostgreSQL, or the durable queue when it is down) and processes them in
 * the background, all through breakwater policies, as a user would build it.
 */
export async function startApp(config: ServiceConfig): Promise<App> {
  const started = Date.now();
  const snapshotPath = join(config.workDir, 'breaker.json');
  // Breaker states saved by a previous run of the service (killed mid-outage): restored, not relearned.
  let snapshots: Record<string, CircuitSnapshot> = {};
  try {
    snapshots = JSON.parse(await readFile(snapshotPath, 'utf8')) as Record<string, CircuitSnapshot>;
  } catch {
    snapshots = {};
  }

  // --- the database and its policies
  const pool = new pg.Pool({
    host: config.pg.host,
    port: config.pg.port,
    user: 'postgres',
    database: 'postgres',
    max: config.poolSize,
    connectionTimeoutMillis: config.dbTimeout,
    idleTimeoutMillis: 5_000,
  });
  pool.on('error', () => {}); // idle clients cut by an outage; the queries see their own errors
  const db = abortable(pool, { cancelTimeout: 300 });

  // Reads and writes fail apart (a full disk breaks writes only): one breaker each.
  const dbBreaker = makeDbBreaker('db', config, snapshots.db);
  const writeBreaker = makeDbBreaker('db-write', config, snapshots['db-write']);
  const restoredBreaker = snapshots.db ? snapshots.db.state : null;
  const budget = new RetryBudget({ ratio: 0.2, minPerSecond: 3 });
  const retries = retry({
    retries: 2,
    backoff: exponential({ initial: 25, max: 200, jitter: 'full' }),
    maxElapsed: 1_000,
    budget,
    // An open breaker answers at once: waiting for it would only hold the caller.
    shouldRetry: (error) => !isBrokenCircuitError(error),
  });
  const dbTimeout = timeout(config.dbTimeout);
  const writeTimeout = timeout(config.dbTimeout);
  const stale = fallback<Item>(
    (error) => {
      throw error; // no stale copy: the request gets a friendly 503
    },
    // staleReads false: no stale copy is ever old enough to serve (maxAge 0), every failed read reaches the caller.
    { staleIfError: { maxAge: config.staleReads === false ? 0 : 120_000, maxEntries: 1_000 } },
  );

  // Optional capabilities built by other parts of breakwater: used when present.
  const capabilities: Record<string, string> = {};
  const shedder = config.use.includes('shedder')
    ? await loadOptional.shedder(config, capabilities)
    : undefined;
  const limiter = config.use.includes('adaptive-limit')
    ? await loadOptional.adaptiveLimit(capabilities)
    : undefined;
  const front: Policy<unknown>[] = [];
  if (shedder) front.push(shedder.policy);
  const inner: Policy<unknown>[] = limiter ? [limiter.policy] : [];

  const readPolicy = pipeline(...front, stale, retries, dbBreaker, ...inner, dbTimeout);
  const writePolicy = pipeline(...front, writeBreaker, ...inner, writeTimeout);

  // --- Redis: a cache and an activity feed, both optional to the service
  const redisBreaker = new CircuitBreaker({ name: 'redis', failureThreshold: 3, openTimeout: 1_000 });
  // Aggressive: node-redis cannot take back a command already written to a hung server.
  const redisTimeout = timeout({ ms: config.redisTimeout, strategy: 'aggressive' });
  const redisPolicy = pipeline(redisBreaker, redisTimeout);
  const redis = createClient({
    socket: {
      host: config.redis.host,
      port: config.redis.port,
      connectTimeout: 1_000,
      reconnectStrategy: (n) => Math.min(100 * 2 ** n, 1_000),
    },
  });
  redis.on('error', () => {}); // reconnects on its own; calls see their own errors
  // A service starts with its cache down, too: it does not wait for Redis longer than a second.
  await Promise.race([redis.connect().catch(() => {}), new Promise((r) => setTimeout(r, 1_000).unref())]);

  // --- counters
  const stats = {
    tasks: { stored: 0, queued: 0, drained: 0, processed: 0, refused: 0 },
    db: { attempts: 0, calls: 0, readCalls: 0, retries: 0, budgetExhausted: 0, timeouts: 0 },
    redis: { timeouts: 0, fallbacks: 0 },
    shed: 0,
  };
  const breakerEvents: ServiceStats['breakerEvents'] = [];
  const healthEvents: ServiceStats['healthEvents'] = [];
  retries.on('retried', () => stats.db.retries++);
  retries.on('gaveUp', ({ reason }) => {
    if (reason === 'budget-exhausted') stats.db.budgetExhausted++;
  });
  dbTimeout.on('timedOut', () => stats.db.timeouts++);
  writeTimeout.on('timedOut', () => stats.db.timeouts++);
  redisTimeout.on('timedOut', () => stats.redis.timeouts++);
  const saveSnapshot = () => {
    try {
      writeFileSync(
        snapshotPath,
        JSON.stringify({ db: dbBreaker.snapshot(), 'db-write': writeBreaker.snapshot() }),
      );
    } catch {
      // a full disk: the snapshot is a best effort
    }
  };
  let kickBuffer = () => {}; // until the buffer is open
  for (const breaker of [dbBreaker, writeBreaker, redisBreaker]) {
    breaker.on('stateChanged', ({ from, to }) => {
      breakerEvents.push({
        at: Date.now(),
        breaker: breaker.name,
        from,
        to,
        ...(to === 'open' ? { openFor: breaker.retryAfter } : {}),
      });
      if (breaker !== redisBreaker) saveSnapshot();
      if (breaker === writeBreaker) {
        if (to !== 'open') kickBuffer();
      }
    });
  }
  if (restoredBreaker) saveSnapshot();

  // --- pressure: memory and event-loop delay, watched by the health monitor
  const loopDelay = monitorEventLoopDelay({ resolution: 10 });
  loopDelay.enable();
  let eventLoopDelay = 0;
  let memoryPressure = false;
  const ballast: number[][] = [];
  const heapLimit = getHeapStatistics().heap_size_limit;
  const pressureTimer = setInterval(() => {
    eventLoopDelay = loopDelay.count > 0 ? loopDelay.mean / 1e6 : 0;
    loopDelay.reset();
    const heapUsed = getHeapStatistics().used_heap_size;
    const pressure = heapUsed > config.maxHeapUsed;
    if (pressure !== memoryPressure) {
      memoryPressure = pressure;
      // Under memory pressure, fewer connections: each holds buffers.
      (pool as unknown as { options: { max: number } }).options.max = pressure
        ? Math.max(2, Math.floor(config.poolSize / 4))
        : config.poolSize;
    }
  }, 250);
  pressureTimer.unref();

  const health = new HealthMonitor();
  health.register(dbBreaker, { critical: false });
  health.register(writeBreaker, { critical: false });
  health.register(redisBreaker, { critical: false });
  health.register('memory', () =>
    memoryPressure
      ? { status: 'degraded', detail: `heap over ${Math.round(config.maxHeapUsed / 2 ** 20)} MiB` }
      : 'healthy',
  );
  health.register('event-loop', () =>
    eventLoopDelay > config.maxEventLoopDelay
      ? { status: 'degraded', detail: `event-loop delay ${eventLoopDelay.toFixed(0)} ms` }
      : 'healthy',
  );
  if (shedder) shedder.registerHealth(health);
  health.on('statusChanged', ({ from, to }) => healthEvents.push({ at: Date.now(), from, to }));
  // The monitor re-runs custom checks on check(): keep the status (and its alert) current.
  const healthTimer = setInterval(() => void health.check().catch(() => {}), 500);
  healthTimer.unref();

  const registry = new Registry();
  const metrics = instrument(
    [stale, retries, dbBreaker, dbTimeout, writeBreaker, writeTimeout, redisBreaker, redisTimeout],
    {
      registry,
      prefix: 'chaos',
    },
  );

  // --- the database calls
  async function dbCall<T>(
    policy: Policy<unknown>,
    priority: Priority,
    key: string | undefined,
    fn: (signal: AbortSignal) => Promise<T>,
  ): Promise<T> {
    stats.db.calls++;
    if (policy === readPolicy) stats.db.readCalls++; // the calls that pay into the retry budget
    return policy.execute(
      ({ signal }) => {
        stats.db.attempts++;
        return fn(signal);
      },
      { priority, ...(key === undefined ? {} : { key }) },
    ) as Promise<T>;
  }

  async function redisCall<T>(fn: (signal: AbortSignal) => Promise<T>): Promise<T | undefined> {
    try {
      return (await redisPolicy.execute(({ signal }) => fn(signal))) as T;
    } catch {
      stats.redis.fallbacks++;
      return undefined;
    }
  }

  // --- the durable buffer of tasks the database could not take yet, and processing tasks
  const buffer = await openBuffer(
    config,
    async (tasks) => {
      await dbCall(writePolicy, 'background', undefined, (signal) =>
        db.query(
          'insert into tasks (id, payload) select * from unnest($1::text[], $2::text[]) on conflict do nothing',
          [tasks.map((t) => t.id), tasks.map((t) => t.payload)],
          signal,
        ),
      );
    },
    (n) => {
      stats.tasks.drained += n;
    },
    capabilities,
    writeBreaker,
  );
  const restoredTasks = buffer.restored;
  kickBuffer = () => buffer.kick();

  let processing = false;
  const processTimer = setInterval(() => {
    if (processing || memoryPressure || writeBreaker.state === 'open') return;
    processing = true;
    dbCall(writePolicy, 'background', undefined, (signal) =>
      db.query<{ id: string }>(
        `update tasks set status = 'done', done_at = now() where id in (
           select id from tasks where status = 'pending' order by created_at limit 100 for update skip locked)
         returning id`,
        [],
        signal,
      ),
    )
      .then((result) => {
        stats.tasks.processed += result.rowCount ?? 0;
      })
      .catch(() => {})
      .finally(() => {
        processing = false;
      });
  }, 200);
  processTimer.unref();

  // --- chaos controls: a ballast on the heap, CPU burners
  function burn(ms: number, threads: number): void {
    const code = `const end = Date.now() + ${ms}; let x = 0; while (Date.now() < end) { x += Math.sqrt(x + 1); }`;
    for (let i = 0; i < threads; i++) new Worker(code, { eval: true }).unref();
  }

  function cpuWork(): void {
    // A little real work per read (rendering, hashing): what makes a saturated CPU felt.
    if (config.cpuPerRead <= 0) return;
    const end = performance.now() + config.cpuPerRead;
    let h = 'x';
    while (performance.now() < end) h = createHash('sha1').update(h).digest('hex');
  }

  function send(response: http.ServerResponse, status: number, body: unknown, headers = {}): void {
    response.writeHead(status, { 'content-type': 'application/json', ...headers });
    response.end(JSON.stringify(body));
  }

  function unavailable(response: http.ServerResponse, error: unknown): void {
    const retryAfter = isBrokenCircuitError(error) ? Math.max(1, Math.ceil(error.retryAfter / 1000)) : 1;
    const shed = shedder?.isShed(error) === true;
    const type = isBreakwaterError(error) ? error.name : 'Error';
    send(
      response,
      503,
      { error: type, message: (error as Error).message },
      { 'retry-after': String(retryAfter), 'x-error': type, ...(shed ? { 'x-shed': '1' } : {}) },
    );
    if (shed) stats.shed++;
  }

  async function readItem(id: string, priority: Priority, response: http.ServerResponse): Promise<void> {
    const cached = await redisCall((signal) => redis.withAbortSignal(signal).get(`item:${id}`));
    cpuWork();
    if (typeof cached === 'string') {
      send(response, 200, JSON.parse(cached), { 'x-source': 'cache' });
      return;
    }
    let fresh = false;
    try {
      const item = await dbCall(readPolicy, priority, id, async (signal) => {
        const result = await db.query<Item>('select id, name, price from items where id = $1', [id], signal);
        fresh = true;
        return result.rows[0] ?? null;
      });
      if (item === null) {
        send(response, 404, { error: 'not found' });
        return;
      }
      send(response, 200, item, { 'x-source': fresh ? 'db' : 'stale' });
      if (fresh)
        void redisCall((signal) =>
          redis.withAbortSignal(signal).set(`item:${id}`, JSON.stringify(item), { EX: 2 }),
        );
    } catch (error) {
      unavailable(response, error);
    }
  }

  async function createTask(task: Task, priority: Priority, response: http.ServerResponse): Promise<void> {
    // While tasks wait in the queue, new ones join them there: FIFO, and no overtaking.
    if (buffer.depth() === 0 || writeBreaker.state === 'closed') {
      try {
        await dbCall(writePolicy, priority, undefined, (signal) =>
          db.query(
            'insert into tasks (id, payload) values ($1, $2) on conflict do nothing',
            [task.id, task.payload],
            signal,
          ),
        );
        stats.tasks.stored++;
        send(response, 201, { id: task.id, status: 'stored' });
        void redisCall((signal) => redis.withAbortSignal(signal).lPush('activity', task.id));
        return;
      } catch (error) {
        if (shedder?.isShed(error)) {
          unavailable(response, error);
          return;
        }
      }
    }
    try {
      await buffer.add(task);
      stats.tasks.queued++;
      send(response, 202, { id: task.id, status: 'queued' }, { 'retry-after': '1' });
    } catch (error) {
      stats.tasks.refused++;
      send(
        response,
        503,
        { error: 'QueueUnavailable', message: (error as Error).message },
        { 'retry-after': '2' },
      );
    }
  }

  function statsNow(): ServiceStats {
    const heap = getHeapStatistics();
    return {
      pid: process.pid,
      uptime: Date.now() - started,
      breakers: { db: dbBreaker.state, dbWrite: writeBreaker.state, redis: redisBreaker.state },
      health: health.status,
      queueDepth: buffer.depth(),
      tasks: stats.tasks,
      db: stats.db,
      redis: stats.redis,
      breakerEvents,
      healthEvents,
      memory: {
        heapUsed: heap.used_heap_size,
        heapLimit,
        ballast: ballast.length,
        pressure: memoryPressure,
      },
      eventLoopDelay,
      shedding: shedder?.shedding() ?? false,
      shed: stats.shed,
      backgroundPaused: memoryPressure,
      poolMax: (pool as unknown as { options: { max: number } }).options.max,
      dbLimit: limiter ? limiter.limit() : null,
      capabilities,
      restoredBreaker,
      restoredTasks,
    };
  }

  const server = http.createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://localhost');
    const header = request.headers['x-priority'];
    const priority: Priority = typeof header === 'string' && isPriority(header) ? header : 'normal';
    const item = /^\/items\/(\d+)$/.exec(url.pathname);
    if (request.method === 'GET' && item) return void readItem(item[1]!, priority, response);
    if (request.method === 'POST' && url.pathname === '/tasks') {
      let body = '';
      request.setEncoding('utf8');
      request.on('data', (chunk: string) => {
        body += chunk;
      });
      request.on('end', () => {
        let task: Task;
        try {
          const parsed = JSON.parse(body) as { id?: unknown; payload?: unknown };
          if (typeof parsed.id !== 'string' || parsed.id === '') throw new TypeError('id must be a string');
          task = { id: parsed.id, payload: String(parsed.payload ?? '') };
        } catch (error) {
          send(response, 400, { error: (error as Error).message });
          return;
        }
        void createTask(task, priority, response);
      });
      return;
    }
    if (url.pathname === '/health') return health.handler()(request, response);
    if (url.pathname === '/metrics') {
      void registry.metrics().then((text) => {
        response.writeHead(200, { 'content-type': registry.contentType });
        response.end(text);
      });
      return;
    }
    if (url.pathname === '/_chaos/stats') return send(response, 200, statsNow());
    if (request.method === 'POST' && url.pathname === '/_chaos/ballast') {
      // 1 MiB per step: arrays of doubles, kept alive until DELETE.
      const mb = Math.min(Number(url.searchParams.get('mb') ?? 1), 512);
      for (let i = 0; i < mb; i++) ballast.push(new Array(131_072).fill(Math.random()));
      return send(response, 200, { ballast: ballast.length });
    }
    if (request.method === 'DELETE' && url.pathname === '/_chaos/ballast') {
      ballast.length = 0;
      // The fault ends when its memory is back: collect now (with --expose-gc) rather than at V8's leisure.
      (globalThis as { gc?: () => void }).gc?.();
      return send(response, 200, { ballast: 0 });
    }
    if (request.method === 'POST' && url.pathname === '/_chaos/burn') {
      const ms = Math.min(Number(url.searchParams.get('ms') ?? 1_000), 60_000);
      const threads = Math.min(Number(url.searchParams.get('threads') ?? 2), 8);
      burn(ms, threads);
      return send(response, 200, { ms, threads });
    }
    send(response, 404, { error: 'not found' });
  });
  server.keepAliveTimeout = 2_000;
  await db.query(SCHEMA).catch(() => {}); // a restart in the middle of an outage: the schema is already there
  await new Promise<void>((resolve) => server.listen(config.port ?? 0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    async close() {
      clearInterval(pressureTimer);
      clearInterval(healthTimer);
      clearInterval(processTimer);
      await buffer.close();
      loopDelay.disable();
      metrics.dispose();
      health.dispose();
      shedder?.dispose();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await redis.disconnect().catch(() => {});
      await pool.end().catch(() => {});
    },
  };
}

function makeDbBreaker(
  name: string,
  config: ServiceConfig,
  initialState: CircuitSnapshot | undefined,
): CircuitBreaker {
  if (config.breakerMode === 'budget-only') {
    // Every call reaches the database: what is left to hold back a retry storm is the budget.
    return new CircuitBreaker({ name, failureThreshold: 1_000_000, openTimeout });
  }
  return new CircuitBreaker({
    name,
    failureThreshold: 5,
    failureRateThreshold: 0.5,
    slowCallDuration: 500,
    slowCallRateThreshold: 0.6,
    window: { type: 'time', duration: 5_000, buckets: 5 },
    minimumCalls: 8,
    openTimeout,
    successThreshold: 2,
    halfOpenMaxCalls: 2,
    ...(initialState ? { initialState } : {}),
  });
}
