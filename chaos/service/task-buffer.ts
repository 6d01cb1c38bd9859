import { isBrokenCircuitError } from 'breakwater';
import { type Task, TaskJournal } from './journal.js';

/**
 * Where the service keeps the tasks it accepted (202) while the database cannot take them,
 * and how they reach the database later. Durable: a task is in it once `add` resolved.
 */
export interface TaskBuffer {
  /** What keeps the tasks, for the report. */
  readonly kind: string;
  /** Tasks found in it when the service started (left by a previous run). */
  readonly restored: number;
  /** Tasks waiting now. */
  depth(): number;
  add(task: Task): Promise<void>;
  /** Tries to move waiting tasks to the database now (the write breaker closed, a task arrived). */
  kick(): void;
  close(): Promise<void>;
}

/** Writes tasks to the database through the service's write policy; rejects when it cannot. */
export type StoreTasks = (tasks: readonly Task[]) => Promise<void>;

/** The service's own JSONL journal, drained in batches of 50 whenever the write breaker lets calls through. */
export async function journalBuffer(
  path: string,
  store: StoreTasks,
  onStored: (n: number) => void,
): Promise<TaskBuffer> {
  const journal = await TaskJournal.open(path);
  let draining = false;
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  function drain(): void {
    if (draining || closed || journal.size === 0) return;
    draining = true;
    if (timer) clearTimeout(timer);
    timer = undefined;
    void (async () => {
      try {
        while (journal.size > 0 && !closed) {
          const batch = journal.head(50);
          await store(batch);
          await journal.ack(batch.map((t) => t.id));
          onStored(batch.length);
        }
      } catch (error) {
        const wait = isBrokenCircuitError(error) ? Math.max(100, error.retryAfter) : 250;
        timer = setTimeout(drain, wait);
        timer.unref();
      } finally {
        draining = false;
      }
    })();
  }
  const buffer: TaskBuffer = {
    kind: 'journal file (JSONL, fdatasync per task)',
    restored: journal.size,
    depth: () => journal.size,
    async add(task) {
      await journal.add(task);
      drain();
    },
    kick: drain,
    async close() {
      closed = true;
      if (timer) clearTimeout(timer);
    },
  };
  drain();
  return buffer;
}
