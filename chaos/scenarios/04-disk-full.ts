import { SmallDisk } from '../lib/disk.js';
import type { Scenario } from '../lib/types.js';
import {
  between,
  checkDeferredQueue,
  checkNoTaskLost,
  deferredQueueConfig,
  secs,
  waitForBreaker,
  waitForRecovery,
} from './common.js';

const FULL = 5_000;

export const diskFull: Scenario = {
  id: 4,
  slug: 'disk-full',
  title: 'Disk space exhaustion',
  expected: [
    "PostgreSQL's data directory lives on a small filesystem of its own (tmpfs, else a loop-mounted image; the report says which, or why neither could be mounted), which a ballast file fills up",
    'writes fail: the write breaker opens, and new tasks are kept elsewhere (the durable queue on another disk, 202)',
    'reads go on: no read fails, and the read breaker does not open',
    'after the space is freed, the write breaker closes, the queue drains, and every task is done: zero lost',
  ],
  async run(ctx) {
    ctx.phase('setup');
    let mounted: SmallDisk | undefined;
    try {
      mounted = SmallDisk.mount(ctx.workDir, 128);
    } catch (error) {
      ctx.skip((error as Error).message);
    }
    if (!mounted) return;
    const disk = mounted;
    ctx.cleanup.add(`unmount ${disk.path}`, () => disk.unmount());
    ctx.note(
      `small filesystem: ${disk.kind} of 128 MiB at ${disk.path}; the task queue's PostgreSQL (or the service's journal) stays on the main disk`,
    );
    const [db, redis, queueConfig] = await Promise.all([
      ctx.postgres({ dataParent: disk.path }),
      ctx.redis(),
      deferredQueueConfig(ctx),
    ]);
    const service = await ctx.startService(db, redis, queueConfig);
    ctx.phase('traffic');
    const load = ctx.load({
      concurrency: 8,
      durationMs: 40_000,
      maxRequests: 40_000,
      thinkMs: 15,
      writeShare: 0.4,
      taskPrefix: 's4',
    });
    await ctx.sleep(3_000);

    ctx.phase('disk full');
    const faultAt = Date.now();
    const faultT = ctx.now();
    const written = await disk.fill();
    ctx.log(`ballast of ${Math.round(written / 2 ** 20)} MiB written; ${disk.free()} bytes free`);
    const opened = await waitForBreaker(ctx, 'open', faultAt, 10_000, 'db-write');
    ctx.detectMs = opened;
    ctx.check(
      'writes failed and the write breaker opened',
      opened !== null,
      `opened ${secs(opened)} after the disk began to fill`,
    );
    // The disk stays full this long after the breaker noticed.
    await ctx.sleep(FULL);
    const full = await service.stats();

    ctx.phase('space freed');
    const healT = ctx.now();
    disk.release();
    const recovered = await waitForRecovery(ctx, 20_000);
    ctx.recoverMs = recovered;
    ctx.check(
      'the breakers closed and the queue drained after the space was freed',
      recovered !== null,
      `after ${secs(recovered)}`,
    );
    await ctx.sleep(1_000);
    await load.stop();

    const during = between(ctx.records(), faultT, healT);
    const writes = during.filter((r) => r.kind === 'write');
    const reads = during.filter((r) => r.kind === 'read');
    const queued = writes.filter((r) => r.outcome === 'queued').length;
    ctx.check(
      'tasks were kept elsewhere (202) while writes failed',
      queued > 0 && writes.every((r) => r.outcome === 'queued' || r.outcome === 'served'),
      `${writes.length} task requests on a full disk: ${queued} queued, ${writes.filter((r) => r.outcome !== 'queued' && r.outcome !== 'served').length} refused or failed`,
    );
    const readFailed = reads.filter((r) => r.outcome !== 'served').length;
    const readOpened =
      full?.breakerEvents.some((e) => e.breaker === 'db' && e.to === 'open' && e.at >= faultAt) ?? true;
    ctx.check(
      'reads went on',
      reads.length > 0 && readFailed === 0 && !readOpened,
      `${reads.length} reads on a full disk, ${readFailed} not served; read breaker ${readOpened ? 'opened' : 'stayed closed'}`,
    );
    ctx.measured.postgresPanics = (db.log().match(/PANIC/g) ?? []).length;
    checkDeferredQueue(ctx);
    await checkNoTaskLost(ctx, db);
  },
};
