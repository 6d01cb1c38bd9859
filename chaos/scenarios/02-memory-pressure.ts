import type { Scenario } from '../lib/types.js';
import { between, checkNoTaskLost, secs, standardSetup } from './common.js';

const MB = 2 ** 20;
const LIMIT = 150 * MB;

export const memoryPressure: Scenario = {
  id: 2,
  slug: 'memory-pressure',
  title: 'High memory pressure',
  expected: [
    'a ballast in the service (heap limit 256 MiB) grows past its heap threshold of 150 MiB, towards the limit',
    'an alert fires: /health turns degraded (its memory check)',
    'background work is queued, not processed: tasks wait while the pressure lasts',
    'the database pool shrinks',
    'critical requests are answered; with the load shedder, lower priorities are shed',
    'the process does not die; after the ballast is released, the tasks are processed: zero lost',
  ],
  async run(ctx) {
    const { db, service } = await standardSetup(
      ctx,
      { maxHeapUsed: LIMIT, use: ['shedder'], shedOn: ['heap'] },
      ['--max-old-space-size=256', '--expose-gc'],
    );
    ctx.phase('traffic');
    const load = ctx.load({
      concurrency: 8,
      durationMs: 40_000,
      maxRequests: 40_000,
      thinkMs: 15,
      writeShare: 0.3,
      levels: { critical: 0.3, normal: 0.4, low: 0.3 },
      taskPrefix: 's2',
    });
    await ctx.sleep(3_000);
    const before = await service.stats();
    if (!before) throw new Error('the service did not answer its stats');
    const capability = before.capabilities.loadShedder ?? 'unknown';
    ctx.note(`loadShedder: ${capability}; heap limit ${Math.round(before.memory.heapLimit / MB)} MiB`);

    ctx.phase('ballast growing');
    const growAt = Date.now();
    const growT = ctx.now();
    let stats = before;
    let crossedAt: number | undefined;
    while (stats.memory.heapUsed < LIMIT + 40 * MB && stats.memory.ballast < 220) {
      await service.control('POST', '/_chaos/ballast?mb=32');
      stats = (await service.stats(3_000)) ?? stats;
      if (crossedAt === undefined && stats.memory.heapUsed > LIMIT) crossedAt = Date.now();
    }
    ctx.log(`ballast ${stats.memory.ballast} MiB, heap used ${Math.round(stats.memory.heapUsed / MB)} MiB`);
    let alertAt: number | undefined;
    await ctx.waitFor(async () => {
      const s = await service.stats(3_000);
      alertAt = s?.healthEvents.find((e) => e.at >= growAt && e.to === 'degraded')?.at;
      return alertAt !== undefined;
    }, 5_000);
    ctx.detectMs = alertAt === undefined ? null : Math.max(0, alertAt - (crossedAt ?? growAt));
    ctx.check(
      'an alert fired (/health degraded)',
      alertAt !== undefined,
      `degraded ${secs(ctx.detectMs)} after the heap crossed ${LIMIT / MB} MiB (the ballast took ${secs(ctx.now() - growT)} to grow)`,
    );
    // The service resizes its pool on its own 250 ms tick, which may come just after the alert.
    let pressured = stats;
    const alertT = ctx.now();
    await ctx.waitFor(async () => {
      pressured = (await service.stats(3_000)) ?? pressured;
      return pressured.poolMax < before.poolMax;
    }, 2_000);
    ctx.check(
      'the pool shrank',
      pressured.poolMax < before.poolMax,
      `pool max ${before.poolMax} before, ${pressured.poolMax} under pressure, ${secs(ctx.now() - alertT)} after the alert was seen`,
    );
    const holdT = ctx.now();
    await ctx.sleep(4_000);
    const held = (await service.stats(3_000)) ?? pressured;
    const holdEndT = ctx.now();
    ctx.check(
      'background work was queued, not processed',
      held.memory.pressure &&
        held.tasks.processed === pressured.tasks.processed &&
        held.tasks.stored + held.tasks.queued > pressured.tasks.stored + pressured.tasks.queued,
      `${held.tasks.stored + held.tasks.queued - pressured.tasks.stored - pressured.tasks.queued} tasks accepted and ${held.tasks.processed - pressured.tasks.processed} processed in ${secs(holdEndT - holdT)} of pressure`,
    );

    ctx.phase('ballast released');
    const releaseT = ctx.now();
    await service.control('DELETE', '/_chaos/ballast');
    const relieved = await ctx.waitFor(
      async () => (await service.stats(3_000))?.memory.pressure === false,
      10_000,
    );
    ctx.recoverMs = relieved;
    ctx.check('the pressure ended after the release', relieved !== null, `after ${secs(relieved)}`);
    await ctx.sleep(2_000);
    await load.stop();

    ctx.check(
      'the process did not die',
      service.alive && (await service.stats())?.pid === service.pid,
      `pid ${service.pid} ${service.alive ? 'alive' : `exited ${JSON.stringify(service.exit)}`}`,
    );
    const during = between(ctx.records(), growT, releaseT);
    const critical = during.filter((r) => r.level === 'critical');
    const criticalBad = critical.filter((r) => r.outcome !== 'served' && r.outcome !== 'queued');
    ctx.check(
      'critical requests were answered',
      critical.length > 0 && criticalBad.length === 0,
      `${critical.length} critical requests under pressure, ${criticalBad.length} not answered`,
    );
    const shed = during.filter((r) => r.outcome === 'shed' && r.level !== 'critical').length;
    ctx.measured.shedUnderPressure = shed;
    if (capability === 'used')
      ctx.check('lower priorities were shed', shed > 0, `${shed} normal/low requests shed`);
    else
      ctx.unchecked('lower priorities were shed', `breakwater's loadShedder is not available: ${capability}`);
    await checkNoTaskLost(ctx, db, 10_000);
  },
};
