import type { Clock } from './clock.js';
import type { Context } from './policy.js';

/**
 * Resolves after `ms` on `clock`, or rejects with the abort reason as soon as the call
 * that `context` describes aborts. Either way the timer and the abort follower are gone
 * once it settles, and no signal is built for it.
 */
export function delay(clock: Clock, ms: number, context: Context): Promise<void> {
  if (context.aborted) return Promise.reject(context.signal.reason);
  return new Promise<void>((resolve, reject) => {
    if (!context.abortable) {
      clock.setTimeout(resolve, ms);
      return;
    }
    const unfollow = context.onAbort((reason) => {
      timer.clear();
      reject(reason);
    });
    const timer = clock.setTimeout(() => {
      unfollow();
      resolve();
    }, ms);
  });
}
