/**
 * Collects process warnings in `warnings` instead of letting Node print them, until
 * `restore()`. Node emits a warning on the next tick, so let one pass before reading.
 */
export function captureWarnings(): { readonly warnings: Error[]; restore(): void } {
  const saved = process.listeners('warning');
  process.removeAllListeners('warning'); // Node's own listener prints to stderr
  const warnings: Error[] = [];
  const collect = (warning: Error) => warnings.push(warning);
  process.on('warning', collect);
  return {
    warnings,
    restore() {
      process.off('warning', collect);
      for (const listener of saved) process.on('warning', listener);
    },
  };
}
