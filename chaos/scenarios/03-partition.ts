import type { FaultProxy } from 'breakwater/chaos';
import { percentile } from '../lib/load.js';
import { Namespace, netnsUnavailable } from '../lib/netns.js';
import type { ThrowawayPostgres } from '../lib/servers.js';
import type { Scenario } from '../lib/types.js';
import { between, checkNoTaskLost, secs, waitForBreaker, waitForRecovery } from './common.js';

const PARTITION = 8_000;

export const partition: Scenario = {
  id: 3,
  slug: 'partition',
  title: 'Network partition between the service and PostgreSQL',
  expected: [
    'PostgreSQL runs in a network namespace of its own behind a veth pair; an nft (or iptables) DROP rule cuts it off silently. Without root or those tools, a FaultProxy blackhole stands in, and the report says which',
    'timeouts bound the latency: read p99 under 2.5 s during the partition, no request without an answer',
    'the breakers open within 6 s',
    'after the partition heals, the breakers close and the queue drains within 15 s; zero tasks lost',
  ],
  async run(ctx) {
    ctx.phase('setup');
    const why = netnsUnavailable();
    let ns: Namespace | undefined;
    let proxy: FaultProxy | undefined;
    const redis = await ctx.redis();
    let db: ThrowawayPostgres;
    if (why === undefined) {
      ns = Namespace.create();
      const made = ns;
      ctx.cleanup.add(`network namespace ${made.name}`, () => made.destroy());
      db = await ctx.postgres({ netns: ns.name, host: ns.inside });
      ctx.note(
        `partition method: network namespace ${ns.name} (veth ${ns.outside} <-> ${ns.inside}), ${ns.firewall} DROP inside it`,
      );
      await ctx.startService({ host: ns.inside, port: db.port }, redis);
    } else {
      db = await ctx.postgres();
      proxy = await ctx.proxy(db);
      ctx.note(`partition method: FaultProxy blackhole (a real partition cannot be made here: ${why})`);
      await ctx.startService({ host: proxy.host, port: proxy.port }, redis);
    }
    ctx.measured.method = ns ? `netns+${ns.firewall}` : 'faultproxy-blackhole';
    ctx.phase('traffic');
    const load = ctx.load({
      concurrency: 8,
      durationMs: 40_000,
      maxRequests: 40_000,
      thinkMs: 15,
      writeShare: 0.3,
      taskPrefix: 's3',
    });
    await ctx.sleep(3_000);

    ctx.phase('partition');
    const faultAt = Date.now();
    const faultT = ctx.now();
    if (ns) {
      ns.partition();
      const made = ns;
      ctx.cleanup.add('heal partition', () => made.heal());
    } else proxy!.blackhole();
    const opened = await waitForBreaker(ctx, 'open', faultAt, 6_000);
    ctx.detectMs = opened;
    ctx.check('the breaker opened within 6 s', opened !== null, `opened ${secs(opened)} after the partition`);
    await ctx.sleep(Math.max(0, PARTITION - (ctx.now() - faultT)));

    ctx.phase('healed');
    const healT = ctx.now();
    if (ns) ns.heal();
    else proxy!.heal();
    const recovered = await waitForRecovery(ctx, 15_000);
    ctx.recoverMs = recovered;
    ctx.check(
      'breakers closed and the queue drained after the heal',
      recovered !== null,
      `after ${secs(recovered)}`,
    );
    await ctx.sleep(1_000);
    await load.stop();

    const during = between(ctx.records(), faultT, healT);
    const p99 = percentile(
      during.filter((r) => r.kind === 'read').map((r) => r.end - r.start),
      99,
    );
    ctx.measured.readP99DuringPartitionMs = Math.round(p99);
    ctx.check(
      'timeouts bounded the read latency (p99 under 2.5 s)',
      p99 < 2_500,
      `p99 ${Math.round(p99)} ms`,
    );
    const failed = during.filter((r) => r.outcome === 'failed');
    ctx.check(
      'no request without an answer',
      during.length > 0 && failed.length === 0,
      `${during.length} requests during the partition, ${failed.length} failed`,
    );
    await checkNoTaskLost(ctx, db);
  },
};
