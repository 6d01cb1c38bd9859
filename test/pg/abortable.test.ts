import { getEventListeners } from 'node:events';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FaultProxy } from '../../src/chaos/index.js';
import {
  BreakwaterError,
  CircuitBreaker,
  isBreakwaterError,
  isBrokenCircuitError,
  isTimeoutError,
  pipeline,
  timeout,
} from '../../src/index.js';
import { abortable, ClientDiscardedError, isClientDiscardedError, query } from '../../src/pg/index.js';
import { requireService } from '../helpers/services.js';
import { sleep, sockets, until, watchTimers } from './helpers.js';

const LOOPBACK = '127.0.0.1';
const PG = { host: LOOPBACK, port: 5432, user: 'postgres', database: 'test' };

const cleanups: (() => Promise<unknown>)[] = [];

afterEach(async () => {
  // Proxies first: a pool whose connections hang in a partition ends only once they are closed.
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

let apps = 0;

/** A pool ended after the test, named so that its backends can be found in pg_stat_activity. */
function newPool(config: pg.PoolConfig = {}): { pool: pg.Pool; app: string; released: unknown[] } {
  const app = `breakwater-pg-${process.pid}-${++apps}`;
  const pool = new pg.Pool({ ...PG, application_name: app, idleTimeoutMillis: 0, ...config });
  pool.on('error', () => {}); // an idle client dropped by a fault: the test looks at its queries, not this
  const released: unknown[] = [];
  pool.on('release', (error) => {
    if (error !== undefined) released.push(error);
  });
  cleanups.push(() => pool.end().catch(() => {}));
  return { pool, app, released };
}

async function newProxy(): Promise<FaultProxy> {
  const proxy = await FaultProxy.start({ target: { host: LOOPBACK, port: 5432 } });
  cleanups.push(() => proxy.close());
  return proxy;
}

describe('abortable: arguments (no server needed)', () => {
  // Never connected: these calls must fail before any connection is tried.
  const pool = new pg.Pool({ host: LOOPBACK, port: 1 });

  it('rejects a pool that is not one, naming it', () => {
    expect(() => abortable({} as pg.Pool)).toThrow(TypeError);
    expect(() => abortable(null as unknown as pg.Pool)).toThrow(/pool must be a pg Pool.*got null/);
  });

  it('query() rejects a pool that is not one, as a rejection like every bad argument of a call', async () => {
    await expect(query('pool' as unknown as pg.Pool, 'select 1')).rejects.toThrow(
      new TypeError('query: pool must be a pg Pool (with connect and query), got "pool"'),
    );
  });

  it('validates its options, naming the option and the value', () => {
    expect(() => abortable(pool, { cancel: 'yes' as never })).toThrow(
      new TypeError('cancel must be a boolean, got "yes"'),
    );
    expect(() => abortable(pool, { cancelTimeout: 0 })).toThrow(RangeError);
    expect(() => abortable(pool, { cancelTimeout: 0 })).toThrow(/cancelTimeout.*got 0/);
    expect(() => abortable(pool, { cancelTimeout: Number.POSITIVE_INFINITY })).toThrow(
      /cancelTimeout.*got Infinity/,
    );
    expect(() => abortable(pool, { cancelTimeout: '5' as never })).toThrow(TypeError);
    expect(() => abortable(pool, { canel: true } as never)).toThrow(/unknown option "canel"/);
    expect(() => abortable(pool, 5 as never)).toThrow(/abortable options must be an object, got 5/);
  });

  it('rejects bad query arguments, naming them, without connecting', async () => {
    const db = abortable(pool);
    await expect(db.query('select 1', 5 as never)).rejects.toThrow(
      new TypeError('query: values must be an array, got 5'),
    );
    await expect(db.query(42 as never)).rejects.toThrow(/text must be a string or a QueryConfig.*got 42/);
    await expect(db.query('select 1', [], { signal: 'stop' } as never)).rejects.toThrow(
      /signal must be an AbortSignal, got "stop"/,
    );
    await expect(db.query('select 1', [], { sigal: AbortSignal.abort() } as never)).rejects.toThrow(
      /unknown option "sigal"/,
    );
    await expect(db.query({ text: 'select 1', submit: () => {} } as never)).rejects.toThrow(/Submittable/);
    await expect(db.connect(7 as never)).rejects.toThrow(/connect options must be an object, got 7/);
    await expect(db.withClient('fn' as never)).rejects.toThrow(/fn must be a function, got "fn"/);
    expect(pool.totalCount).toBe(0);
  });

  it('a call whose signal has already aborted rejects with its reason, without connecting', async () => {
    const db = abortable(pool);
    const reason = new Error('already gone');
    const signal = AbortSignal.abort(reason);
    await expect(db.query('select 1', [], { signal })).rejects.toBe(reason);
    await expect(db.query('select 1', signal)).rejects.toBe(reason);
    await expect(query(pool, 'select 1', [], signal)).rejects.toBe(reason);
    await expect(db.connect({ signal })).rejects.toBe(reason);
    await expect(db.withClient(() => 1, { signal })).rejects.toBe(reason);
    expect(pool.totalCount).toBe(0);
  });

  it('ClientDiscardedError is a BreakwaterError whose cause is the abort reason', () => {
    const reason = new Error('timed out');
    const error = new ClientDiscardedError(reason);
    expect(error).toBeInstanceOf(BreakwaterError);
    expect(isBreakwaterError(error)).toBe(true);
    expect(isClientDiscardedError(error)).toBe(true);
    expect(isClientDiscardedError(new Error('x'))).toBe(false);
    expect(error.name).toBe('ClientDiscardedError');
    expect(error.cause).toBe(reason);
  });
});

const postgres = await requireService('PostgreSQL', LOOPBACK, 5432);

describe.runIf(postgres)('abortable against PostgreSQL on 127.0.0.1:5432', () => {
  let admin: pg.Client;

  beforeAll(async () => {
    admin = new pg.Client(PG);
    await admin.connect();
  });

  afterAll(async () => {
    await admin?.end();
  });

  /** The pid of the backend of `app` running `sql`, once it runs. */
  async function runningPid(app: string, sql: string): Promise<number> {
    let pid: number | undefined;
    await until(`${sql} running`, async () => {
      const { rows } = await admin.query<{ pid: number }>(
        "select pid from pg_stat_activity where application_name = $1 and state = 'active' and query = $2",
        [app, sql],
      );
      pid = rows[0]?.pid;
      return pid !== undefined;
    });
    return pid!;
  }

  async function backend(pid: number): Promise<{ state: string; query: string } | undefined> {
    const { rows } = await admin.query<{ state: string; query: string }>(
      'select state, query from pg_stat_activity where pid = $1',
      [pid],
    );
    return rows[0];
  }

  it('a query completes, the client goes back to the pool and no listener is left on the signal', async () => {
    const { pool } = newPool();
    const db = abortable(pool);
    const controller = new AbortController();
    const result = await db.query<{ n: number }>('select $1::int + 1 as n', [41], {
      signal: controller.signal,
    });
    expect(result.rows).toEqual([{ n: 42 }]);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
    expect({ total: pool.totalCount, idle: pool.idleCount }).toEqual({ total: 1, idle: 1 });
    // pg's other forms: options second, a bare signal, a QueryConfig in array mode, and no signal.
    expect((await db.query('select 1 as one', { signal: controller.signal })).rows).toEqual([{ one: 1 }]);
    expect((await query(pool, 'select $1::text as s', ['x'], controller.signal)).rows).toEqual([{ s: 'x' }]);
    const array = await db.query({ text: 'select 1, 2', rowMode: 'array' }, [], controller.signal);
    expect(array.rows).toEqual([[1, 2]]);
    expect((await db.query('select 3 as three')).rows).toEqual([{ three: 3 }]);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
    expect(pool.totalCount).toBe(1); // one client served them all: each was released, not leaked
  });

  it("a failing query rejects with pg's error and its client is closed, as pool.query does", async () => {
    const { pool } = newPool();
    const db = abortable(pool);
    const controller = new AbortController();
    const error = await db.query('select * from no_such_table', [], controller.signal).catch((e) => e);
    expect(error).toBeInstanceOf(pg.DatabaseError);
    expect(error.code).toBe('42P01');
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
    await until('the client closed', () => pool.totalCount === 0);
  });

  it('an abort during select pg_sleep(10) rejects at once with the reason, and the backend stops', async () => {
    const { pool, app, released } = newPool();
    const db = abortable(pool);
    const controller = new AbortController();
    const running = db.query('select pg_sleep(10)', [], { signal: controller.signal });
    const settled = running.then(
      () => Number.NaN,
      () => performance.now(),
    );
    const pid = await runningPid(app, 'select pg_sleep(10)');
    const reason = new Error('caller gave up');
    const abortedAt = performance.now();
    controller.abort(reason);
    await expect(running).rejects.toBe(reason);
    const rejectedIn = (await settled) - abortedAt;
    expect(rejectedIn).toBeLessThan(50);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
    // The cancel request stops the query; the closed connection then ends the backend.
    const stoppedBy = performance.now();
    await until('the backend gone', async () => (await backend(pid)) === undefined, 2_000);
    console.log(
      `pg_sleep(10): rejected ${rejectedIn.toFixed(1)} ms after the abort, backend gone ${Math.round(performance.now() - stoppedBy)} ms later`,
    );
    expect(released).toHaveLength(1);
    expect(isClientDiscardedError(released[0])).toBe(true);
    expect((released[0] as ClientDiscardedError).cause).toBe(reason);
    await until('the client closed', () => pool.totalCount === 0);
    expect((await db.query('select 1 as one', new AbortController().signal)).rows).toEqual([{ one: 1 }]);
  });

  it('with cancel: false the server keeps running the aborted query (what the cancel request prevents)', async () => {
    const { pool, app } = newPool();
    const db = abortable(pool, { cancel: false });
    const controller = new AbortController();
    const running = db.query('select pg_sleep(5)', [], { signal: controller.signal });
    const pid = await runningPid(app, 'select pg_sleep(5)');
    try {
      controller.abort(new Error('stop'));
      await expect(running).rejects.toThrow('stop');
      await sleep(500);
      expect(await backend(pid)).toEqual({ state: 'active', query: 'select pg_sleep(5)' });
    } finally {
      await admin.query('select pg_terminate_backend($1)', [pid]);
    }
  });

  it('an abort while waiting for a client rejects at once; the client, when it comes, is closed', async () => {
    const { pool, released } = newPool({ max: 1 });
    const db = abortable(pool);
    const holder = await pool.connect();
    const controller = new AbortController();
    const waiting = db.query('select 1', [], controller.signal);
    await sleep(50);
    expect(pool.waitingCount).toBe(1);
    const reason = new Error('no client in time');
    controller.abort(reason);
    await expect(waiting).rejects.toBe(reason);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
    holder.release(); // the abandoned wait gets it now
    await until('the late client closed', () => released.length === 1 && pool.totalCount === 0);
    expect(isClientDiscardedError(released[0])).toBe(true);
    expect((await db.query('select 1 as one', new AbortController().signal)).rows).toEqual([{ one: 1 }]);
  });

  it('connect({ signal }) hands over a client, or abandons the wait on abort', async () => {
    const { pool, released } = newPool({ max: 1 });
    const db = abortable(pool);
    const controller = new AbortController();
    const client = await db.connect({ signal: controller.signal });
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
    const second = db.connect(controller.signal);
    controller.abort(new Error('enough'));
    await expect(second).rejects.toThrow('enough');
    expect((await client.query('select 1 as one')).rows).toEqual([{ one: 1 }]);
    client.release();
    await until('the late client closed', () => released.length === 1 && pool.totalCount === 0);
  });

  it("a connection reset during a query rejects with pg's error, never crashes, and the client is closed", async () => {
    const proxy = await newProxy();
    const { pool } = newPool({ host: proxy.host, port: proxy.port });
    const db = abortable(pool);
    const running = db.query('select pg_sleep(10)', [], new AbortController().signal);
    await until('connected', () => proxy.stats.connections.open === 1);
    await sleep(100);
    proxy.resetConnections();
    await expect(running).rejects.toThrow(/Connection terminated|ECONNRESET|read/);
    await until('the client closed', () => pool.totalCount === 0);
  });

  describe('withClient', () => {
    let table: string;

    beforeAll(async () => {
      table = `breakwater_pg_${process.pid}`;
      await admin.query(`create table if not exists ${table} (id int)`);
    });

    afterAll(async () => {
      await admin?.query(`drop table if exists ${table}`);
    });

    it('runs a transaction on one client and releases it to the pool', async () => {
      const { pool } = newPool();
      const db = abortable(pool);
      const controller = new AbortController();
      const pids = await db.withClient(async (client) => {
        await client.query('begin');
        const a = await client.query<{ pid: number }>('select pg_backend_pid() as pid');
        const b = await client.query<{ pid: number }>('select pg_backend_pid() as pid', [], {});
        await client.query('commit');
        return [a.rows[0]!.pid, b.rows[0]!.pid];
      }, controller.signal);
      expect(pids[0]).toBe(pids[1]);
      expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
      expect({ total: pool.totalCount, idle: pool.idleCount }).toEqual({ total: 1, idle: 1 });
    });

    it('an abort mid-transaction rejects at once, stops the backend and rolls back', async () => {
      const { pool, app } = newPool();
      const db = abortable(pool);
      const controller = new AbortController();
      let inner: unknown;
      const running = db.withClient(
        async (client) => {
          await client.query('begin');
          await client.query(`insert into ${table} values (1)`);
          try {
            await client.query('select pg_sleep(10)');
          } catch (error) {
            inner = error;
          }
          // Aborted: this never reaches the server.
          await client.query('commit');
        },
        { signal: controller.signal },
      );
      const pid = await runningPid(app, 'select pg_sleep(10)');
      const reason = new Error('request cancelled');
      controller.abort(reason);
      await expect(running).rejects.toBe(reason);
      await until('the backend gone', async () => (await backend(pid)) === undefined, 2_000);
      expect(inner).toBe(reason);
      expect((await admin.query(`select count(*)::int as n from ${table}`)).rows).toEqual([{ n: 0 }]);
      expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
      await until('the client closed', () => pool.totalCount === 0);
    });

    it('closes a client left in a transaction, or whose callback threw, instead of pooling it', async () => {
      const { pool, released } = newPool();
      const db = abortable(pool);
      await db.withClient(async (client) => {
        await client.query('begin');
      });
      await until('the open transaction closed', () => pool.totalCount === 0);
      const oops = new Error('oops');
      await expect(
        db.withClient(async (client) => {
          await client.query('select 1');
          throw oops;
        }),
      ).rejects.toBe(oops);
      await until('the failed client closed', () => pool.totalCount === 0);
      expect(released).toEqual([true, oops]);
    });

    it('a query on the client after the callback settled rejects, and never reaches a pooled client', async () => {
      const { pool } = newPool();
      const db = abortable(pool);
      let leaked: { query: (text: string) => Promise<unknown> } | undefined;
      await db.withClient((client) => {
        leaked = client;
      });
      const error = await leaked!.query('select 1').catch((e: unknown) => e);
      expect(isBreakwaterError(error)).toBe(true);
      expect((error as Error).message).toMatch(/released when the callback settled/);
      expect(pool.idleCount).toBe(1);
    });
  });

  it('a blackholed connection: timeout + CircuitBreaker calls each end at their timeout, the breaker opens, nothing leaks', async () => {
    const proxy = await newProxy();
    const { pool } = newPool({ host: proxy.host, port: proxy.port, max: 4, connectionTimeoutMillis: 600 });
    // A cancel timer left pending would outlive the check below: the request's socket closing must clear it.
    const db = abortable(pool, { cancelTimeout: 5_000 });
    await db.query('select 1'); // one idle client: the first call's query hangs, the next ones' connects do
    const breaker = new CircuitBreaker({ name: 'pg-blackhole', failureThreshold: 3, openTimeout: 60_000 });
    const policy = pipeline(breaker, timeout(300));
    const openSockets = sockets();
    const timers = watchTimers();
    cleanups.push(async () => timers.stop());
    proxy.blackhole();
    const signals: AbortSignal[] = [];
    const calls: { ms: number; error: unknown }[] = [];
    for (let i = 0; i < 3; i++) {
      const started = performance.now();
      const error = await policy
        .execute(({ signal }) => {
          signals.push(signal);
          return db.query('select 1', [], { signal });
        })
        .catch((e: unknown) => e);
      calls.push({ ms: performance.now() - started, error });
    }
    for (const call of calls) {
      expect(isTimeoutError(call.error)).toBe(true);
      expect(call.ms).toBeGreaterThanOrEqual(299);
      expect(call.ms).toBeLessThan(450);
    }
    expect(breaker.state).toBe('open');
    const rejectedAt = performance.now();
    const rejected = await policy.execute(() => db.query('select 1')).catch((e: unknown) => e);
    expect(isBrokenCircuitError(rejected)).toBe(true);
    expect(performance.now() - rejectedAt).toBeLessThan(20);
    for (const signal of signals) expect(getEventListeners(signal, 'abort')).toHaveLength(0);

    proxy.heal();
    // The pool is not poisoned: no client that hung in the partition answers a later query.
    const controller = new AbortController();
    expect((await db.query('select 2 as n', [], controller.signal)).rows).toEqual([{ n: 2 }]);
    // Cancel requests and abandoned connects are over: no timer left, and as many sockets as before the
    // partition (the client that served the last query, and the proxy's two sockets for it).
    const healedAt = performance.now();
    await until(
      'no timer left, as many sockets as before',
      () => timers.pending() === 0 && sockets() === openSockets,
      2_000,
      () => `${sockets()} sockets open (${openSockets} before), timers pending: ${timers.where().join('; ')}`,
    );
    console.log(
      `blackholed calls under timeout(300): ${calls.map((c) => Math.round(c.ms)).join(', ')} ms; ` +
        `timers and sockets back ${Math.round(performance.now() - healedAt)} ms after the heal`,
    );
  }, 15_000);

  it('an abort while connecting through a partition: the connection, made after it heals, is closed', async () => {
    const proxy = await newProxy();
    proxy.blackhole();
    const { pool, released } = newPool({ host: proxy.host, port: proxy.port }); // no connectionTimeoutMillis
    const db = abortable(pool);
    const reason = new Error('deadline');
    const controller = new AbortController();
    const connecting = db.query('select 1', [], controller.signal);
    await until('connecting', () => proxy.stats.connections.accepted === 1);
    const abortedAt = performance.now();
    controller.abort(reason);
    await expect(connecting).rejects.toBe(reason);
    expect(performance.now() - abortedAt).toBeLessThan(50);
    expect(pool.totalCount).toBe(1); // the attempt still holds its slot, until it ends one way or the other
    proxy.heal();
    await until('the late client closed', () => released.length === 1 && pool.totalCount === 0);
    expect(isClientDiscardedError(released[0])).toBe(true);
    expect((await db.query('select 1 as one', new AbortController().signal)).rows).toEqual([{ one: 1 }]);
  });
});
