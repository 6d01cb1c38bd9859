import { createHook } from 'node:async_hooks';

/** Set while this module sets a timer of its own (to poll), which `watchTimers` leaves out. */
let polling = false;

export async function sleep(ms: number): Promise<void> {
  await new Promise((resolve) => {
    polling = true;
    try {
      setTimeout(resolve, ms);
    } finally {
      polling = false;
    }
  });
}

/** Polls `check` until it holds; fails naming `what` (and the `state` then) if it does not within `ms`. */
export async function until(
  what: string,
  check: () => boolean | Promise<boolean>,
  ms = 3_000,
  state: () => string = () => '',
): Promise<void> {
  const deadline = performance.now() + ms;
  while (!(await check())) {
    if (performance.now() > deadline) throw new Error(`not within ${ms} ms: ${what} ${state()}`);
    await sleep(20);
  }
}

/** TCP sockets open in this process (the test runner talks to its workers over pipes, not TCP). */
export function sockets(): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap').length;
}

/**
 * Counts the timers created from now on that are still pending, until `stop()`: only
 * those, so that the runner's own timers do not count. `sleep`'s are left out.
 */
export function watchTimers(): { pending: () => number; where: () => string[]; stop: () => void } {
  // Where each was set, for a failure message.
  const live = new Map<number, string>();
  const hook = createHook({
    init(id, type) {
      if (type === 'Timeout' && !polling)
        live.set(id, new Error().stack?.split('\n').slice(3, 7).join(' < ') ?? '');
    },
    destroy(id) {
      live.delete(id);
    },
  }).enable();
  return { pending: () => live.size, where: () => [...live.values()], stop: () => hook.disable() };
}
