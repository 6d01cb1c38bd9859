import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type Backoff,
  BulkheadRejectedError,
  bulkhead,
  CircuitBreaker,
  constant,
  type ExecuteContext,
  exponential,
  fallback,
  isBulkheadRejectedError,
  pipeline,
  RetryBudget,
  retry,
  timeout,
} from '../../src/index.js';
import { flushPromises, ManualClock, seededRandom } from '../../src/testing/index.js';
import { type Settled, track } from '../helpers/promises.js';

const RUNS = { numRuns: 100 };

const backoffArb: fc.Arbitrary<{ name: string; make: () => Backoff }> = fc.oneof(
  fc.integer({ min: 0, max: 2_000 }).map((ms) => ({ name: `constant(${ms})`, make: () => constant(ms) })),
  fc
    .record({
      initial: fc.integer({ min: 0, max: 500 }),
      extra: fc.integer({ min: 0, max: 5_000 }),
      factor: fc.double({ min: 1, max: 4, noNaN: true }),
      jitter: fc.constantFrom('none' as const, 'full' as const, 'decorrelated' as const),
    })
    .map(({ initial, extra, factor, jitter }) => ({
      name: `exponential(${initial}, ${initial + extra}, ${factor}, ${jitter})`,
      make: () => exponential({ initial, max: initial + extra, factor, jitter }),
    })),
  fc.array(fc.integer({ min: 0, max: 3_000 }), { minLength: 1, maxLength: 5 }).map((delays) => ({
    name: `fn(${delays})`,
    make: () => (attempt: number) => delays[attempt % delays.length]!,
  })),
);

describe('property: retry', () => {
  it('calls fn at most retries + 1 times and never starts an attempt past maxElapsed', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          retries: fc.integer({ min: 0, max: 8 }),
          maxElapsed: fc.option(fc.integer({ min: 0, max: 1_500 }), { nil: undefined, freq: 5 }),
          backoff: backoffArb,
          seed: fc.integer(),
          // Per attempt: how long it runs, whether it fails, and the retryAfter its error carries.
          attempts: fc.array(
            fc.record({
              duration: fc.integer({ min: 0, max: 500 }),
              fails: fc.boolean(),
              retryAfter: fc.option(fc.integer({ min: 0, max: 3_000 }), { nil: undefined }),
            }),
            { minLength: 1, maxLength: 12 },
          ),
        }),
        async ({ retries, maxElapsed, backoff, seed, attempts }) => {
          const clock = new ManualClock(1_000);
          const policy = retry({
            clock,
            retries,
            maxElapsed,
            backoff: backoff.make(),
            random: seededRandom(seed),
          });
          const starts: number[] = [];
          const errors: Error[] = [];
          let waited = 0;
          policy.on('retried', (e) => {
            waited += e.delay;
          });
          const p = policy.execute(
            ({ attempt }) =>
              new Promise<string>((resolve, reject) => {
                starts.push(clock.now());
                const plan = attempts[Math.min(attempt, attempts.length - 1)]!;
                clock.setTimeout(() => {
                  if (!plan.fails) return resolve(`ok@${attempt}`);
                  const error = Object.assign(new Error(`fail@${attempt}`), { retryAfter: plan.retryAfter });
                  errors.push(error);
                  reject(error);
                }, plan.duration);
              }),
          );
          const settled = track(p);
          await clock.advanceAsync(10_000_000);
          const outcome = settled();
          expect(outcome.state).not.toBe('pending');
          expect(starts.length).toBeLessThanOrEqual(retries + 1);
          if (maxElapsed !== undefined) {
            for (const s of starts) expect(s - 1_000).toBeLessThanOrEqual(maxElapsed);
            expect(waited).toBeLessThanOrEqual(maxElapsed);
          }
          if (outcome.state === 'rejected') expect(outcome.value).toBe(errors[errors.length - 1]);
          else expect(outcome).toEqual({ state: 'fulfilled', value: `ok@${starts.length - 1}` });
          expect(clock.pendingTimers).toBe(0);
        },
      ),
      RUNS,
    );
  });

  it('with a budget, retries over any ttl stay within ratio * first attempts + minPerSecond * ttl', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          ratio: fc.constantFrom(0, 0.1, 0.2, 0.5, 1),
          minPerSecond: fc.integer({ min: 0, max: 5 }),
          ttlSeconds: fc.integer({ min: 1, max: 5 }),
          retries: fc.integer({ min: 0, max: 5 }),
          policies: fc.integer({ min: 1, max: 3 }),
          calls: fc.array(
            fc.record({
              gap: fc.integer({ min: 0, max: 1_500 }),
              via: fc.nat(),
              failures: fc.integer({ min: 0, max: 8 }),
            }),
            { minLength: 1, maxLength: 60 },
          ),
        }),
        async ({ ratio, minPerSecond, ttlSeconds, retries, policies, calls }) => {
          const ttl = ttlSeconds * 1_000;
          const clock = new ManualClock();
          const budget = new RetryBudget({ ratio, minPerSecond, ttl, clock });
          // One budget shared by several retry policies.
          const retryPolicies = Array.from({ length: policies }, () =>
            retry({ clock, budget, retries, backoff: constant(0) }),
          );
          const firsts: number[] = [];
          const retried: number[] = [];
          for (const call of calls) {
            clock.advance(call.gap);
            let failuresLeft = call.failures;
            await retryPolicies[call.via % policies]!.execute(({ attempt }) => {
              (attempt === 0 ? firsts : retried).push(clock.now());
              if (failuresLeft-- > 0) throw new Error('fail');
              return 'ok';
            }).catch(() => {});
          }
          const reserve = (minPerSecond * ttl) / 1_000;
          const bucket = ttl / 10;
          for (const t of retried) {
            // The budget sees at least the last ttl - one bucket of retries, and at most the last ttl of first attempts.
            const recentRetries = retried.filter((r) => r >= t - (ttl - bucket) && r <= t).length;
            const recentFirsts = firsts.filter((f) => f > t - ttl && f <= t).length;
            expect(recentRetries).toBeLessThanOrEqual(ratio * recentFirsts + reserve + 1e-9);
          }
          if (calls.every((c, i) => i === 0 || c.gap === 0)) {
            expect(retried.length).toBeLessThanOrEqual(Math.floor(ratio * firsts.length + reserve + 1e-9));
          }
        },
      ),
      RUNS,
    );
  });
});

type Command =
  | { readonly type: 'call'; readonly abortable: boolean }
  | { readonly type: 'abort'; readonly index: number }
  | { readonly type: 'finish'; readonly index: number; readonly ok: boolean }
  | { readonly type: 'advance'; readonly ms: number };

const commandArb: fc.Arbitrary<Command> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ type: fc.constant('call' as const), abortable: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ type: fc.constant('abort' as const), index: fc.nat() }) },
  {
    weight: 3,
    arbitrary: fc.record({ type: fc.constant('finish' as const), index: fc.nat(), ok: fc.boolean() }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ type: fc.constant('advance' as const), ms: fc.integer({ min: 1, max: 60 }) }),
  },
);

interface Call {
  readonly index: number;
  readonly controller: AbortController | undefined;
  readonly reason: Error;
  readonly error: Error;
  runs: number;
  running: boolean;
  finish?: (ok: boolean) => void;
  settled: () => Settled;
  fullAtCall: boolean;
}

describe('property: bulkhead', () => {
  it('never runs more than maxConcurrent at once and never loses or duplicates a call under random aborts', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          maxConcurrent: fc.integer({ min: 1, max: 4 }),
          maxQueue: fc.integer({ min: 0, max: 5 }),
          queueTimeout: fc.option(fc.integer({ min: 0, max: 100 }), { nil: undefined }),
          commands: fc.array(commandArb, { minLength: 1, maxLength: 60 }),
        }),
        async ({ maxConcurrent, maxQueue, queueTimeout, commands }) => {
          const clock = new ManualClock();
          const policy = bulkhead({ clock, maxConcurrent, maxQueue, queueTimeout });
          const calls: Call[] = [];
          const startOrder: number[] = [];
          let running = 0;
          let maxSeen = 0;
          const runningCalls = () => calls.filter((c) => c.running);
          const check = () => {
            expect(policy.inFlight).toBe(running);
            expect(policy.inFlight).toBeLessThanOrEqual(maxConcurrent);
            const waiting = calls.filter((c) => c.runs === 0 && c.settled().state === 'pending').length;
            expect(policy.queued).toBe(waiting);
            expect(policy.queued).toBeLessThanOrEqual(maxQueue);
          };
          for (const command of commands) {
            if (command.type === 'call') {
              const index = calls.length;
              const controller = command.abortable ? new AbortController() : undefined;
              const call: Call = {
                index,
                controller,
                reason: new Error(`abort ${index}`),
                error: new Error(`error ${index}`),
                runs: 0,
                running: false,
                settled: () => ({ state: 'pending' }),
                fullAtCall: policy.inFlight === maxConcurrent && policy.queued === maxQueue,
              };
              calls.push(call);
              const p = policy.execute(
                () =>
                  new Promise<string>((resolve, reject) => {
                    call.runs++;
                    call.running = true;
                    startOrder.push(index);
                    running++;
                    maxSeen = Math.max(maxSeen, running);
                    call.finish = (ok) => {
                      call.running = false;
                      running--;
                      if (ok) resolve(`value ${index}`);
                      else reject(call.error);
                    };
                  }),
                { signal: controller?.signal },
              );
              call.settled = track(p);
            } else if (command.type === 'abort') {
              if (calls.length === 0) continue;
              const call = calls[command.index % calls.length]!;
              call.controller?.abort(call.reason);
            } else if (command.type === 'finish') {
              const live = runningCalls();
              if (live.length === 0) continue;
              live[command.index % live.length]!.finish!(command.ok);
            } else {
              clock.advance(command.ms);
            }
            await flushPromises();
            check();
          }
          // Drain: finish whatever runs until nothing runs or waits.
          for (let guard = 0; runningCalls().length > 0; guard++) {
            expect(guard).toBeLessThan(1_000);
            for (const c of runningCalls()) c.finish!(true);
            await flushPromises();
            check();
          }
          expect(maxSeen).toBeLessThanOrEqual(maxConcurrent);
          expect([policy.inFlight, policy.queued]).toEqual([0, 0]);
          expect(clock.pendingTimers).toBe(0);
          // FIFO: calls start in the order they arrived.
          expect(startOrder).toEqual([...startOrder].sort((a, b) => a - b));
          for (const call of calls) {
            const outcome = call.settled();
            expect(outcome.state).not.toBe('pending');
            expect(call.runs).toBeLessThanOrEqual(1);
            if (call.runs === 1) {
              // A call that ran answers what its function answered.
              if (outcome.state === 'fulfilled') expect(outcome.value).toBe(`value ${call.index}`);
              else expect((outcome as { value: unknown }).value).toBe(call.error);
            } else {
              // A call that never ran was turned away, timed out in the queue, or aborted.
              expect(outcome.state).toBe('rejected');
              const error = (outcome as { value: unknown }).value;
              if (isBulkheadRejectedError(error)) {
                expect(error).toBeInstanceOf(BulkheadRejectedError);
                if (error.reason === 'full') expect(call.fullAtCall).toBe(true);
                else expect(queueTimeout).not.toBeUndefined();
              } else {
                expect(error).toBe(call.reason);
              }
            }
          }
        },
      ),
      RUNS,
    );
  });
});

type Step =
  | { readonly kind: 'ok' | 'fail'; readonly after: number }
  | { readonly kind: 'throw' }
  | { readonly kind: 'hang' }
  | { readonly kind: 'never' };

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  fc.record({
    kind: fc.constantFrom('ok' as const, 'fail' as const),
    after: fc.integer({ min: 0, max: 200 }),
  }),
  fc.constant({ kind: 'throw' as const }),
  fc.constant({ kind: 'hang' as const }),
  fc.constant({ kind: 'never' as const }),
);

describe('property: pipeline', () => {
  it('fallback + retry + breaker + timeout always settles, whatever the calls do', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          retries: fc.integer({ min: 0, max: 3 }),
          backoff: fc.integer({ min: 0, max: 80 }),
          failureThreshold: fc.integer({ min: 1, max: 3 }),
          openTimeout: fc.integer({ min: 0, max: 300 }),
          ms: fc.integer({ min: 1, max: 150 }),
          strategy: fc.constantFrom('cooperative' as const, 'aggressive' as const),
          steps: fc.array(stepArb, { minLength: 1, maxLength: 20 }),
          calls: fc.array(
            fc.record({
              start: fc.integer({ min: 0, max: 500 }),
              abortAt: fc.option(fc.integer({ min: 0, max: 800 }), { nil: undefined }),
            }),
            { minLength: 1, maxLength: 8 },
          ),
        }),
        async ({ retries, backoff, failureThreshold, openTimeout, ms, strategy, steps, calls }) => {
          const clock = new ManualClock();
          const FALLBACK = 'fallback';
          const policy = pipeline(
            { clock },
            fallback(FALLBACK),
            retry({ retries, backoff: constant(backoff) }),
            new CircuitBreaker({ clock, failureThreshold, openTimeout }),
            timeout({ ms, strategy }),
          );
          // A function that never settles, even when aborted, would hang a cooperative timeout by design.
          const usable = strategy === 'aggressive' ? steps : steps.filter((s) => s.kind !== 'never');
          const plan = usable.length > 0 ? usable : [{ kind: 'ok', after: 0 } as Step];
          let next = 0;
          const fn = ({ signal }: ExecuteContext): Promise<string> | string => {
            const step = plan[next++ % plan.length]!;
            if (step.kind === 'throw') throw new Error('sync');
            if (step.kind === 'never') return new Promise(() => {});
            return new Promise<string>((resolve, reject) => {
              const onAbort = () => {
                timer?.clear();
                reject(signal.reason);
              };
              const timer =
                step.kind === 'hang'
                  ? undefined
                  : clock.setTimeout(() => {
                      signal.removeEventListener('abort', onAbort);
                      if (step.kind === 'ok') resolve('value');
                      else reject(new Error('failed'));
                    }, step.after);
              signal.addEventListener('abort', onAbort, { once: true });
            });
          };
          const results: (() => Settled)[] = [];
          const reasons: Error[] = [];
          for (const [i, c] of calls.entries()) {
            const controller = new AbortController();
            const reason = new Error(`caller ${i} aborted`);
            reasons.push(reason);
            clock.setTimeout(() => {
              results[i] = track(policy.execute(fn, { signal: controller.signal }));
            }, c.start);
            if (c.abortAt !== undefined) clock.setTimeout(() => controller.abort(reason), c.abortAt);
          }
          const allSettled = () =>
            results.length === calls.length &&
            calls.every((_, i) => results[i] !== undefined && results[i]!().state !== 'pending');
          for (let round = 0; round < 200 && !allSettled(); round++) await clock.advanceAsync(1_000);
          expect(allSettled()).toBe(true);
          for (const [i, settled] of results.entries()) {
            const outcome = settled();
            if (outcome.state === 'fulfilled') expect(['value', FALLBACK]).toContain(outcome.value);
            // The fallback catches everything but the caller's own abort.
            else expect((outcome as { value: unknown }).value).toBe(reasons[i]);
          }
          expect(clock.pendingTimers).toBe(0);
        },
      ),
      RUNS,
    );
  });
});
