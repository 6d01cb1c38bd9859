import type { Scenario } from '../lib/types.js';
import {
  between,
  checkDeferredQueue,
  checkNoTaskLost,
  count,
  secs,
  standardSetup,
  waitForBreaker,
  waitForRecovery,
} from './common.js';

const OUTAGE = 8_000;

export const databaseDown: Scenario = {
  id: 1,
  slug: 'database-down',
  title: 'Database connection failure',
  expected: [
    'PostgreSQL is killed mid-traffic (pg_ctl stop -m immediate); the breaker (5 consecutive failures, or half the calls of 5 s) opens within 5 s',
    '/health reports degraded (not unhealthy) while the database is down',
    "new tasks are queued (202) instead of failing, in breakwater's DeferredQueue on a PostgreSQL store of its own",
    'reads answer from stale data or with a friendly 503 that carries Retry-After: no other failure',
    'after the restart the breaker closes within 15 s and the queue drains',
    'every task that was accepted is done in the database: zero lost',
  ],
  async run(ctx) {
    const { db, service } = await standardSetup(ctx, {}, [], true);
    ctx.phase('traffic');
    const load = ctx.load({
      concurrency: 8,
      durationMs: 40_000,
      maxRequests: 40_000,
      thinkMs: 15,
      writeShare: 0.3,
      taskPrefix: 's1',
    });
    await ctx.sleep(4_000);

    ctx.phase('postgres killed');
    const faultAt = Date.now();
    const faultT = ctx.now();
    await db.stopImmediately();
    const opened = await waitForBreaker(ctx, 'open', faultAt, 5_000);
    ctx.detectMs = opened;
    ctx.check('the breaker opened within 5 s', opened !== null, `opened ${secs(opened)} after the kill`);
    const health = await fetch(`${service.url}/health`, { signal: AbortSignal.timeout(2_000) })
      .then(async (r) => ({ status: r.status, body: (await r.json()) as { status: string } }))
      .catch((error: Error) => ({ status: 0, body: { status: error.message } }));
    ctx.check(
      '/health reports degraded during the outage',
      health.body.status === 'degraded',
      `GET /health: HTTP ${health.status}, status ${health.body.status}`,
    );
    await ctx.sleep(Math.max(0, OUTAGE - (ctx.now() - faultT)));

    ctx.phase('postgres restarted');
    const healT = ctx.now();
    const healAt = Date.now();
    await db.start();
    const closed = await waitForBreaker(ctx, 'closed', healAt, 15_000);
    const drained = await waitForRecovery(ctx, 15_000);
    ctx.recoverMs = drained === null ? null : ctx.now() - healT;
    ctx.check(
      'the breaker closed after the restart',
      closed !== null,
      `closed ${secs(closed)} after the restart`,
    );
    ctx.check('the queue drained', drained !== null, `queue empty ${secs(ctx.recoverMs)} after the restart`);
    await ctx.sleep(1_500);
    await load.stop();

    const outage = between(ctx.records(), faultT + 200, healT);
    const writes = outage.filter((r) => r.kind === 'write');
    const reads = outage.filter((r) => r.kind === 'read');
    const queued = count(writes, (r) => r.outcome === 'queued');
    ctx.check(
      'new tasks were queued (202) instead of failing',
      queued > 0 && count(writes, (r) => r.outcome !== 'queued' && r.outcome !== 'served') === 0,
      `${writes.length} task requests during the outage: ${queued} queued (202), ${count(writes, (r) => r.outcome === 'failed' || r.outcome === 'rejected')} failed`,
    );
    const stale = count(reads, (r) => r.outcome === 'served');
    const friendly = count(reads, (r) => r.outcome === 'rejected');
    const failed = count(reads, (r) => r.outcome === 'failed' || r.outcome === 'shed');
    ctx.check(
      'reads answered stale or with a friendly 503 (Retry-After)',
      reads.length > 0 && failed === 0,
      `${reads.length} reads during the outage: ${stale} answered (stale or cache), ${friendly} friendly 503, ${failed} other failures`,
    );
    ctx.measured.readsStale = stale;
    ctx.measured.readsFriendly503 = friendly;
    checkDeferredQueue(ctx);
    await checkNoTaskLost(ctx, db);
  },
};
