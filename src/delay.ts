import type { Clock } from './clock.js';
import { NEVER_ABORTED } from './policy.js';

/**
 * Resolves after `ms` on `clock`, or rejects with `signal.reason` as soon as `signal`
 * aborts. Either way the timer and the listener are gone once it settles.
 */
export function delay(clock: Clock, ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<void>((resolve, reject) => {
    if (signal === NEVER_ABORTED) {
      clock.setTimeout(resolve, ms);
      return;
    }
    const onAbort = () => {
      timer.clear();
      reject(signal.reason);
    };
    const timer = clock.setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
