import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { appendFileSync, chownSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A free TCP port on loopback (the suite never uses 5432 or 6379: those are the machine's). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => {
        if (port === 5432 || port === 6379) freePort().then(resolve, reject);
        else resolve(port);
      });
    });
  });
}

function postgresBin(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const version = readdirSync(root).sort().at(-1);
  return version === undefined ? undefined : join(root, version, 'bin');
}

/** Why a throwaway PostgreSQL cannot be made here, or undefined when it can. */
export function postgresUnavailable(): string | undefined {
  if (process.getuid?.() !== 0)
    return 'not root: the throwaway PostgreSQL runs as the postgres user through runuser';
  if (postgresBin() === undefined) return 'no PostgreSQL server binaries under /usr/lib/postgresql';
  if (spawnSync('id', ['-u', 'postgres']).status !== 0) return 'no postgres user';
  if (spawnSync('runuser', ['--help'], { stdio: 'ignore' }).status !== 0) return 'no runuser';
  return undefined;
}

/** Why a throwaway Redis cannot be made here, or undefined when it can. */
export function redisUnavailable(): string | undefined {
  if (spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status !== 0) return 'no redis-server';
  return undefined;
}

let template: Promise<string> | undefined;
let templateDir: string | undefined;

/**
 * initdb runs once per suite (seconds on a loaded machine); each server gets a copy of that
 * data directory, owner and modes kept.
 */
function copyTemplate(bin: string, dataDir: string): Promise<void> {
  template ??= new Promise<string>((resolve, reject) => {
    templateDir = join(tmpdir(), `breakwater-chaos-pg-template-${process.pid}`);
    mkdirSync(templateDir, { recursive: true });
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    chownSync(templateDir, uid, gid);
    const data = join(templateDir, 'data');
    execFile(
      'runuser',
      [
        '-u',
        'postgres',
        '--',
        join(bin, 'initdb'),
        '-D',
        data,
        '-U',
        'postgres',
        '--auth=trust',
        '--no-sync',
        '--no-instructions',
      ],
      { cwd: tmpdir(), timeout: 60_000 },
      (error, _stdout, stderr) =>
        error ? reject(new Error(`initdb failed: ${stderr || error.message}`)) : resolve(data),
    );
  });
  return template.then(
    (data) =>
      new Promise<void>((resolve, reject) => {
        execFile('cp', ['-a', data, dataDir], { timeout: 60_000 }, (error, _stdout, stderr) =>
          error
            ? reject(new Error(`copying the template data directory failed: ${stderr || error.message}`))
            : resolve(),
        );
      }),
  );
}

/** Removes the template data directory (at the end of the suite). */
export function removePostgresTemplate(): void {
  if (templateDir) rmSync(templateDir, { recursive: true, force: true });
  template = undefined;
  templateDir = undefined;
}

export interface PostgresOptions {
  /** Where the data directory goes (a tmpfs for the disk scenario). @default a new temp dir */
  dataParent?: string;
  /** A network namespace to run the server in, listening on `host`. */
  netns?: string;
  /** The address to listen on. @default 127.0.0.1 */
  host?: string;
}

/**
 * A PostgreSQL server of the suite's own: own data directory, own port, run as `postgres`
 * (initdb refuses root). Never the machine's server on 5432.
 */
export class ThrowawayPostgres {
  private constructor(
    readonly host: string,
    readonly port: number,
    readonly dir: string,
    readonly dataDir: string,
    private readonly bin: string,
    private readonly netns: string | undefined,
  ) {}

  static async create(options: PostgresOptions = {}): Promise<ThrowawayPostgres> {
    const bin = postgresBin();
    if (bin === undefined) throw new Error('no PostgreSQL server binaries');
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    const dir = join(tmpdir(), `breakwater-chaos-pg-${process.pid}-${Date.now().toString(36)}`);
    mkdirSync(dir, { recursive: true });
    chownSync(dir, uid, gid);
    const parent = options.dataParent ?? dir;
    if (options.dataParent) chownSync(parent, uid, gid);
    const dataDir = join(parent, 'data');
    const server = new ThrowawayPostgres(
      options.host ?? '127.0.0.1',
      await freePort(),
      dir,
      dataDir,
      bin,
      options.netns,
    );
    try {
      await copyTemplate(bin, dataDir);
      if (server.host !== '127.0.0.1') {
        // Reached from the host over the namespace's veth pair: let that /30 in, as loopback is.
        appendFileSync(join(dataDir, 'pg_hba.conf'), `host all all ${server.host}/30 trust\n`);
      }
      await server.start();
    } catch (error) {
      server.destroy();
      throw error;
    }
    return server;
  }

  get url(): string {
    return `postgres://postgres@${this.host}:${this.port}/postgres`;
  }

  private command(tool: string, args: string[]): string[] {
    const command = ['runuser', '-u', 'postgres', '--', join(this.bin, tool), ...args];
    return this.netns ? ['ip', 'netns', 'exec', this.netns, ...command] : command;
  }

  /** Runs a PostgreSQL tool as `postgres` without blocking the runner (which samples the service meanwhile). */
  private pg(tool: string, args: string[]): Promise<void> {
    const full = this.command(tool, args);
    return new Promise((resolve, reject) => {
      execFile(full[0]!, full.slice(1), { cwd: tmpdir(), timeout: 30_000 }, (error, _stdout, stderr) => {
        if (error) reject(new Error(`${tool} failed: ${stderr || error.message}`));
        else resolve();
      });
    });
  }

  private pgSync(tool: string, args: string[]): void {
    const full = this.command(tool, args);
    execFileSync(full[0]!, full.slice(1), { stdio: 'pipe', cwd: tmpdir(), timeout: 30_000 });
  }

  start(): Promise<void> {
    return this.pg('pg_ctl', [
      '-D',
      this.dataDir,
      '-o',
      `-c listen_addresses=${this.host} -p ${this.port} -k ${this.dir} -c fsync=off -c max_connections=60`,
      '-l',
      join(this.dir, 'log'),
      '-w',
      '-t',
      '20',
      'start',
    ]);
  }

  /** Kills it as a crash would: clients see their connections terminated, new ones refused. */
  stopImmediately(): Promise<void> {
    return this.pg('pg_ctl', ['-D', this.dataDir, '-m', 'immediate', '-w', 'stop']);
  }

  /** Whether the postmaster is running. */
  running(): boolean {
    const pidFile = join(this.dataDir, 'postmaster.pid');
    if (!existsSync(pidFile)) return false;
    const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  }

  log(): string {
    try {
      return readFileSync(join(this.dir, 'log'), 'utf8');
    } catch {
      return '';
    }
  }

  destroy(): void {
    if (existsSync(join(this.dataDir, 'postmaster.pid'))) {
      try {
        this.pgSync('pg_ctl', ['-D', this.dataDir, '-m', 'immediate', '-w', 'stop']);
      } catch {
        // already gone
      }
    }
    rmSync(this.dataDir, { recursive: true, force: true });
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A Redis server of the suite's own: own port, no persistence. Never the machine's on 6379. */
export class ThrowawayRedis {
  private constructor(
    readonly port: number,
    readonly dir: string,
    readonly pid: number,
  ) {}

  static async create(): Promise<ThrowawayRedis> {
    const dir = join(tmpdir(), `breakwater-chaos-redis-${process.pid}-${Date.now().toString(36)}`);
    mkdirSync(dir, { recursive: true });
    const port = await freePort();
    execFileSync(
      'redis-server',
      [
        '--bind',
        '127.0.0.1',
        '--port',
        String(port),
        '--daemonize',
        'yes',
        '--save',
        '',
        '--appendonly',
        'no',
        '--dir',
        dir,
        '--pidfile',
        join(dir, 'redis.pid'),
        '--logfile',
        join(dir, 'redis.log'),
      ],
      { stdio: 'pipe', timeout: 10_000 },
    );
    const pidFile = join(dir, 'redis.pid');
    const deadline = Date.now() + 5_000;
    while (!existsSync(pidFile)) {
      if (Date.now() > deadline) throw new Error(`redis-server on port ${port} wrote no pid file`);
      await new Promise((r) => setTimeout(r, 20));
    }
    return new ThrowawayRedis(port, dir, Number(readFileSync(pidFile, 'utf8').trim()));
  }

  /** Freezes the server: connections stay open, nothing is answered. */
  pause(): void {
    process.kill(this.pid, 'SIGSTOP');
  }

  resume(): void {
    process.kill(this.pid, 'SIGCONT');
  }

  destroy(): void {
    try {
      process.kill(this.pid, 'SIGCONT');
      process.kill(this.pid, 'SIGKILL');
    } catch {
      // already gone
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
