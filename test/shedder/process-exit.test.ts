import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { describeRun, runTs } from '../helpers/run.js';

const script = fileURLToPath(new URL('./fixtures/shedders-exit.ts', import.meta.url));

interface Report {
  admitted: number;
  sampled: boolean;
  running: number;
  left: number;
  withShedders: string[];
  resources: string[];
}

describe('a process that uses load shedders', () => {
  it('exits by itself after dispose(), with the samplers stopped and no timer left', async () => {
    const run = await runTs([script], { limitMs: 20_000 });
    expect(run.code, describeRun(run)).toBe(0);
    expect(run.timedOut).toBe(false);
    const report = JSON.parse(run.stdout) as Report;
    expect(report.admitted).toBe(3_000);
    expect(report.sampled).toBe(true);
    expect(report.running).toBe(2); // the process's own sampler, shared by two shedders, and the probe's
    expect(report.left).toBe(0);
    // Unref'd timers are not listed as active resources: while sampling, none keeps the process alive.
    expect(report.withShedders).not.toContain('Timeout');
    expect(report.resources).not.toContain('Timeout');
  }, 30_000);

  it('exits by itself even when the shedders are never disposed: the sampler timers are unref’d', async () => {
    const run = await runTs([script], { limitMs: 20_000, env: { KEEP: '1' } });
    expect(run.code, describeRun(run)).toBe(0);
    expect(run.timedOut).toBe(false);
    const report = JSON.parse(run.stdout) as Report;
    expect(report.left).toBe(2);
  }, 30_000);
});
