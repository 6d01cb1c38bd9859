import { describe, expect, expectTypeOf, it } from 'vitest';
import {
  DeferredQueue,
  type DeferredResult,
  deferTo,
  isUnavailable,
  memoryStore,
} from '../../src/deferred/index.js';
import {
  BulkheadRejectedError,
  CircuitBreaker,
  fallback,
  isQueueFullError,
  OverloadedError,
  pipeline,
  TimeoutError,
} from '../../src/index.js';
import { ManualClock } from '../../src/testing/index.js';

function queue(maxSize = 100) {
  const q = new DeferredQueue<{ order: number }>({
    clock: new ManualClock(),
    maxSize,
    handler: async () => {},
  });
  q.pause(); // keep what deferTo enqueues where the test can see it
  return q;
}

describe('deferTo', () => {
  it('answers the result on success and enqueues nothing', async () => {
    const q = queue();
    const policy = deferTo(q, { payload: { order: 1 } });
    expect(await policy.execute(() => 42)).toBe(42);
    expect(await q.stats()).toMatchObject({ depth: 0 });
  });

  it('enqueues the payload and answers { deferred, id, retryAfter } when the circuit is open', async () => {
    const clock = new ManualClock();
    const q = queue();
    const breaker = new CircuitBreaker({ clock, failureThreshold: 1, openTimeout: 30_000 });
    await breaker.execute(() => Promise.reject(new Error('down'))).catch(() => {});
    const policy = pipeline(deferTo(q, { payload: { order: 7 } }), breaker);
    const deferredEvents: unknown[] = [];
    policy.policies[0].on('deferred', (e) => deferredEvents.push(e));
    let ran = 0;
    const result = await policy.execute(() => ran++, { key: 'order:7', priority: 'high' });
    expect(ran).toBe(0);
    expect(result).toEqual({ deferred: true, id: expect.any(String), retryAfter: 30_000 });
    const id = (result as DeferredResult).id;
    expect(deferredEvents).toMatchObject([{ id }]);
    // The call's key is the job's idempotency key: a second deferral of the same call keeps one job.
    const again = await policy.execute(() => ran++, { key: 'order:7' });
    expect((again as DeferredResult).id).toBe(id);
    expect(await q.stats()).toMatchObject({ depth: 1 });
  });

  it('defers timeouts, overload and a full bulkhead by default, and nothing else', () => {
    expect(isUnavailable(new TimeoutError(10))).toBe(true);
    expect(isUnavailable(new OverloadedError('pressure', 'low', 1.2, 100))).toBe(true);
    expect(isUnavailable(new BulkheadRejectedError('full', 1, 0))).toBe(true);
    expect(isUnavailable(new Error('bad request'))).toBe(false);
    expect(isUnavailable(undefined)).toBe(false);
  });

  it('lets other errors through unchanged', async () => {
    const q = queue();
    const error = new Error('validation failed');
    await expect(deferTo(q, { payload: { order: 1 } }).execute(() => Promise.reject(error))).rejects.toBe(
      error,
    );
    expect(await q.stats()).toMatchObject({ depth: 0 });
  });

  it('takes a `when` predicate and a payload function of the error and context', async () => {
    const q = queue();
    const policy = deferTo(q, {
      when: (e) => (e as Error).message === 'busy',
      payload: (_error, ctx) => ({ order: Number(ctx.key) }),
    });
    const result = await policy.execute(() => Promise.reject(new Error('busy')), { key: '12' });
    expect(result).toMatchObject({ deferred: true, retryAfter: undefined });
    const claimed = await q.store.claim({ limit: 1, now: 0, leaseMs: 1 });
    expect(claimed[0]!.payload).toEqual({ order: 12 });
  });

  it('never defers a call its caller aborted', async () => {
    const q = queue();
    const controller = new AbortController();
    const policy = deferTo(q, { payload: { order: 1 } });
    const reason = new Error('caller gone');
    const call = policy.execute(
      ({ signal }) =>
        new Promise((_, reject) => signal.addEventListener('abort', () => reject(new TimeoutError(1)))),
      { signal: controller.signal },
    );
    controller.abort(reason);
    await expect(call).rejects.toBeInstanceOf(TimeoutError);
    expect(await q.stats()).toMatchObject({ depth: 0 });
  });

  it('rejects with QueueFullError whose cause is the call error when the queue is full', async () => {
    const q = queue(1);
    await q.enqueue({ order: 0 });
    const timeoutError = new TimeoutError(5);
    const error = await deferTo(q, { payload: { order: 1 } })
      .execute(() => Promise.reject(timeoutError))
      .catch((e: unknown) => e);
    expect(isQueueFullError(error)).toBe(true);
    expect((error as Error).cause).toBe(timeoutError);
  });

  it('validates its arguments', async () => {
    const q = queue();
    expect(() => deferTo({} as never, { payload: 1 } as never)).toThrow(/queue must be a DeferredQueue/);
    expect(() => deferTo(q, {} as never)).toThrow(/payload is required/);
    expect(() => deferTo(q, { payload: { order: 1 }, when: 5 } as never)).toThrow(/when must be a function/);
    expect(() => deferTo(q, { payload: { order: 1 }, unknown: 1 } as never)).toThrow(/unknown option/);
    await expect(deferTo(q, { payload: { order: 1 } }).execute(5 as never)).rejects.toThrow(TypeError);
  });

  it('adds DeferredResult to a pipeline result type, as fallback does', () => {
    const q = new DeferredQueue<{ order: number }>({ store: memoryStore(), handler: async () => {} });
    const p = pipeline(deferTo(q, { payload: { order: 1 } }), new CircuitBreaker());
    expectTypeOf(p.execute(async () => 42)).toEqualTypeOf<Promise<number | DeferredResult>>();
    const both = pipeline(fallback(null), deferTo(q, { payload: { order: 1 } }));
    expectTypeOf(both.execute(async () => 'x')).toEqualTypeOf<Promise<string | DeferredResult | null>>();
  });
});
