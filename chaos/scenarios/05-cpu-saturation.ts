import { percentile } from '../lib/load.js';
import type { Scenario } from '../lib/types.js';
import { between, secs, standardSetup } from './common.js';

const BURN = 10_000;

export const cpuSaturation: Scenario = {
  id: 5,
  slug: 'cpu-saturation',
  title: 'CPU saturation',
  expected: [
    `six worker threads in the service burn both cores (three runnable threads per core) for ${BURN / 1000} s while 10 clients send critical, normal and low-priority requests`,
    'the event-loop delay rises',
    'the load shedder sheds low-priority work (503 Overloaded) and never a critical request',
    'the p99 latency of critical requests stays under 3 s (a starved 2-core machine), and no request fails without an answer',
    'after the burn, shedding stops within 10 s',
  ],
  async run(ctx) {
    const { service } = await standardSetup(ctx, {
      cpuPerRead: 2,
      use: ['shedder', 'adaptive-limit'],
      shedOn: ['eventLoopDelay'],
      maxEventLoopDelay: 100,
    });
    ctx.phase('traffic');
    const load = ctx.load({
      concurrency: 10,
      durationMs: 35_000,
      maxRequests: 60_000,
      thinkMs: 20,
      writeShare: 0.1,
      levels: { critical: 0.2, normal: 0.4, low: 0.4 },
      taskPrefix: 's5',
    });
    const delays: number[] = [];
    const limits: number[] = [];
    const baseline: number[] = [];
    let burning = false;
    const watch = setInterval(() => {
      void service.stats(2_000).then((s) => {
        if (s) (burning ? delays : baseline).push(s.eventLoopDelay);
        if (s?.dbLimit != null) limits.push(s.dbLimit);
      });
    }, 500);
    ctx.cleanup.add('delay watch', () => clearInterval(watch));
    await ctx.sleep(3_000);
    const before = await service.stats();
    const capability = before?.capabilities.loadShedder ?? 'unknown';
    ctx.note(`loadShedder: ${capability}`);

    ctx.phase('burning both cores');
    const burnT = ctx.now();
    const burnAt = Date.now();
    burning = true;
    await service.control('POST', `/_chaos/burn?ms=${BURN}&threads=6`);
    const shedStarted = await ctx.waitFor(async () => (await service.stats())?.shedding === true, BURN);
    ctx.detectMs = shedStarted;
    await ctx.sleep(Math.max(0, BURN - (Date.now() - burnAt)));
    burning = false;

    ctx.phase('burn over');
    const endT = ctx.now();
    const stopped = await ctx.waitFor(async () => (await service.stats())?.shedding === false, 12_000);
    ctx.recoverMs = stopped;
    await ctx.sleep(1_500);
    await load.stop();

    const baseDelay = baseline.length ? Math.max(...baseline) : 0;
    const maxDelay = delays.length ? Math.max(...delays) : 0;
    ctx.measured.eventLoopDelayBeforeMs = Math.round(baseDelay);
    ctx.measured.eventLoopDelayPeakMs = Math.round(maxDelay);
    ctx.check(
      'the event-loop delay rose',
      maxDelay > baseDelay,
      `peak ${maxDelay.toFixed(1)} ms during the burn, ${baseDelay.toFixed(1)} ms before`,
    );

    const during = between(ctx.records(), burnT, endT);
    const critical = during.filter((r) => r.level === 'critical');
    const p99 = percentile(
      critical.map((r) => r.end - r.start),
      99,
    );
    ctx.measured.criticalP99Ms = Math.round(p99);
    ctx.check(
      'critical p99 stayed under 3 s',
      critical.length > 0 && p99 < 3_000,
      `p99 ${Math.round(p99)} ms over ${critical.length} critical requests`,
    );
    ctx.check(
      'no critical request was shed',
      critical.every((r) => r.outcome !== 'shed'),
      `${critical.filter((r) => r.outcome === 'shed').length} critical requests shed`,
    );
    const failed = during.filter((r) => r.outcome === 'failed');
    ctx.check(
      'no request failed without an answer',
      failed.length === 0,
      `${during.length} requests during the burn, ${failed.length} failed`,
    );
    const lowShed = during.filter((r) => r.level === 'low' && r.outcome === 'shed').length;
    ctx.measured.lowShed = lowShed;
    // The adaptive limit is measured, not checked: how it moves under CPU starvation depends on the machine.
    ctx.measured.adaptiveLimit = limits.length
      ? `${Math.min(...limits)}..${Math.max(...limits)}`
      : (before?.capabilities.adaptiveLimit ?? 'absent');
    if (capability === 'used') {
      ctx.check(
        'low-priority work was shed',
        lowShed > 0,
        `${lowShed} low-priority requests shed (503 Overloaded)`,
      );
      ctx.check(
        'shedding stopped after the burn',
        stopped !== null,
        `stopped ${secs(stopped)} after the burn`,
      );
    } else {
      ctx.unchecked('low-priority work was shed', `breakwater's loadShedder is not available: ${capability}`);
      ctx.unchecked(
        'shedding stopped after the burn',
        `breakwater's loadShedder is not available: ${capability}`,
      );
    }
  },
};
