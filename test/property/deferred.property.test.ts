import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DeferredQueue, memoryStore } from '../../src/deferred/index.js';
import { constant } from '../../src/index.js';
import { PRIORITIES, PRIORITY_RANK, type Priority } from '../../src/policy.js';
import { ManualClock } from '../../src/testing/index.js';

const priority = fc.constantFrom(...PRIORITIES);

describe('DeferredQueue (property)', () => {
  it('ends every job exactly once, completed or dead-lettered, never past concurrency, holding no timer after', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ priority, delay: fc.integer({ min: 0, max: 50 }), failures: fc.nat(4) }), {
          maxLength: 25,
        }),
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 4 }),
        async (jobs, concurrency, maxAttempts) => {
          const clock = new ManualClock();
          let running = 0;
          let most = 0;
          const runs = new Map<number, number>();
          const completed: number[] = [];
          const queue = new DeferredQueue<number>({
            clock,
            concurrency,
            maxAttempts,
            backoff: constant(10),
            handler: async (job) => {
              running++;
              most = Math.max(most, running);
              await Promise.resolve();
              running--;
              const n = (runs.get(job.payload) ?? 0) + 1;
              runs.set(job.payload, n);
              if (n <= jobs[job.payload]!.failures) throw new Error(`fail ${n}`);
              completed.push(job.payload);
            },
          });
          const dead: string[] = [];
          queue.on('deadLettered', (e) => dead.push(e.id));
          const ids: string[] = [];
          for (const [i, job] of jobs.entries()) {
            ids.push(await queue.enqueue(i, { priority: job.priority, delay: job.delay }));
          }
          await clock.advanceAsync(0);
          for (let step = 0; step < 1_000 && (clock.pendingTimers > 0 || queue.inFlight > 0); step++) {
            await clock.advanceAsync(5);
          }
          await queue.drained();
          expect(most).toBeLessThanOrEqual(concurrency);
          const expectDone = jobs.flatMap((j, i) => (j.failures < maxAttempts ? [i] : []));
          expect([...completed].sort((a, b) => a - b)).toEqual(expectDone);
          const expectDead = jobs.flatMap((j, i) => (j.failures >= maxAttempts ? [ids[i]] : []));
          expect([...dead].sort()).toEqual([...expectDead].sort());
          for (const [i, job] of jobs.entries()) {
            expect(runs.get(i)).toBe(Math.min(job.failures + 1, maxAttempts));
          }
          expect(await queue.stats()).toMatchObject({
            depth: 0,
            inFlight: 0,
            deadLetters: expectDead.length,
          });
          expect(clock.pendingTimers).toBe(0);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('hands out due jobs as a priority-then-FIFO model does', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.oneof(
            fc.record({ op: fc.constant('add' as const), priority, runAt: fc.integer({ min: 0, max: 100 }) }),
            fc.record({ op: fc.constant('claim' as const), limit: fc.integer({ min: 1, max: 3 }) }),
            fc.record({ op: fc.constant('advance' as const), ms: fc.integer({ min: 1, max: 40 }) }),
          ),
          { maxLength: 60 },
        ),
        async (ops) => {
          const store = memoryStore();
          const model: { id: string; rank: number; order: number; runAt: number }[] = [];
          let now = 0;
          let order = 0;
          for (const o of ops) {
            if (o.op === 'add') {
              const added = await store.add(
                {
                  payload: null,
                  key: undefined,
                  priority: o.priority as Priority,
                  enqueuedAt: now,
                  runAt: o.runAt,
                },
                Number.POSITIVE_INFINITY,
              );
              if (added === 'full') throw new Error('full');
              model.push({
                id: added.id,
                rank: PRIORITY_RANK[o.priority as Priority],
                order: order++,
                runAt: o.runAt,
              });
            } else if (o.op === 'advance') {
              now += o.ms;
            } else {
              const due = model
                .filter((m) => m.runAt <= now)
                .sort((a, b) => a.rank - b.rank || a.order - b.order)
                .slice(0, o.limit);
              const claimed = await store.claim({ limit: o.limit, now, leaseMs: Number.POSITIVE_INFINITY });
              expect(claimed.map((c) => c.id)).toEqual(due.map((d) => d.id));
              for (const d of due) model.splice(model.indexOf(d), 1);
            }
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});
