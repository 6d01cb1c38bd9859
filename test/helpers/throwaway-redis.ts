import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { probe } from './services.js';

/**
 * A redis-server of a test's own (own directory, own port, loopback only, no persistence),
 * to pause (SIGSTOP: a hung server whose socket stays open), resume and stop mid-traffic.
 * The machine's shared Redis is never touched. It runs as a child of the test process, so
 * it dies with it.
 *
 * @example
 * ```ts
 * const redis = await ThrowawayRedis.create();
 * redis.pause(); // commands now hang
 * redis.resume();
 * await redis.stop();
 * ```
 */
export class ThrowawayRedis {
  private constructor(
    readonly port: number,
    private readonly dir: string,
    private readonly child: ChildProcess,
  ) {}

  /** Why a throwaway server cannot be made here, or undefined when it can. */
  static unavailable(): string | undefined {
    return spawnSync('redis-server', ['--version']).status === 0 ? undefined : 'no redis-server on PATH';
  }

  static async create(): Promise<ThrowawayRedis> {
    const dir = mkdtempSync(join(tmpdir(), 'breakwater-redis-'));
    const port = await freePort();
    const child = spawn(
      'redis-server',
      ['--bind', '127.0.0.1', '--port', String(port), '--save', '', '--appendonly', 'no', '--dir', dir],
      { stdio: 'ignore' },
    );
    const server = new ThrowawayRedis(port, dir, child);
    for (let i = 0; i < 100; i++) {
      if ((await probe('127.0.0.1', port, 200)) === undefined) return server;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await server.stop();
    throw new Error(`throwaway redis-server did not listen on ${port} within 2 s`);
  }

  /** `redis://127.0.0.1:<port>` */
  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Freezes the server: connections stay open, commands get no answer. */
  pause(): void {
    this.child.kill('SIGSTOP');
  }

  resume(): void {
    this.child.kill('SIGCONT');
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      const exited = new Promise((resolve) => this.child.once('exit', resolve));
      this.child.kill('SIGCONT');
      this.child.kill('SIGKILL');
      await exited;
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}
