import { describe, expect, it } from 'vitest';
import {
  type ClaimedJob,
  type DeferredJob,
  DeferredQueue,
  isQueueClosedError,
  memoryStore,
  type QueueStore,
} from '../../src/deferred/index.js';
import { BrokenCircuitError, CircuitBreaker, constant, isQueueFullError, timeout } from '../../src/index.js';
import type { ExecuteContext } from '../../src/policy.js';
import { flushPromises, ManualClock } from '../../src/testing/index.js';
import { type Deferred, deferred } from '../helpers/promises.js';
import { captureWarnings } from '../helpers/warnings.js';

/** A memory store that says it is durable, to exercise what the queue does for durable stores. */
function durableMemory(): QueueStore {
  const inner = memoryStore();
  return {
    durable: true,
    add: (j, m) => inner.add(j, m),
    claim: (o) => inner.claim(o),
    complete: (j) => inner.complete(j),
    retry: (j, u) => inner.retry(j, u),
    deadLetter: (j, u) => inner.deadLetter(j, u),
    extend: (j, n, l) => inner.extend!(j, n, l),
    nextRunAt: (n) => inner.nextRunAt(n),
    deadLetters: (l) => inner.deadLetters(l),
    requeue: (id, n) => inner.requeue(id, n),
    stats: (n) => inner.stats(n),
  };
}

/** A memory store whose `complete` waits until the test releases it, one write at a time. */
function slowCompletes(inner: QueueStore = memoryStore()): { store: QueueStore; writes: Deferred<void>[] } {
  const writes: Deferred<void>[] = [];
  const store: QueueStore = {
    durable: inner.durable,
    add: (j, m) => inner.add(j, m),
    claim: (o) => inner.claim(o),
    complete: async (j) => {
      const write = deferred<void>();
      writes.push(write);
      await write.promise;
      await inner.complete(j);
    },
    retry: (j, u) => inner.retry(j, u),
    deadLetter: (j, u) => inner.deadLetter(j, u),
    nextRunAt: (n) => inner.nextRunAt(n),
    deadLetters: (l) => inner.deadLetters(l),
    requeue: (id, n) => inner.requeue(id, n),
    stats: (n) => inner.stats(n),
  };
  return { store, writes };
}

async function settle(rounds = 3): Promise<void> {
  for (let i = 0; i < rounds; i++) await flushPromises();
}

describe('DeferredQueue: options', () => {
  const handler = async () => {};

  it('rejects bad options at construction, naming the option and the value', () => {
    expect(() => new DeferredQueue({} as never)).toThrow(/handler must be a function, got undefined/);
    expect(() => new DeferredQueue({ handler, concurrency: 0 })).toThrow(RangeError);
    expect(() => new DeferredQueue({ handler, concurrency: 0 })).toThrow(/concurrency.*got 0/);
    expect(() => new DeferredQueue({ handler, maxSize: -1 })).toThrow(/maxSize.*got -1/);
    expect(() => new DeferredQueue({ handler, maxAttempts: 1.5 })).toThrow(/maxAttempts.*got 1.5/);
    expect(() => new DeferredQueue({ handler, gate: 5 as never })).toThrow(
      /gate must be a CircuitBreaker.*got 5/,
    );
    expect(() => new DeferredQueue({ handler, store: {} as never })).toThrow(/store must be a QueueStore/);
    expect(() => new DeferredQueue({ handler, lease: 0 })).toThrow(/lease.*got 0/);
    expect(() => new DeferredQueue({ handler, concurency: 2 } as never)).toThrow(
      /unknown option "concurency"/,
    );
  });

  it('rejects bad enqueue options and unserializable payloads for a durable store with a TypeError', async () => {
    const queue = new DeferredQueue({
      handler,
      store: durableMemory(),
      pollInterval: Number.POSITIVE_INFINITY,
    });
    await expect(queue.enqueue({ at: new Date(0) })).rejects.toThrow(
      new TypeError(
        'payload.at is a Date, which JSON cannot carry: a durable store keeps only null, booleans, finite numbers, strings, arrays and plain objects',
      ),
    );
    const cycle: Record<string, unknown> = {};
    cycle.self = cycle;
    await expect(queue.enqueue(cycle)).rejects.toThrow(/payload.self is a cycle/);
    await expect(queue.enqueue({ n: 10n })).rejects.toThrow(/payload.n is a bigint/);
    await expect(queue.enqueue([1, Number.NaN])).rejects.toThrow(/payload\[1\] is NaN/);
    await expect(queue.enqueue(() => 1)).rejects.toThrow(TypeError);
    await expect(queue.enqueue(1, { priority: 'urgent' as never })).rejects.toThrow(
      /priority must be one of/,
    );
    await expect(queue.enqueue(1, { delay: -1 })).rejects.toThrow(/delay.*got -1/);
    await expect(queue.enqueue(1, { key: '' })).rejects.toThrow(/key must be a non-empty string/);
    expect(await queue.stats()).toMatchObject({ depth: 0 });
    await queue.close();
  });

  it('keeps any payload as it is in the memory store', async () => {
    const clock = new ManualClock();
    const seen: unknown[] = [];
    const queue = new DeferredQueue({ clock, handler: async (job) => void seen.push(job.payload) });
    const payload = { at: new Date(0), fn: () => 1 };
    await queue.enqueue(payload);
    await queue.drained();
    expect(seen[0]).toBe(payload);
  });
});

describe('DeferredQueue: running jobs', () => {
  it('runs each job once with its id, payload, attempt, time, key and an abortable context', async () => {
    const clock = new ManualClock(5_000);
    const calls: [DeferredJob<{ n: number }>, ExecuteContext][] = [];
    const queue = new DeferredQueue<{ n: number }>({
      clock,
      handler: async (job, ctx) => void calls.push([job, ctx]),
    });
    const completed: unknown[] = [];
    queue.on('completed', (e) => completed.push(e));
    const id = await queue.enqueue({ n: 1 }, { key: 'k1', priority: 'high' });
    await queue.drained();
    expect(calls).toHaveLength(1);
    const [job, ctx] = calls[0]!;
    expect(job).toEqual({
      id,
      payload: { n: 1 },
      attempt: 0,
      enqueuedAt: 5_000,
      key: 'k1',
      priority: 'high',
    });
    expect(ctx.signal).toBeInstanceOf(AbortSignal);
    expect(ctx).toMatchObject({ attempt: 0, key: 'k1', priority: 'high' });
    expect(completed).toEqual([{ id, attempt: 0, duration: 0 }]);
    expect(await queue.stats()).toMatchObject({
      depth: 0,
      inFlight: 0,
      deadLetters: 0,
      oldestAge: undefined,
    });
  });

  it('runs at most `concurrency` jobs at once', async () => {
    const holds = Array.from({ length: 10 }, () => deferred<void>());
    let running = 0;
    let most = 0;
    const queue = new DeferredQueue<number>({
      clock: new ManualClock(),
      concurrency: 3,
      handler: async (job) => {
        running++;
        most = Math.max(most, running);
        await holds[job.payload]!.promise;
        running--;
      },
    });
    for (let i = 0; i < 10; i++) await queue.enqueue(i);
    await settle();
    expect(queue.inFlight).toBe(3);
    for (const h of holds) {
      h.resolve();
      await settle(1);
    }
    await queue.drained();
    expect(most).toBe(3);
  });

  it('runs higher priorities first, then in the order enqueued', async () => {
    const order: string[] = [];
    const queue = new DeferredQueue<string>({
      clock: new ManualClock(),
      handler: async (job) => void order.push(job.payload),
    });
    queue.pause();
    await queue.enqueue('n1');
    await queue.enqueue('b1', { priority: 'background' });
    await queue.enqueue('c1', { priority: 'critical' });
    await queue.enqueue('n2');
    await queue.enqueue('h1', { priority: 'high' });
    queue.resume();
    await queue.drained();
    expect(order).toEqual(['c1', 'h1', 'n1', 'n2', 'b1']);
  });

  it('does not run a delayed job before its delay, and holds a timer only while one waits', async () => {
    const clock = new ManualClock();
    const ran: string[] = [];
    const queue = new DeferredQueue<string>({ clock, handler: async (job) => void ran.push(job.payload) });
    await queue.enqueue('later', { delay: 1_000 });
    await settle();
    expect(ran).toEqual([]);
    expect(clock.pendingTimers).toBe(1);
    await clock.advanceAsync(999);
    expect(ran).toEqual([]);
    await clock.advanceAsync(1);
    await queue.drained();
    expect(ran).toEqual(['later']);
    expect(clock.pendingTimers).toBe(0);
  });

  it('rejects with QueueFullError at maxSize and drops nothing already accepted', async () => {
    const ran: number[] = [];
    const queue = new DeferredQueue<number>({
      clock: new ManualClock(),
      maxSize: 2,
      name: 'mail',
      handler: async (job) => void ran.push(job.payload),
    });
    queue.pause();
    await queue.enqueue(1);
    await queue.enqueue(2);
    const error = await queue.enqueue(3).catch((e: unknown) => e);
    expect(isQueueFullError(error)).toBe(true);
    expect(error).toMatchObject({ queue: 'mail', maxSize: 2, message: 'Queue "mail" is full (2 jobs)' });
    queue.resume();
    await queue.drained();
    expect(ran).toEqual([1, 2]);
  });

  it('keeps one job per idempotency key', async () => {
    const ran: number[] = [];
    const queue = new DeferredQueue<number>({
      clock: new ManualClock(),
      handler: async (job) => void ran.push(job.payload),
    });
    const enqueued: unknown[] = [];
    queue.on('enqueued', (e) => enqueued.push(e));
    queue.pause();
    const a = await queue.enqueue(1, { key: 'order:1' });
    const b = await queue.enqueue(2, { key: 'order:1' });
    expect(b).toBe(a);
    expect(enqueued).toHaveLength(1);
    queue.resume();
    await queue.drained();
    expect(ran).toEqual([1]);
  });

  it('starts the next job while the store records the last one done; `drained` waits for that write', async () => {
    const inner = memoryStore();
    const { store, writes } = slowCompletes(inner);
    const started: number[] = [];
    const queue = new DeferredQueue<number>({
      clock: new ManualClock(),
      store,
      concurrency: 1,
      handler: async (job) => void started.push(job.payload),
    });
    let drained = 0;
    queue.on('drained', () => drained++);
    await queue.enqueue(1);
    await queue.enqueue(2);
    await settle();
    // concurrency 1, yet job 2 ran while job 1's completion was still being written
    expect(started).toEqual([1, 2]);
    expect(writes).toHaveLength(2);
    expect(queue.inFlight).toBe(0);
    writes[0]!.resolve();
    await settle();
    expect(drained).toBe(0);
    writes[1]!.resolve();
    await settle();
    expect(drained).toBe(1);
    expect(await inner.stats(0)).toMatchObject({ waiting: 0, leased: 0 });
  });
});

describe('DeferredQueue: failures', () => {
  it('retries a failing job after the backoff, then dead-letters it after maxAttempts; requeue runs it again', async () => {
    const clock = new ManualClock();
    let fail = true;
    const attempts: number[] = [];
    const queue = new DeferredQueue<string>({
      clock,
      maxAttempts: 3,
      backoff: constant(100),
      handler: async (job) => {
        attempts.push(job.attempt);
        if (fail) throw new Error(`boom ${job.attempt}`);
      },
    });
    const events: string[] = [];
    queue.on('failed', (e) => events.push(`failed ${e.attempt} counted=${e.counted} retryIn=${e.retryIn}`));
    queue.on('deadLettered', (e) => events.push(`dead ${e.attempts} ${(e.error as Error).message}`));
    const id = await queue.enqueue('x');
    await settle();
    expect(attempts).toEqual([0]);
    await clock.advanceAsync(99);
    expect(attempts).toEqual([0]);
    await clock.advanceAsync(1);
    expect(attempts).toEqual([0, 1]);
    await clock.advanceAsync(100);
    await settle();
    expect(attempts).toEqual([0, 1, 2]);
    expect(events).toEqual([
      'failed 0 counted=true retryIn=100',
      'failed 1 counted=true retryIn=100',
      'failed 2 counted=true retryIn=undefined',
      'dead 3 boom 2',
    ]);
    expect(await queue.deadLetters()).toMatchObject([
      { id, payload: 'x', attempts: 3, error: 'Error: boom 2' },
    ]);
    expect(await queue.stats()).toMatchObject({ depth: 0, deadLetters: 1 });
    fail = false;
    expect(await queue.requeue(id)).toBe(true);
    await queue.drained();
    expect(attempts).toEqual([0, 1, 2, 0]);
    expect(await queue.deadLetters()).toEqual([]);
    expect(await queue.requeue(id)).toBe(false);
  });

  it('counts a handler that throws synchronously as a failure', async () => {
    const queue = new DeferredQueue({
      clock: new ManualClock(),
      maxAttempts: 1,
      handler: () => {
        throw new TypeError('sync');
      },
    });
    await queue.enqueue(1);
    await queue.drained();
    expect(await queue.deadLetters()).toMatchObject([{ error: 'TypeError: sync', attempts: 1 }]);
  });

  it('dead-letters a job the store could not read, with the parse error, without running it', async () => {
    const inner = memoryStore();
    let corrupt = true;
    const store: QueueStore = {
      ...durableMemory(),
      durable: false,
      add: (j, m) => inner.add(j, m),
      claim: async (o) => {
        const jobs = await inner.claim(o);
        return jobs.map(
          (j): ClaimedJob =>
            corrupt ? { ...j, payload: undefined, error: new SyntaxError('Unexpected token') } : j,
        );
      },
      deadLetter: (j, u) => inner.deadLetter(j, u),
      deadLetters: (l) => inner.deadLetters(l),
      stats: (n) => inner.stats(n),
      nextRunAt: (n) => inner.nextRunAt(n),
    };
    let ran = 0;
    const queue = new DeferredQueue({ clock: new ManualClock(), store, handler: async () => void ran++ });
    const dead: unknown[] = [];
    queue.on('deadLettered', (e) => dead.push(e));
    const id = await queue.enqueue('fine');
    await settle();
    expect(ran).toBe(0);
    expect(dead).toMatchObject([{ id, attempts: 0 }]);
    expect(await queue.deadLetters()).toMatchObject([{ id, error: 'SyntaxError: Unexpected token' }]);
    corrupt = false;
    await queue.enqueue('next');
    await queue.drained();
    expect(ran).toBe(1);
  });

  it('reports a bad backoff answer and waits gateInterval instead', async () => {
    const warnings = captureWarnings();
    const clock = new ManualClock();
    let runs = 0;
    const queue = new DeferredQueue({
      clock,
      gateInterval: 500,
      backoff: () => Number.NaN,
      handler: async () => {
        if (++runs === 1) throw new Error('once');
      },
    });
    await queue.enqueue(1);
    await settle();
    await clock.advanceAsync(499);
    expect(runs).toBe(1);
    await clock.advanceAsync(1);
    await queue.drained();
    expect(runs).toBe(2);
    await settle();
    expect(warnings.map((w) => w.message)).toEqual([
      'DeferredQueue "deferred": backoff(1) must return a number of ms in [0, 2147483647], got NaN; waiting 500 ms',
    ]);
  });
});

describe('DeferredQueue: gates', () => {
  async function openBreaker(breaker: CircuitBreaker): Promise<void> {
    await breaker.execute(() => Promise.reject(new Error('down'))).catch(() => {});
    expect(breaker.state).toBe('open');
  }

  it('takes nothing while a breaker is open, probes once at retryAfter, then drains', async () => {
    const clock = new ManualClock();
    const breaker = new CircuitBreaker({ clock, failureThreshold: 1, openTimeout: 10_000 });
    let healthy = false;
    const attempts: string[] = [];
    const queue = new DeferredQueue<string>({
      clock,
      gate: breaker,
      concurrency: 4,
      backoff: constant(60_000),
      handler: (job, ctx) =>
        breaker.execute(async () => {
          attempts.push(job.payload);
          if (!healthy) throw new Error('still down');
        }, ctx),
    });
    const events: string[] = [];
    queue.on('paused', (e) => events.push(`paused ${e.reason} ${e.retryAfter}`));
    queue.on('resumed', (e) => events.push(`resumed ${e.reason}`));
    await openBreaker(breaker);
    for (const p of ['a', 'b', 'c', 'd', 'e']) await queue.enqueue(p);
    await settle();
    expect(attempts).toEqual([]);
    expect(events).toEqual(['paused gate 10000']);
    expect(clock.pendingTimers).toBe(1); // one wake-up at retryAfter: no busy loop
    await clock.advanceAsync(9_999);
    expect(attempts).toEqual([]);
    // The probe fails: the circuit opens again; one attempt made, counted for that job alone.
    await clock.advanceAsync(1);
    await settle();
    expect(attempts).toEqual(['a']);
    expect(breaker.state).toBe('open');
    healthy = true;
    await clock.advanceAsync(10_000);
    await settle();
    // 'a' failed once and waits out its backoff; the probe that closed the circuit was 'b'.
    expect(attempts.slice(0, 2)).toEqual(['a', 'b']);
    expect(breaker.state).toBe('closed');
    expect(events).toEqual(['paused gate 10000', 'resumed gate', 'paused gate 10000', 'resumed gate']);
    expect(new Set(attempts.slice(1))).toEqual(new Set(['b', 'c', 'd', 'e']));
    await clock.advanceAsync(60_000); // 'a' after its backoff
    await queue.drained();
    expect(attempts.filter((p) => p === 'a')).toHaveLength(2);
    expect(await queue.stats()).toMatchObject({ depth: 0, deadLetters: 0 });
    expect(clock.pendingTimers).toBe(0);
  });

  it('does not count a call the breaker refused, and holds the queue for its retryAfter', async () => {
    const clock = new ManualClock();
    const breaker = new CircuitBreaker({ clock, failureThreshold: 1, openTimeout: 5_000 });
    await openBreaker(breaker);
    const seen: number[] = [];
    // No gate: the handler's breaker refuses, and the queue learns to wait from the error.
    const queue = new DeferredQueue({
      clock,
      maxAttempts: 1,
      handler: (job, ctx) => breaker.execute(async () => void seen.push(job.attempt), ctx),
    });
    const failed: unknown[] = [];
    queue.on('failed', (e) => failed.push(e));
    await queue.enqueue('x');
    await settle();
    expect(failed).toMatchObject([{ counted: false, attempt: 0 }]);
    expect((failed[0] as { error: unknown }).error).toBeInstanceOf(BrokenCircuitError);
    expect(clock.pendingTimers).toBe(1);
    await clock.advanceAsync(5_000);
    await queue.drained();
    expect(seen).toEqual([0]);
    expect(await queue.deadLetters()).toEqual([]);
  });

  it('asks a function gate again every gateInterval while it is closed', async () => {
    const clock = new ManualClock();
    let open = false;
    let asked = 0;
    let ran = 0;
    const queue = new DeferredQueue({
      clock,
      gateInterval: 200,
      gate: () => {
        asked++;
        return open;
      },
      handler: async () => void ran++,
    });
    await queue.enqueue(1);
    await settle();
    const first = asked;
    await clock.advanceAsync(1_000);
    expect(ran).toBe(0);
    expect(asked - first).toBe(5);
    open = true;
    await clock.advanceAsync(200);
    await queue.drained();
    expect(ran).toBe(1);
    expect(clock.pendingTimers).toBe(0);
  });

  it('waits while a shedder sheds background work, and resumes on its pressureChanged event', async () => {
    const { EventEmitter } = await import('node:events');
    const clock = new ManualClock();
    const shedder = Object.assign(new EventEmitter(), {
      shedding: true,
      isShedding: (_p: string) => shedder.shedding,
    });
    let ran = 0;
    const queue = new DeferredQueue({ clock, gate: shedder, handler: async () => void ran++ });
    await queue.enqueue(1);
    await settle();
    expect(ran).toBe(0);
    expect(shedder.listenerCount('pressureChanged')).toBe(1);
    shedder.shedding = false;
    shedder.emit('pressureChanged', {});
    await queue.drained();
    expect(ran).toBe(1);
    expect(shedder.listenerCount('pressureChanged')).toBe(0);
  });

  it('starts no more jobs than an adaptive limit has room for', async () => {
    const clock = new ManualClock();
    const limit = { limit: 2, inFlight: 0 };
    const holds: ReturnType<typeof deferred<void>>[] = [];
    const queue = new DeferredQueue({
      clock,
      concurrency: 10,
      gate: limit,
      handler: async () => {
        limit.inFlight++;
        const hold = deferred<void>();
        holds.push(hold);
        await hold.promise;
        limit.inFlight--;
      },
    });
    for (let i = 0; i < 5; i++) await queue.enqueue(i);
    await settle();
    expect(holds).toHaveLength(2);
    for (let i = 0; holds.length < 5 || i < holds.length; i++) {
      holds[i]!.resolve();
      await settle();
      expect(limit.inFlight).toBeLessThanOrEqual(2);
    }
    await queue.drained();
    expect(holds).toHaveLength(5);
  });
});

describe('DeferredQueue: durable stores', () => {
  it('renews the lease of a job that runs longer than the lease, so no other process takes it', async () => {
    const clock = new ManualClock();
    const store = durableMemory();
    const hold = deferred<void>();
    const queue = new DeferredQueue({
      clock,
      store,
      lease: 300,
      pollInterval: 100,
      handler: () => hold.promise,
    });
    await queue.enqueue('long');
    await clock.advanceAsync(0);
    expect(queue.inFlight).toBe(1);
    for (let t = 0; t < 10; t++) {
      await clock.advanceAsync(100);
      // Another process claiming now finds nothing: the lease was renewed.
      expect(await store.claim({ limit: 5, now: clock.now(), leaseMs: 300 })).toEqual([]);
    }
    hold.resolve();
    await queue.drained();
    expect(await queue.stats()).toMatchObject({ depth: 0, leased: 0 });
    await queue.close();
    expect(clock.pendingTimers).toBe(0);
  });

  it('picks up jobs another process added, by polling while open', async () => {
    const clock = new ManualClock();
    const store = durableMemory();
    const ran: unknown[] = [];
    const queue = new DeferredQueue({
      clock,
      store,
      pollInterval: 500,
      handler: async (job) => void ran.push(job.payload),
    });
    await clock.advanceAsync(0);
    await store.add(
      { payload: 'from elsewhere', key: undefined, priority: 'normal', enqueuedAt: 0, runAt: 0 },
      10,
    );
    expect(ran).toEqual([]);
    await clock.advanceAsync(500);
    await settle();
    expect(ran).toEqual(['from elsewhere']);
    await queue.close();
    expect(clock.pendingTimers).toBe(0);
  });
});

describe('DeferredQueue: a store that fails', () => {
  it('warns once while the store fails to hand out jobs, retries every gateInterval, and runs them once it is back', async () => {
    const warnings = captureWarnings();
    const clock = new ManualClock();
    const inner = durableMemory();
    let down = true;
    let claims = 0;
    const store: QueueStore = {
      ...inner,
      durable: false,
      claim: (o) => {
        claims++;
        return down ? Promise.reject(new Error('connection refused')) : inner.claim(o);
      },
    };
    const ran: unknown[] = [];
    const queue = new DeferredQueue({
      clock,
      store,
      gateInterval: 200,
      handler: async (job) => void ran.push(job.payload),
    });
    await queue.enqueue('kept');
    await settle();
    await clock.advanceAsync(1_000);
    expect(ran).toEqual([]);
    expect(claims).toBe(6); // the first try, then one per gateInterval: no busy loop
    down = false;
    await clock.advanceAsync(200);
    await queue.drained();
    expect(ran).toEqual(['kept']);
    await settle();
    expect(warnings.map((w) => w.message)).toEqual([
      'DeferredQueue "deferred": the store failed to hand out jobs',
    ]);
    expect(clock.pendingTimers).toBe(0);
  });
});

describe('DeferredQueue: close', () => {
  it('lets running handlers finish, then rejects enqueue with QueueClosedError', async () => {
    const hold = deferred<void>();
    let done = 0;
    const queue = new DeferredQueue({
      clock: new ManualClock(),
      handler: async () => {
        await hold.promise;
        done++;
      },
    });
    await queue.enqueue(1);
    await settle();
    let closed = false;
    const closing = queue.close().then(() => {
      closed = true;
    });
    await settle();
    expect(closed).toBe(false);
    hold.resolve();
    await closing;
    expect(done).toBe(1);
    const error = await queue.enqueue(2).catch((e: unknown) => e);
    expect(isQueueClosedError(error)).toBe(true);
  });

  it('aborts running handlers at the timeout; their jobs and unstarted ones stay in the store', async () => {
    const clock = new ManualClock();
    const store = memoryStore();
    const reasons: unknown[] = [];
    const queue = new DeferredQueue({
      clock,
      store,
      handler: (_job, ctx) =>
        new Promise((_, reject) =>
          ctx.signal.addEventListener('abort', () => {
            reasons.push(ctx.signal.reason);
            reject(ctx.signal.reason);
          }),
        ),
    });
    await queue.enqueue('running');
    await queue.enqueue('waiting');
    await settle();
    const closing = queue.close({ timeout: 1_000 });
    await clock.advanceAsync(1_000);
    await closing;
    await settle();
    expect(isQueueClosedError(reasons[0])).toBe(true);
    const next = new DeferredQueue({ clock, store, handler: async () => {} });
    expect(await next.stats()).toMatchObject({ depth: 2, inFlight: 0, deadLetters: 0 });
    const ran: unknown[] = [];
    const again = new DeferredQueue<string>({
      clock,
      store,
      handler: async (job) => void ran.push(job.payload),
    });
    await again.requeue('none');
    await again.enqueue('new');
    await again.drained();
    expect(ran).toEqual(['running', 'waiting', 'new']);
    expect(clock.pendingTimers).toBe(0);
  });

  it('waits for a completion still being written after its handler finished', async () => {
    const inner = memoryStore();
    const { store, writes } = slowCompletes(inner);
    const queue = new DeferredQueue({ clock: new ManualClock(), store, handler: async () => {} });
    await queue.enqueue(1);
    await settle();
    expect(writes).toHaveLength(1);
    let closed = false;
    const closing = queue.close().then(() => {
      closed = true;
    });
    await settle();
    expect(closed).toBe(false);
    writes[0]!.resolve();
    await closing;
    expect(await inner.stats(0)).toMatchObject({ waiting: 0, leased: 0 });
  });

  it("aborts a handler's inner policies at the timeout, through the context the handler passed on", async () => {
    const clock = new ManualClock();
    const reasons: unknown[] = [];
    const queue = new DeferredQueue({
      clock,
      // The handler never reads ctx.signal: the timeout policy follows it as its parent context.
      handler: (_job, ctx) =>
        timeout({ ms: 60_000, clock }).execute(
          ({ signal }) =>
            new Promise((_, reject) =>
              signal.addEventListener('abort', () => {
                reasons.push(signal.reason);
                reject(signal.reason);
              }),
            ),
          ctx,
        ),
    });
    await queue.enqueue('running');
    await settle();
    const closing = queue.close({ timeout: 1_000 });
    await clock.advanceAsync(1_000);
    await closing;
    expect(reasons).toHaveLength(1);
    expect(isQueueClosedError(reasons[0])).toBe(true);
  });

  it('is what `await using` calls', async () => {
    let ran = 0;
    {
      await using queue = new DeferredQueue({ clock: new ManualClock(), handler: async () => void ran++ });
      await queue.enqueue(1);
      await queue.drained();
    }
    expect(ran).toBe(1);
  });
});
