import { percentile } from '../lib/load.js';
import type { Scenario } from '../lib/types.js';
import { between, secs, waitForBreaker } from './common.js';

const SLOW = 2_000;

export const slowDependency: Scenario = {
  id: 6,
  slug: 'slow-dependency',
  title: 'Slow dependency',
  expected: [
    `the database link gets ${SLOW / 1000} s of latency (a FaultProxy between the service and PostgreSQL)`,
    'timeouts (800 ms) and the slow-call rate open the breaker within 6 s',
    "the caller's latency stays bounded: p99 of reads under 2.5 s while slow, p90 under 500 ms once the breaker is open (half-open probes still meet the slow link)",
    'no request fails without an answer (stale data, 201/202, or a friendly 503)',
    'after the latency is removed the breaker closes within 12 s',
  ],
  async run(ctx) {
    ctx.phase('setup');
    const [db, redis] = await Promise.all([ctx.postgres(), ctx.redis()]);
    const proxy = await ctx.proxy(db);
    ctx.note(
      `fault: FaultProxy latency ${SLOW} ms upstream on the service's PostgreSQL link (${proxy.address} -> :${db.port})`,
    );
    await ctx.startService({ host: proxy.host, port: proxy.port }, redis);
    ctx.phase('traffic');
    const load = ctx.load({
      concurrency: 8,
      durationMs: 40_000,
      maxRequests: 40_000,
      thinkMs: 15,
      writeShare: 0.2,
      taskPrefix: 's6',
    });
    await ctx.sleep(3_000);

    ctx.phase(`+${SLOW / 1000} s latency`);
    const faultAt = Date.now();
    const faultT = ctx.now();
    proxy.latency(SLOW, 'upstream');
    const opened = await waitForBreaker(ctx, 'open', faultAt, 6_000);
    ctx.detectMs = opened;
    ctx.check(
      'timeouts and slow calls opened the breaker within 6 s',
      opened !== null,
      `opened ${secs(opened)} after the latency began`,
    );
    const stats = await ctx.service!.stats();
    ctx.measured.timeouts = stats?.db.timeouts ?? -1;
    await ctx.sleep(Math.max(0, 8_000 - (ctx.now() - faultT)));

    ctx.phase('latency removed');
    const healT = ctx.now();
    const healAt = Date.now();
    proxy.heal();
    const closed = await waitForBreaker(ctx, 'closed', healAt, 12_000);
    ctx.recoverMs = closed;
    ctx.check(
      'the breaker closed after the latency was removed',
      closed !== null,
      `closed ${secs(closed)} after`,
    );
    await ctx.sleep(1_000);
    await load.stop();

    const openT = opened === null ? healT : faultT + opened;
    const slowReads = between(ctx.records(), faultT, healT).filter((r) => r.kind === 'read');
    const whileOpen = between(ctx.records(), openT + 500, healT).filter((r) => r.kind === 'read');
    const p99 = percentile(
      slowReads.map((r) => r.end - r.start),
      99,
    );
    // Half-open probes still meet the slow database: the p90 shows what most callers wait.
    const openP99 = percentile(
      whileOpen.map((r) => r.end - r.start),
      90,
    );
    ctx.measured.readP99WhileSlowMs = Math.round(p99);
    ctx.measured.readP90WhileOpenMs = Math.round(openP99);
    ctx.check(
      'read p99 stayed under 2.5 s while the database was slow',
      slowReads.length > 0 && p99 < 2_500,
      `p99 ${Math.round(p99)} ms over ${slowReads.length} reads`,
    );
    ctx.check(
      'read p90 under 500 ms once the breaker was open',
      whileOpen.length > 0 && openP99 < 500,
      `p90 ${Math.round(openP99)} ms over ${whileOpen.length} reads`,
    );
    const during = between(ctx.records(), faultT, healT);
    const failed = during.filter((r) => r.outcome === 'failed');
    ctx.check(
      'no request failed without an answer',
      failed.length === 0,
      `${during.length} requests while slow, ${failed.length} failed (${[...new Set(failed.map((r) => r.source))].join(', ') || 'none'})`,
    );
  },
};
