import type { ScenarioContext } from '../lib/context.js';
import type { RequestRecord } from '../lib/load.js';
import type { ThrowawayPostgres, ThrowawayRedis } from '../lib/servers.js';
import type { ServiceProcess } from '../lib/service-process.js';
import type { ServiceConfig } from '../service/config.js';

export interface Setup {
  db: ThrowawayPostgres;
  redis: ThrowawayRedis;
  service: ServiceProcess;
  /** The config the service was started with (to start it again). */
  config: Partial<ServiceConfig>;
}

/** A throwaway PostgreSQL and Redis, and the service on them. */
export async function standardSetup(
  ctx: ScenarioContext,
  config: Partial<ServiceConfig> = {},
  nodeArgs: string[] = [],
  deferred = false,
): Promise<Setup> {
  ctx.phase('setup');
  const t0 = ctx.now();
  const [db, redis, queueConfig] = await Promise.all([
    ctx.postgres(),
    ctx.redis(),
    deferred ? deferredQueueConfig(ctx) : Promise.resolve({}),
  ]);
  const t1 = ctx.now();
  const full = { ...queueConfig, ...config };
  const service = await ctx.startService(db, redis, full, nodeArgs);
  ctx.log(
    `service ${service.url} (pid ${service.pid}) on PostgreSQL :${db.port} and Redis :${redis.port}; servers took ${secs(t1 - t0)}, the service ${secs(ctx.now() - t1)}`,
  );
  return { db, redis, service, config: full };
}

/** Records that ended in [from, to) (ms since the scenario started). */
export function between(records: readonly RequestRecord[], from: number, to: number): RequestRecord[] {
  return records.filter((r) => r.end >= from && r.end < to);
}

export function count(records: readonly RequestRecord[], test: (r: RequestRecord) => boolean): number {
  let n = 0;
  for (const r of records) if (test(r)) n++;
  return n;
}

export const secs = (ms: number | null | undefined) => (ms == null ? '-' : `${(ms / 1000).toFixed(2)} s`);

/**
 * Waits for the service's database breaker to reach `state` (after wall time `since`),
 * and returns ms from `since` to that event, or null.
 */
export async function waitForBreaker(
  ctx: ScenarioContext,
  state: string,
  since: number,
  timeoutMs: number,
  breaker = 'db',
): Promise<number | null> {
  let at: number | undefined;
  await ctx.waitFor(
    async () => {
      const stats = await ctx.service?.stats();
      if (stats) ctx.lastStats = stats;
      at = stats?.breakerEvents.find((e) => e.breaker === breaker && e.to === state && e.at >= since)?.at;
      return at !== undefined;
    },
    timeoutMs,
    100,
  );
  return at === undefined ? null : at - since;
}

/** Waits until the breaker is closed and the durable queue is empty; ms waited, or null. */
export async function waitForRecovery(ctx: ScenarioContext, timeoutMs: number): Promise<number | null> {
  return ctx.waitFor(
    async () => {
      const stats = await ctx.service?.stats();
      if (stats) ctx.lastStats = stats;
      return stats?.breakers.db === 'closed' && stats.breakers.dbWrite === 'closed' && stats.queueDepth === 0;
    },
    timeoutMs,
    100,
  );
}

/** Checks that every task the service accepted is done in the database: zero lost. */
export async function checkNoTaskLost(
  ctx: ScenarioContext,
  db: ThrowawayPostgres,
  timeoutMs = 15_000,
): Promise<void> {
  ctx.phase('verify tasks');
  const { lost, pending, accepted } = await ctx.verifyTasks(db, timeoutMs);
  ctx.check(
    'every accepted task is done: zero lost',
    accepted > 0 && lost === 0 && pending === 0,
    `${accepted} tasks accepted (201/202); ${lost} missing from the database, ${pending} not processed`,
  );
}

/**
 * Service config for breakwater's DeferredQueue on a postgresStore in a PostgreSQL of its own
 * (a second throwaway server, not the one the scenario breaks).
 */
export async function deferredQueueConfig(ctx: ScenarioContext): Promise<Partial<ServiceConfig>> {
  const queueDb = await ctx.postgres();
  return { taskStore: 'deferred-postgres', queuePg: { host: queueDb.host, port: queueDb.port } };
}

/** Says which task buffer kept the tasks; an unchecked expectation when the DeferredQueue was not there. */
export function checkDeferredQueue(ctx: ScenarioContext): void {
  const capabilities = ctx.lastStats?.capabilities ?? {};
  ctx.note(`tasks waited in: ${capabilities.taskBuffer ?? 'unknown'}`);
  if (capabilities.deferredQueue === 'used') {
    ctx.check(
      "breakwater's DeferredQueue (postgresStore) kept the tasks",
      true,
      capabilities.taskBuffer ?? '',
    );
  } else {
    ctx.unchecked(
      "breakwater's DeferredQueue (postgresStore) kept the tasks",
      `the DeferredQueue is not available (${capabilities.deferredQueue ?? 'unknown'}): the service's own journal file kept them`,
    );
  }
}
