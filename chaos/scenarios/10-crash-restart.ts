import type { Scenario } from '../lib/types.js';
import {
  between,
  checkDeferredQueue,
  checkNoTaskLost,
  secs,
  standardSetup,
  waitForBreaker,
  waitForRecovery,
} from './common.js';

export const crashRestart: Scenario = {
  id: 10,
  slug: 'crash-restart',
  title: 'Service crash and restart in the middle of an outage',
  expected: [
    'PostgreSQL is killed; the breakers open and new tasks are queued in the durable store (202)',
    'the service is killed with SIGKILL in the middle of the outage, then started again on the same port',
    'the restarted service starts with its breakers open, restored from the snapshot, without relearning from 5 failures',
    "the queued tasks are restored from the durable store (breakwater's DeferredQueue on its PostgreSQL store)",
    'after PostgreSQL is back, every task accepted before and after the crash is done: zero lost',
  ],
  async run(ctx) {
    const { db, redis, service, config } = await standardSetup(ctx, {}, [], true);
    const port = Number(new URL(service.url).port);
    ctx.phase('traffic');
    const load = ctx.load({
      concurrency: 6,
      durationMs: 45_000,
      maxRequests: 40_000,
      thinkMs: 20,
      writeShare: 0.5,
      taskPrefix: 's10',
      timeoutMs: 3_000,
    });
    await ctx.sleep(3_000);

    ctx.phase('postgres killed');
    const faultAt = Date.now();
    await db.stopImmediately();
    ctx.detectMs = await waitForBreaker(ctx, 'open', faultAt, 5_000, 'db-write');
    ctx.check(
      'the write breaker opened',
      ctx.detectMs !== null,
      `opened ${secs(ctx.detectMs)} after the kill`,
    );
    await ctx.waitFor(async () => ((await service.stats())?.queueDepth ?? 0) >= 5, 5_000);
    await ctx.sleep(1_000);
    const beforeKill = await service.stats();
    const killT = ctx.now();

    ctx.phase('service SIGKILL');
    service.kill('SIGKILL');
    await service.waitForExit(5_000);
    ctx.check(
      'the service died of SIGKILL',
      service.exit.signal === 'SIGKILL',
      `exit ${JSON.stringify(service.exit)}`,
    );
    await ctx.sleep(1_000);

    ctx.phase('service restarted');
    const restarted = await ctx.startService(db, redis, { ...config, port }, [], false);
    const restartT = ctx.now();
    const first = await restarted.stats(3_000);
    ctx.check(
      'the breaker state was restored from the snapshot',
      first?.restoredBreaker === 'open' && first.breakers.dbWrite !== 'closed',
      `before the kill: read breaker ${beforeKill?.breakers.db}, write breaker ${beforeKill?.breakers.dbWrite}; restored ${first?.restoredBreaker}, now ${first?.breakers.db}/${first?.breakers.dbWrite}`,
    );
    ctx.check(
      'the queued tasks were restored from the durable store',
      first !== undefined &&
        beforeKill !== undefined &&
        first.restoredTasks >= beforeKill.queueDepth &&
        beforeKill.queueDepth > 0,
      `${beforeKill?.queueDepth} queued before the kill, ${first?.restoredTasks} restored`,
    );
    await ctx.sleep(2_000);

    ctx.phase('postgres restarted');
    const healT = ctx.now();
    await db.start();
    const recovered = await waitForRecovery(ctx, 20_000);
    ctx.recoverMs = recovered;
    ctx.check(
      'breakers closed and the queue drained after PostgreSQL came back',
      recovered !== null,
      `after ${secs(recovered)}`,
    );
    await ctx.sleep(1_000);
    await load.stop();

    // Outside the seconds the service was dead, every request had an answer.
    const alive = [
      ...between(ctx.records(), 0, killT),
      ...between(ctx.records(), restartT, Number.POSITIVE_INFINITY),
    ];
    const failed = alive.filter((r) => r.outcome === 'failed');
    ctx.check(
      'no request failed while the service was up',
      failed.length === 0,
      `${alive.length} requests outside the crash, ${failed.length} failed`,
    );
    ctx.measured.requestsLostInCrash = between(ctx.records(), killT, restartT).filter(
      (r) => r.outcome === 'failed',
    ).length;
    ctx.note(
      `${ctx.measured.requestsLostInCrash} requests failed (connection refused) while the service was dead, from SIGKILL to restart: expected, and counted in the failed column`,
    );
    ctx.log(`PostgreSQL back at ${(healT / 1000).toFixed(1)} s`);
    checkDeferredQueue(ctx);
    await checkNoTaskLost(ctx, db);
  },
};
