import { execFileSync, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A PostgreSQL server of a test's own (own data directory, own port, loopback only), to
 * stop and start mid-traffic. The machine's shared server is never touched. initdb refuses
 * to run as root, so the server runs as the `postgres` user.
 */
export class ThrowawayPostgres {
  private constructor(
    readonly port: number,
    private readonly dir: string,
    private readonly bin: string,
  ) {}

  /** Why a throwaway server cannot be made here, or undefined when it can. */
  static unavailable(): string | undefined {
    if (binDir() === undefined) return 'no PostgreSQL server binaries under /usr/lib/postgresql';
    if (spawnSync('id', ['-u', 'postgres']).status !== 0) return 'no postgres user';
    if (spawnSync('runuser', ['--help']).status !== 0) return 'no runuser';
    return undefined;
  }

  static async create(): Promise<ThrowawayPostgres> {
    const bin = binDir();
    if (bin === undefined) throw new Error('no PostgreSQL server binaries');
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    const dir = mkdtempSync(join(tmpdir(), 'breakwater-pg-'));
    chownSync(dir, uid, gid);
    asPostgres(join(bin, 'initdb'), ['-D', join(dir, 'data'), '-U', 'postgres', '--auth=trust', '--no-sync']);
    const server = new ThrowawayPostgres(await freePort(), dir, bin);
    server.start();
    return server;
  }

  start(): void {
    asPostgres(join(this.bin, 'pg_ctl'), [
      '-D',
      join(this.dir, 'data'),
      '-o',
      `-c listen_addresses=127.0.0.1 -p ${this.port} -k ${this.dir} -c fsync=off`,
      '-l',
      join(this.dir, 'log'),
      '-w',
      'start',
    ]);
  }

  /** Kills it as a crash would: clients see their connections terminated, new ones refused. */
  stopImmediately(): void {
    asPostgres(join(this.bin, 'pg_ctl'), ['-D', join(this.dir, 'data'), '-m', 'immediate', '-w', 'stop']);
  }

  destroy(): void {
    spawnSync(
      'runuser',
      [
        '-u',
        'postgres',
        '--',
        join(this.bin, 'pg_ctl'),
        '-D',
        join(this.dir, 'data'),
        '-m',
        'immediate',
        'stop',
      ],
      {
        stdio: 'ignore',
      },
    );
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function binDir(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const version = readdirSync(root).sort().at(-1);
  return version === undefined ? undefined : join(root, version, 'bin');
}

function asPostgres(command: string, args: string[]): void {
  execFileSync('runuser', ['-u', 'postgres', '--', command, ...args], { stdio: 'pipe', cwd: tmpdir() });
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
