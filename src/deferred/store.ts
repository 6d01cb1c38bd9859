import type { Priority } from '../policy.js';

/** A job as `enqueue` hands it to a store. */
export interface NewJob {
  /** What the handler gets. Durable stores keep it as JSON (see {@link checkPayload}). */
  readonly payload: unknown;
  /** Idempotency key: while the store holds a job with this key, adding another keeps the first. */
  readonly key: string | undefined;
  /** Claimed before lower priorities. */
  readonly priority: Priority;
  /** When `enqueue` was called, by the queue's clock (ms). */
  readonly enqueuedAt: number;
  /** Not claimed before this time (ms, the queue's clock): `enqueuedAt + delay`. */
  readonly runAt: number;
}

/** What {@link QueueStore.add} answers. */
export interface AddResult {
  /** The job's id: the new job's, or that of the job already holding the key. */
  readonly id: string;
  /** False when a job with the same key was already there and nothing was added. */
  readonly created: boolean;
}

/** A job taken from a store to run, leased to the claimer until it completes, fails or the lease ends. */
export interface ClaimedJob {
  /** The job's id. */
  readonly id: string;
  /** The payload; `undefined` when {@link ClaimedJob.error} is set. */
  readonly payload: unknown;
  /**
   * Set when the stored job could not be read (a corrupted row or stream entry): the queue
   * dead-letters it with this error instead of running it.
   */
  readonly error?: Error | undefined;
  /** Attempts already made and counted (0 on the first run). */
  readonly attempts: number;
  /** Its idempotency key, if any. */
  readonly key: string | undefined;
  /** Its priority. */
  readonly priority: Priority;
  /** When it was enqueued (ms, the queue's clock). */
  readonly enqueuedAt: number;
  /** This claim's token: `retry` and `deadLetter` change the job only while the token still holds it. */
  readonly lease: string;
}

/** A job that failed `maxAttempts` times, or could not be read, kept until requeued. */
export interface DeadLetter {
  /** The job's id: pass it to `requeue`. */
  readonly id: string;
  /** The payload; `undefined` for a job that could not be read. */
  readonly payload: unknown;
  /** `name: message` of the last error. */
  readonly error: string;
  /** Attempts made. */
  readonly attempts: number;
  /** Its idempotency key, if any (still held while the dead letter is kept). */
  readonly key: string | undefined;
  /** Its priority. */
  readonly priority: Priority;
  /** When it was enqueued (ms). */
  readonly enqueuedAt: number;
  /** When it was dead-lettered (ms). */
  readonly failedAt: number;
}

/** Counts a store answers for {@link DeferredQueue.stats}. */
export interface StoreStats {
  /** Jobs waiting to run, delayed ones included (leased and dead-lettered ones excluded). */
  readonly waiting: number;
  /** Jobs claimed and not yet settled, by any process. */
  readonly leased: number;
  /** Jobs in the dead letters. */
  readonly deadLetters: number;
  /** `enqueuedAt` of the oldest waiting or leased job, or undefined when there is none. */
  readonly oldestEnqueuedAt: number | undefined;
}

/** Arguments of {@link QueueStore.claim}. */
export interface ClaimOptions {
  /** Most jobs to take (>= 1). */
  readonly limit: number;
  /** The queue's time (ms): jobs with `runAt <= now`, or whose lease ended by then, are due. */
  readonly now: number;
  /** How long (ms) the claim holds the jobs; `Infinity` for a store that one process uses alone. */
  readonly leaseMs: number;
}

/**
 * Where a {@link DeferredQueue} keeps its jobs. `memoryStore()`, `postgresStore()`
 * (`breakwater/postgres`) and `redisStore()` (`breakwater/redis`) implement it; so can you,
 * and `test/deferred/contract.ts` is the suite a store must pass.
 *
 * The rules every store keeps:
 * - `add` resolves only once the job is kept (for a durable store: committed), and
 *   refuses to go past `maxSize` jobs (waiting + leased; dead letters do not count).
 * - A key is unique among the jobs the store holds, dead letters included; once a job
 *   completes, its key is free again.
 * - `claim` takes due jobs in priority order (`critical` first), then in the order they were
 *   first added; a retried job keeps its place. A job is never held by two unexpired leases.
 *   A job whose lease ended (its process died) is due again, with its attempts unchanged.
 * - Times are the queue's clock readings, passed in; the store never reads a clock itself.
 *
 * @example
 * ```ts
 * const queue = new DeferredQueue({ store: memoryStore(), handler: async (job) => send(job.payload) });
 * ```
 */
export interface QueueStore {
  /**
   * Whether jobs outlive the process (so payloads must be JSON, see {@link checkPayload}). A
   * durable store may also be shared by processes: the queue then polls it while running.
   */
  readonly durable: boolean;
  /** Adds a job unless one with its key is held; `'full'` when `maxSize` jobs are held already. */
  add(job: NewJob, maxSize: number): Promise<AddResult | 'full'>;
  /** Takes up to `limit` due jobs and leases them. */
  claim(options: ClaimOptions): Promise<ClaimedJob[]>;
  /** Removes a job that its handler completed (whoever holds its lease now) and frees its key. */
  complete(job: ClaimedJob): Promise<void>;
  /**
   * Puts a claimed job back to wait until `runAt`, with `attempts` as given (unchanged when
   * the attempt did not count). Does nothing when the lease was lost to another claim.
   */
  retry(job: ClaimedJob, update: { readonly attempts: number; readonly runAt: number }): Promise<void>;
  /** Moves a claimed job to the dead letters; does nothing when the lease was lost to another claim. */
  deadLetter(
    job: ClaimedJob,
    update: { readonly attempts: number; readonly error: string; readonly now: number },
  ): Promise<void>;
  /** Extends the leases of jobs still held to `now + leaseMs`, for handlers that run long. */
  extend?(jobs: readonly ClaimedJob[], now: number, leaseMs: number): Promise<void>;
  /** The earliest `runAt` of a waiting job that is not due at `now`, or undefined when none waits. */
  nextRunAt(now: number): Promise<number | undefined>;
  /** Dead letters, oldest first, at most `limit`. */
  deadLetters(limit: number): Promise<DeadLetter[]>;
  /** Moves a dead letter back to the waiting jobs with no attempts made; false when there is none with this id. */
  requeue(id: string, now: number): Promise<boolean>;
  /** Counts of waiting, leased and dead jobs, and the oldest held job's `enqueuedAt`. */
  stats(now: number): Promise<StoreStats>;
}

/**
 * Checks that `payload` survives a trip through JSON unchanged, as a durable store needs: only
 * null, booleans, finite numbers, strings, arrays and plain objects (an `undefined` property is
 * dropped, as JSON does). Anything else (a Date, a Map, a class instance, a function, a bigint,
 * NaN, a cycle) throws a TypeError that names where it is.
 */
export function checkPayload(payload: unknown): void {
  check(payload, 'payload', new Set());
}

function check(value: unknown, path: string, seen: Set<object>): void {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return;
    case 'number':
      if (!Number.isFinite(value)) throw unserializable(path, String(value));
      return;
    case 'object':
      break;
    default:
      throw unserializable(path, typeof value === 'function' ? 'a function' : `a ${typeof value}`);
  }
  if (value === null) return;
  if (seen.has(value)) throw unserializable(path, 'a cycle');
  seen.add(value);
  if (Array.isArray(value)) {
    value.forEach((item, i) => {
      if (item === undefined) throw unserializable(`${path}[${i}]`, 'undefined');
      check(item, `${path}[${i}]`, seen);
    });
  } else {
    const proto = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) {
      throw unserializable(path, `a ${(value as object).constructor?.name ?? 'non-plain object'}`);
    }
    for (const [key, item] of Object.entries(value)) {
      if (item !== undefined) check(item, `${path}.${key}`, seen);
    }
  }
  seen.delete(value);
}

function unserializable(path: string, what: string): TypeError {
  return new TypeError(
    `${path} is ${what}, which JSON cannot carry: a durable store keeps only null, booleans, finite numbers, strings, arrays and plain objects`,
  );
}

/** `name: message` of an error, as dead letters keep it. */
export function describeError(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  try {
    return `thrown: ${String(error)}`;
  } catch {
    return 'thrown: (unprintable value)';
  }
}
