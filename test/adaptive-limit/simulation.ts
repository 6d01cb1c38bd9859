import type { AdaptiveLimitPolicy } from '../../src/adaptive-limit/index.js';
import type { RandomSource } from '../../src/clock.js';
import { flushPromises, type ManualClock, seededRandom } from '../../src/testing/index.js';

/**
 * A dependency with a fixed capacity on a ManualClock: `capacity` calls are served at once,
 * each in `latency` ms on average (uniform between half and one and a half times it, from a
 * seeded source); the rest wait in its own FIFO queue, so latency grows with the calls sent
 * beyond capacity (as a database with a fixed number of workers does). Varied service times
 * keep calls from moving in lockstep cohorts, which no real dependency does.
 */
export class Dependency {
  capacity: number;
  private busy = 0;
  private readonly waiting: (() => void)[] = [];
  served = 0;

  private readonly random: RandomSource;

  constructor(
    private readonly clock: ManualClock,
    capacity: number,
    readonly latency: number,
    seed = 1,
  ) {
    this.capacity = capacity;
    this.random = seededRandom(seed);
  }

  readonly call = (): Promise<void> =>
    new Promise<void>((resolve) => {
      this.waiting.push(resolve);
      this.dispatch();
    });

  private dispatch(): void {
    while (this.busy < this.capacity && this.waiting.length > 0) {
      const done = this.waiting.shift()!;
      this.busy++;
      this.clock.setTimeout(
        () => {
          this.busy--;
          this.served++;
          done();
          this.dispatch();
        },
        Math.round(this.latency * (0.5 + this.random())),
      );
    }
  }
}

/**
 * A closed-loop load: `clients` callers, each calling again as soon as its call settles
 * (or `pause` ms after a rejection). Steps the clock 1 ms at a time for `ms`, letting the
 * promise chains run between steps; `each(t)` runs after every step.
 */
export async function drive(
  clock: ManualClock,
  limit: AdaptiveLimitPolicy,
  dependency: Dependency,
  options: { clients: number; ms: number; each?: (t: number) => void; pause?: number },
  state: { stop: boolean } = { stop: false },
): Promise<void> {
  const client = async (): Promise<void> => {
    while (!state.stop) {
      try {
        await limit.execute(dependency.call);
      } catch {
        await new Promise<void>((resolve) => clock.setTimeout(resolve, options.pause ?? 1));
      }
    }
  };
  const clients = Array.from({ length: options.clients }, client);
  for (let t = 0; t < options.ms; t++) {
    clock.advance(1);
    await flushPromises();
    options.each?.(t);
  }
  state.stop = true;
  // Let every client finish its last call.
  while (limit.inFlight + limit.queued > 0) {
    clock.advance(1);
    await flushPromises();
  }
  clock.advance(options.pause ?? 1);
  await flushPromises();
  await Promise.all(clients);
}
