import { percentile } from '../lib/load.js';
import type { Scenario } from '../lib/types.js';
import { between, secs, standardSetup, waitForBreaker } from './common.js';

const HANG = 6_000;

export const redisHangs: Scenario = {
  id: 9,
  slug: 'redis-hangs',
  title: 'Redis hangs (SIGSTOP, then SIGCONT)',
  expected: [
    `Redis is frozen with SIGSTOP for ${HANG / 1000} s: its connections stay open, nothing answers`,
    'cache and activity-feed calls time out (150 ms) and fall back; the Redis breaker opens',
    'the service keeps answering: no failed request, read p99 under 1 s',
    'after SIGCONT the Redis breaker closes within 5 s and reads come from the cache again',
  ],
  async run(ctx) {
    const { redis } = await standardSetup(ctx);
    ctx.phase('traffic');
    const load = ctx.load({
      concurrency: 8,
      durationMs: 30_000,
      maxRequests: 30_000,
      thinkMs: 10,
      writeShare: 0.2,
      taskPrefix: 's9',
    });
    await ctx.sleep(3_000);

    ctx.phase('redis SIGSTOP');
    const faultAt = Date.now();
    const faultT = ctx.now();
    redis.pause();
    ctx.cleanup.add('SIGCONT redis', () => redis.resume());
    const opened = await waitForBreaker(ctx, 'open', faultAt, 5_000, 'redis');
    ctx.detectMs = opened;
    ctx.check('the Redis breaker opened', opened !== null, `opened ${secs(opened)} after SIGSTOP`);
    await ctx.sleep(Math.max(0, HANG - (ctx.now() - faultT)));

    ctx.phase('redis SIGCONT');
    const healT = ctx.now();
    const healAt = Date.now();
    redis.resume();
    const closed = await waitForBreaker(ctx, 'closed', healAt, 5_000, 'redis');
    ctx.recoverMs = closed;
    ctx.check(
      'the Redis breaker closed after SIGCONT',
      closed !== null,
      `closed ${secs(closed)} after SIGCONT`,
    );
    await ctx.sleep(3_000);
    await load.stop();

    const stats = ctx.lastStats;
    ctx.measured.redisTimeouts = stats?.redis.timeouts ?? -1;
    ctx.measured.redisFallbacks = stats?.redis.fallbacks ?? -1;
    ctx.check(
      'cache calls timed out and fell back',
      (stats?.redis.timeouts ?? 0) > 0 && (stats?.redis.fallbacks ?? 0) > 0,
      `${stats?.redis.timeouts} Redis timeouts, ${stats?.redis.fallbacks} fallbacks`,
    );
    const during = between(ctx.records(), faultT, healT);
    const failed = during.filter((r) => r.outcome !== 'served');
    const p99 = percentile(
      during.filter((r) => r.kind === 'read').map((r) => r.end - r.start),
      99,
    );
    ctx.measured.readP99WhileHungMs = Math.round(p99);
    ctx.check(
      'the service kept answering while Redis hung',
      during.length > 0 && failed.length === 0,
      `${during.length} requests, ${failed.length} not served`,
    );
    ctx.check('read p99 under 1 s while Redis hung', p99 < 1_000, `p99 ${Math.round(p99)} ms`);
    const after = between(ctx.records(), healT + (closed ?? 0) + 500, Number.POSITIVE_INFINITY);
    const cached = after.filter((r) => r.source === 'cache').length;
    ctx.check(
      'reads came from the cache again after recovery',
      cached > 0,
      `${cached} of ${after.length} requests after recovery served from the cache`,
    );
  },
};
