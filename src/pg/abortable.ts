import type {
  Pool,
  PoolClient,
  QueryArrayConfig,
  QueryArrayResult,
  QueryConfig,
  QueryResult,
  QueryResultRow,
} from 'pg';
import { BreakwaterError } from '../errors.js';
import { followSignal } from '../policy.js';
import * as v from '../validate.js';
import { sendCancelRequest } from './cancel.js';

/** Options of {@link abortable}. */
export interface AbortableOptions {
  /**
   * Whether an aborted query is also cancelled on the server, with PostgreSQL's cancel
   * request (what `pg_cancel_backend` does, sent over a new connection to the client's
   * host and port, with no login and no pool slot). Without it, the server runs the query
   * to its end although no one waits for it any more.
   * @default true
   * @example
   * ```ts
   * abortable(pool, { cancel: false }) // a proxy that does not forward cancel requests
   * ```
   */
  cancel?: boolean;
  /**
   * How long (ms) a cancel request may take before it is given up, in [1, 2^31 - 1]. The
   * caller does not wait for it (the query has already rejected), but the process does:
   * through a partition the request never gets through, and keeps a socket open this long.
   * @default 1_000
   * @example
   * ```ts
   * abortable(pool, { cancelTimeout: 250 })
   * ```
   */
  cancelTimeout?: number;
}

/**
 * Per-call options: the signal that aborts the call. An AbortSignal may be passed in
 * its place.
 * @example
 * ```ts
 * await db.query('select * from orders where id = $1', [id], { signal });
 * ```
 */
export interface PgCallOptions {
  /**
   * Aborts the call: it rejects at once with `signal.reason`, its connection is closed
   * instead of going back to the pool, and the server is asked to cancel the query.
   * @default no signal: the call runs as `pool.query` would
   */
  signal?: AbortSignal | undefined;
}

/**
 * An abortable `query`, with `pg`'s arguments (`text` or a `QueryConfig`, then `values`)
 * and options (or an AbortSignal) last. The options may come second when there are no values.
 * A Submittable (a cursor, a stream) is not supported: it has no promise to abort.
 * @example
 * ```ts
 * const { rows } = await db.query<{ id: number }>('select id from orders where item = $1', ['tea'], { signal });
 * await db.query('select now()', { signal });
 * await db.query({ text: 'select 1 as one', rowMode: 'array' }, [], signal);
 * ```
 */
export interface AbortableQuery {
  <R extends unknown[] = unknown[]>(
    config: QueryArrayConfig,
    values?: unknown[],
    options?: PgCallOptions | AbortSignal,
  ): Promise<QueryArrayResult<R>>;
  <R extends QueryResultRow = QueryResultRow>(
    textOrConfig: string | QueryConfig,
    values?: unknown[],
    options?: PgCallOptions | AbortSignal,
  ): Promise<QueryResult<R>>;
  <R extends QueryResultRow = QueryResultRow>(
    textOrConfig: string | QueryConfig,
    options: PgCallOptions | AbortSignal,
  ): Promise<QueryResult<R>>;
}

/**
 * The client that {@link AbortablePool.withClient} lends to its callback. Its queries
 * abort with the `withClient` signal, or with their own: either abort closes the
 * connection, so every later query on it rejects with that reason.
 * @example
 * ```ts
 * await db.withClient(async (client) => {
 *   await client.query('begin');
 *   await client.query('update stock set quantity = quantity - 1 where sku = $1', [sku]);
 *   await client.query('commit');
 * }, { signal });
 * ```
 */
export interface AbortableClient {
  /** See {@link AbortableQuery}. */
  readonly query: AbortableQuery;
  /** The checked-out `pg` client itself, for what `query` does not cover (a cursor); never release it. */
  readonly client: PoolClient;
}

/**
 * A `pg` Pool whose calls honour an AbortSignal. See {@link abortable}.
 * @example
 * ```ts
 * const db = abortable(pool);
 * const { rows } = await policy.execute(({ signal }) => db.query(sql, [id], { signal }));
 * ```
 */
export interface AbortablePool {
  /** The pool the calls run on. */
  readonly pool: Pool;
  /**
   * `pool.query`, abortable: checks a client out (the wait for it is abortable too), runs
   * the query and releases the client. See {@link AbortableQuery}. Without a signal it is
   * `pool.query` itself.
   */
  readonly query: AbortableQuery;
  /**
   * `pool.connect`, abortable: on abort it rejects at once with `signal.reason`, and the
   * client, when it comes later, is closed instead of going back to the pool. The client
   * is yours to release; its queries are plain `pg` ones (see `withClient` for abortable ones).
   * @example
   * ```ts
   * const client = await db.connect({ signal });
   * try { await client.query('listen orders') } finally { client.release() }
   * ```
   */
  connect(options?: PgCallOptions | AbortSignal): Promise<PoolClient>;
  /**
   * Runs `fn` with a client checked out for it, whose queries abort with `signal`: for a
   * transaction, or several queries on one connection. On abort it rejects at once with
   * `signal.reason`, and the connection is closed (the server rolls back any open
   * transaction) and its running query cancelled. The client is released when `fn`
   * settles: closed instead if `fn` rejected, the connection failed, or a transaction was
   * left open, so that no client goes back to the pool in an unknown state.
   * @example
   * ```ts
   * const total = await db.withClient(async (client) => {
   *   await client.query('begin');
   *   const { rows } = await client.query('select sum(quantity) as total from stock');
   *   await client.query('commit');
   *   return rows[0].total;
   * }, { signal });
   * ```
   */
  withClient<T>(
    fn: (client: AbortableClient) => PromiseLike<T> | T,
    options?: PgCallOptions | AbortSignal,
  ): Promise<T>;
}

const DISCARDED = Symbol.for('breakwater.ClientDiscardedError');

/**
 * The error a client is released with when the call using it was aborted, so that the
 * pool closes it instead of lending it again: pool `release` and `remove` listeners see
 * it. Calls reject with their signal's reason, never with this. `cause` is that reason.
 * @example
 * ```ts
 * pool.on('release', (error) => {
 *   if (isClientDiscardedError(error)) log.info('aborted query, connection closed', error.cause);
 * });
 * ```
 */
export class ClientDiscardedError extends BreakwaterError {
  constructor(reason: unknown) {
    super('The call using this client was aborted: the client is closed instead of going back to the pool', {
      cause: reason,
    });
  }
}
Object.defineProperty(ClientDiscardedError.prototype, DISCARDED, { value: true });
Object.defineProperty(ClientDiscardedError.prototype, 'name', {
  value: 'ClientDiscardedError',
  writable: true,
  configurable: true,
});

/**
 * Whether `error` is a {@link ClientDiscardedError} (from any copy of breakwater).
 * @example
 * ```ts
 * pool.on('release', (error) => isClientDiscardedError(error) && aborted.inc());
 * ```
 */
export function isClientDiscardedError(error: unknown): error is ClientDiscardedError {
  return (
    typeof error === 'object' && error !== null && (error as Record<symbol, unknown>)[DISCARDED] === true
  );
}

interface Settings {
  readonly cancel: boolean;
  readonly cancelTimeout: number;
}

interface Call {
  readonly config: string | QueryConfig;
  readonly values: unknown[] | undefined;
  readonly signal: AbortSignal | undefined;
}

function signalOf(method: string, options: unknown): AbortSignal | undefined {
  if (options === undefined || options instanceof AbortSignal) return options;
  const o = v.object(`${method} options`, options);
  v.knownKeys(method, o, ['signal']);
  if (o.signal !== undefined && !(o.signal instanceof AbortSignal)) {
    throw new TypeError(`${method}: signal must be an AbortSignal, got ${v.show(o.signal)}`);
  }
  return o.signal;
}

/** Reads `query`'s arguments: (text | config, values?, options?) or (text | config, options). */
function callOf(method: string, config: unknown, second: unknown, third: unknown): Call {
  if (
    typeof config !== 'string' &&
    (typeof config !== 'object' || config === null || Array.isArray(config))
  ) {
    throw new TypeError(`${method}: text must be a string or a QueryConfig object, got ${v.show(config)}`);
  }
  if (typeof config === 'object' && typeof (config as { submit?: unknown }).submit === 'function') {
    throw new TypeError(
      `${method}: a Submittable (a cursor or a stream) has no promise to abort; run it on withClient's client.client`,
    );
  }
  if (second === undefined || Array.isArray(second)) {
    return { config: config as string | QueryConfig, values: second, signal: signalOf(method, third) };
  }
  if (typeof second === 'object' && second !== null && third === undefined) {
    return { config: config as string | QueryConfig, values: undefined, signal: signalOf(method, second) };
  }
  throw new TypeError(`${method}: values must be an array, got ${v.show(second)}`);
}

/** A rejected promise rather than a throw: a caller's `.catch` sees bad arguments too, as with `pool.query`. */
function attempt<T>(run: () => Promise<T>): Promise<T> {
  try {
    return run();
  } catch (error) {
    return Promise.reject(error);
  }
}

/** `pool.connect()`, abandoned on abort: a client that arrives afterwards is closed, not pooled. */
function connect(pool: Pool, signal: AbortSignal | undefined): Promise<PoolClient> {
  if (signal === undefined) return pool.connect();
  if (signal.aborted) return Promise.reject(signal.reason);
  const connecting = pool.connect();
  return new Promise<PoolClient>((resolve, reject) => {
    let abandoned = false;
    let reason: unknown;
    const unfollow = followSignal(signal, (why) => {
      abandoned = true;
      reason = why;
      reject(why);
    });
    connecting.then(
      (client) => {
        if (abandoned) client.release(new ClientDiscardedError(reason));
        else {
          unfollow();
          resolve(client);
        }
      },
      (error: unknown) => {
        unfollow();
        reject(error);
      },
    );
  });
}

/**
 * A client checked out by this module: released exactly once, and closed (with its
 * running queries cancelled on the server) when aborted.
 */
class Lease {
  private released = false;
  private aborted = false;
  private reason: unknown;
  /** A connection error emitted while checked out: the client must not go back to the pool. */
  private broken: Error | undefined;
  /** Rejects each query in flight. */
  private readonly running = new Set<(reason: unknown) => void>();
  /** What `withClient`'s callback is given. */
  readonly handle: AbortableClient;

  constructor(
    readonly client: PoolClient,
    private readonly settings: Settings,
    private readonly what: string,
  ) {
    // A checked-out client that emits 'error' with no listener would crash the process; pg-pool's own query listens too.
    client.on('error', this.onError);
    const query = (config: unknown, second?: unknown, third?: unknown) =>
      attempt(() => this.query(callOf(`${what} client.query`, config, second, third)));
    this.handle = { query: query as AbortableQuery, client };
  }

  private readonly onError = (error: Error): void => {
    this.broken ??= error;
  };

  /** Closes the connection, cancels what runs on it, and rejects every query in flight with `reason`. */
  abort(reason: unknown): void {
    if (this.released) return;
    this.aborted = true;
    this.reason = reason;
    // A cancel could hit a later query on a reused connection; this one is closed, so it cannot.
    if (this.settings.cancel && this.running.size > 0)
      sendCancelRequest(this.client, this.settings.cancelTimeout);
    this.release(new ClientDiscardedError(reason));
    for (const reject of this.running) reject(reason);
    this.running.clear();
  }

  query(call: Call): Promise<QueryResult> {
    if (this.aborted) return Promise.reject(this.reason);
    if (this.released) {
      return Promise.reject(
        new BreakwaterError(
          `${this.what}: the client was released when the callback settled; query it only inside`,
        ),
      );
    }
    if (call.signal?.aborted) {
      this.abort(call.signal.reason);
      return Promise.reject(call.signal.reason);
    }
    return new Promise<QueryResult>((resolve, reject) => {
      let unfollow: () => void = noop;
      const settle = (ok: boolean, value: unknown) => {
        if (!this.running.delete(fail)) return;
        unfollow();
        if (ok) resolve(value as QueryResult);
        else reject(value);
      };
      const fail = (reason: unknown) => settle(false, reason);
      this.running.add(fail);
      if (call.signal !== undefined) unfollow = followSignal(call.signal, (reason) => this.abort(reason));
      let pending: Promise<QueryResult>;
      try {
        pending = this.client.query(call.config, call.values);
      } catch (error) {
        fail(error);
        return;
      }
      // After an abort pg rejects this with "Connection terminated": handled here, and dropped.
      pending.then((result) => settle(true, result), fail);
    });
  }

  /** Back to the pool, or closed when `error` is given, the connection failed, or a transaction is still open. */
  release(error?: unknown): void {
    if (this.released) return;
    this.released = true;
    const status = (this.client as { getTransactionStatus?: () => string | null }).getTransactionStatus?.();
    let discard: Error | boolean | undefined = this.broken;
    if (error !== undefined) discard = error instanceof Error ? error : true;
    else if (status === 'T' || status === 'E') discard = true;
    this.client.release(discard);
    // After release: the pool has put its own error listener on the client by now.
    this.client.off('error', this.onError);
  }
}

function noop(): void {}

const DEFAULTS: Settings = { cancel: true, cancelTimeout: 1_000 };

function settingsOf(options: unknown): Settings {
  if (options === undefined) return DEFAULTS;
  const o = v.object('abortable options', options);
  v.knownKeys('abortable', o, ['cancel', 'cancelTimeout']);
  if (o.cancel !== undefined && typeof o.cancel !== 'boolean') {
    throw new TypeError(`cancel must be a boolean, got ${v.show(o.cancel)}`);
  }
  return {
    cancel: o.cancel ?? true,
    cancelTimeout:
      o.cancelTimeout === undefined
        ? 1_000
        : v.milliseconds('cancelTimeout', o.cancelTimeout, 1, v.MAX_TIMER),
  };
}

function checkPool(what: string, pool: unknown): Pool {
  const p = pool as Partial<Pool> | null;
  if (
    typeof p !== 'object' ||
    p === null ||
    typeof p.connect !== 'function' ||
    typeof p.query !== 'function'
  ) {
    throw new TypeError(`${what}: pool must be a pg Pool (with connect and query), got ${v.show(pool)}`);
  }
  return pool as Pool;
}

/**
 * Makes a `pg` Pool's calls honour an AbortSignal, which `pg` itself ignores: a query
 * given `{ signal }` rejects at once with `signal.reason` when it aborts, whether it is
 * waiting for a client or running. Its connection is then closed instead of going back
 * to the pool (so it can never answer a later query), and the server is sent a cancel
 * request so that it stops working on the query. The signal's listener is removed once
 * the call settles. This is what lets a cooperative `timeout` end a query that a
 * partitioned network would otherwise leave hanging, and a breaker see the failure.
 *
 * `pg` is not imported: the pool is yours, so `pg` stays an optional peer dependency.
 * Give the pool a `connectionTimeoutMillis`: a connection attempt abandoned on abort keeps
 * its pool slot until `pg` gives up on it.
 *
 * @example
 * ```ts
 * import pg from 'pg';
 * import { CircuitBreaker, pipeline, timeout } from 'breakwater';
 * import { abortable } from 'breakwater/pg';
 *
 * const pool = new pg.Pool({ connectionString, connectionTimeoutMillis: 1_000 });
 * const db = abortable(pool);
 * const policy = pipeline(new CircuitBreaker({ name: 'orders-db' }), timeout(2_000));
 * const { rows } = await policy.execute(({ signal }) =>
 *   db.query('select * from orders where id = $1', [id], { signal }),
 * );
 * ```
 */
export function abortable(pool: Pool, options?: AbortableOptions): AbortablePool {
  checkPool('abortable', pool);
  const settings = settingsOf(options);
  const query = (config: unknown, second?: unknown, third?: unknown) =>
    attempt(() => run(pool, settings, callOf('query', config, second, third)));
  return {
    pool,
    query: query as AbortableQuery,
    connect: (options) => attempt(() => connect(pool, signalOf('connect', options))),
    withClient: (fn, options) =>
      attempt(() => withClient(pool, settings, fn, signalOf('withClient', options))),
  };
}

async function run(pool: Pool, settings: Settings, call: Call): Promise<QueryResult> {
  // No signal: nothing to abort, and pool.query is exactly what the caller would have written.
  if (call.signal === undefined) return pool.query(call.config, call.values);
  const lease = new Lease(await connect(pool, call.signal), settings, 'query');
  try {
    const result = await lease.query(call);
    lease.release();
    return result;
  } catch (error) {
    // As pool.query does: a client whose query failed is closed, not pooled.
    lease.release(error);
    throw error;
  }
}

function withClient<T>(
  pool: Pool,
  settings: Settings,
  fn: (client: AbortableClient) => PromiseLike<T> | T,
  signal: AbortSignal | undefined,
): Promise<T> {
  v.func('withClient: fn', fn);
  return connect(pool, signal).then(
    (client) =>
      new Promise<T>((resolve, reject) => {
        const lease = new Lease(client, settings, 'withClient');
        let done = false;
        const unfollow =
          signal === undefined
            ? noop
            : followSignal(signal, (reason) => {
                done = true;
                lease.abort(reason);
                reject(reason);
              });
        const settle = (ok: boolean, value: unknown) => {
          if (done) return;
          done = true;
          unfollow();
          lease.release(ok ? undefined : (value ?? true));
          if (ok) resolve(value as T);
          else reject(value);
        };
        let pending: PromiseLike<T> | T;
        try {
          pending = fn(lease.handle);
        } catch (error) {
          settle(false, error);
          return;
        }
        Promise.resolve(pending).then(
          (value) => settle(true, value),
          (error: unknown) => settle(false, error),
        );
      }),
  );
}

/**
 * One abortable query on `pool`: `abortable(pool, options).query(...)` for a single call.
 * See {@link abortable}.
 * @example
 * ```ts
 * import { query } from 'breakwater/pg';
 *
 * const { rows } = await query(pool, 'select * from orders where id = $1', [id], { signal });
 * ```
 */
export function query<R extends QueryResultRow = QueryResultRow>(
  pool: Pool,
  textOrConfig: string | QueryConfig,
  values?: unknown[],
  options?: PgCallOptions | AbortSignal,
): Promise<QueryResult<R>>;
export function query<R extends QueryResultRow = QueryResultRow>(
  pool: Pool,
  textOrConfig: string | QueryConfig,
  options: PgCallOptions | AbortSignal,
): Promise<QueryResult<R>>;
export function query(pool: Pool, config: unknown, second?: unknown, third?: unknown): Promise<QueryResult> {
  return attempt(() => run(checkPool('query', pool), DEFAULTS, callOf('query', config, second, third)));
}
