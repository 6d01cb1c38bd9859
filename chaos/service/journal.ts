import { appendFile, open, readFile } from 'node:fs/promises';

/** A task the service accepted but could not write to the database yet. */
export interface Task {
  id: string;
  payload: string;
}

/**
 * A durable FIFO of tasks in a JSONL journal (`add` and `ack` records), the stand-in for
 * breakwater's DeferredQueue while that does not exist: `add` resolves once the record is
 * written and fdatasync'ed, so a task answered with 202 survives a SIGKILL of the service.
 * Loading ignores a torn last line.
 */
export class TaskJournal {
  private readonly pending = new Map<string, Task>();
  private chain: Promise<void> = Promise.resolve();

  private constructor(private readonly path: string) {}

  static async open(path: string): Promise<TaskJournal> {
    const journal = new TaskJournal(path);
    let text = '';
    try {
      text = await readFile(path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    for (const line of text.split('\n')) {
      if (line === '') continue;
      let record: { op: string; id: string; payload?: string };
      try {
        record = JSON.parse(line);
      } catch {
        continue; // a torn last line: that add never resolved, so no one was told it was kept
      }
      if (record.op === 'add')
        journal.pending.set(record.id, { id: record.id, payload: record.payload ?? '' });
      else if (record.op === 'ack') journal.pending.delete(record.id);
    }
    return journal;
  }

  get size(): number {
    return this.pending.size;
  }

  /** The oldest `n` tasks, in order. */
  head(n: number): Task[] {
    const out: Task[] = [];
    for (const task of this.pending.values()) {
      if (out.length >= n) break;
      out.push(task);
    }
    return out;
  }

  add(task: Task): Promise<void> {
    return this.write(`${JSON.stringify({ op: 'add', ...task })}\n`, true).then(() => {
      this.pending.set(task.id, task);
    });
  }

  ack(ids: readonly string[]): Promise<void> {
    for (const id of ids) this.pending.delete(id);
    // An ack that is lost only makes a task run twice: inserts are idempotent, so no fsync.
    return this.write(ids.map((id) => `${JSON.stringify({ op: 'ack', id })}\n`).join(''), false);
  }

  private write(text: string, sync: boolean): Promise<void> {
    const run = async () => {
      if (!sync) return appendFile(this.path, text);
      const handle = await open(this.path, 'a');
      try {
        await handle.appendFile(text);
        await handle.datasync();
      } finally {
        await handle.close();
      }
    };
    const next = this.chain.then(run, run);
    this.chain = next.catch(() => {});
    return next;
  }
}
