/**
 * The latest `size` latencies in a ring, and a percentile of them. Sorting a copy costs
 * O(size log size), so the percentile is recomputed only after a tenth of the ring has been
 * replaced: per call that is O(log size) amortised, and memory is `8 * size` bytes for good.
 */
export class LatencyRing {
  private readonly samples: Float64Array;
  private readonly scratch: Float64Array;
  private count = 0;
  private next = 0;
  private fresh = 0;
  private cached: number | undefined = undefined;
  private readonly refresh: number;

  constructor(
    private readonly size: number,
    private readonly percentile: number,
    private readonly minSamples: number,
  ) {
    this.samples = new Float64Array(size);
    this.scratch = new Float64Array(size);
    this.refresh = Math.max(1, Math.floor(size / 10));
  }

  /** Samples recorded so far, at most `size`. */
  get length(): number {
    return this.count;
  }

  record(ms: number): void {
    this.samples[this.next] = ms;
    this.next = (this.next + 1) % this.size;
    if (this.count < this.size) this.count++;
    this.fresh++;
  }

  /** The percentile of the samples held (nearest rank), or `undefined` before `minSamples`. */
  value(): number | undefined {
    if (this.count < this.minSamples) return undefined;
    if (this.cached === undefined || this.fresh >= this.refresh) {
      const sorted = this.scratch.subarray(0, this.count);
      sorted.set(this.samples.subarray(0, this.count));
      sorted.sort();
      this.cached = sorted[Math.max(0, Math.ceil(this.percentile * this.count) - 1)]!;
      this.fresh = 0;
    }
    return this.cached;
  }
}
