import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runTs } from '../helpers/run.js';

const script = fileURLToPath(new URL('./fixtures/many-breakers.ts', import.meta.url));

/** Runs the fixture on the TypeScript sources through tsx's loader; kills it after `limitMs`. */
const runChild = (limitMs: number) => runTs([script], { limitMs });

describe('a process that uses breakers', () => {
  it('exits by itself after creating 10,000 breakers and calling through them, with no live timers', async () => {
    const result = await runChild(10_000);
    expect(result.stderr).toBe('');
    expect(result.timedOut).toBe(false); // not killed after 10 s
    expect(result.signal).toBeNull();
    expect(result.code).toBe(0);
    const report = JSON.parse(result.stdout) as {
      breakers: number;
      succeeded: number;
      failed: number;
      rejected: number;
      states: Record<string, number>;
      timeouts: number;
      resources: string[];
    };
    expect(report.breakers).toBe(10_000);
    expect(report.failed).toBe(20_000);
    expect(report.rejected).toBe(9_000); // open for a minute: rejected without running
    expect(report.succeeded).toBe(11_000); // one success each, plus the 1,000 immediate probes
    expect(report.states).toEqual({ open: 9_000, closed: 1_000 });
    expect(report.timeouts).toBe(0);
    expect(report.resources).not.toContain('Timeout');
  }, 15_000);
});
