import { type ChildProcess, spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ServiceConfig, ServiceStats } from '../service/config.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const MAIN = join(ROOT, 'chaos', 'service', 'main.ts');
/** The service bundled once per run (inside node_modules, so that its packages resolve): it starts in a
 * second on a loaded machine where compiling the TypeScript on each start takes several. */
const BUNDLE = join(ROOT, 'node_modules', '.cache', 'breakwater-chaos', 'service.mjs');
let entry = MAIN;

/**
 * Bundles the service with esbuild (what tsx itself uses); on any failure the service runs
 * from its TypeScript sources through tsx instead, only slower to start. Returns what it did.
 */
export async function prepareService(): Promise<string> {
  try {
    const specifier = 'esbuild';
    const esbuild = (await import(specifier)) as typeof import('esbuild');
    await esbuild.build({
      entryPoints: [MAIN],
      outfile: BUNDLE,
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      packages: 'external',
      tsconfig: join(ROOT, 'chaos', 'tsconfig.json'),
      logLevel: 'silent',
    });
    entry = BUNDLE;
    return `service bundled with esbuild into ${BUNDLE}`;
  } catch (error) {
    entry = MAIN;
    return `service runs from its sources through tsx (bundling failed: ${(error as Error).message.split('\n')[0]})`;
  }
}

/** The service under test, running as a child process of the runner. */
export class ServiceProcess {
  private exited = false;
  private exitCode: number | null = null;
  private exitSignal: NodeJS.Signals | null = null;
  readonly output: string[] = [];

  private constructor(
    private readonly child: ChildProcess,
    readonly url: string,
    readonly pid: number,
  ) {
    child.once('exit', (code, signal) => {
      this.exited = true;
      this.exitCode = code;
      this.exitSignal = signal;
    });
  }

  /** Starts `chaos/service/main.ts` with `node --import tsx` (no wrapper process: a SIGKILL reaches the service itself). */
  static start(config: Partial<ServiceConfig>, nodeArgs: string[] = []): Promise<ServiceProcess> {
    // tsx only where TypeScript is loaded at run time: the sources, or optional modules beside the bundle.
    const loader =
      entry === MAIN || (config.use?.length ?? 0) > 0 || config.taskStore === 'deferred-postgres'
        ? ['--import', 'tsx']
        : [];
    const child = spawn(process.execPath, [...nodeArgs, ...loader, entry], {
      cwd: ROOT,
      env: { ...process.env, CHAOS_SERVICE_CONFIG: JSON.stringify(config) },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const output: string[] = [];
    return new Promise((resolve, reject) => {
      let buffer = '';
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`the service did not start within 45 s:\n${output.join('').slice(-2_000)}`));
      }, 45_000);
      child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
        output.push(chunk);
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(
          new Error(
            `the service exited (${signal ?? code}) before it was ready:\n${output.join('').slice(-2_000)}`,
          ),
        );
      });
      child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
        buffer += chunk;
        const line = /^READY (.*)$/m.exec(buffer);
        if (!line) return;
        clearTimeout(timer);
        child.removeAllListeners('exit');
        const { url } = JSON.parse(line[1]!) as { url: string };
        const service = new ServiceProcess(child, url, child.pid!);
        service.output.push(...output);
        child.stderr!.on('data', (chunk: string) => service.output.push(chunk));
        resolve(service);
      });
    });
  }

  get alive(): boolean {
    return !this.exited;
  }

  get exit(): { code: number | null; signal: NodeJS.Signals | null } {
    return { code: this.exitCode, signal: this.exitSignal };
  }

  /** The service's own numbers, or undefined when it does not answer within `timeoutMs`. */
  async stats(timeoutMs = 1_500): Promise<ServiceStats | undefined> {
    try {
      const response = await fetch(`${this.url}/_chaos/stats`, { signal: AbortSignal.timeout(timeoutMs) });
      return (await response.json()) as ServiceStats;
    } catch {
      return undefined;
    }
  }

  async control(method: 'POST' | 'DELETE', path: string): Promise<void> {
    const response = await fetch(`${this.url}${path}`, { method, signal: AbortSignal.timeout(10_000) });
    await response.arrayBuffer();
    if (!response.ok) throw new Error(`${method} ${path}: HTTP ${response.status}`);
  }

  kill(signal: NodeJS.Signals): void {
    if (!this.exited) this.child.kill(signal);
  }

  waitForExit(timeoutMs: number): Promise<boolean> {
    if (this.exited) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      this.child.once('exit', () => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  /** SIGTERM, then SIGKILL after 5 s. */
  async stop(): Promise<void> {
    if (this.exited) return;
    this.child.kill('SIGTERM');
    if (!(await this.waitForExit(5_000))) {
      this.child.kill('SIGKILL');
      await this.waitForExit(2_000);
    }
  }
}
