import { randomUUID } from 'node:crypto';
import type {
  AddResult,
  ClaimedJob,
  ClaimOptions,
  DeadLetter,
  NewJob,
  QueueStore,
  StoreStats,
} from '../deferred/store.js';
import { PRIORITIES, PRIORITY_RANK, type Priority } from '../policy.js';
import * as v from '../validate.js';

/**
 * What `postgresStore` needs of its pool: `query(text, values)` answering `{ rows, rowCount }`.
 * A `pg.Pool` is one (so is a `pg.Client`, though a pool lets claims and enqueues overlap).
 */
export interface PostgresQueryable {
  /** Runs one statement with `$1`-style parameters. */
  query(text: string, values?: unknown[]): Promise<PostgresResult>;
}

/** The part of a `pg` query result that `postgresStore` reads. */
export interface PostgresResult {
  /** The rows, one object per row keyed by column name. */
  rows: Record<string, unknown>[];
  /** Rows the statement changed (null for some statements). */
  rowCount: number | null;
}

/** Options of {@link postgresStore}. */
export interface PostgresStoreOptions {
  /** A `pg.Pool` (or anything with its `query`). */
  pool: PostgresQueryable;
  /**
   * The jobs table, optionally schema-qualified (`jobs.mail_queue`): letters, digits and `_`.
   * @default 'breakwater_jobs'
   */
  table?: string;
}

/** A {@link QueueStore} on PostgreSQL, with {@link PostgresStore.ensureSchema} to create its table. */
export interface PostgresStore extends QueueStore {
  readonly durable: true;
  /** The table, quoted as it appears in SQL. */
  readonly table: string;
  /**
   * Creates the table and its index if they do not exist. Call it once before use (at deploy
   * or start-up): nothing is created behind your back at import or construction.
   */
  ensureSchema(): Promise<void>;
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

function quoteTable(name: string): { sql: string; base: string } {
  const parts = name.split('.');
  if (parts.length > 2 || !parts.every((p) => IDENT.test(p))) {
    throw new RangeError(
      `table must be a name of letters, digits and _ (optionally schema.table), got ${v.show(name)}`,
    );
  }
  return { sql: parts.map((p) => `"${p}"`).join('.'), base: parts.at(-1)! };
}

class PgStore implements PostgresStore {
  readonly durable = true as const;
  readonly table: string;
  private readonly pool: PostgresQueryable;
  private readonly base: string;

  /** Completions that arrive while a DELETE is on its way go together in the next one. */
  private readonly deletes: Coalescer<string, void>;
  /** Enqueues likewise: one INSERT (one commit) for every job that arrived while the last was on its way. */
  private readonly adds: Coalescer<Adding, AddResult | 'full'>;

  constructor(pool: PostgresQueryable, table: string) {
    this.pool = pool;
    const quoted = quoteTable(table);
    this.table = quoted.sql;
    this.base = quoted.base;
    this.deletes = new Coalescer(async (ids) => {
      await this.pool.query(`DELETE FROM ${this.table} WHERE id = ANY($1::bigint[]) AND NOT dead`, [ids]);
      return ids.map(() => undefined);
    });
    this.adds = new Coalescer((batch) => this.addMany(batch));
  }

  async ensureSchema(): Promise<void> {
    const t = this.table;
    // Times are the queue's clock readings (ms since the epoch, fractional): float8.
    // A job is leased while lease_until > now; an expired lease needs no cleanup.
    const statements = [
      `CREATE TABLE IF NOT EXISTS ${t} (
        id bigserial PRIMARY KEY,
        seq bigserial NOT NULL,
        key text UNIQUE,
        priority smallint NOT NULL,
        payload text NOT NULL,
        dead boolean NOT NULL DEFAULT false,
        attempts integer NOT NULL DEFAULT 0,
        enqueued_at float8 NOT NULL,
        run_at float8 NOT NULL,
        lease text,
        lease_until float8,
        error text,
        failed_at float8
      )`,
      `CREATE INDEX IF NOT EXISTS "${this.base}_due" ON ${t} (priority, seq) WHERE NOT dead`,
      `CREATE INDEX IF NOT EXISTS "${this.base}_dead" ON ${t} (failed_at, id) WHERE dead`,
    ];
    for (const sql of statements) {
      try {
        await this.pool.query(sql);
      } catch (error) {
        // Two processes creating it at once: one wins, the other sees a duplicate; the table is there.
        const code = (error as { code?: unknown }).code;
        if (code !== '23505' && code !== '42P07') throw error;
      }
    }
  }

  add(job: NewJob, maxSize: number): Promise<AddResult | 'full'> {
    return this.adds.add({ job, maxSize });
  }

  /**
   * Adds a batch in one statement (one commit); a batch that would pass maxSize, or whose keys
   * met a job that completed meanwhile, is added one job at a time instead, in order.
   */
  private async addMany(batch: readonly Adding[]): Promise<(AddResult | 'full')[]> {
    if (batch.length === 1) return [await this.addOne(batch[0]!.job, batch[0]!.maxSize)];
    const maxSize = Math.min(...batch.map((b) => b.maxSize));
    const room =
      maxSize === Number.POSITIVE_INFINITY
        ? ''
        : `WHERE (SELECT count(*) FROM (SELECT 1 FROM ${this.table} WHERE NOT dead LIMIT ${maxSize}) s) + ${batch.length} <= ${maxSize}`;
    const jobs = batch.map((b) => b.job);
    const result = await this.pool.query(
      `WITH input AS (
         SELECT nextval(pg_get_serial_sequence($6, 'id')) AS id, i.*
         FROM unnest($1::text[], $2::smallint[], $3::text[], $4::float8[], $5::float8[])
           WITH ORDINALITY AS i(key, priority, payload, enqueued_at, run_at, ord)
         ${room}
       ), ins AS (
         INSERT INTO ${this.table} (id, key, priority, payload, enqueued_at, run_at)
         SELECT id, key, priority, payload, enqueued_at, run_at FROM input ORDER BY ord
         ON CONFLICT (key) DO NOTHING RETURNING id
       )
       SELECT input.ord, ins.id AS created FROM input LEFT JOIN ins ON ins.id = input.id ORDER BY input.ord`,
      [
        jobs.map((j) => j.key ?? null),
        jobs.map((j) => PRIORITY_RANK[j.priority]),
        jobs.map((j) => JSON.stringify(j.payload)),
        jobs.map((j) => j.enqueuedAt),
        jobs.map((j) => j.runAt),
        this.table,
      ],
    );
    if (result.rows.length === 0) {
      // Not room for all: one at a time, so that those that fit are taken.
      const out: (AddResult | 'full')[] = [];
      for (const b of batch) out.push(await this.addOne(b.job, b.maxSize));
      return out;
    }
    const out: (AddResult | 'full' | undefined)[] = result.rows.map((row) =>
      row.created === null ? undefined : { id: String(row.created), created: true },
    );
    // Keys already held (by an earlier job, or earlier in this batch): answer the holder.
    const missing = out.flatMap((r, i) => (r === undefined ? [i] : []));
    if (missing.length > 0) {
      const keys = missing.map((i) => jobs[i]!.key!);
      const held = await this.pool.query(`SELECT id, key FROM ${this.table} WHERE key = ANY($1::text[])`, [
        keys,
      ]);
      const byKey = new Map(held.rows.map((r) => [String(r.key), String(r.id)]));
      for (const i of missing) {
        const id = byKey.get(jobs[i]!.key!);
        out[i] = id === undefined ? await this.addOne(jobs[i]!, batch[i]!.maxSize) : { id, created: false };
      }
    }
    return out as (AddResult | 'full')[];
  }

  private async addOne(job: NewJob, maxSize: number): Promise<AddResult | 'full'> {
    const values = [
      job.key ?? null,
      PRIORITY_RANK[job.priority],
      JSON.stringify(job.payload),
      job.enqueuedAt,
      job.runAt,
    ];
    // One statement, so it is committed when it answers. The size check reads at most maxSize rows.
    const room =
      maxSize === Number.POSITIVE_INFINITY
        ? ''
        : `WHERE (SELECT count(*) FROM (SELECT 1 FROM ${this.table} WHERE NOT dead LIMIT ${maxSize}) s) < ${maxSize}`;
    const inserted = await this.pool.query(
      `INSERT INTO ${this.table} (key, priority, payload, enqueued_at, run_at)
       SELECT $1::text, $2::smallint, $3::text, $4::float8, $5::float8 ${room}
       ON CONFLICT (key) DO NOTHING RETURNING id`,
      values,
    );
    const row = inserted.rows[0];
    if (row !== undefined) return { id: String(row.id), created: true };
    if (job.key !== undefined) {
      const held = await this.pool.query(`SELECT id FROM ${this.table} WHERE key = $1`, [job.key]);
      if (held.rows[0] !== undefined) return { id: String(held.rows[0].id), created: false };
      // The key's job completed between the two statements: add it afresh.
      if (maxSize === Number.POSITIVE_INFINITY) return this.addOne(job, maxSize);
    }
    return 'full';
  }

  async claim({ limit, now, leaseMs }: ClaimOptions): Promise<ClaimedJob[]> {
    const lease = randomUUID();
    const result = await this.pool.query(
      `WITH picked AS (
         SELECT id FROM ${this.table}
         WHERE NOT dead AND run_at <= $1 AND (lease_until IS NULL OR lease_until <= $1)
         ORDER BY priority, seq
         LIMIT $2
         FOR UPDATE SKIP LOCKED
       )
       UPDATE ${this.table} t SET lease = $3, lease_until = $1::float8 + $4::float8
       FROM picked WHERE t.id = picked.id
       RETURNING t.id, t.seq, t.key, t.priority, t.payload, t.attempts, t.enqueued_at`,
      [now, limit, lease, leaseMs],
    );
    const rows = result.rows.sort(
      (a, b) => Number(a.priority) - Number(b.priority) || Number(a.seq) - Number(b.seq),
    );
    return rows.map((row) => toClaimed(row, lease));
  }

  complete(job: ClaimedJob): Promise<void> {
    return this.deletes.add(job.id);
  }

  async retry(job: ClaimedJob, update: { attempts: number; runAt: number }): Promise<void> {
    await this.pool.query(
      `UPDATE ${this.table} SET attempts = $3, run_at = $4, lease = NULL, lease_until = NULL
       WHERE id = $1 AND lease = $2 AND NOT dead`,
      [job.id, job.lease, update.attempts, update.runAt],
    );
  }

  async deadLetter(job: ClaimedJob, update: { attempts: number; error: string; now: number }): Promise<void> {
    await this.pool.query(
      `UPDATE ${this.table} SET dead = true, attempts = $3, error = $4, failed_at = $5, lease = NULL, lease_until = NULL
       WHERE id = $1 AND lease = $2 AND NOT dead`,
      [job.id, job.lease, update.attempts, update.error, update.now],
    );
  }

  async extend(jobs: readonly ClaimedJob[], now: number, leaseMs: number): Promise<void> {
    if (jobs.length === 0) return;
    await this.pool.query(
      `UPDATE ${this.table} t SET lease_until = $1::float8 + $2::float8
       FROM unnest($3::bigint[], $4::text[]) AS h(id, lease)
       WHERE t.id = h.id AND t.lease = h.lease AND NOT t.dead`,
      [now, leaseMs, jobs.map((j) => j.id), jobs.map((j) => j.lease)],
    );
  }

  async nextRunAt(now: number): Promise<number | undefined> {
    const result = await this.pool.query(
      `SELECT min(run_at) AS next FROM ${this.table}
       WHERE NOT dead AND run_at > $1 AND (lease_until IS NULL OR lease_until <= $1)`,
      [now],
    );
    const next = result.rows[0]?.next;
    return next === null || next === undefined ? undefined : Number(next);
  }

  async deadLetters(limit: number): Promise<DeadLetter[]> {
    const result = await this.pool.query(
      `SELECT id, key, priority, payload, attempts, enqueued_at, error, failed_at
       FROM ${this.table} WHERE dead ORDER BY failed_at, id LIMIT $1`,
      [limit],
    );
    return result.rows.map((row) => {
      const parsed = parse(row);
      return {
        id: String(row.id),
        payload: parsed.error === undefined ? parsed.payload : undefined,
        error: String(row.error),
        attempts: Number(row.attempts),
        key: row.key === null ? undefined : String(row.key),
        priority: parsed.priority ?? 'normal',
        enqueuedAt: Number(row.enqueued_at),
        failedAt: Number(row.failed_at),
      };
    });
  }

  async requeue(id: string, now: number): Promise<boolean> {
    if (!/^\d+$/.test(id)) return false;
    const result = await this.pool.query(
      `UPDATE ${this.table} SET dead = false, attempts = 0, run_at = $2, error = NULL, failed_at = NULL,
         lease = NULL, lease_until = NULL, seq = nextval(pg_get_serial_sequence($3, 'seq'))
       WHERE id = $1 AND dead`,
      [id, now, this.table],
    );
    return (result.rowCount ?? 0) > 0;
  }

  async stats(now: number): Promise<StoreStats> {
    const result = await this.pool.query(
      `SELECT
         count(*) FILTER (WHERE NOT dead AND (lease_until IS NULL OR lease_until <= $1)) AS waiting,
         count(*) FILTER (WHERE NOT dead AND lease_until > $1) AS leased,
         count(*) FILTER (WHERE dead) AS dead,
         min(enqueued_at) FILTER (WHERE NOT dead) AS oldest
       FROM ${this.table}`,
      [now],
    );
    const row = result.rows[0]!;
    return {
      waiting: Number(row.waiting),
      leased: Number(row.leased),
      deadLetters: Number(row.dead),
      oldestEnqueuedAt: row.oldest === null ? undefined : Number(row.oldest),
    };
  }
}

/**
 * Sends items as they come while nothing is in flight, and gathers those that arrive meanwhile
 * into the next send: no added latency when idle, fewer round trips (and commits) under load.
 */
class Coalescer<I, O> {
  private next: { items: I[]; results: Promise<O[]> } | undefined;
  private busy = false;
  private waiting: (() => void) | undefined;

  constructor(private readonly send: (items: I[]) => Promise<O[]>) {}

  add(item: I): Promise<O> {
    let batch = this.next;
    if (batch === undefined) {
      if (!this.busy) return this.flush([item]).then((results) => results[0]!);
      const items: I[] = [];
      let release!: () => void;
      const gate = new Promise<void>((resolve) => {
        release = resolve;
      });
      batch = { items, results: gate.then(() => this.flush(items)) };
      this.next = batch;
      this.waiting = release;
    }
    const index = batch.items.push(item) - 1;
    return batch.results.then((results) => results[index]!);
  }

  private async flush(items: I[]): Promise<O[]> {
    this.busy = true;
    if (this.next?.items === items) this.next = undefined;
    try {
      return await this.send(items);
    } finally {
      this.busy = false;
      const waiting = this.waiting;
      this.waiting = undefined;
      waiting?.();
    }
  }
}

interface Adding {
  readonly job: NewJob;
  readonly maxSize: number;
}

/** A row's payload and priority, or the error that stops them being read. */
function parse(row: Record<string, unknown>): { payload?: unknown; priority?: Priority; error?: Error } {
  const priority = PRIORITIES[Number(row.priority)];
  if (priority === undefined)
    return { error: new RangeError(`priority ${v.show(row.priority)} is not a rank 0-4`) };
  try {
    return { payload: JSON.parse(String(row.payload)), priority };
  } catch (error) {
    return { priority, error: error instanceof Error ? error : new SyntaxError(String(error)) };
  }
}

function toClaimed(row: Record<string, unknown>, lease: string): ClaimedJob {
  const parsed = parse(row);
  return {
    id: String(row.id),
    payload: parsed.payload,
    error: parsed.error,
    attempts: Number(row.attempts),
    key: row.key === null ? undefined : String(row.key),
    priority: parsed.priority ?? 'normal',
    enqueuedAt: Number(row.enqueued_at),
    lease,
  };
}

/**
 * A durable {@link QueueStore} on PostgreSQL through `pg` (an optional peer dependency). One
 * table, created by `ensureSchema()`. Jobs are claimed with `FOR UPDATE SKIP LOCKED` and a
 * lease, so several processes drain one table without taking the same job at once; a job
 * whose process died is taken again once its lease ends. `enqueue` resolves after the insert
 * is committed; a `key` is unique in the table (a unique index), so enqueueing it twice keeps
 * one job. Payloads are stored as JSON text: a row that no longer parses is dead-lettered
 * with the parse error.
 *
 * Times in the table are the queues' clock readings: processes sharing a table should have
 * clocks that agree to well within the lease.
 *
 * @example
 * ```ts
 * import pg from 'pg';
 * import { postgresStore } from 'breakwater/postgres';
 *
 * const store = postgresStore({ pool: new pg.Pool(), table: 'mail_queue' });
 * await store.ensureSchema();
 * const queue = new DeferredQueue({ store, handler: async (job) => mailer.send(job.payload) });
 * ```
 */
export function postgresStore(options: PostgresStoreOptions): PostgresStore {
  const o = v.object('postgresStore options', options);
  v.knownKeys('postgresStore', o, ['pool', 'table']);
  const pool = o.pool as PostgresQueryable | undefined;
  if (
    typeof pool !== 'object' ||
    pool === null ||
    typeof v.readable('pool', () => pool.query) !== 'function'
  ) {
    throw new TypeError(`pool must be a pg Pool (with query), got ${v.show(pool)}`);
  }
  const table = o.table === undefined ? 'breakwater_jobs' : v.string('table', o.table);
  return new PgStore(pool, table);
}
