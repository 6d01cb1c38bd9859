import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { describeRun, runTs } from '../helpers/run.js';

const fixture = fileURLToPath(new URL('./fixtures/bounded-memory.ts', import.meta.url));

describe('memory pressure', () => {
  it('serves 200,000 calls with distinct keys in a 64 MB heap: caches bounded, nothing left per call', async () => {
    const run = await runTs(['--max-old-space-size=64', '--expose-gc', fixture], { limitMs: 60_000 });
    expect(run.code, describeRun(run)).toBe(0);
    const report = JSON.parse(run.stdout.trim().split('\n').at(-1) ?? '{}') as Record<string, unknown>;
    expect(report).toMatchObject({
      calls: 200_000,
      cached: 1_000,
      inFlight: 0,
      queued: 0,
      timers: 0,
      signalListeners: 0,
      state: 'closed',
    });
    expect(report.failed).toBe(0); // a flaky call fails twice, then the fallback answers it
    expect(report.heapUsedMB).toBeLessThan(20); // ~6 MB here; an unbounded cache alone would need ~60 MB
  }, 70_000);
});
