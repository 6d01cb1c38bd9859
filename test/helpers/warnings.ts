import { onTestFinished } from 'vitest';

/** The warnings a test captures; `stop()` gives Node's own printer back (also done when the test ends). */
export interface CapturedWarnings extends Array<Error> {
  stop(): void;
}

/**
 * Captures process warnings (breakwater reports listener errors and bad callback answers
 * as warnings) instead of letting Node print them, so a test can assert on them and the
 * run's output stays clean. Warnings arrive on the next tick after they are emitted: let
 * one pass (`flushPromises()`) before reading.
 */
export function captureWarnings(): CapturedWarnings {
  const previous = process.listeners('warning');
  process.removeAllListeners('warning'); // Node's own listener prints to stderr
  const captured = [] as unknown as CapturedWarnings;
  const listener = (warning: Error) => captured.push(warning);
  process.on('warning', listener);
  let stopped = false;
  const stop = () => {
    if (stopped) return;
    stopped = true;
    process.off('warning', listener);
    for (const l of previous) process.on('warning', l);
  };
  // Not enumerable, so `expect(captured).toEqual([])` compares the warnings alone.
  Object.defineProperty(captured, 'stop', { value: stop });
  try {
    onTestFinished(stop);
  } catch {
    // called from a hook rather than a test: the caller stops it
  }
  return captured;
}
