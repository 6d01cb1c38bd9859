import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postgresStore } from '../../src/postgres/index.js';
import { requireService } from '../helpers/services.js';
import { count, expectNoneLost, startWorker, until } from './fixtures/processes.js';

const available = await requireService('PostgreSQL', '127.0.0.1', 5432);
const RUN = `bw_p_${process.pid}_${Date.now().toString(36)}`;

describe.runIf(available)('postgresStore across processes', () => {
  const pool = new pg.Pool({ host: '127.0.0.1', port: 5432, user: 'postgres', database: 'postgres', max: 4 });
  const made: string[] = [];

  async function table(name: string, ddl: string): Promise<string> {
    const full = `${RUN}_${name}`;
    await pool.query(`CREATE TABLE ${full} (${ddl})`);
    made.push(full);
    return full;
  }

  beforeAll(async () => {
    await pool.query('SELECT 1');
  });

  afterAll(async () => {
    for (const t of made) await pool.query(`DROP TABLE IF EXISTS ${t}`);
    await pool.end();
  });

  it('loses no job when a process is SIGKILLed mid-drain: a second one drains the rest, only in-flight jobs run twice', async () => {
    const N = 10_000;
    const jobs = `${RUN}_crash_jobs`;
    made.push(jobs);
    await postgresStore({ pool, table: jobs }).ensureSchema();
    const completions = await table('crash_done', 'n integer NOT NULL, pid integer NOT NULL');

    const first = startWorker({
      STORE: 'pg',
      TABLE: jobs,
      COMPLETIONS: completions,
      MODE: 'enqueue-drain',
      N: String(N),
      LEASE: '1000',
    });
    await until(
      'the first process to enqueue every job',
      () => first.stdout().includes('enqueued') || first.child.exitCode !== null,
    );
    expect(first.stderr()).toBe('');
    expect(await count(pool, `SELECT count(*) FROM ${jobs}`)).toBeGreaterThan(0);
    await until(
      'a third of the jobs to complete',
      async () => (await count(pool, `SELECT count(*) FROM ${completions}`)) >= N / 3,
    );
    first.child.kill('SIGKILL');
    expect(await first.exited).toBe(null);

    // What the dead process held: claimed, perhaps run, never marked done.
    const inFlight = new Set(
      (await pool.query(`SELECT payload FROM ${jobs} WHERE lease IS NOT NULL`)).rows.map(
        (r) => JSON.parse(r.payload).n as number,
      ),
    );
    const doneAtKill = await count(pool, `SELECT count(*) FROM ${completions}`);
    expect(doneAtKill).toBeLessThan(N);
    expect(inFlight.size).toBeLessThanOrEqual(8);

    const second = startWorker({
      STORE: 'pg',
      TABLE: jobs,
      COMPLETIONS: completions,
      MODE: 'drain',
      LEASE: '1000',
    });
    expect(await second.exited, second.stderr()).toBe(0);
    expect(JSON.parse(second.stdout())).toMatchObject({ overlaps: 0, dead: 0 });
    expect(await count(pool, `SELECT count(*) FROM ${jobs}`)).toBe(0);
    const { twice } = await expectNoneLost(pool, completions, N, inFlight);
    expect(twice.length).toBeLessThanOrEqual(inFlight.size);
  }, 90_000);

  it('two processes draining one table never run the same job at once', async () => {
    const N = 1_500;
    const jobs = `${RUN}_pair_jobs`;
    made.push(jobs);
    const store = postgresStore({ pool, table: jobs });
    await store.ensureSchema();
    const completions = await table('pair_done', 'n integer NOT NULL, pid integer NOT NULL');
    const running = await table('pair_running', 'n integer PRIMARY KEY');
    for (let i = 0; i < N; i += 100) {
      const values = Array.from(
        { length: Math.min(100, N - i) },
        (_, j) => `('${JSON.stringify({ n: i + j })}', 2, 0, 0)`,
      );
      await pool.query(
        `INSERT INTO ${jobs} (payload, priority, enqueued_at, run_at) VALUES ${values.join(',')}`,
      );
    }
    const env = {
      STORE: 'pg',
      TABLE: jobs,
      COMPLETIONS: completions,
      RUNNING: running,
      MODE: 'drain-exclusive',
      CONCURRENCY: '6',
    };
    const a = startWorker(env);
    const b = startWorker(env);
    const [codeA, codeB] = await Promise.all([a.exited, b.exited]);
    expect(codeA, a.stderr()).toBe(0);
    expect(codeB, b.stderr()).toBe(0);
    const ra = JSON.parse(a.stdout());
    const rb = JSON.parse(b.stdout());
    expect(ra.overlaps + rb.overlaps).toBe(0);
    expect(ra.completed).toBeGreaterThan(0);
    expect(rb.completed).toBeGreaterThan(0);
    expect(ra.completed + rb.completed).toBe(N);
    // No crash, no lease expired: each job ran exactly once.
    expect(await count(pool, `SELECT count(*) FROM ${completions}`)).toBe(N);
    expect(await count(pool, `SELECT count(DISTINCT n) FROM ${completions}`)).toBe(N);
  }, 60_000);
});
