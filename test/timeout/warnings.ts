import { onTestFinished } from 'vitest';

/**
 * Collects, for the running test, process warnings (a throwing listener's ListenerError) in place of Node's
 * printer, so that tests can assert them and the output stays clean. Warnings arrive on
 * the next tick: await `flushPromises()` before reading `warnings`.
 */
export function captureWarnings(): Error[] {
  const warnings: Error[] = [];
  const saved = process.listeners('warning');
  const capture = (warning: Error) => warnings.push(warning);
  process.removeAllListeners('warning');
  process.on('warning', capture);
  onTestFinished(() => {
    process.off('warning', capture);
    for (const listener of saved) process.on('warning', listener);
  });
  return warnings;
}
