import type { Policy } from 'breakwater';
import { FaultProxy, injectFault } from 'breakwater/chaos';
import pg from 'pg';

/** What the demo needs from a database: a query, and a way to make it fail for real. */
export interface DemoDatabase {
  /** Human-readable: what runs the queries and what produces the outage. */
  readonly description: string;
  /** Policies to put innermost in the pipeline (the chaos injection, for the embedded database). */
  readonly innerPolicies: readonly Policy[];
  order(id: number, signal: AbortSignal): Promise<{ id: number; item: string; quantity: number }>;
  startOutage(): void;
  endOutage(): void;
  close(): Promise<void>;
}

const SCHEMA = `
  create table if not exists demo_orders (id int primary key, item text not null, quantity int not null);
  insert into demo_orders select g, 'item-' || g, 1 + g % 7 from generate_series(1, 1000) g on conflict do nothing;
`;

/**
 * What a query costs the database: a real one has a few cores and a query takes some of their
 * time, so past its capacity queries queue and latency rises; the adaptive limit reads that.
 */
export const QUERY_MS = 10;
/** Queries the embedded database works on at once. */
export const EMBEDDED_CAPACITY = 8;
/**
 * PostgreSQL's queries cost more: its capacity is the pool's 10 connections, and the FaultProxy
 * in this process must not become the bottleneck before they do.
 */
export const POSTGRES_QUERY_MS = 25;

/** A fixed number of workers, each busy for QUERY_MS per query; the rest wait their turn, in order. */
function workers(capacity: number): <T>(query: () => Promise<T>) => Promise<T> {
  let busy = 0;
  const waiting: (() => void)[] = [];
  return async (query) => {
    if (busy < capacity) busy++;
    else await new Promise<void>((resolve) => waiting.push(resolve));
    try {
      const [result] = await Promise.all([query(), new Promise((r) => setTimeout(r, QUERY_MS))]);
      return result;
    } finally {
      const next = waiting.shift();
      if (next) next();
      else busy--;
    }
  };
}

function abortable<T>(promise: Promise<T>, signal: AbortSignal, onAbort: () => void): Promise<T> {
  if (signal.aborted) {
    onAbort();
    return Promise.reject(signal.reason);
  }
  return new Promise<T>((resolve, reject) => {
    const abort = () => {
      onAbort();
      reject(signal.reason);
    };
    signal.addEventListener('abort', abort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', abort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', abort);
        reject(error);
      },
    );
  });
}

/**
 * PostgreSQL in-process (PGlite), with the capacity of a small server (EMBEDDED_CAPACITY queries
 * at once, QUERY_MS each); the outage is injected with breakwater/chaos, as a refused connection.
 */
export async function embeddedDatabase(): Promise<DemoDatabase> {
  const { PGlite } = await import('@electric-sql/pglite');
  const db = new PGlite();
  await db.exec(SCHEMA);
  const run = workers(EMBEDDED_CAPACITY);
  let down = false;
  const outage = injectFault({
    rate: 1,
    enabled: () => down,
    error: () => Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }),
  });
  return {
    description: 'PGlite (PostgreSQL in-process); outage injected by breakwater/chaos',
    innerPolicies: [outage],
    async order(id) {
      const result = await run(() =>
        db.query<{ id: number; item: string; quantity: number }>(
          'select id, item, quantity from demo_orders where id = $1',
          [id],
        ),
      );
      if (result.rows[0] === undefined) throw new Error(`order ${id} not found`);
      return result.rows[0];
    },
    startOutage: () => {
      down = true;
    },
    endOutage: () => {
      down = false;
    },
    close: () => db.close(),
  };
}

/**
 * A real PostgreSQL through `pg`, behind a FaultProxy: the outage is a network partition
 * (the proxy stops answering and resets every open connection), healed when it ends.
 */
export async function realDatabase(url: string): Promise<DemoDatabase> {
  const target = new URL(url);
  const proxy = await FaultProxy.start({
    target: { host: target.hostname || '127.0.0.1', port: Number(target.port || 5432) },
  });
  const viaProxy = new URL(url);
  viaProxy.hostname = proxy.host;
  viaProxy.port = String(proxy.port);
  const pool = new pg.Pool({
    connectionString: viaProxy.toString(),
    max: 10,
    connectionTimeoutMillis: 1_000,
  });
  pool.on('error', () => {}); // idle clients dropped by the outage; queries see their own errors
  await pool.query(SCHEMA);
  // Open every connection now: on a busy machine, connecting inside the 250 ms timeout under
  // the first burst of traffic can fail, and the breaker would open before any outage.
  const warm = () => Promise.all(Array.from({ length: 10 }, () => pool.query('select 1')));
  await warm();
  return {
    description: `PostgreSQL at ${target.host} through a FaultProxy; outage = network partition`,
    innerPolicies: [],
    async order(id, signal) {
      const connecting = pool.connect();
      // A connection that arrives after the caller gave up goes back to the pool, closed.
      const client = await abortable(connecting, signal, () =>
        connecting.then(
          (c) => c.release(true),
          () => {},
        ),
      );
      let broken = false;
      // A connection reset while checked out is emitted on the client; the query sees it as its own error.
      const onError = () => {
        broken = true;
      };
      client.on('error', onError);
      try {
        // pg has no AbortSignal support: on abort, destroy the connection so the query ends now.
        const result = await abortable(
          // pg_sleep: the query's cost on the server, so that the 10 connections are its capacity.
          client.query<{ id: number; item: string; quantity: number }>(
            `select id, item, quantity from demo_orders, pg_sleep(${POSTGRES_QUERY_MS / 1000}) where id = $1`,
            [id],
          ),
          signal,
          () => {
            broken = true;
          },
        );
        if (result.rows[0] === undefined) throw new Error(`order ${id} not found`);
        return result.rows[0];
      } catch (error) {
        broken = true;
        throw error;
      } finally {
        client.off('error', onError);
        client.release(broken);
      }
    },
    startOutage: () => {
      proxy.blackhole();
      proxy.resetConnections();
    },
    endOutage: () => {
      proxy.heal();
      // The partition reset every connection: reopen them now, not under the next burst of load.
      warm().catch(() => {});
    },
    async close() {
      await pool.end();
      await proxy.close();
    },
  };
}
