import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { exponential, type HealthMonitor, isOverloadedError, type Policy } from 'breakwater';
import pg from 'pg';
import type { ServiceConfig } from './config.js';
import type { Task } from './journal.js';
import { journalBuffer, type StoreTasks, type TaskBuffer } from './task-buffer.js';

/**
 * breakwater capabilities that are built apart from the core (load shedder, adaptive limit):
 * the service uses each one when its module is there, and says which it used, so that a
 * scenario can tell a behaviour it checked from one it could not check.
 */
const SRC = join(process.cwd(), 'src'); // the runner starts the service in the repository's root

async function load(folder: string): Promise<Record<string, unknown> | undefined> {
  if (!existsSync(join(SRC, folder, 'index.ts'))) return undefined;
  // A computed specifier (the module may not exist when this file is type-checked), loaded through tsx.
  return (await import(pathToFileURL(join(SRC, folder, 'index.ts')).href)) as Record<string, unknown>;
}

export interface ShedderHandle {
  policy: Policy;
  isShed(error: unknown): boolean;
  shedding(): boolean;
  registerHealth(health: HealthMonitor): void;
  dispose(): void;
}

export interface LimiterHandle {
  policy: Policy;
  limit(): number;
}

type Factory = (options: Record<string, unknown>) => Policy & Record<string, unknown>;

export const loadOptional = {
  async shedder(
    config: ServiceConfig,
    capabilities: Record<string, string>,
  ): Promise<ShedderHandle | undefined> {
    let mod: Record<string, unknown> | undefined;
    try {
      mod = await load('shedder');
    } catch (error) {
      capabilities.loadShedder = `absent (src/shedder failed to load: ${(error as Error).message})`;
      return undefined;
    }
    const factory = mod?.loadShedder as Factory | undefined;
    if (typeof factory !== 'function') {
      capabilities.loadShedder = 'absent (no src/shedder/index.ts exporting loadShedder)';
      return undefined;
    }
    const policy = factory({
      name: 'shedder',
      ...(config.shedOn.includes('eventLoopDelay') ? { maxEventLoopDelay: config.maxEventLoopDelay } : {}),
      ...(config.shedOn.includes('heap') ? { maxHeapUsedBytes: config.maxHeapUsed } : {}),
      sampleInterval: 250,
    });
    capabilities.loadShedder = 'used';
    return {
      policy,
      isShed: (error) => isOverloadedError(error),
      shedding: () => {
        const shedding = policy.shedding as unknown;
        return Array.isArray(shedding) ? shedding.length > 0 : shedding === true;
      },
      registerHealth(health) {
        try {
          (health.register as (target: unknown, options?: unknown) => unknown)(policy, { critical: false });
        } catch {
          // a health monitor that cannot watch a shedder yet: the service's own checks remain
        }
      },
      dispose: () => (policy.dispose as (() => void) | undefined)?.call(policy),
    };
  },

  async adaptiveLimit(capabilities: Record<string, string>): Promise<LimiterHandle | undefined> {
    let mod: Record<string, unknown> | undefined;
    try {
      mod = await load('adaptive-limit');
    } catch (error) {
      capabilities.adaptiveLimit = `absent (src/adaptive-limit failed to load: ${(error as Error).message})`;
      return undefined;
    }
    const factory = mod?.adaptiveLimit as Factory | undefined;
    if (typeof factory !== 'function') {
      capabilities.adaptiveLimit = 'absent (no src/adaptive-limit/index.ts exporting adaptiveLimit)';
      return undefined;
    }
    const policy = factory({ name: 'db-limit', initialLimit: 8, minLimit: 2, maxLimit: 32 });
    capabilities.adaptiveLimit = 'used';
    return { policy, limit: () => Number(policy.limit) };
  },
};

/**
 * The task buffer: breakwater's DeferredQueue on a PostgreSQL store of its own when the
 * config asks for it and the module is there, else the service's own journal file.
 */
export async function openBuffer(
  config: ServiceConfig,
  store: StoreTasks,
  onStored: (n: number) => void,
  capabilities: Record<string, string>,
  gate: unknown,
): Promise<TaskBuffer> {
  if (config.taskStore === 'deferred-postgres' && config.queuePg) {
    let deferred: Record<string, unknown> | undefined;
    let postgres: Record<string, unknown> | undefined;
    try {
      deferred = await load('deferred');
      postgres = await load('postgres');
    } catch (error) {
      capabilities.deferredQueue = `absent (failed to load: ${(error as Error).message.split('\n')[0]})`;
    }
    if (typeof deferred?.DeferredQueue === 'function' && typeof postgres?.postgresStore === 'function') {
      const buffer = await deferredBuffer(config, store, onStored, gate, deferred, postgres);
      capabilities.deferredQueue = 'used';
      capabilities.taskBuffer = buffer.kind;
      return buffer;
    }
    capabilities.deferredQueue ??=
      'absent (no src/deferred with DeferredQueue, or no src/postgres with postgresStore)';
  }
  const buffer = await journalBuffer(join(config.workDir, 'tasks.jsonl'), store, onStored);
  capabilities.taskBuffer = buffer.kind;
  return buffer;
}

type Queue = {
  enqueue(payload: unknown, options?: { key?: string; priority?: string }): Promise<string>;
  stats(): Promise<{ depth: number; inFlight: number }>;
  on(event: string, fn: (...args: unknown[]) => void): unknown;
  close(options?: { timeout?: number }): Promise<void>;
};

/**
 * breakwater's DeferredQueue on a postgresStore in a PostgreSQL of its own (not the one that
 * fails): gated by the write breaker, each job writes its task through the service's write policy.
 */
async function deferredBuffer(
  config: ServiceConfig,
  store: StoreTasks,
  onStored: (n: number) => void,
  gate: unknown,
  deferred: Record<string, unknown>,
  postgres: Record<string, unknown>,
): Promise<TaskBuffer> {
  const pool = new pg.Pool({
    host: config.queuePg!.host,
    port: config.queuePg!.port,
    user: 'postgres',
    database: 'postgres',
    max: 4,
    connectionTimeoutMillis: 2_000,
  });
  pool.on('error', () => {});
  const queueStore = (postgres.postgresStore as (o: unknown) => { ensureSchema(): Promise<void> })({
    pool,
    table: 'chaos_task_queue',
  });
  await queueStore.ensureSchema();
  const Queue = deferred.DeferredQueue as new (o: unknown) => Queue;
  const queue = new Queue({
    name: 'tasks',
    store: queueStore,
    concurrency: 4,
    gate,
    // A task is never given up on: the point of the queue is that none is lost.
    maxAttempts: 1_000,
    backoff: exponential({ initial: 200, max: 2_000, jitter: 'full' }),
    gateInterval: 250,
    lease: 5_000,
    pollInterval: 500,
    handler: async (job: { payload: Task }) => {
      await store([job.payload]);
      onStored(1);
    },
  });
  queue.on('error', () => {});
  let depth = (await queue.stats()).depth;
  const restored = depth;
  const refresh = () =>
    void queue.stats().then(
      (s) => {
        depth = s.depth + s.inFlight;
      },
      () => {},
    );
  const timer = setInterval(refresh, 250);
  timer.unref();
  return {
    kind: 'breakwater DeferredQueue on postgresStore (a PostgreSQL of its own)',
    restored,
    depth: () => depth,
    async add(task) {
      await queue.enqueue(task, { key: task.id, priority: 'background' });
      depth++;
    },
    kick: refresh,
    async close() {
      clearInterval(timer);
      await queue.close({ timeout: 1_000 }).catch(() => {});
      await pool.end().catch(() => {});
    },
  };
}
