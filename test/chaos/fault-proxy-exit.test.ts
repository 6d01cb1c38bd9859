import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { FaultProxyStats } from '../../src/chaos/index.js';
import { describeRun, runTs } from '../helpers/run.js';

const script = fileURLToPath(new URL('./fixtures/abort-mid-stream.ts', import.meta.url));

describe('a process that runs clients through a FaultProxy', () => {
  // Before the fix, libuv refused to reset the proxy's socket to the server (EINVAL: its FIN was
  // being sent), Node never closed that handle, and the child ran until it was killed.
  it('exits by itself after clients abort mid-stream and the proxy closes', async () => {
    const run = await runTs([script], { limitMs: 30_000 });
    expect(run.timedOut, describeRun(run)).toBe(false);
    expect(run.signal, describeRun(run)).toBeNull();
    expect(run.code, describeRun(run)).toBe(0);
    expect(run.stderr).toBe('');
    const report = JSON.parse(run.stdout) as { aborted: number; stats: FaultProxyStats[] };
    expect(report.aborted).toBe(60); // every client got part of the stream before aborting
    expect(report.stats).toHaveLength(3);
    for (const stats of report.stats) {
      expect(stats.connections).toEqual({ accepted: 20, open: 0, refused: 0 });
      expect(stats.queued).toEqual({ upstream: 0, downstream: 0 });
      expect(stats.bytes.downstream).toBeGreaterThan(0);
    }
  }, 40_000);
});
