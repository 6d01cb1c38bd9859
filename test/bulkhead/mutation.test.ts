import { describe, expect, it } from 'vitest';
import { BulkheadRejectedError, bulkhead, pipeline } from '../../src/index.js';
import { flushPromises, ManualClock } from '../../src/testing/index.js';

describe('bulkhead: options', () => {
  it('names the policy in the error for an unknown option', () => {
    expect(() => bulkhead({ maxConcurrent: 1, maxQeue: 2 } as never)).toThrow(
      /^bulkhead: unknown option "maxQeue"; known options are name, maxConcurrent, maxQueue, queueTimeout, clock$/,
    );
  });
});

describe('bulkhead: clock from a pipeline', () => {
  it('times queueTimeout on the clock a pipeline hands it', async () => {
    const clock = new ManualClock();
    const policy = bulkhead({ maxConcurrent: 1, maxQueue: 1, queueTimeout: 100 });
    const p = pipeline({ clock }, policy);
    const running = p.execute(() => new Promise<void>(() => {}));
    const queued = p.execute(() => 'never runs');
    queued.catch(() => {});
    await flushPromises();
    expect(policy.queued).toBe(1);
    expect(clock.pendingTimers).toBe(1);
    clock.advance(99);
    await flushPromises();
    expect(policy.queued).toBe(1);
    clock.advance(1);
    await expect(queued).rejects.toBeInstanceOf(BulkheadRejectedError);
    expect(policy.queued).toBe(0);
    void running;
  });

  it('keeps its own clock rather than the pipeline’s', async () => {
    const own = new ManualClock();
    const other = new ManualClock();
    const policy = bulkhead({ maxConcurrent: 1, maxQueue: 1, queueTimeout: 100, clock: own });
    const p = pipeline({ clock: other }, policy);
    void p.execute(() => new Promise<void>(() => {}));
    const queued = p.execute(() => 'never runs');
    queued.catch(() => {});
    await flushPromises();
    expect(other.pendingTimers).toBe(0);
    expect(own.pendingTimers).toBe(1);
    own.advance(100);
    await expect(queued).rejects.toBeInstanceOf(BulkheadRejectedError);
  });
});
