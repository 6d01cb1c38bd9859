import pg from 'pg';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireService } from '../helpers/services.js';
import { count, expectNoneLost, startWorker, until } from '../postgres/fixtures/processes.js';

const redisUp = await requireService('Redis', '127.0.0.1', 6379);
const postgresUp = await requireService('PostgreSQL', '127.0.0.1', 5432);
const RUN = `${process.pid}_${Date.now().toString(36)}`;
const PREFIX = `bw-test:crash:${RUN}`;

// Completions are counted in PostgreSQL, outside the store under test.
describe.runIf(redisUp && postgresUp)('redisStore across processes', () => {
  const client = createClient({ url: 'redis://127.0.0.1:6379' });
  const pool = new pg.Pool({ host: '127.0.0.1', port: 5432, user: 'postgres', database: 'postgres', max: 2 });
  const completions = `bw_rc_${RUN}`;

  beforeAll(async () => {
    await client.connect();
    await pool.query(`CREATE TABLE ${completions} (n integer NOT NULL, pid integer NOT NULL)`);
  });

  afterAll(async () => {
    for await (const keys of client.scanIterator({ MATCH: `${PREFIX}*`, COUNT: 100 })) {
      if (keys.length > 0) await client.del(keys);
    }
    await client.quit();
    await pool.query(`DROP TABLE IF EXISTS ${completions}`);
    await pool.end();
  });

  it('loses no job when a process is SIGKILLed mid-drain: a second one drains the rest, only in-flight jobs run twice', async () => {
    const N = 10_000;
    const env = { STORE: 'redis', PREFIX, COMPLETIONS: completions, LEASE: '1000' };
    const first = startWorker({ ...env, MODE: 'enqueue-drain', N: String(N) });
    await until(
      'the first process to enqueue every job',
      () => first.stdout().includes('enqueued') || first.child.exitCode !== null,
    );
    expect(first.stderr()).toBe('');
    await until(
      'a third of the jobs to complete',
      async () => (await count(pool, `SELECT count(*) FROM ${completions}`)) >= N / 3,
    );
    first.child.kill('SIGKILL');
    expect(await first.exited).toBe(null);

    // What the dead process held: the entries of its leases.
    const members = (await client.sendCommand(['ZRANGE', `${PREFIX}:leases`, '0', '-1'])) as string[];
    const inFlight = new Set<number>();
    for (const member of members) {
      const [rank, entry] = member.split('|') as [string, string];
      for (const e of (await client.xRange(`${PREFIX}:s${rank}`, entry, entry)) ?? []) {
        if (e !== null) inFlight.add((JSON.parse(String(e.message?.data)) as { p: { n: number } }).p.n);
      }
    }
    expect(inFlight.size).toBeLessThanOrEqual(8);
    expect(await count(pool, `SELECT count(*) FROM ${completions}`)).toBeLessThan(N);

    const second = startWorker({ ...env, MODE: 'drain' });
    expect(await second.exited, second.stderr()).toBe(0);
    expect(JSON.parse(second.stdout())).toMatchObject({ overlaps: 0, dead: 0 });
    const { twice } = await expectNoneLost(pool, completions, N, inFlight);
    expect(twice.length).toBeLessThanOrEqual(inFlight.size);
    expect(await client.get(`${PREFIX}:count`)).toBe('0');
  }, 90_000);
});
