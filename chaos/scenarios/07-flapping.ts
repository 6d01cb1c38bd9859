import type { Scenario } from '../lib/types.js';
import { checkDeferredQueue, checkNoTaskLost, deferredQueueConfig, secs, waitForRecovery } from './common.js';

const DOWN = 3_000;
const UP = 2_000;
const CYCLES = 4;

export const flapping: Scenario = {
  id: 7,
  slug: 'flapping',
  title: 'Flapping dependency',
  expected: [
    `the database link goes down for ${DOWN / 1000} s and up for ${UP / 1000} s, ${CYCLES} times (a FaultProxy refusing and resetting connections)`,
    'the breaker opens in the down phases, and its open timeout backs off: a reopening without a close in between waits longer',
    'no retry storm: retries stay within the budget (20 % of calls + a reserve of 30 per 10 s)',
    'after the last down phase the breaker closes and the queue drains within 15 s',
    'every task that was accepted is done in the database: zero lost',
  ],
  async run(ctx) {
    ctx.phase('setup');
    const [db, redis, queueConfig] = await Promise.all([
      ctx.postgres(),
      ctx.redis(),
      deferredQueueConfig(ctx),
    ]);
    const proxy = await ctx.proxy(db);
    ctx.note(`fault: FaultProxy on the service's PostgreSQL link refuses and resets connections while down`);
    await ctx.startService({ host: proxy.host, port: proxy.port }, redis, queueConfig);
    ctx.phase('traffic');
    // Counted from before the traffic: the budget's window then holds no deposit from before the count.
    const before = await ctx.service!.stats();
    const countFrom = Date.now();
    const load = ctx.load({
      concurrency: 8,
      durationMs: 45_000,
      maxRequests: 40_000,
      thinkMs: 15,
      writeShare: 0.3,
      taskPrefix: 's7',
    });
    await ctx.sleep(2_000);
    const firstFault = Date.now();
    for (let i = 1; i <= CYCLES; i++) {
      ctx.phase(`down ${i}`);
      proxy.refuse().resetConnections();
      await ctx.sleep(DOWN);
      ctx.phase(`up ${i}`);
      proxy.heal();
      if (i < CYCLES) await ctx.sleep(UP);
    }
    const healT = ctx.now();
    const recovered = await waitForRecovery(ctx, 15_000);
    ctx.recoverMs = recovered;
    ctx.check(
      'the breaker closed and the queue drained after the last down phase',
      recovered !== null,
      `after ${secs(recovered)}`,
    );
    await ctx.sleep(1_000);
    await load.stop();
    const after = await ctx.service!.stats();
    if (!before || !after) throw new Error('the service did not answer its stats');

    const opens = after.breakerEvents.filter((e) => e.breaker === 'db' && e.at >= firstFault);
    const firstOpen = opens.find((e) => e.to === 'open');
    ctx.detectMs = firstOpen ? firstOpen.at - firstFault : null;
    const openings = opens.filter((e) => e.to === 'open');
    ctx.check('the breaker opened in the down phases', openings.length >= 2, `${openings.length} openings`);
    // Back-off: an opening from half-open (a failed probe) waits longer than the opening before it.
    let backedOff = 0;
    let previous: number | undefined;
    for (const e of opens) {
      if (e.to === 'closed') previous = undefined;
      if (e.to !== 'open') continue;
      if (previous !== undefined && e.from === 'half-open' && (e.openFor ?? 0) > previous) backedOff++;
      previous = e.openFor;
    }
    ctx.measured.openTimeouts = openings.map((e) => e.openFor).join(' ');
    ctx.check(
      'the open timeout backed off on repeated openings',
      backedOff > 0,
      `open timeouts (ms) in order: ${ctx.measured.openTimeouts}; ${backedOff} longer than the one before`,
    );

    const calls = after.db.readCalls - before.db.readCalls; // the calls that go through retry
    const retries = after.db.retries - before.db.retries;
    const seconds = (Date.now() - countFrom) / 1000;
    // The budget: per 10 s window, retries <= 20 % of calls + a reserve of 3/s x 10 s.
    const allowed = Math.ceil(0.2 * calls + 30 * Math.ceil(seconds / 10)) + 3; // + the warm-up's 12 reads
    ctx.measured.retries = retries;
    ctx.measured.calls = calls;
    ctx.measured.retryRatio = calls ? Number((retries / calls).toFixed(3)) : 0;
    ctx.check(
      'no retry storm: retries within the budget',
      retries <= allowed,
      `${retries} retries for ${calls} calls over ${seconds.toFixed(1)} s (budget allows ${allowed})`,
    );
    ctx.log(`recovered ${secs(recovered)} after the last up at ${(healT / 1000).toFixed(1)} s`);
    checkDeferredQueue(ctx);
    await checkNoTaskLost(ctx, db);
  },
};
