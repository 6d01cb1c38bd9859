import { getEventListeners } from 'node:events';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CircuitBreaker, constant, type ExecuteContext, pipeline, retry, timeout } from '../src/index.js';
import { flushPromises, ManualClock } from '../src/testing/index.js';
import { type CapturedWarnings, captureWarnings } from './helpers/warnings.js';

const CALLS = 10_000;
const CONCURRENCY = 4;

let warnings: Error[] = [];
let captured: CapturedWarnings | undefined;
// Captured, not printed: the first test raises a real warning on purpose, and a newcomer's run stays clean.
beforeEach(() => {
  captured = captureWarnings();
  warnings = captured;
});
afterEach(() => {
  captured?.stop();
});

const abortListeners = (signal: AbortSignal) => getEventListeners(signal, 'abort').length;
const liveTimeouts = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

/** Waits until pending promise callbacks and warnings (emitted on the next tick) have run. */
async function drain(): Promise<void> {
  await flushPromises();
  await new Promise<void>((resolve) => process.nextTick(resolve));
  await flushPromises();
}

describe('leaks', () => {
  it('the warning detector sees a real MaxListenersExceededWarning on an AbortSignal', async () => {
    const signal = new AbortController().signal;
    for (let i = 0; i < 11; i++) signal.addEventListener('abort', () => {});
    await drain();
    expect(warnings.map((w) => w.name)).toContain('MaxListenersExceededWarning');
  });

  it(`${CALLS} calls through pipeline(retry, breaker, timeout) on a ManualClock leave no listener and no timer`, async () => {
    const clock = new ManualClock();
    const breaker = new CircuitBreaker({ clock, failureThreshold: 5, openTimeout: 50 });
    const policy = pipeline(
      { clock },
      retry({ retries: 2, backoff: constant(5) }),
      breaker,
      timeout({ ms: 20, strategy: 'cooperative' }),
    );
    const controller = new AbortController();
    const { signal } = controller;
    const outcomes = { fulfilled: 0, rejected: 0 };
    let opened = 0;
    breaker.on('stateChanged', (e) => {
      if (e.to === 'open') opened++;
    });
    let timedOut = 0;
    (policy.policies[2] as ReturnType<typeof timeout>).on('timedOut', () => timedOut++);

    /** Each call does one of: succeed, fail once then succeed, hang until aborted, fail synchronously, succeed later. */
    const work = (kind: number) => {
      let calls = 0;
      return ({ signal: inner }: ExecuteContext): string | Promise<string> => {
        calls++;
        switch (kind) {
          case 0:
            return 'now';
          case 1:
            if (calls === 1) return Promise.reject(new Error('once'));
            return 'second';
          case 2:
            return new Promise((_, reject) => {
              inner.addEventListener('abort', () => reject(inner.reason), { once: true });
            });
          case 3:
            throw new Error('sync');
          default:
            return new Promise((resolve, reject) => {
              const onAbort = () => {
                timer.clear();
                reject(inner.reason);
              };
              const timer = clock.setTimeout(() => {
                inner.removeEventListener('abort', onAbort);
                resolve('later');
              }, 5);
              inner.addEventListener('abort', onAbort, { once: true });
            });
        }
      };
    };

    let maxListeners = 0;
    for (let started = 0; started < CALLS; started += CONCURRENCY) {
      let pending = 0;
      // One kind per batch, so that a batch of quick calls ends before any timer they left would fire.
      const kind = (started / CONCURRENCY) % 5;
      for (let i = started; i < Math.min(CALLS, started + CONCURRENCY); i++) {
        pending++;
        policy.execute(work(kind), { signal }).then(
          () => {
            outcomes.fulfilled++;
            pending--;
          },
          () => {
            outcomes.rejected++;
            pending--;
          },
        );
      }
      maxListeners = Math.max(maxListeners, abortListeners(signal));
      await flushPromises();
      for (let round = 0; pending > 0; round++) {
        expect(round).toBeLessThan(200);
        await clock.advanceAsync(5);
        maxListeners = Math.max(maxListeners, abortListeners(signal));
      }
      // Once a batch has settled, nothing it set may remain.
      expect(abortListeners(signal)).toBe(0);
      expect(clock.pendingTimers).toBe(0);
    }
    await drain();

    expect(outcomes.fulfilled + outcomes.rejected).toBe(CALLS);
    // The run went through every path: successes, failures, timeouts and an open breaker.
    expect(outcomes.fulfilled).toBeGreaterThan(0);
    expect(outcomes.rejected).toBeGreaterThan(0);
    expect(timedOut).toBeGreaterThan(0);
    expect(opened).toBeGreaterThan(0);
    expect(maxListeners).toBeGreaterThan(0);
    expect(maxListeners).toBeLessThanOrEqual(2 * CONCURRENCY);

    expect(abortListeners(signal)).toBe(0);
    expect(clock.pendingTimers).toBe(0);
    expect(warnings).toEqual([]);
  });

  it(`${CALLS} calls on the system clock leave no live Timeout and no listener`, async () => {
    const policy = pipeline(
      retry({ retries: 1, backoff: constant(0) }),
      new CircuitBreaker({ failureThreshold: 1_000_000 }),
      timeout(60_000),
    );
    const controller = new AbortController();
    const { signal } = controller;
    const before = liveTimeouts();
    let fulfilled = 0;
    let maxTimeouts = 0;
    for (let started = 0; started < CALLS; started += CONCURRENCY) {
      const batch: Promise<unknown>[] = [];
      for (let i = started; i < started + CONCURRENCY; i++) {
        let calls = 0;
        batch.push(
          policy.execute(
            async () => {
              calls++;
              if (i % 2 === 1 && calls === 1) throw new Error('once');
              return i;
            },
            { signal },
          ),
        );
      }
      maxTimeouts = Math.max(maxTimeouts, liveTimeouts() - before);
      for (const r of await Promise.all(batch)) if (typeof r === 'number') fulfilled++;
    }
    await drain();
    expect(fulfilled).toBe(CALLS);
    // The timeouts were live while their calls ran ...
    expect(maxTimeouts).toBeGreaterThan(0);
    // ... and none is left behind.
    expect(liveTimeouts()).toBeLessThanOrEqual(before);
    expect(abortListeners(signal)).toBe(0);
    expect(warnings).toEqual([]);
  });

  it('calls whose own signals abort mid-flight leave no listener on them', async () => {
    const clock = new ManualClock();
    const policy = pipeline(
      { clock },
      retry({ retries: 3, backoff: constant(10) }),
      new CircuitBreaker({ clock, failureThreshold: 100_000 }), // never opens: every call must end by its own abort
      timeout({ ms: 50, strategy: 'aggressive' }),
    );
    const controllers: AbortController[] = [];
    const settled: Promise<unknown>[] = [];
    for (let i = 0; i < 1_000; i++) {
      const controller = new AbortController();
      controllers.push(controller);
      settled.push(
        policy
          .execute(
            ({ signal }) =>
              new Promise((_, reject) => {
                // Fails after 3 ms, so aborts land in attempts and in backoff delays alike.
                const timer = clock.setTimeout(() => reject(new Error('fail')), 3);
                signal.addEventListener('abort', () => timer.clear(), { once: true });
              }),
            { signal: controller.signal },
          )
          .catch((e: unknown) => e),
      );
      clock.setTimeout(() => controller.abort(new Error(`abort ${i}`)), i % 40);
    }
    await clock.advanceAsync(1_000);
    const errors = await Promise.all(settled);
    for (const [i, error] of errors.entries()) expect((error as Error).message).toBe(`abort ${i}`);
    for (const c of controllers) expect(abortListeners(c.signal)).toBe(0);
    expect(clock.pendingTimers).toBe(0);
    await drain();
    expect(warnings).toEqual([]);
  });
});
