import { describe, expect, it } from 'vitest';
import {
  BrokenCircuitError,
  bulkhead,
  CircuitBreaker,
  constant,
  type ExecuteContext,
  type ExecuteOptions,
  exponential,
  fallback,
  type Operation,
  Pipeline,
  type Policy,
  pipeline,
  retry,
  TimeoutError,
  timeout,
} from '../../src/index.js';
import { flushPromises, ManualClock, seededRandom } from '../../src/testing/index.js';

/** A policy that records when a call enters and leaves it, and what context it saw. */
function tracer(name: string, log: string[], seen: ExecuteContext[] = []): Policy {
  return {
    async execute<T>(fn: Operation<T>, options?: ExecuteOptions): Promise<T> {
      log.push(`>${name}`);
      seen.push(options as ExecuteContext);
      try {
        return await fn(options as ExecuteContext);
      } finally {
        log.push(`<${name}`);
      }
    },
  };
}

describe('pipeline: order and nesting', () => {
  it('runs the first policy outermost', async () => {
    const log: string[] = [];
    const p = pipeline(tracer('a', log), tracer('b', log), tracer('c', log));
    await expect(
      p.execute(() => {
        log.push('fn');
        return 1;
      }),
    ).resolves.toBe(1);
    expect(log).toEqual(['>a', '>b', '>c', 'fn', '<c', '<b', '<a']);
  });

  it('nests pipelines as if they were flattened', async () => {
    const log: string[] = [];
    const inner = pipeline(tracer('b', log), tracer('c', log));
    const outer = pipeline(tracer('a', log), inner, tracer('d', log));
    await outer.execute(() => log.push('fn'));
    expect(log).toEqual(['>a', '>b', '>c', '>d', 'fn', '<d', '<c', '<b', '<a']);
  });

  it('with no policies just runs the function', async () => {
    await expect(pipeline().execute(() => 'plain')).resolves.toBe('plain');
    const error = new Error('x');
    await expect(
      pipeline().execute(() => {
        throw error;
      }),
    ).rejects.toBe(error);
  });

  it('exposes its policies, outermost first, frozen', () => {
    const r = retry();
    const t = timeout(10);
    const inner = pipeline(t);
    const p = pipeline(r, inner);
    expect(p).toBeInstanceOf(Pipeline);
    expect(p.policies).toEqual([r, inner]);
    expect(p.policies[0]).toBe(r);
    expect(p.policies[1]).toBe(inner);
    expect(inner.policies[0]).toBe(t);
    expect(Object.isFrozen(p.policies)).toBe(true);
    const withDefaults = pipeline({ clock: new ManualClock() }, r, t);
    expect(withDefaults.policies).toEqual([r, t]);
  });

  it('a pipeline is itself a policy that other policies can run', async () => {
    const clock = new ManualClock();
    const inner = pipeline(timeout({ ms: 10, clock }));
    const outer = retry({ clock, retries: 1, backoff: constant(0) });
    let calls = 0;
    await expect(
      outer.execute((ctx) =>
        inner.execute(() => {
          calls++;
          if (calls === 1) throw new Error('once');
          return 'ok';
        }, ctx),
      ),
    ).resolves.toBe('ok');
    expect(calls).toBe(2);
  });
});

describe('pipeline: defaults', () => {
  it('hands its clock to policies without their own', async () => {
    const clock = new ManualClock();
    const p = pipeline({ clock }, timeout(100));
    const call = p.execute(
      ({ signal }) =>
        new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason))),
    );
    expect(clock.pendingTimers).toBe(1);
    clock.advance(100);
    await expect(call).rejects.toBeInstanceOf(TimeoutError);
  });

  it('hands its random source to policies without their own', async () => {
    const clock = new ManualClock();
    const r = retry({ retries: 3, backoff: exponential({ initial: 100, jitter: 'full' }) });
    const delays: number[] = [];
    r.on('retried', (e) => delays.push(e.delay));
    const p = pipeline({ clock, random: seededRandom(5) }, r);
    const call = p.execute(() => {
      throw new Error('x');
    });
    call.catch(() => {});
    await clock.advanceAsync(10_000);
    await expect(call).rejects.toThrow('x');
    const draws = seededRandom(5);
    expect(delays).toEqual([100, 200, 400].map((cap) => draws() * cap));
  });

  it('leaves a policy its own clock and random source', async () => {
    const pipelineClock = new ManualClock();
    const own = new ManualClock();
    const t = timeout({ ms: 100, clock: own });
    const r = retry({
      clock: own,
      random: () => 0.5,
      retries: 1,
      backoff: exponential({ initial: 100, jitter: 'full' }),
    });
    const delays: number[] = [];
    r.on('retried', (e) => delays.push(e.delay));
    const p = pipeline({ clock: pipelineClock, random: () => 0 }, r, t);
    let attempts = 0;
    const call = p.execute(({ signal }) => {
      attempts++;
      return new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason)));
    });
    call.catch(() => {});
    expect(pipelineClock.pendingTimers).toBe(0);
    expect(own.pendingTimers).toBe(1);
    pipelineClock.advance(1_000);
    await flushPromises();
    expect(attempts).toBe(1);
    await own.advanceAsync(100 + 50 + 100);
    await expect(call).rejects.toBeInstanceOf(TimeoutError);
    expect(attempts).toBe(2);
    expect(delays).toEqual([50]);
  });

  it('reaches the policies of nested pipelines, which keep defaults of their own', async () => {
    const outerClock = new ManualClock();
    const innerClock = new ManualClock();
    const a = timeout(10);
    const b = timeout(10);
    pipeline({ clock: outerClock }, pipeline(a), pipeline({ clock: innerClock }, b));
    const pa = a.execute(() => new Promise(() => {}));
    const pb = b.execute(() => new Promise(() => {}));
    pa.catch(() => {});
    pb.catch(() => {});
    expect(outerClock.pendingTimers).toBe(1);
    expect(innerClock.pendingTimers).toBe(1);
  });

  it('hands its clock to a CircuitBreaker given none', async () => {
    // The breaker must time its open state on the pipeline's clock.
    const clock = new ManualClock();
    const breaker = new CircuitBreaker({ failureThreshold: 1, openTimeout: 1_000 });
    const p = pipeline({ clock }, breaker);
    await expect(
      p.execute(() => {
        throw new Error('down');
      }),
    ).rejects.toThrow('down');
    await expect(p.execute(() => 'x')).rejects.toBeInstanceOf(BrokenCircuitError);
    clock.advance(1_000);
    await expect(p.execute(() => 'probe')).resolves.toBe('probe');
    expect(breaker.state).toBe('closed');
  });

  it('leaves a CircuitBreaker its own clock', async () => {
    const pipelineClock = new ManualClock();
    const own = new ManualClock();
    const breaker = new CircuitBreaker({ clock: own, failureThreshold: 1, openTimeout: 1_000 });
    const p = pipeline({ clock: pipelineClock }, breaker);
    await expect(
      p.execute(() => {
        throw new Error('down');
      }),
    ).rejects.toThrow('down');
    pipelineClock.advance(5_000);
    await expect(p.execute(() => 'x')).rejects.toBeInstanceOf(BrokenCircuitError);
    own.advance(1_000);
    await expect(p.execute(() => 'probe')).resolves.toBe('probe');
  });

  it('validates its defaults', () => {
    expect(() => pipeline({ clock: {} } as never, retry())).toThrow(TypeError);
    expect(() => pipeline({ clock: {} } as never, retry())).toThrow(/clock/);
    expect(() => pipeline({ random: 1 } as never, retry())).toThrow(/random.*1/);
    expect(() => pipeline({ clocks: 1 } as never, retry())).toThrow(/unknown option "clocks"/);
    expect(() => pipeline(5 as never)).toThrow(/pipeline defaults.*5/);
    expect(() => pipeline(retry(), 5 as never)).toThrow(/argument 2.*5/);
    expect(() => pipeline(retry(), {} as never)).toThrow(/argument 2/);
  });
});

describe('pipeline: errors and signals pass through', () => {
  it('an error from the function reaches the caller unchanged through every policy', async () => {
    const clock = new ManualClock();
    const error = new Error('db down');
    const p = pipeline(
      { clock },
      retry({ retries: 2, backoff: constant(0) }),
      new CircuitBreaker({ clock, failureThreshold: 10 }),
      bulkhead({ maxConcurrent: 1 }),
      timeout(1_000),
    );
    let calls = 0;
    await expect(
      p.execute(() => {
        calls++;
        throw error;
      }),
    ).rejects.toBe(error);
    expect(calls).toBe(3);
    expect(clock.pendingTimers).toBe(0);
  });

  it("without a timeout, the innermost function gets the caller's own signal and key", async () => {
    const clock = new ManualClock();
    const log: string[] = [];
    const p = pipeline(
      { clock },
      tracer('t', log),
      retry(),
      new CircuitBreaker({ clock }),
      bulkhead({ maxConcurrent: 1 }),
      fallback('x'),
    );
    const controller = new AbortController();
    // The result type also admits the fallback's 'x'; this call succeeds, so it is the context.
    const ctx = (await p.execute((c) => c, { signal: controller.signal, key: 'orders:1' })) as ExecuteContext;
    expect(ctx.signal).toBe(controller.signal);
    expect(ctx.key).toBe('orders:1');
    expect(ctx.attempt).toBe(0);
  });

  it("with a timeout, the innermost signal aborts with the caller's reason", async () => {
    const clock = new ManualClock();
    const p = pipeline({ clock }, retry({ retries: 3 }), new CircuitBreaker({ clock }), timeout(1_000));
    const controller = new AbortController();
    let inner: AbortSignal | undefined;
    const call = p.execute(
      ({ signal }) =>
        new Promise((_, reject) => {
          inner = signal;
          signal.addEventListener('abort', () => reject(signal.reason));
        }),
      { signal: controller.signal },
    );
    await flushPromises();
    expect(inner).not.toBe(controller.signal);
    const reason = new Error('client went away');
    controller.abort(reason);
    await expect(call).rejects.toBe(reason);
    expect(inner?.reason).toBe(reason);
    expect(clock.pendingTimers).toBe(0);
  });

  it('a timeout inside retry gives each attempt its own signal', async () => {
    const clock = new ManualClock();
    const p = pipeline({ clock }, retry({ retries: 2, backoff: constant(10) }), timeout(100));
    const signals: AbortSignal[] = [];
    const attempts: number[] = [];
    const call = p.execute(({ signal, attempt }) => {
      signals.push(signal);
      attempts.push(attempt);
      if (attempt < 2)
        return new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason)));
      return 'third time lucky';
    });
    // Attempt 0 times out at 100; attempt 1 starts after a 10 ms delay.
    await clock.advanceAsync(110);
    expect(signals).toHaveLength(2);
    expect(signals[0]?.aborted).toBe(true);
    expect(signals[0]?.reason).toBeInstanceOf(TimeoutError);
    expect(signals[1]?.aborted).toBe(false);
    // Attempt 1 times out at 210; attempt 2 starts at 220.
    await clock.advanceAsync(110);
    await expect(call).resolves.toBe('third time lucky');
    expect(attempts).toEqual([0, 1, 2]);
    expect(new Set(signals).size).toBe(3);
    expect(signals[1]?.aborted).toBe(true);
    expect(signals[2]?.aborted).toBe(false);
    expect(clock.now()).toBe(220);
    expect(clock.pendingTimers).toBe(0);
  });

  it('a timeout around retry bounds all attempts together and stops the retrying', async () => {
    const clock = new ManualClock();
    const r = retry({ retries: 100, backoff: constant(30) });
    const p = pipeline({ clock }, timeout(100), r);
    let calls = 0;
    const call = p.execute(() => {
      calls++;
      throw new Error('flaky');
    });
    call.catch(() => {});
    await clock.advanceAsync(1_000);
    await expect(call).rejects.toBeInstanceOf(TimeoutError);
    expect(calls).toBe(4); // at 0, 30, 60, 90; the delay to 120 is cut at 100
    expect(clock.pendingTimers).toBe(0);
  });

  it('a fallback outside everything answers when the rest gives up', async () => {
    const clock = new ManualClock();
    const p = pipeline(
      { clock },
      fallback((error: unknown) => `fallback after ${(error as Error).message}`),
      retry({ retries: 1, backoff: constant(0) }),
      timeout(10),
    );
    await expect(
      p.execute(() => {
        throw new Error('two failures');
      }),
    ).resolves.toBe('fallback after two failures');
  });
});
