import { isIP } from 'node:net';

export type Outcome = 'served' | 'queued' | 'shed' | 'rejected' | 'failed';
export type Kind = 'read' | 'write';
export type Level = 'critical' | 'normal' | 'low';

/** Upper bounds of a load run: the generator stops by itself, and never leaves the machine. */
export const LOAD_LIMITS = { concurrency: 64, durationMs: 60_000, maxRequests: 100_000, clientRetries: 5 };

export interface LoadOptions {
  /** The service's base URL: a loopback address only. */
  url: string;
  /** Clients sending at once, in [1, 64]. */
  concurrency: number;
  /** Stop after this long (ms), in [1, 60 000]. */
  durationMs: number;
  /** Stop after this many requests, in [1, 100 000]. */
  maxRequests: number;
  /** Pause of each client between requests (ms). @default 10 */
  thinkMs?: number;
  /** A request with no answer after this long (ms) counts as failed. @default 5 000 */
  timeoutMs?: number;
  /** Share of writes (task creation) among requests, in [0, 1]. @default 0.2 */
  writeShare?: number;
  /** Shares of the priority levels. @default { normal: 1 } */
  levels?: Partial<Record<Level, number>>;
  /** Times a client repeats a failed request at once (a retry storm), in [0, 5]. @default 0 */
  clientRetries?: number;
  /** Reads pick an item id in [1, itemRange] (the service has 500). @default 100 */
  itemRange?: number;
  /** Prefix of the task ids this run creates. @default 'task' */
  taskPrefix?: string;
}

/** Checks a load run's bounds; throws a RangeError naming the option that is out of bounds. */
export function validateLoad(options: LoadOptions): Required<LoadOptions> {
  let host: string;
  try {
    host = new URL(options.url).hostname.replace(/^\[|\]$/g, '');
  } catch {
    throw new RangeError(`url must be an absolute URL, got ${JSON.stringify(options.url)}`);
  }
  const loopback = host === 'localhost' || host === '::1' || (isIP(host) === 4 && host.startsWith('127.'));
  if (!loopback) throw new RangeError(`url must be on loopback, got ${JSON.stringify(options.url)}`);
  const int = (name: string, value: number, min: number, max: number) => {
    if (!Number.isInteger(value) || value < min || value > max) {
      throw new RangeError(`${name} must be an integer in [${min}, ${max}], got ${value}`);
    }
    return value;
  };
  int('concurrency', options.concurrency, 1, LOAD_LIMITS.concurrency);
  int('durationMs', options.durationMs, 1, LOAD_LIMITS.durationMs);
  int('maxRequests', options.maxRequests, 1, LOAD_LIMITS.maxRequests);
  int('clientRetries', options.clientRetries ?? 0, 0, LOAD_LIMITS.clientRetries);
  int('itemRange', options.itemRange ?? 100, 1, 500);
  const writeShare = options.writeShare ?? 0.2;
  if (!(writeShare >= 0 && writeShare <= 1))
    throw new RangeError(`writeShare must be in [0, 1], got ${writeShare}`);
  return {
    thinkMs: 10,
    timeoutMs: 5_000,
    writeShare,
    levels: { normal: 1 },
    clientRetries: 0,
    itemRange: 100,
    taskPrefix: 'task',
    ...options,
  };
}

/** How the suite counts an answer. */
export function classify(status: number | undefined, headers?: Headers): Outcome {
  if (status === undefined) return 'failed';
  if (status === 202) return 'queued';
  if (status >= 200 && status < 300) return 'served';
  if (status === 429 || (status === 503 && headers?.get('x-shed') === '1')) return 'shed';
  // A 503 that says when to come back is the friendly answer the service promises when it cannot serve.
  if (status === 503 && headers?.get('retry-after')) return 'rejected';
  return 'failed';
}

export interface RequestRecord {
  /** ms since the run's time origin when it started and ended. */
  start: number;
  end: number;
  kind: Kind;
  level: Level;
  status: number | undefined;
  outcome: Outcome;
  /** Where a served read came from (db, cache, stale), or the client error. */
  source: string;
  /** Client-side attempts (1 unless clientRetries). */
  attempts: number;
}

export type Counts = Record<Outcome, number> & { total: number };

export function countOutcomes(records: readonly RequestRecord[]): Counts {
  const counts: Counts = { total: 0, served: 0, queued: 0, shed: 0, rejected: 0, failed: 0 };
  for (const r of records) {
    counts.total++;
    counts[r.outcome]++;
  }
  return counts;
}

/** Picks from weighted choices with `random()` in [0, 1). */
export function pick<K extends string>(weights: Partial<Record<K, number>>, random: number): K {
  const entries = Object.entries(weights).filter(([, w]) => (w as number) > 0) as [K, number][];
  const total = entries.reduce((sum, [, w]) => sum + w, 0);
  let x = random * total;
  for (const [key, w] of entries) {
    x -= w;
    if (x < 0) return key;
  }
  return entries.at(-1)![0];
}

/** A running load: its records grow as answers arrive; `done` resolves when it stops. */
export class LoadRun {
  readonly records: RequestRecord[] = [];
  /** Ids of the tasks the service accepted (201 or 202): each must end up done. */
  readonly acceptedTasks: string[] = [];
  readonly done: Promise<void>;
  private stopped = false;
  private sent = 0;
  private taskSeq = 0;

  constructor(
    options: LoadOptions,
    private readonly origin: number,
  ) {
    const o = validateLoad(options);
    const until = performance.now() + o.durationMs;
    const client = async () => {
      while (!this.stopped && this.sent < o.maxRequests && performance.now() < until) {
        this.sent++;
        await this.one(o);
        if (o.thinkMs > 0) await new Promise((r) => setTimeout(r, o.thinkMs));
      }
    };
    this.done = Promise.all(Array.from({ length: o.concurrency }, client)).then(() => {});
  }

  stop(): Promise<void> {
    this.stopped = true;
    return this.done;
  }

  private async one(o: Required<LoadOptions>): Promise<void> {
    const kind: Kind = Math.random() < o.writeShare ? 'write' : 'read';
    const level = pick(o.levels, Math.random());
    const start = performance.now() - this.origin;
    const id =
      kind === 'write' ? `${o.taskPrefix}-${++this.taskSeq}-${Math.random().toString(36).slice(2, 8)}` : '';
    let status: number | undefined;
    let headers: Headers | undefined;
    let source = '';
    let attempts = 0;
    for (;;) {
      attempts++;
      try {
        const response =
          kind === 'read'
            ? await fetch(`${o.url}/items/${1 + Math.floor(Math.random() * o.itemRange)}`, {
                headers: { 'x-priority': level },
                signal: AbortSignal.timeout(o.timeoutMs),
              })
            : await fetch(`${o.url}/tasks`, {
                method: 'POST',
                headers: { 'x-priority': level, 'content-type': 'application/json' },
                body: JSON.stringify({ id, payload: `payload of ${id}` }),
                signal: AbortSignal.timeout(o.timeoutMs),
              });
        await response.arrayBuffer();
        status = response.status;
        headers = response.headers;
        source = response.headers.get('x-source') ?? response.headers.get('x-error') ?? '';
      } catch (error) {
        status = undefined;
        headers = undefined;
        source = (error as Error).name === 'TimeoutError' ? 'client-timeout' : 'connection-error';
      }
      const ok = status !== undefined && status < 300;
      if (ok || attempts > o.clientRetries || this.stopped) break;
    }
    const outcome = classify(status, headers);
    if (kind === 'write' && (outcome === 'served' || outcome === 'queued')) this.acceptedTasks.push(id);
    this.records.push({
      start,
      end: performance.now() - this.origin,
      kind,
      level,
      status,
      outcome,
      source,
      attempts,
    });
  }
}

/** The p-th percentile (0..100) of `values`, or 0 when there are none. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}
