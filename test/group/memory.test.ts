import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { describeRun, runTs } from '../helpers/run.js';

const script = fileURLToPath(new URL('./fixtures/million-keys.ts', import.meta.url));

interface Report {
  baseline: number;
  heaps: Record<string, number>;
  ms: number;
  cpuMs: number;
  size: number;
  remembered: number;
  created: number;
  evicted: number;
  forgotten: number;
  succeeded: number;
  failed: number;
  fetched: number;
  timeouts: number;
  resources: string[];
}

const MB = 1024 * 1024;

describe('a group fed 1,000,000 distinct keys at maxSize 10,000', () => {
  // ~11 s of CPU (tsx on the sources); the limit is generous for a loaded machine.
  it('keeps its heap bounded, holds no timer, and lets the process exit by itself', async () => {
    const run = await runTs(['--expose-gc', script], { limitMs: 240_000 });
    expect(run.timedOut, describeRun(run)).toBe(false);
    expect(run.code, describeRun(run)).toBe(0);
    expect(run.signal).toBeNull();
    expect(run.stderr).toBe('');
    const report = JSON.parse(run.stdout) as Report;
    expect(report.size).toBe(10_000);
    // Every tenth key opened: 99,000 were evicted open (1,000 are still held), the newest
    // 10,000 of them are remembered and the older 89,000 forgotten.
    expect(report.remembered).toBe(10_000);
    expect(report.created).toBe(1_000_000);
    expect(report.evicted).toBe(990_000);
    expect(report.forgotten).toBe(89_000);
    expect(report.failed).toBe(100_000);
    expect(report.succeeded).toBe(100_000);
    expect(report.fetched).toBe(800_000);
    // From 100,000 keys to 1,000,000 the heap stays put: a leak of even 5 bytes a key would add 4.3 MB.
    const growth = report.heaps['1000000']! - report.heaps['100000']!;
    expect(growth).toBeLessThan(4 * MB);
    // And the whole group (10,000 breakers, 10,000 remembered states) is a few MB, not a million keys' worth.
    expect(report.heaps['1000000']! - report.baseline).toBeLessThan(40 * MB);
    expect(report.timeouts).toBe(0);
    expect(report.resources).not.toContain('Timeout');
  }, 250_000);
});
