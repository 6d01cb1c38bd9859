/**
 * Undo actions (kill a server, unmount, delete a namespace), run newest first when a scenario
 * ends, fails or is interrupted. Each runs once; one that throws does not stop the others.
 */
export class Cleanup {
  private readonly actions: { name: string; run: () => unknown }[] = [];

  add(name: string, run: () => unknown): () => Promise<void> {
    const entry = { name, run };
    this.actions.push(entry);
    // Running one early (a server stopped on purpose) removes it from the list.
    return async () => {
      const i = this.actions.indexOf(entry);
      if (i < 0) return;
      this.actions.splice(i, 1);
      await entry.run();
    };
  }

  get size(): number {
    return this.actions.length;
  }

  /** Runs every action, newest first; returns the errors of those that failed, by name. */
  async runAll(): Promise<string[]> {
    const errors: string[] = [];
    while (this.actions.length > 0) {
      const { name, run } = this.actions.pop()!;
      try {
        await run();
      } catch (error) {
        errors.push(`${name}: ${(error as Error).message}`);
      }
    }
    return errors;
  }
}
