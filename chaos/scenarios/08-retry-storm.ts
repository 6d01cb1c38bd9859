import type { Scenario } from '../lib/types.js';
import { between, secs, standardSetup } from './common.js';

const OUTAGE = 5_000;

export const retryStorm: Scenario = {
  id: 8,
  slug: 'retry-storm',
  title: 'Retry storm during recovery',
  expected: [
    `24 clients that retry every failure at once (up to 3 times) hammer the service while PostgreSQL is down for ${OUTAGE / 1000} s and while it recovers`,
    'the service runs with a breaker that never opens and no stale reads, so every call reaches the database and every failed read reaches its client: only the retry budget holds back the storm',
    "the service's retry budget keeps its extra calls to the database under its ratio: retries <= 20 % of calls + a reserve of 30 per 10 s",
    'the amplification is measured and reported: client attempts per request, database attempts per call',
    'the budget refuses retries during the storm, and the service serves again within 15 s of the restart',
  ],
  async run(ctx) {
    const { db, service } = await standardSetup(ctx, { breakerMode: 'budget-only', staleReads: false });
    ctx.phase('traffic');
    // Counted from before the traffic: the budget's window then holds no deposit from before the count.
    const before = await service.stats();
    const countFrom = Date.now();
    const load = ctx.load({
      concurrency: 24,
      durationMs: 40_000,
      maxRequests: 60_000,
      thinkMs: 5,
      writeShare: 0.1,
      // Spread reads over all 500 items: most have no stale copy, so the outage fails them and the clients retry.
      itemRange: 500,
      clientRetries: 3,
      timeoutMs: 5_000,
      taskPrefix: 's8',
    });
    await ctx.sleep(3_000);

    ctx.phase('postgres killed');
    const faultT = ctx.now();
    await db.stopImmediately();
    // The breaker never opens here: detection is the first refused retry.
    const detected = await ctx.waitFor(
      async () => ((await service.stats())?.db.budgetExhausted ?? 0) > (before?.db.budgetExhausted ?? 0),
      5_000,
    );
    ctx.detectMs = detected;
    await ctx.sleep(Math.max(0, OUTAGE - (ctx.now() - faultT)));

    ctx.phase('postgres restarted');
    const healAt = Date.now();
    const healT = ctx.now();
    await db.start();
    const served = await ctx.waitFor(
      () =>
        between(ctx.records(), ctx.now() - 1_000, ctx.now()).some(
          (r) => r.kind === 'read' && r.source === 'db',
        ),
      15_000,
    );
    ctx.recoverMs = served === null ? null : Date.now() - healAt;
    ctx.check(
      'the service served from the database again after the restart',
      served !== null,
      `${secs(ctx.recoverMs)} after the restart`,
    );
    ctx.log(`restart at ${(healT / 1000).toFixed(1)} s`);
    await ctx.sleep(2_000);
    const after = await service.stats();
    await load.stop();
    if (!before || !after) throw new Error('the service did not answer its stats');

    const calls = after.db.readCalls - before.db.readCalls; // the calls that go through retry
    const attempts = after.db.attempts - before.db.attempts;
    const retries = after.db.retries - before.db.retries;
    const seconds = (Date.now() - countFrom) / 1000;
    // The budget: per 10 s window, retries <= 20 % of calls + a reserve of 3/s x 10 s.
    const allowed = Math.ceil(0.2 * calls + 30 * Math.ceil(seconds / 10)) + 3; // + the warm-up's 12 reads
    const window = between(ctx.records(), faultT, ctx.now());
    const clientAttempts = window.reduce((sum, r) => sum + r.attempts, 0);
    ctx.measured.clientAttemptsPerRequest = Number((clientAttempts / Math.max(1, window.length)).toFixed(2));
    ctx.measured.dbAttemptsPerCall = Number(
      (attempts / Math.max(1, after.db.calls - before.db.calls)).toFixed(3),
    );
    ctx.measured.serviceRetries = retries;
    ctx.measured.serviceCalls = calls;
    ctx.measured.retryRatio = Number((retries / Math.max(1, calls)).toFixed(3));
    ctx.measured.budgetExhausted = after.db.budgetExhausted - before.db.budgetExhausted;
    ctx.check(
      'retries stayed within the budget (20 % of calls + a reserve of 30 per 10 s)',
      retries <= allowed,
      `${retries} retries for ${calls} calls over ${seconds.toFixed(1)} s (allowed ${allowed}); ratio ${ctx.measured.retryRatio}`,
    );
    ctx.check(
      'the budget refused retries during the storm',
      Number(ctx.measured.budgetExhausted) > 0,
      `${ctx.measured.budgetExhausted} retries refused by the budget`,
    );
    ctx.check(
      'the clients really stormed (retried failures)',
      clientAttempts > window.length,
      `${clientAttempts} client attempts for ${window.length} requests (${ctx.measured.clientAttemptsPerRequest} per request); database attempts per call ${ctx.measured.dbAttemptsPerCall}`,
    );
  },
};
