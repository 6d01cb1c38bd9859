import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../', import.meta.url));
const script = fileURLToPath(new URL('./fixtures/many-breakers.ts', import.meta.url));

interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs the fixture on the TypeScript sources through tsx's loader; kills it after `timeout` ms. */
function runChild(timeout: number): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const child = spawn(process.execPath, ['--import', 'tsx', script], {
      cwd: root,
      timeout,
      killSignal: 'SIGKILL',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr, ms: Date.now() - started }));
  });
}

describe('a process that uses breakers', () => {
  it('exits by itself after creating 10,000 breakers and calling through them, with no live timers', async () => {
    const result = await runChild(10_000);
    expect(result.stderr).toBe('');
    expect(result.signal).toBeNull(); // not killed by the 10 s timeout
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
