import { PRIORITY_RANK, type Priority } from '../policy.js';
import type {
  AddResult,
  ClaimedJob,
  ClaimOptions,
  DeadLetter,
  NewJob,
  QueueStore,
  StoreStats,
} from './store.js';

interface Entry {
  readonly id: string;
  readonly payload: unknown;
  readonly key: string | undefined;
  readonly priority: Priority;
  readonly rank: number;
  readonly enqueuedAt: number;
  /** Order of first add: FIFO within a priority, kept across retries. */
  readonly seq: number;
  attempts: number;
  runAt: number;
  lease: string | undefined;
  leaseUntil: number;
  /** Completed or dead-lettered: a copy left in a heap is skipped (cheaper than a look-up in `jobs`). */
  removed: boolean;
}

/** A binary min-heap; `before(a, b)` is true when `a` comes out first. */
class Heap<T> {
  private readonly items: T[] = [];
  constructor(private readonly before: (a: T, b: T) => boolean) {}

  get size(): number {
    return this.items.length;
  }

  peek(): T | undefined {
    return this.items[0];
  }

  // Sifts move a hole rather than swap pairs: half the writes, and no array per step.
  push(item: T): void {
    const items = this.items;
    let i = items.length;
    items.push(item);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const above = items[parent]!;
      if (!this.before(item, above)) break;
      items[i] = above;
      i = parent;
    }
    items[i] = item;
  }

  pop(): T | undefined {
    const items = this.items;
    const top = items[0];
    const last = items.pop();
    const n = items.length;
    if (n === 0 || last === undefined) return top;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && this.before(items[r]!, items[l]!) ? r : l;
      const child = items[c]!;
      if (!this.before(child, last)) break;
      items[i] = child;
      i = c;
    }
    items[i] = last;
    return top;
  }
}

const byPlace = (a: Entry, b: Entry) => a.rank < b.rank || (a.rank === b.rank && a.seq < b.seq);
const byRunAt = (a: Entry, b: Entry) => a.runAt < b.runAt || (a.runAt === b.runAt && a.seq < b.seq);

/**
 * The store behind {@link memoryStore}: jobs in this process's memory. Claims and adds
 * cost O(log n).
 */
class MemoryStore implements QueueStore {
  readonly durable = false;
  private seq = 0;
  private leases = 0;
  /** Waiting and leased jobs by id. */
  private readonly jobs = new Map<string, Entry>();
  private readonly ready = new Heap<Entry>(byPlace);
  private readonly delayed = new Heap<Entry>(byRunAt);
  private readonly leased = new Map<string, Entry>();
  private readonly dead = new Map<string, DeadLetter>();
  private readonly keys = new Map<string, string>();

  async add(job: NewJob, maxSize: number): Promise<AddResult | 'full'> {
    if (job.key !== undefined) {
      const held = this.keys.get(job.key);
      if (held !== undefined) return { id: held, created: false };
    }
    if (this.jobs.size >= maxSize) return 'full';
    const seq = ++this.seq;
    const entry: Entry = {
      id: String(seq),
      payload: job.payload,
      key: job.key,
      priority: job.priority,
      rank: PRIORITY_RANK[job.priority],
      enqueuedAt: job.enqueuedAt,
      seq,
      attempts: 0,
      runAt: job.runAt,
      lease: undefined,
      leaseUntil: 0,
      removed: false,
    };
    this.jobs.set(entry.id, entry);
    if (job.key !== undefined) this.keys.set(job.key, entry.id);
    this.delayed.push(entry);
    return { id: entry.id, created: true };
  }

  async claim({ limit, now, leaseMs }: ClaimOptions): Promise<ClaimedJob[]> {
    // Leases are few (at most the claimers' concurrency): a scan costs little.
    for (const entry of this.leased.values()) {
      if (entry.leaseUntil <= now) this.wait(entry);
    }
    for (
      let next = this.delayed.peek();
      next !== undefined && next.runAt <= now;
      next = this.delayed.peek()
    ) {
      this.delayed.pop();
      if (this.isWaiting(next)) this.ready.push(next);
    }
    const claimed: ClaimedJob[] = [];
    while (claimed.length < limit) {
      const entry = this.ready.pop();
      if (entry === undefined) break;
      if (!this.isWaiting(entry)) continue;
      entry.lease = `m${++this.leases}`;
      entry.leaseUntil = now + leaseMs;
      this.leased.set(entry.id, entry);
      claimed.push({
        id: entry.id,
        payload: entry.payload,
        attempts: entry.attempts,
        key: entry.key,
        priority: entry.priority,
        enqueuedAt: entry.enqueuedAt,
        lease: entry.lease,
      });
    }
    return claimed;
  }

  async complete(job: ClaimedJob): Promise<void> {
    const entry = this.jobs.get(job.id);
    if (entry === undefined) return;
    this.jobs.delete(job.id);
    this.leased.delete(job.id);
    entry.lease = undefined;
    entry.removed = true;
    if (entry.key !== undefined) this.keys.delete(entry.key);
  }

  async retry(job: ClaimedJob, update: { attempts: number; runAt: number }): Promise<void> {
    const entry = this.held(job);
    if (entry === undefined) return;
    entry.attempts = update.attempts;
    entry.runAt = update.runAt;
    this.wait(entry);
  }

  async deadLetter(job: ClaimedJob, update: { attempts: number; error: string; now: number }): Promise<void> {
    const entry = this.held(job);
    if (entry === undefined) return;
    this.jobs.delete(entry.id);
    this.leased.delete(entry.id);
    entry.lease = undefined;
    entry.removed = true;
    this.dead.set(entry.id, {
      id: entry.id,
      payload: entry.payload,
      error: update.error,
      attempts: update.attempts,
      key: entry.key,
      priority: entry.priority,
      enqueuedAt: entry.enqueuedAt,
      failedAt: update.now,
    });
  }

  async extend(jobs: readonly ClaimedJob[], now: number, leaseMs: number): Promise<void> {
    for (const job of jobs) {
      const entry = this.held(job);
      if (entry !== undefined) entry.leaseUntil = now + leaseMs;
    }
  }

  async nextRunAt(now: number): Promise<number | undefined> {
    // Entries that left the heap's place (claimed, completed) are dropped from its top on the way.
    for (let next = this.delayed.peek(); next !== undefined; next = this.delayed.peek()) {
      if (!this.isWaiting(next)) {
        this.delayed.pop();
        continue;
      }
      return next.runAt > now ? next.runAt : undefined;
    }
    return undefined;
  }

  async deadLetters(limit: number): Promise<DeadLetter[]> {
    const out: DeadLetter[] = [];
    for (const letter of this.dead.values()) {
      if (out.length >= limit) break;
      out.push(letter);
    }
    return out;
  }

  async requeue(id: string, now: number): Promise<boolean> {
    const letter = this.dead.get(id);
    if (letter === undefined) return false;
    this.dead.delete(id);
    const seq = ++this.seq;
    const entry: Entry = {
      id,
      payload: letter.payload,
      key: letter.key,
      priority: letter.priority,
      rank: PRIORITY_RANK[letter.priority],
      enqueuedAt: letter.enqueuedAt,
      seq,
      attempts: 0,
      runAt: now,
      lease: undefined,
      leaseUntil: 0,
      removed: false,
    };
    this.jobs.set(id, entry);
    this.ready.push(entry);
    return true;
  }

  async stats(): Promise<StoreStats> {
    let oldest: number | undefined;
    for (const entry of this.jobs.values()) {
      // Map order is insertion order, but requeued jobs may be older than later ones: scan.
      if (oldest === undefined || entry.enqueuedAt < oldest) oldest = entry.enqueuedAt;
    }
    return {
      waiting: this.jobs.size - this.leased.size,
      leased: this.leased.size,
      deadLetters: this.dead.size,
      oldestEnqueuedAt: oldest,
    };
  }

  /** The entry if `job`'s lease still holds it. */
  private held(job: ClaimedJob): Entry | undefined {
    const entry = this.leased.get(job.id);
    return entry !== undefined && entry.lease === job.lease ? entry : undefined;
  }

  private isWaiting(entry: Entry): boolean {
    return entry.lease === undefined && !entry.removed;
  }

  /** Back to waiting: into the delayed heap, which hands it to the ready heap once due. */
  private wait(entry: Entry): void {
    this.leased.delete(entry.id);
    entry.lease = undefined;
    this.delayed.push(entry);
  }
}

/**
 * A {@link QueueStore} in this process's memory: the default. Fast, but **every job is lost
 * when the process dies**; use `postgresStore` or `redisStore` for work that must survive a
 * crash. Payloads are kept as they are (not copied or serialized).
 *
 * @example
 * ```ts
 * const queue = new DeferredQueue({ store: memoryStore(), handler: async (job) => mailer.send(job.payload) });
 * ```
 */
export function memoryStore(): QueueStore {
  return new MemoryStore();
}
