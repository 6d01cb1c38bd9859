/** The warnings a test captures; `stop()` gives Node's own printer back. */
export interface CapturedWarnings extends Array<Error> {
  stop(): void;
}

/**
 * Captures process warnings (breakwater reports listener errors and bad callback answers
 * as warnings) instead of letting Node print them, so a test can assert on them and the
 * run's output stays clean. Warnings arrive on the next tick after they are emitted.
 */
export function captureWarnings(): CapturedWarnings {
  const previous = process.listeners('warning');
  process.removeAllListeners('warning');
  const captured = [] as unknown as CapturedWarnings;
  const listener = (warning: Error) => captured.push(warning);
  process.on('warning', listener);
  // Not enumerable, so `expect(captured).toEqual([])` compares the warnings alone.
  Object.defineProperty(captured, 'stop', {
    value: () => {
      process.off('warning', listener);
      for (const l of previous) process.on('warning', l);
    },
  });
  return captured;
}
