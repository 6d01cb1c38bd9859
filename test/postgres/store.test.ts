import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { postgresStore } from '../../src/postgres/index.js';
import { storeContract } from '../deferred/contract.js';
import { requireService } from '../helpers/services.js';

const available = await requireService('PostgreSQL', '127.0.0.1', 5432);
const RUN = `bw_q_${process.pid}_${Date.now().toString(36)}`;
let tables = 0;

describe.runIf(available)('postgresStore', () => {
  const pool = new pg.Pool({
    host: '127.0.0.1',
    port: 5432,
    user: 'postgres',
    database: 'postgres',
    max: 10,
  });
  afterAll(() => pool.end());

  storeContract(
    'postgresStore',
    async () => {
      const table = `${RUN}_${++tables}`;
      const store = postgresStore({ pool, table });
      await store.ensureSchema();
      return {
        store,
        cleanup: async () => void (await pool.query(`DROP TABLE IF EXISTS "${table}"`)),
        corrupt: async (id) =>
          void (await pool.query(`UPDATE "${table}" SET payload = '{not json' WHERE id = $1`, [id])),
      };
    },
    { corrupt: true, extend: true },
  );

  it('validates its options', () => {
    expect(() => postgresStore({} as never)).toThrow(/pool must be a pg Pool/);
    expect(() => postgresStore({ pool, table: 'x; drop table y' })).toThrow(RangeError);
    expect(() => postgresStore({ pool, table: 'a.b.c' })).toThrow(/table must be a name/);
    expect(() => postgresStore({ pool, tabel: 'x' } as never)).toThrow(/unknown option "tabel"/);
    expect(postgresStore({ pool, table: 'jobs.mail' }).table).toBe('"jobs"."mail"');
  });

  it('creates its table only when asked, and twice is harmless', async () => {
    const table = `${RUN}_schema`;
    const store = postgresStore({ pool, table });
    const exists = async () => (await pool.query('SELECT to_regclass($1) AS t', [table])).rows[0].t !== null;
    expect(await exists()).toBe(false);
    await Promise.all([store.ensureSchema(), store.ensureSchema()]);
    await store.ensureSchema();
    expect(await exists()).toBe(true);
    await pool.query(`DROP TABLE "${table}"`);
  });
});
