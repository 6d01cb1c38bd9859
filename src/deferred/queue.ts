import { backgroundTimer, type Clock, type RandomSource, systemClock, type TimerHandle } from '../clock.js';
import { Emitter, warn } from '../emitter.js';
import {
  isBrokenCircuitError,
  isBulkheadRejectedError,
  isOverloadedError,
  isRateLimitedError,
  QueueClosedError,
  QueueFullError,
} from '../errors.js';
import { type ExecuteContext, isPriority, OwnAbortContext, PRIORITIES, type Priority } from '../policy.js';
import { type Backoff, exponential } from '../retry/backoff.js';
import * as v from '../validate.js';
import { adaptGate, type Gate, type GateAdapter } from './gate.js';
import { memoryStore } from './memory-store.js';
import { type ClaimedJob, checkPayload, type DeadLetter, describeError, type QueueStore } from './store.js';

/** A job as its handler sees it. */
export interface DeferredJob<T = unknown> {
  /** The job's id, as `enqueue` answered it. */
  readonly id: string;
  /** What was enqueued (from a durable store: as parsed back from JSON). */
  readonly payload: T;
  /** Counted attempts made before this one: 0 on the first run. Delivery is at-least-once: see the README. */
  readonly attempt: number;
  /** When it was enqueued (ms, the queue's clock). */
  readonly enqueuedAt: number;
  /** The idempotency key it was enqueued with, if any: use it to make the handler's effect happen once. */
  readonly key: string | undefined;
  /** The priority it was enqueued with. */
  readonly priority: Priority;
}

/**
 * Does a job's work. `ctx` is an {@link ExecuteContext}: pass it as the options of a policy's
 * `execute` (`breaker.execute(fn, ctx)`) so that its signal, key and priority travel on.
 * `ctx.signal` aborts when `close({ timeout })` runs out of time.
 */
export type JobHandler<T> = (job: DeferredJob<T>, ctx: ExecuteContext) => unknown;

/** Options of {@link DeferredQueue}. */
export interface DeferredQueueOptions<T> {
  /** Does each job's work; a job completes when it resolves, and fails when it rejects. */
  handler: JobHandler<T>;
  /** Names the queue in errors and events. @default 'deferred' */
  name?: string;
  /**
   * Where jobs are kept. `memoryStore()` loses them with the process; `postgresStore` and
   * `redisStore` keep them.
   * @default memoryStore()
   */
  store?: QueueStore;
  /** Jobs run at once by this queue. @default 1 */
  concurrency?: number;
  /**
   * Jobs the store may hold (waiting and running; dead letters do not count): past it
   * `enqueue` rejects with `QueueFullError`. An integer >= 1, or `Infinity`.
   * @default 10_000
   */
  maxSize?: number;
  /** Runs of a job (the first included) before it goes to the dead letters. @default 5 */
  maxAttempts?: number;
  /**
   * The delay before a failed job runs again; `attempt` is 1 after the first failure.
   * @default exponential({ initial: 1_000, max: 60_000, jitter: 'full' })
   */
  backoff?: Backoff;
  /**
   * While the gate is closed nothing is taken from the store: a `CircuitBreaker` (closed while
   * open; one job runs as the probe once `retryAfter` has passed), a `loadShedder` (closed
   * while it sheds `background` work), an `adaptiveLimit` (closed while it is full) or a
   * function answering true while work may run.
   * @default no gate
   */
  gate?: Gate;
  /**
   * How often (ms) a gate that has no event for it (a function, a shedder's pressure, a limit's
   * room) is asked again while closed, and how long the queue holds after a handler's call was
   * refused without a `retryAfter`.
   * @default 1_000
   */
  gateInterval?: number;
  /**
   * How long (ms) a durable store holds a running job for this process: a job whose process
   * died runs again after it. Renewed every third of it while the job runs.
   * @default 30_000
   */
  lease?: number;
  /**
   * How often (ms) a durable store is asked for due jobs (others' enqueues, leases that
   * ended) while the queue runs; `Infinity` never. The timer is unref'd and stops at `close()`.
   * @default 1_000
   */
  pollInterval?: number;
  /** @default systemClock */
  clock?: Clock;
  /** Source of the backoff's jitter. @default Math.random */
  random?: RandomSource;
}

/** Per-job options of {@link DeferredQueue.enqueue}. */
export interface EnqueueOptions {
  /** Idempotency key: while the store holds a job with this key, enqueueing it again keeps that job. */
  key?: string;
  /** Higher priorities run first; FIFO within one. @default 'normal' */
  priority?: Priority;
  /** ms before the job may run. @default 0 */
  delay?: number;
}

/** Payload of the {@link DeferredQueueEvents.enqueued | enqueued} event. */
export interface JobEnqueuedEvent {
  /** The new job's id. */
  readonly id: string;
  /** Its idempotency key, if any. */
  readonly key: string | undefined;
  /** Its priority. */
  readonly priority: Priority;
  /** ms before it may run. */
  readonly delay: number;
}

/** Payload of the {@link DeferredQueueEvents.started | started} event. */
export interface JobStartedEvent {
  /** The job's id. */
  readonly id: string;
  /** Counted attempts made before this run. */
  readonly attempt: number;
}

/** Payload of the {@link DeferredQueueEvents.completed | completed} event. */
export interface JobCompletedEvent {
  /** The job's id. */
  readonly id: string;
  /** Counted attempts made before this run. */
  readonly attempt: number;
  /** ms the handler took. */
  readonly duration: number;
}

/** Payload of the {@link DeferredQueueEvents.failed | failed} event. */
export interface JobFailedEvent {
  /** The job's id. */
  readonly id: string;
  /** Counted attempts made before this run. */
  readonly attempt: number;
  /** What the handler threw or rejected with. */
  readonly error: unknown;
  /**
   * Whether the attempt counts towards `maxAttempts`. It does not when the handler's call was
   * refused without running (an open circuit, overload, a full bulkhead, a rate limit) or
   * aborted by `close()`.
   */
  readonly counted: boolean;
  /** ms until it may run again; undefined when it goes to the dead letters. */
  readonly retryIn: number | undefined;
}

/** Payload of the {@link DeferredQueueEvents.deadLettered | deadLettered} event. */
export interface JobDeadLetteredEvent {
  /** The job's id. */
  readonly id: string;
  /** Attempts made. */
  readonly attempts: number;
  /** The last error, or the parse error of a job that could not be read. */
  readonly error: unknown;
}

/** Payload of the {@link DeferredQueueEvents.paused | paused} and {@link DeferredQueueEvents.resumed | resumed} events. */
export interface QueuePausedEvent {
  /** `gate`: the gate closed (or opened); `manual`: `pause()` (or `resume()`). */
  readonly reason: 'gate' | 'manual';
  /** For `paused` by the gate: ms until it is asked again (`Infinity`: on its event only). */
  readonly retryAfter: number | undefined;
}

/** The events of a {@link DeferredQueue}, each with one payload object. */
export interface DeferredQueueEvents {
  /** A job was added to the store (not fired for a duplicate key). */
  enqueued: [JobEnqueuedEvent];
  /** A handler started on a job. */
  started: [JobStartedEvent];
  /** A handler resolved, and the job was removed from the store. */
  completed: [JobCompletedEvent];
  /** A handler rejected; the job waits to run again, or goes to the dead letters (`deadLettered` follows). */
  failed: [JobFailedEvent];
  /** A job failed `maxAttempts` times, or could not be read, and was moved to the dead letters. */
  deadLettered: [JobDeadLetteredEvent];
  /** Nothing is running and nothing waits that this queue could run now or later. */
  drained: [Record<string, never>];
  /** The queue stopped taking jobs from the store: its gate closed, or `pause()`. */
  paused: [QueuePausedEvent];
  /** The queue takes jobs again. */
  resumed: [QueuePausedEvent];
}

/** What {@link DeferredQueue.stats} answers. */
export interface DeferredQueueStats {
  /** Jobs waiting in the store, delayed ones included. */
  readonly depth: number;
  /** Jobs this queue is running now. */
  readonly inFlight: number;
  /** Jobs running anywhere (other processes sharing a durable store included). */
  readonly leased: number;
  /** Jobs in the dead letters. */
  readonly deadLetters: number;
  /** ms since the oldest job held (waiting or running) was enqueued; undefined when none is. */
  readonly oldestAge: number | undefined;
  /** Whether the gate or `pause()` holds the queue. */
  readonly paused: boolean;
}

/**
 * A running job's context. Its signal is built only if the handler reads it: an AbortSignal
 * costs microseconds to make and collect, most of what a fast handler's job cost the queue.
 */
class JobContext extends OwnAbortContext {
  constructor(
    readonly attempt: number,
    readonly key: string | undefined,
    readonly priority: Priority,
  ) {
    super();
  }

  /** Aborts the handler's signal (`close()` out of time). */
  abort(reason: unknown): void {
    this.abortWith(reason);
  }
}

const DEFAULT_BACKOFF = exponential({ initial: 1_000, max: 60_000, jitter: 'full' });
const KEYS = [
  'handler',
  'name',
  'store',
  'concurrency',
  'maxSize',
  'maxAttempts',
  'backoff',
  'gate',
  'gateInterval',
  'lease',
  'pollInterval',
  'clock',
  'random',
];

/**
 * A queue of work kept while a dependency is down and done once it is back: `enqueue` accepts
 * a job as soon as the store holds it, and the queue runs each job's `handler` with
 * `concurrency`, in priority then FIFO order, retrying failures with `backoff` up to
 * `maxAttempts` and then keeping them as dead letters. While its `gate` is closed (an open
 * circuit, a shedder shedding background work) nothing is taken from the store.
 *
 * Delivery is at-least-once: a job whose process died mid-run runs again, so make handlers
 * idempotent (the job carries its `key` and `attempt`).
 *
 * Timers: none while idle. A timer waits for the next delayed job or the gate's `retryAfter`
 * (ref'd with the memory store, whose jobs would be lost on exit; unref'd with a durable
 * store); with a durable store, an unref'd poll timer runs while the queue is open, and an
 * unref'd lease-renewal timer while jobs run. `close()` clears them all.
 *
 * @example
 * ```ts
 * const breaker = new CircuitBreaker({ name: 'mailer', failureThreshold: 5 });
 * const queue = new DeferredQueue<{ to: string }>({
 *   gate: breaker,
 *   handler: (job, ctx) => breaker.execute(({ signal }) => mailer.send(job.payload, { signal }), ctx),
 * });
 * await queue.enqueue({ to: 'ada@example.com' }, { key: 'welcome:ada' });
 * ```
 */
export class DeferredQueue<T = unknown> extends Emitter<DeferredQueueEvents> {
  /** Names the queue in errors and events. */
  readonly name: string;
  /** The store the jobs are kept in. */
  readonly store: QueueStore;
  /** Jobs run at once by this queue. */
  readonly concurrency: number;
  /** Jobs the store may hold before `enqueue` rejects (`Infinity`: no limit). */
  readonly maxSize: number;
  /** Runs of a job before it goes to the dead letters. */
  readonly maxAttempts: number;
  private readonly handler: JobHandler<T>;
  private readonly backoff: Backoff;
  private readonly gate: GateAdapter | undefined;
  private readonly gateInterval: number;
  private readonly leaseMs: number;
  private readonly pollInterval: number;
  private readonly clock: Clock;
  private readonly random: RandomSource;

  /** The jobs this queue runs, and their contexts. */
  private readonly running = new Map<ClaimedJob, JobContext>();
  /** Outcomes being written whose jobs' slots are free already (see `record`). */
  private recording = 0;
  /** Set by close() while handlers run or outcomes are written: called once none is left. */
  private emptied: (() => void) | undefined;
  private closed = false;
  private closing: Promise<void> | undefined;
  private manualPause = false;
  private gatePaused = false;
  private pumping = false;
  private again = false;
  private wake: TimerHandle | undefined;
  private wakeAt = Number.POSITIVE_INFINITY;
  private heartbeat: TimerHandle | undefined;
  /** The pump's current round: close() waits for it. */
  private pumped: Promise<void> = Promise.resolve();
  /** After a handler's call was refused (open circuit, overload): nothing is claimed before this. */
  private holdUntil = 0;
  /** Whether the last claim failed: its warning is not repeated until one succeeds. */
  private storeFailing = false;
  /** Whether `drained` has fired since work was last seen. */
  private isDrained = true;
  private readonly onGateEvent = (): void => this.kick();

  constructor(options: DeferredQueueOptions<T>) {
    super();
    const o = v.object('DeferredQueue options', options);
    v.knownKeys('DeferredQueue', o, KEYS);
    this.handler = v.func('handler', o.handler);
    this.name = o.name === undefined ? 'deferred' : v.string('name', o.name);
    this.store = o.store === undefined ? memoryStore() : store(o.store);
    this.concurrency = o.concurrency === undefined ? 1 : v.integer('concurrency', o.concurrency, 1);
    this.maxSize = o.maxSize === undefined ? 10_000 : v.countOrUnlimited('maxSize', o.maxSize, 1);
    this.maxAttempts = o.maxAttempts === undefined ? 5 : v.integer('maxAttempts', o.maxAttempts, 1);
    this.backoff = o.backoff === undefined ? DEFAULT_BACKOFF : v.func('backoff', o.backoff);
    this.gateInterval =
      o.gateInterval === undefined ? 1_000 : v.milliseconds('gateInterval', o.gateInterval, 1, v.MAX_TIMER);
    this.gate = o.gate === undefined ? undefined : adaptGate(o.gate, this.gateInterval);
    this.leaseMs = this.store.durable
      ? o.lease === undefined
        ? 30_000
        : v.milliseconds('lease', o.lease, 1, v.MAX_TIMER)
      : Number.POSITIVE_INFINITY; // one process alone: a lease cannot outlive its holder
    if (!this.store.durable && o.lease !== undefined) v.milliseconds('lease', o.lease, 1, v.MAX_TIMER);
    this.pollInterval =
      o.pollInterval === undefined ? 1_000 : v.msOrUnlimited('pollInterval', o.pollInterval, 1);
    this.clock = o.clock === undefined ? systemClock : v.clock('clock', o.clock);
    this.random = o.random === undefined ? Math.random : v.random('random', o.random);
    // A durable store may hold jobs from an earlier process or another one: look at once, though
    // after this tick, so that `pause()` called right after construction holds the queue.
    if (this.store.durable) queueMicrotask(() => this.kick());
  }

  /**
   * Adds a job and resolves with its id once the store holds it (for a durable store, once it
   * is committed). With a `key` the store already holds, resolves with that job's id and adds
   * nothing.
   *
   * @throws {@link QueueFullError} when the store holds `maxSize` jobs; nothing held is dropped.
   * @throws TypeError for a payload a durable store cannot keep as JSON, or bad options.
   * @throws {@link QueueClosedError} after `close()`.
   */
  async enqueue(payload: T, options?: EnqueueOptions): Promise<string> {
    if (this.closed) throw new QueueClosedError(this.name);
    const o = options === undefined ? {} : v.object('enqueue options', options);
    v.knownKeys('enqueue', o, ['key', 'priority', 'delay']);
    const key = o.key === undefined ? undefined : v.string('key', o.key);
    if (o.priority !== undefined && !isPriority(o.priority)) {
      throw new TypeError(`priority must be one of ${PRIORITIES.join(', ')}, got ${v.show(o.priority)}`);
    }
    const priority = (o.priority as Priority | undefined) ?? 'normal';
    const delay = o.delay === undefined ? 0 : v.milliseconds('delay', o.delay);
    if (this.store.durable) checkPayload(payload);
    const now = this.clock.now();
    const added = await this.store.add(
      { payload, key, priority, enqueuedAt: now, runAt: now + delay },
      this.maxSize,
    );
    if (added === 'full') throw new QueueFullError(this.name, this.maxSize);
    if (added.created) {
      if (this.listenerCount('enqueued') !== 0) this.emit('enqueued', { id: added.id, key, priority, delay });
      this.isDrained = false;
      this.kick();
    }
    return added.id;
  }

  /** Jobs this queue is running now. */
  get inFlight(): number {
    return this.running.size;
  }

  /** Whether the gate or `pause()` holds the queue. */
  get paused(): boolean {
    return this.manualPause || this.gatePaused;
  }

  /** Depth, jobs in flight, dead letters and the age of the oldest job. */
  async stats(): Promise<DeferredQueueStats> {
    const now = this.clock.now();
    const s = await this.store.stats(now);
    return {
      depth: s.waiting,
      inFlight: this.running.size,
      leased: s.leased,
      deadLetters: s.deadLetters,
      oldestAge: s.oldestEnqueuedAt === undefined ? undefined : now - s.oldestEnqueuedAt,
      paused: this.paused,
    };
  }

  /** Jobs that failed `maxAttempts` times (or could not be read), oldest first. */
  deadLetters(limit = 100): Promise<DeadLetter[]> {
    try {
      return this.store.deadLetters(v.integer('limit', limit, 1));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Moves a dead letter back to the queue with no attempts made; false when there is none with this id. */
  async requeue(id: string): Promise<boolean> {
    v.string('id', id);
    const requeued = await this.store.requeue(id, this.clock.now());
    if (requeued) {
      this.isDrained = false;
      this.kick();
    }
    return requeued;
  }

  /** Stops taking jobs from the store (running ones go on) until {@link resume}. */
  pause(): void {
    if (this.manualPause || this.closed) return;
    this.manualPause = true;
    if (this.listenerCount('paused') !== 0) this.emit('paused', { reason: 'manual', retryAfter: undefined });
  }

  /** Takes jobs again after {@link pause}. */
  resume(): void {
    if (!this.manualPause) return;
    this.manualPause = false;
    if (this.listenerCount('resumed') !== 0)
      this.emit('resumed', { reason: 'manual', retryAfter: undefined });
    this.kick();
  }

  /** Resolves the next time the queue is drained (at once when it is and nothing was added since). */
  drained(): Promise<void> {
    if (this.isDrained && this.running.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.once('drained', () => resolve()));
  }

  /**
   * Stops taking jobs and lets running handlers finish; after `timeout` ms their signals abort
   * (with a {@link QueueClosedError}) and `close` resolves without waiting further. Every job
   * not completed stays in the store, for this store's next queue. `enqueue` rejects from now on.
   */
  close(options?: { timeout?: number }): Promise<void> {
    if (this.closing !== undefined) return this.closing;
    let timeout: number;
    try {
      const o = options === undefined ? {} : v.object('close options', options);
      v.knownKeys('close', o, ['timeout']);
      timeout = o.timeout === undefined ? Number.POSITIVE_INFINITY : v.msOrUnlimited('timeout', o.timeout);
    } catch (error) {
      return Promise.reject(error);
    }
    this.closed = true;
    this.clearWake();
    this.watchGate(false);
    this.closing = this.finish(timeout);
    return this.closing;
  }

  /** Same as `close()`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  private async finish(timeout: number): Promise<void> {
    // A claim on its way finishes first (its jobs go back), so no store call follows close().
    await this.pumped;
    if (this.running.size === 0 && this.recording === 0) return;
    // No job starts once closed, so the running ones are done when none is left.
    const all = new Promise<void>((resolve) => {
      this.emptied = resolve;
    });
    if (timeout === Number.POSITIVE_INFINITY) {
      await all;
      return;
    }
    let timer: TimerHandle | undefined;
    const timedOut = new Promise<boolean>((resolve) => {
      timer = this.clock.setTimeout(() => resolve(true), timeout);
    });
    const late = await Promise.race([all.then(() => false), timedOut]);
    timer?.clear();
    if (late) {
      const reason = new QueueClosedError(this.name, `Queue "${this.name}" closed after ${timeout} ms`);
      for (const context of this.running.values()) context.abort(reason);
    }
  }

  /** Runs the pump, unless it runs already: then it goes round once more. */
  private kick(): void {
    if (this.pumping) {
      this.again = true;
      return;
    }
    this.pumped = this.pump();
  }

  private async pump(): Promise<void> {
    this.pumping = true;
    try {
      do {
        this.again = false;
        await this.fill();
      } while (this.again && !this.closed);
    } catch (error) {
      warn(new Error(`DeferredQueue "${this.name}": unexpected error while taking jobs`, { cause: error }));
    } finally {
      this.pumping = false;
    }
  }

  /** Claims and starts jobs until the concurrency is used, the gate closes or nothing is due. */
  private async fill(): Promise<void> {
    while (!this.closed && !this.manualPause) {
      const room = this.concurrency - this.running.size;
      if (room <= 0) return; // a settling job pumps again
      const now = this.clock.now();
      if (now < this.holdUntil) {
        this.pauseForGate(this.holdUntil - now);
        return;
      }
      let slots = room;
      if (this.gate !== undefined) {
        const reading = this.gate.read(this.running.size);
        if (typeof reading !== 'number') {
          this.pauseForGate(reading.closedFor);
          return;
        }
        if (reading <= 0) return; // a probe runs: its settling pumps again
        slots = Math.min(room, reading);
      }
      this.resumeFromGate();
      let jobs: ClaimedJob[];
      try {
        jobs = await this.store.claim({ limit: slots, now, leaseMs: this.leaseMs });
      } catch (error) {
        // Once per outage of the store, not on every retry of it.
        if (!this.storeFailing) {
          this.storeFailing = true;
          warn(
            new Error(`DeferredQueue "${this.name}": the store failed to hand out jobs`, { cause: error }),
          );
        }
        this.scheduleWake(now + Math.min(this.pollInterval, this.gateInterval));
        return;
      }
      this.storeFailing = false;
      if (jobs.length > 0) this.isDrained = false;
      const returned: Promise<void>[] = [];
      for (const job of jobs) {
        // The claim took a round trip: a gate that closed meanwhile (a circuit opened), or close(),
        // sends the job back untouched, its attempts unchanged.
        if (this.closed || this.manualPause || !this.admits()) {
          returned.push(
            this.settleQuietly(() => this.store.retry(job, { attempts: job.attempts, runAt: now })),
          );
        } else this.start(job);
      }
      if (returned.length > 0) {
        await Promise.all(returned);
        continue; // the gate decides what happens next
      }
      if (jobs.length < slots) {
        await this.idle(now);
        return;
      }
    }
  }

  /** Whether one more job may start now, by the hold and the gate. */
  private admits(): boolean {
    if (this.clock.now() < this.holdUntil) return false;
    if (this.gate === undefined) return true;
    const reading = this.gate.read(this.running.size);
    return typeof reading === 'number' && reading > 0;
  }

  /** Nothing more is due now: wake for the next delayed job or the next poll, or report drained. */
  private async idle(now: number): Promise<void> {
    let next: number | undefined;
    try {
      next = await this.store.nextRunAt(now);
    } catch (error) {
      warn(new Error(`DeferredQueue "${this.name}": the store failed to answer`, { cause: error }));
    }
    if (this.closed) return;
    const waiting = next !== undefined;
    if (this.store.durable && this.pollInterval !== Number.POSITIVE_INFINITY) {
      next = Math.min(next ?? Number.POSITIVE_INFINITY, now + this.pollInterval);
    }
    if (next !== undefined) this.scheduleWake(next);
    if (this.running.size === 0 && this.recording === 0 && !waiting && !this.isDrained && !this.again) {
      this.isDrained = true;
      this.emit('drained', {});
    }
  }

  private start(job: ClaimedJob): void {
    if (job.error !== undefined) {
      this.recording++;
      void this.record(() => this.bury(job, job.attempts, job.error));
      return;
    }
    const context = new JobContext(job.attempts, job.key, job.priority);
    this.running.set(job, context);
    if (this.store.durable && this.store.extend !== undefined && this.heartbeat === undefined)
      this.renewLeases();
    void this.run(job, context);
  }

  /** Runs a job's handler and records the outcome; never rejects. */
  private async run(job: ClaimedJob, context: JobContext): Promise<void> {
    const attempt = job.attempts;
    let started = 0;
    let succeeded = false;
    try {
      if (this.listenerCount('started') !== 0) this.emit('started', { id: job.id, attempt });
      started = this.clock.now();
      const view: DeferredJob<T> = {
        id: job.id,
        payload: job.payload as T,
        attempt,
        enqueuedAt: job.enqueuedAt,
        key: job.key,
        priority: job.priority,
      };
      try {
        await this.handler(view, context);
      } catch (error) {
        // A failure keeps its slot until the job is back in the store: `drained` cannot come first.
        await this.failed(job, error, context.aborted);
        return;
      }
      succeeded = true;
    } finally {
      // The write to come is counted before the slot is freed, so close() never misses it.
      if (succeeded) this.recording++;
      this.release(job);
    }
    // The slot was freed as the handler finished: the next claim overlaps this write (a round
    // trip and a commit on a durable store). close() and `drained` wait for it.
    await this.record(() => this.store.complete(job));
    if (this.listenerCount('completed') !== 0) {
      this.emit('completed', { id: job.id, attempt, duration: this.clock.now() - started });
    }
  }

  /** Frees a job's slot and takes the next job. */
  private release(job: ClaimedJob): void {
    this.running.delete(job);
    if (this.running.size === 0) this.stopHeartbeat();
    this.settled();
    this.kick();
  }

  /**
   * Writes an outcome that no slot waits for, already counted in `recording` (so that close()
   * and `drained` wait for it).
   */
  private async record(write: () => Promise<void>): Promise<void> {
    try {
      await this.settleQuietly(write);
    } finally {
      this.recording--;
      // The last write may be what held `drained` back: look again.
      if (this.recording === 0 && this.running.size === 0) {
        this.settled();
        this.kick();
      }
    }
  }

  /** Tells close() once no handler runs and no outcome is being written. */
  private settled(): void {
    if (this.running.size !== 0 || this.recording !== 0) return;
    this.emptied?.();
    this.emptied = undefined;
  }

  private async failed(job: ClaimedJob, error: unknown, aborted: boolean): Promise<void> {
    const now = this.clock.now();
    const refused = refusal(error);
    if (aborted || refused !== undefined) {
      // Not an attempt: the call never ran (or close() stopped it). The job keeps its place,
      // and the queue holds off the dependency for as long as it asked.
      if (refused !== undefined)
        this.holdUntil = Math.max(this.holdUntil, now + (refused > 0 ? refused : this.gateInterval));
      if (this.listenerCount('failed') !== 0) {
        this.emit('failed', { id: job.id, attempt: job.attempts, error, counted: false, retryIn: 0 });
      }
      await this.settleQuietly(() => this.store.retry(job, { attempts: job.attempts, runAt: now }));
      return;
    }
    const attempts = job.attempts + 1;
    if (attempts >= this.maxAttempts) {
      if (this.listenerCount('failed') !== 0) {
        this.emit('failed', { id: job.id, attempt: job.attempts, error, counted: true, retryIn: undefined });
      }
      await this.bury(job, attempts, error);
      return;
    }
    const delay = this.delayFor(attempts, error);
    if (this.listenerCount('failed') !== 0) {
      this.emit('failed', { id: job.id, attempt: job.attempts, error, counted: true, retryIn: delay });
    }
    await this.settleQuietly(() => this.store.retry(job, { attempts, runAt: now + delay }));
  }

  private async bury(job: ClaimedJob, attempts: number, error: unknown): Promise<void> {
    const now = this.clock.now();
    await this.settleQuietly(() =>
      this.store.deadLetter(job, { attempts, error: describeError(error), now }),
    );
    if (this.listenerCount('deadLettered') !== 0) this.emit('deadLettered', { id: job.id, attempts, error });
  }

  /** The backoff's delay; a bad answer is reported and read as `gateInterval`, so a job never spins. */
  private delayFor(attempts: number, error: unknown): number {
    let delay: unknown;
    try {
      delay = this.backoff(attempts, error, 0, this.random);
      if (typeof delay === 'number' && delay >= 0 && delay <= v.MAX_TIMER) return delay;
    } catch (thrown) {
      delay = thrown;
    }
    warn(
      new RangeError(
        `DeferredQueue "${this.name}": backoff(${attempts}) must return a number of ms in [0, ${v.MAX_TIMER}], got ${v.show(delay)}; waiting ${this.gateInterval} ms`,
        { cause: delay },
      ),
    );
    return this.gateInterval;
  }

  /**
   * A store that fails to record an outcome loses nothing: the job's lease ends and it runs
   * again (at-least-once). The failure is reported, not thrown into the queue.
   */
  private async settleQuietly(write: () => Promise<void>): Promise<void> {
    try {
      await write();
    } catch (error) {
      warn(
        new Error(`DeferredQueue "${this.name}": the store failed to record a job's outcome`, {
          cause: error,
        }),
      );
    }
  }

  private pauseForGate(retryAfter: number): void {
    if (retryAfter !== Number.POSITIVE_INFINITY) this.scheduleWake(this.clock.now() + retryAfter);
    if (this.gatePaused) return;
    this.gatePaused = true;
    this.watchGate(true);
    if (this.listenerCount('paused') !== 0) this.emit('paused', { reason: 'gate', retryAfter });
  }

  private resumeFromGate(): void {
    if (!this.gatePaused) return;
    this.gatePaused = false;
    this.watchGate(false);
    if (this.listenerCount('resumed') !== 0) this.emit('resumed', { reason: 'gate', retryAfter: undefined });
  }

  /** Listens to the gate's event only while it holds the queue. */
  private watchGate(on: boolean): void {
    const gate = this.gate;
    if (gate?.event === undefined || gate.source === undefined) return;
    try {
      if (on) gate.source.on?.(gate.event, this.onGateEvent);
      else gate.source.off?.(gate.event, this.onGateEvent);
    } catch (error) {
      warn(new Error(`DeferredQueue "${this.name}": the gate refused a listener`, { cause: error }));
    }
  }

  /** One timer, for the earliest moment something may change. */
  private scheduleWake(at: number): void {
    if (this.closed) return;
    if (this.wake !== undefined && this.wakeAt <= at) return;
    this.wake?.clear();
    this.wakeAt = at;
    const ms = Math.min(v.MAX_TIMER, Math.max(0, at - this.clock.now()));
    this.wake = this.timer(() => {
      this.wake = undefined;
      this.wakeAt = Number.POSITIVE_INFINITY;
      this.kick();
    }, ms);
  }

  private clearWake(): void {
    this.wake?.clear();
    this.wake = undefined;
    this.wakeAt = Number.POSITIVE_INFINITY;
  }

  /** Renews the leases of running jobs every third of the lease, so a long handler keeps its job. */
  private renewLeases(): void {
    this.heartbeat = this.timer(() => {
      this.heartbeat = undefined;
      if (this.running.size === 0) return;
      const jobs = [...this.running.keys()];
      void this.settleQuietly(() => this.store.extend!(jobs, this.clock.now(), this.leaseMs));
      this.renewLeases();
    }, this.leaseMs / 3);
  }

  private stopHeartbeat(): void {
    this.heartbeat?.clear();
    this.heartbeat = undefined;
  }

  /**
   * A timer of the queue's own: with a durable store it is unref'd (the jobs are safe if the
   * process exits); with the memory store it keeps the process alive, since exiting would lose them.
   */
  private timer(callback: () => void, ms: number): TimerHandle {
    return this.store.durable
      ? backgroundTimer(this.clock, callback, ms)
      : this.clock.setTimeout(callback, ms);
  }
}

/**
 * For an error that says the handler's call was refused without running, the ms the
 * dependency asked to be left alone (0 when it named none); undefined for other errors.
 */
function refusal(error: unknown): number | undefined {
  if (
    isBrokenCircuitError(error) ||
    isOverloadedError(error) ||
    isRateLimitedError(error) ||
    isBulkheadRejectedError(error)
  ) {
    const retryAfter = (error as { retryAfter?: unknown }).retryAfter;
    return typeof retryAfter === 'number' && retryAfter > 0 && retryAfter <= v.MAX_TIMER ? retryAfter : 0;
  }
  return undefined;
}

function store(value: unknown): QueueStore {
  const s = value as Partial<QueueStore> | null;
  const ok =
    typeof s === 'object' &&
    s !== null &&
    typeof s.durable === 'boolean' &&
    ['add', 'claim', 'complete', 'retry', 'deadLetter', 'nextRunAt', 'deadLetters', 'requeue', 'stats'].every(
      (m) => typeof (s as Record<string, unknown>)[m] === 'function',
    );
  if (!ok) {
    throw new TypeError(
      `store must be a QueueStore (durable, add, claim, complete, retry, deadLetter, nextRunAt, deadLetters, requeue, stats), got ${v.show(value)}`,
    );
  }
  return value as QueueStore;
}
