/**
 * The shedder on the process's real readings, under real load that the test starts and stops
 * itself. What raises this thread's event-loop delay and utilization is work on this thread's
 * loop: CPU burned in worker threads only competes for cores, which on a shared machine moves
 * the main loop's readings by chance, not by design. So the CPU burner runs here, in bursts
 * between which the loop turns (timers, the sampler), as an overloaded server's loop does.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterEach, describe, expect, it } from 'vitest';
import type { Priority } from '../../src/policy.js';
import { type LoadShedderPolicy, loadShedder } from '../../src/shedder/shedder.js';

const INTERVAL = 100;

const cleanup: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanup.splice(0).reverse()) c();
});

/** Resolves with the ms it took until `test()` holds after a sample; rejects after `limit` ms. */
function until(shedder: LoadShedderPolicy, test: () => boolean, limit: number): Promise<number> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const check = () => {
      if (!test()) return;
      done();
      resolve(performance.now() - started);
    };
    const timer = setTimeout(() => {
      done();
      reject(
        new Error(
          `not within ${limit} ms: pressure ${shedder.pressure}, readings ${JSON.stringify(shedder.readings)}`,
        ),
      );
    }, limit);
    const done = () => {
      clearTimeout(timer);
      shedder.off('pressureChanged', check);
      shedder.off('sheddingChanged', check);
    };
    shedder.on('pressureChanged', check);
    shedder.on('sheddingChanged', check);
    check();
  });
}

/** Burns this thread's CPU in bursts of `burst` ms, letting the loop turn in between, until stopped. */
function burnInBursts(burst: number): () => void {
  let running = true;
  const step = () => {
    if (!running) return;
    const end = performance.now() + burst;
    while (performance.now() < end) {
      // busy
    }
    setImmediate(step);
  };
  setImmediate(step);
  return () => {
    running = false;
  };
}

const everything: Priority[] = ['high', 'normal', 'low', 'background'];

describe('loadShedder under real load', () => {
  it('sheds within two sample intervals of a CPU burst on the event loop, and recovers once it stops', async () => {
    const shedder = loadShedder({
      maxEventLoopUtilization: 0.7,
      maxEventLoopDelay: 100,
      sampleInterval: INTERVAL,
    });
    cleanup.push(() => shedder.dispose());
    // Start from a quiet loop (another test file's load may still be settling).
    await until(shedder, () => shedder.shedding.length === 0, 5_000);

    const stop = burnInBursts(60);
    cleanup.push(stop);
    // The sampler's own timer waits for the burst in progress: allow one burst past two intervals.
    const reacted = await until(shedder, () => shedder.isShedding('high'), 2 * INTERVAL + 60 + 20);
    expect(shedder.shedding).toEqual(everything);
    expect(shedder.readings.eventLoopUtilization).toBeGreaterThan(0.7);
    expect(reacted).toBeLessThanOrEqual(2 * INTERVAL + 80);
    await expect(shedder.execute(() => 'ran', { priority: 'normal' })).rejects.toMatchObject({
      reason: 'pressure',
      priority: 'normal',
    });
    await expect(shedder.execute(() => 'ran', { priority: 'critical' })).resolves.toBe('ran');

    stop();
    const recovered = await until(shedder, () => shedder.shedding.length === 0, 2 * INTERVAL + 60 + 20);
    expect(recovered).toBeLessThanOrEqual(2 * INTERVAL + 80);
    await expect(shedder.execute(() => 'ran', { priority: 'background' })).resolves.toBe('ran');
  });

  it('sheds when a heap ballast passes maxHeapUsedBytes, and recovers once it is collected', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    gc();
    const base = process.memoryUsage().heapUsed;
    const shedder = loadShedder({ maxHeapUsedBytes: base + 40e6, sampleInterval: INTERVAL });
    cleanup.push(() => shedder.dispose());
    await until(shedder, () => shedder.shedding.length === 0, 5_000);

    let ballast: number[][] | undefined = [];
    cleanup.push(() => {
      ballast = undefined;
    });
    for (let i = 0; i < 60; i++) ballast.push(new Array(125_000).fill(0)); // ~60 MB of heap
    const grown = performance.now();
    const reacted = await until(shedder, () => shedder.isShedding('high'), 2 * INTERVAL + 100);
    expect(shedder.readings.heapUsedBytes).toBeGreaterThan(base + 40e6);
    expect(shedder.pressure).toBeGreaterThan(1);
    expect(reacted).toBeLessThanOrEqual(2 * INTERVAL + 100);
    expect(performance.now() - grown).toBeLessThan(2 * INTERVAL + 100);

    ballast = undefined;
    gc();
    const recovered = await until(shedder, () => shedder.shedding.length === 0, 2 * INTERVAL + 100);
    expect(recovered).toBeLessThanOrEqual(2 * INTERVAL + 100);
    expect(shedder.pressure).toBeLessThan(0.5);
  });
});
