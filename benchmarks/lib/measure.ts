import { measure } from 'mitata';

export interface MeasureOptions {
  /** ms of CPU time to spend per measurement. */
  readonly budgetMs: number;
}

/**
 * Mean ns per iteration of `fn`, by mitata (which batches fast functions and awaits
 * promises). The mean, not the median of samples: garbage collection is part of what an
 * allocation costs, and a median of samples would leave it out. Noise is handled by
 * alternating rounds and fresh processes, and by the median across those.
 */
export async function nsPerIteration(fn: () => unknown, options: MeasureOptions): Promise<number> {
  const stats = await measure(fn, {
    min_cpu_time: options.budgetMs * 1e6,
    // Fewer iterations per sample than mitata's 4,096, so a slow contender (opossum's failure
    // path grows with the calls in its window) cannot stretch a measurement to minutes.
    batch_samples: 256,
    min_samples: 8,
    warmup_samples: 2,
  });
  return stats.avg;
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}
