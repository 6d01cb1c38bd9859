import { type ChildProcess, spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/run.js';
import { requireService } from '../helpers/services.js';

const redisUp = await requireService('Redis', '127.0.0.1', 6379);

const FLUSH_INTERVAL = 20;
const SYNC_INTERVAL = 100;
const OPEN_TIMEOUT = 100;
/** The documented staleness bound: flushInterval + syncInterval. */
const BOUND = FLUSH_INTERVAL + SYNC_INTERVAL;
/**
 * What polling over IPC adds, and timers firing late on a loaded machine (2 cores shared by
 * several test runs: 300 ms was seen at a load average of 16; ~10 ms when idle).
 */
const SLACK = 300;

interface Reply {
  readonly id?: number;
  readonly results?: string[];
  readonly state?: string;
  readonly ready?: boolean;
}

/** A child process sharing the circuit `orders`, driven over IPC. */
class Worker {
  private next = 0;
  private readonly waiting = new Map<number, (r: Reply) => void>();
  readonly ready: Promise<void>;

  constructor(readonly child: ChildProcess) {
    let ready!: () => void;
    this.ready = new Promise((resolve) => {
      ready = resolve;
    });
    child.on('message', (m: Reply) => {
      if (m.ready) ready();
      if (m.id !== undefined) {
        this.waiting.get(m.id)?.(m);
        this.waiting.delete(m.id);
      }
    });
  }

  private ask(message: object): Promise<Reply> {
    const id = this.next++;
    return new Promise((resolve) => {
      this.waiting.set(id, resolve);
      this.child.send({ ...message, id });
    });
  }

  async call(n: number): Promise<string[]> {
    return (await this.ask({ call: n })).results!;
  }

  async manual(what: 'isolate' | 'reset'): Promise<string> {
    return (await this.ask({ manual: what })).state!;
  }

  async state(): Promise<string> {
    return (await this.ask({ state: true })).state!;
  }
}

/** A dependency that counts the requests reaching it, failing or healthy at will. */
function countingServer() {
  const s = { hits: 0, failing: true, server: undefined as unknown as Server, url: '' };
  s.server = createServer((_req, res) => {
    s.hits++;
    res.statusCode = s.failing ? 500 : 200;
    res.end();
  });
  return s;
}

function startWorkers(n: number, env: Record<string, string>): Worker[] {
  return Array.from(
    { length: n },
    () =>
      new Worker(
        spawn(process.execPath, ['--import', 'tsx', 'test/redis/fixtures/cluster-worker.ts'], {
          cwd: ROOT,
          env: { ...process.env, ...env },
          stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        }),
      ),
  );
}

async function stopWorkers(workers: readonly Worker[]): Promise<void> {
  await Promise.all(
    workers.map(
      (w) =>
        new Promise<void>((resolve) => {
          if (w.child.exitCode !== null) return resolve();
          w.child.once('exit', () => resolve());
          w.child.send({ exit: true });
          setTimeout(() => w.child.kill(), 3_000).unref();
        }),
    ),
  );
}

/** Polls every worker until each reads `state`; answers the ms it took. */
async function allReach(workers: readonly Worker[], state: string, limitMs: number): Promise<number> {
  const start = performance.now();
  for (;;) {
    const states = await Promise.all(workers.map((w) => w.state()));
    if (states.every((s) => s === state)) return performance.now() - start;
    if (performance.now() - start > limitMs) {
      throw new Error(`after ${limitMs} ms the workers read ${states.join(', ')}, not all ${state}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.runIf(redisUp)('4 processes sharing one circuit through Redis', () => {
  const server = countingServer();
  let workers: Worker[] = [];

  beforeAll(async () => {
    await new Promise<void>((resolve) => server.server.listen(0, '127.0.0.1', resolve));
    server.url = `http://127.0.0.1:${(server.server.address() as AddressInfo).port}/`;
    workers = startWorkers(4, {
      REDIS_URL: 'redis://127.0.0.1:6379',
      PREFIX: `bw-cluster-${process.pid}-${Date.now()}`,
      SERVER_URL: server.url,
      FLUSH_INTERVAL: String(FLUSH_INTERVAL),
      SYNC_INTERVAL: String(SYNC_INTERVAL),
      OPEN_TIMEOUT: String(OPEN_TIMEOUT),
      FAILURE_THRESHOLD: '4',
    });
    await Promise.all(workers.map((w) => w.ready));
  }, 60_000);

  afterAll(async () => {
    await stopWorkers(workers);
    await new Promise((resolve) => server.server.close(resolve));
  });

  it('failures spread across the processes open the circuit for all of them', async () => {
    // One failure in each process: no process alone reaches the threshold of 4.
    for (const w of workers) expect(await w.call(1)).toEqual(['failed']);
    const took = await allReach(workers, 'open', 2_000);
    expect(took).toBeLessThanOrEqual(BOUND + SLACK);
    // Rejections are decided locally. On a loaded machine the 100 ms open timeout may pass
    // meanwhile: then one probe, and only one, reaches the server.
    const hits = server.hits;
    const results = (await Promise.all(workers.map((w) => w.call(3)))).flat();
    expect(server.hits - hits).toBeLessThanOrEqual(1);
    expect(results.filter((r) => r === 'rejected')).toHaveLength(12 - (server.hits - hits));
  });

  it('after each open timeout exactly one probe reaches the server cluster-wide (20 times)', async () => {
    const probes: number[] = [];
    for (let round = 0; round < 20; round++) {
      await sleep(OPEN_TIMEOUT + 30);
      const before = server.hits;
      // Every process calls 5 times at once: 20 calls that all find the circuit due.
      const results = (await Promise.all(workers.map((w) => w.call(5)))).flat();
      probes.push(server.hits - before);
      expect(results.filter((r) => r === 'failed')).toHaveLength(server.hits - before);
      await allReach(workers, 'open', 2_000); // the failed probe reopened it for all
    }
    expect(probes, `requests that reached the server per round: ${probes.join(' ')}`).toEqual(
      Array(20).fill(1),
    );
  }, 30_000);

  it('after a successful probe every process closes within flushInterval + syncInterval', async () => {
    server.failing = false;
    await sleep(OPEN_TIMEOUT + 30);
    const before = server.hits;
    const results = (await Promise.all(workers.map((w) => w.call(5)))).flat();
    // One probe; calls that asked for the lease after it closed the circuit find it closed and run.
    const hits = server.hits - before;
    expect(hits).toBeGreaterThanOrEqual(1);
    expect(results.filter((r) => r === 'ok')).toHaveLength(hits);
    expect(results.filter((r) => r === 'failed')).toHaveLength(0);
    const took = await allReach(workers, 'closed', 2_000);
    expect(took).toBeLessThanOrEqual(BOUND + SLACK);
    for (const w of workers) expect(await w.call(2)).toEqual(['ok', 'ok']);
  });
});

describe.runIf(redisUp)('without pub/sub, the periodic read alone keeps the bound', () => {
  const server = countingServer();
  let workers: Worker[] = [];

  beforeAll(async () => {
    await new Promise<void>((resolve) => server.server.listen(0, '127.0.0.1', resolve));
    server.url = `http://127.0.0.1:${(server.server.address() as AddressInfo).port}/`;
    workers = startWorkers(2, {
      REDIS_URL: 'redis://127.0.0.1:6379',
      PREFIX: `bw-nopubsub-${process.pid}-${Date.now()}`,
      SERVER_URL: server.url,
      FLUSH_INTERVAL: String(FLUSH_INTERVAL),
      SYNC_INTERVAL: String(SYNC_INTERVAL),
      OPEN_TIMEOUT: String(OPEN_TIMEOUT),
      FAILURE_THRESHOLD: '2',
      NO_PUBSUB: '1',
    });
    await Promise.all(workers.map((w) => w.ready));
  }, 60_000);

  afterAll(async () => {
    await stopWorkers(workers);
    await new Promise((resolve) => server.server.close(resolve));
  });

  it('a process in use sees another process isolate and reset the circuit within the bound', async () => {
    server.failing = false;
    const [a, b] = workers as [Worker, Worker];
    /** Calls b every 10 ms (keeping it in use) until a call answers `want`; the ms that took. */
    const until = async (want: string): Promise<number> => {
      const start = performance.now();
      for (;;) {
        const [result] = await b.call(1);
        if (result === want) return performance.now() - start;
        if (performance.now() - start > 2_000) throw new Error(`b still answers ${result} after 2 s`);
        await sleep(10);
      }
    };
    expect(await b.call(1)).toEqual(['ok']);
    await a.manual('isolate');
    expect(await until('rejected')).toBeLessThanOrEqual(BOUND + SLACK);
    await a.manual('reset');
    expect(await until('ok')).toBeLessThanOrEqual(BOUND + SLACK);
  });
});
