import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The repository root: examples import 'breakwater', which tsx resolves through tsconfig paths from here. */
export const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface Run {
  /** The exit code, or null when the process was killed. */
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  /** Wall time, ms. */
  readonly ms: number;
  /** Whether it was killed for running past the time limit. */
  readonly timedOut: boolean;
}

/**
 * Runs `node --import tsx <args>` from the repository root and collects its output. A run
 * that outlives `limitMs` is killed (and reported as such) so that a hung example fails
 * its test instead of hanging the suite.
 */
export function runTs(
  args: string[],
  options: { env?: NodeJS.ProcessEnv; limitMs?: number } = {},
): Promise<Run> {
  const started = performance.now();
  const child = spawn(process.execPath, ['--import', 'tsx', ...args], {
    cwd: ROOT,
    env: { ...process.env, NO_COLOR: '1', ...options.env },
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
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, options.limitMs ?? 30_000);
  return new Promise((resolve, reject) => {
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, ms: performance.now() - started, timedOut });
    });
  });
}

/** What to show when a run did not go as expected. */
export function describeRun(run: Run): string {
  return `exit ${run.code ?? run.signal}${run.timedOut ? ' (killed: time limit)' : ''} after ${Math.round(run.ms)} ms\n--- stdout\n${run.stdout}\n--- stderr\n${run.stderr}`;
}
