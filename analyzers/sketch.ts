/**
 * Bounded summaries that let every analyzer stream a capture of any size in
 * constant memory: a log-scale latency histogram (percentiles within a few
 * per cent), a weighted space-saving top-K sketch, a time-bucketed series
 * whose bucket width doubles as the capture goes on, and a size-capped map
 * that counts what it had to turn away.
 *
 * @module
 */

/** Sub-buckets per power of two: relative bucket width 1/16, so percentiles are within ~3%. */
const SUB_BITS = 4;
const SUB = 1 << SUB_BITS;
/** Powers of two covered: every u64 (larger values share the last bucket). */
const OCTAVES = 64;

/** A percentile summary of a {@linkcode LogHistogram}. */
export interface HistogramSummary {
  /** Values recorded. */
  count: number;
  /** Smallest value (0 when empty). */
  min: number;
  /** Largest value (0 when empty). */
  max: number;
  /** Mean value (0 when empty). */
  mean: number;
  /** Median. */
  p50: number;
  /** 90th percentile. */
  p90: number;
  /** 99th percentile. */
  p99: number;
}

/** One bucket of a histogram, for plotting. */
export interface HistogramBucket {
  /** Lowest value that falls in the bucket. */
  low: number;
  /** First value above the bucket. */
  high: number;
  /** Values in the bucket. */
  count: number;
}

/**
 * A fixed log-scale histogram of non-negative values (latencies in ns):
 * {@link SUB} buckets per power of two, so memory is fixed (1040 counters)
 * and a percentile is off by at most half a bucket (about 3%); min, max
 * and the mean are exact.
 *
 * @example
 * ```ts
 * import { LogHistogram } from "./sketch.ts";
 * const h = new LogHistogram();
 * for (let i = 1; i <= 1000; i++) h.add(i * 1000);
 * console.log(h.summary().p50); // about 500000
 * ```
 */
export class LogHistogram {
  #counts = new Float64Array(OCTAVES * SUB + SUB);
  #count = 0;
  #sum = 0;
  #min = Infinity;
  #max = 0;

  /** Records one value (negative values count as 0). */
  add(value: number): void {
    const v = value > 0 ? value : 0;
    this.#counts[bucketOf(v)]++;
    this.#count++;
    this.#sum += v;
    if (v < this.#min) this.#min = v;
    if (v > this.#max) this.#max = v;
  }

  /** Values recorded. */
  get count(): number {
    return this.#count;
  }

  /** The value at quantile `q` (0..1), from the bucket that holds it, clamped to [min, max]. */
  quantile(q: number): number {
    if (this.#count === 0) return 0;
    const rank = Math.max(1, Math.ceil(q * this.#count));
    let seen = 0;
    const c = this.#counts;
    for (let i = 0; i < c.length; i++) {
      seen += c[i];
      if (seen >= rank) {
        const [lo, hi] = bucketBounds(i);
        const mid = i < SUB ? lo : Math.sqrt(lo * hi); // small values have exact buckets
        return Math.min(this.#max, Math.max(this.#min, mid));
      }
    }
    return this.#max;
  }

  /** Count, min, max, mean and the usual percentiles. */
  summary(): HistogramSummary {
    const n = this.#count;
    return {
      count: n,
      min: n === 0 ? 0 : this.#min,
      max: this.#max,
      mean: n === 0 ? 0 : this.#sum / n,
      p50: this.quantile(0.5),
      p90: this.quantile(0.9),
      p99: this.quantile(0.99),
    };
  }

  /**
   * The non-empty range of the histogram re-binned to about `bins` buckets
   * of equal width on a log scale (for a chart); empty when nothing was recorded.
   */
  buckets(bins = 40): HistogramBucket[] {
    const c = this.#counts;
    let first = -1;
    let last = -1;
    for (let i = 0; i < c.length; i++) {
      if (c[i] > 0) {
        if (first < 0) first = i;
        last = i;
      }
    }
    if (first < 0) return [];
    const span = last - first + 1;
    const group = Math.max(1, Math.ceil(span / bins));
    const out: HistogramBucket[] = [];
    for (let i = first; i <= last; i += group) {
      let count = 0;
      const end = Math.min(last, i + group - 1);
      for (let j = i; j <= end; j++) count += c[j];
      out.push({ low: bucketBounds(i)[0], high: bucketBounds(end)[1], count });
    }
    return out;
  }
}

function bucketOf(v: number): number {
  if (v < SUB) return Math.floor(v); // exact small values: one bucket each
  let e: number;
  if (v < 4294967296) e = 31 - Math.clz32(v);
  else e = Math.floor(Math.log2(v));
  if (e >= OCTAVES) return OCTAVES * SUB + SUB - 1;
  // top SUB_BITS bits after the leading one
  const sub = Math.floor(v / 2 ** (e - SUB_BITS)) - SUB;
  return (e - SUB_BITS + 1) * SUB + sub;
}

function bucketBounds(i: number): [number, number] {
  if (i < SUB) return [i, i + 1];
  const e = Math.floor(i / SUB) + SUB_BITS - 1;
  const sub = i % SUB;
  const w = 2 ** (e - SUB_BITS);
  return [(SUB + sub) * w, (SUB + sub + 1) * w];
}

/** One item of a {@linkcode SpaceSaving} sketch's answer. */
export interface TopItem<K> {
  /** The item. */
  key: K;
  /** Estimated weight: at least the true weight, at most `weight - error` below... see `error`. */
  weight: number;
  /** Upper bound of the over-estimate: the true weight is in [weight - error, weight]. */
  error: number;
}

/**
 * Weighted space-saving top-K (Metwally et al.) with batched eviction: it
 * monitors at most `2 * capacity` keys; when full it keeps the `capacity`
 * heaviest and remembers the largest weight it dropped, which a new key
 * inherits as its possible over-estimate. Any key whose true weight exceeds
 * that floor is never lost.
 */
export class SpaceSaving<K> {
  #capacity: number;
  #items = new Map<K, { weight: number; error: number }>();
  #floor = 0;
  #total = 0;

  /** Builds a sketch that monitors up to `2 * capacity` keys (at least 8). */
  constructor(capacity = 256) {
    this.#capacity = Math.max(8, capacity);
  }

  /** Adds `weight` (default 1) to `key`. */
  add(key: K, weight = 1): void {
    this.#total += weight;
    const it = this.#items.get(key);
    if (it !== undefined) {
      it.weight += weight;
      return;
    }
    if (this.#items.size >= 2 * this.#capacity) this.#prune();
    this.#items.set(key, { weight: this.#floor + weight, error: this.#floor });
  }

  /** Sum of every weight added. */
  get total(): number {
    return this.#total;
  }

  /** True when some keys were dropped (estimates may then be over by up to their `error`). */
  get approximate(): boolean {
    return this.#floor > 0;
  }

  #prune(): void {
    const sorted = [...this.#items.entries()].sort((a, b) => b[1].weight - a[1].weight);
    this.#items = new Map(sorted.slice(0, this.#capacity));
    this.#floor = Math.max(this.#floor, sorted[this.#capacity]?.[1].weight ?? 0);
  }

  /** The `k` heaviest keys, heaviest first. */
  top(k: number): TopItem<K>[] {
    return [...this.#items.entries()]
      .sort((a, b) => b[1].weight - a[1].weight)
      .slice(0, k)
      .map(([key, v]) => ({ key, weight: v.weight, error: v.error }));
  }
}

/** How a {@linkcode TimeSeries} column combines values that fall in the same bucket. */
export type Combine = "sum" | "max";

/** A column of a {@linkcode TimeSeries} (opaque). */
export interface SeriesColumn {
  /** How the column combines values. */
  readonly combine: Combine;
}

/** A time-bucketed series as returned by {@linkcode TimeSeries.snapshot}. */
export interface SeriesSnapshot {
  /** Start of the first bucket, ns since the epoch (as a number: plots need no more precision). */
  startNs: number;
  /** Bucket width in ns. */
  bucketNs: number;
  /** Column name to one value per bucket. */
  columns: Record<string, number[]>;
}

/**
 * Values over time in at most `maxBuckets` buckets: the bucket width starts
 * at `initialBucketNs` and doubles (merging neighbours) whenever the capture
 * outgrows the buckets, so memory is fixed whatever the capture's duration.
 * Columns are created on first use; each sums or keeps the maximum.
 */
export class TimeSeries {
  #start: number | undefined;
  #width: number;
  #max: number;
  #used = 0;
  #cols = new Map<string, { combine: Combine; values: Float64Array }>();

  /** Builds a series of at most `maxBuckets` (even, default 512) buckets. */
  constructor(options: { maxBuckets?: number; initialBucketNs?: number } = {}) {
    this.#max = Math.max(2, (options.maxBuckets ?? 512) & ~1);
    this.#width = options.initialBucketNs ?? 1_000_000;
  }

  /** Adds `value` to column `name` at time `tsNs` (combined by `combine`, fixed at first use). */
  add(name: string, tsNs: number, value: number, combine: Combine = "sum"): void {
    this.addAt(this.column(name, combine), this.bucket(tsNs), value);
  }

  /** The column `name` (created with `combine` on first use), for {@linkcode TimeSeries.addAt}. */
  column(name: string, combine: Combine = "sum"): SeriesColumn {
    let col = this.#cols.get(name);
    if (col === undefined) {
      col = { combine, values: new Float64Array(this.#max) };
      this.#cols.set(name, col);
    }
    return col;
  }

  /**
   * Adds `value` to `col` in bucket `i` (from {@linkcode TimeSeries.bucket};
   * valid until the next `bucket` call, which may widen the buckets).
   */
  addAt(col: SeriesColumn, i: number, value: number): void {
    const c = col as { combine: Combine; values: Float64Array };
    if (c.combine === "sum") c.values[i] += value;
    else if (value > c.values[i]) c.values[i] = value;
  }

  /** Bucket index of `tsNs`, widening the buckets as needed (times before the start go to 0). */
  bucket(tsNs: number): number {
    return this.#index(tsNs);
  }

  #index(tsNs: number): number {
    if (this.#start === undefined) this.#start = tsNs;
    let i = Math.floor((tsNs - this.#start) / this.#width);
    if (i < 0) i = 0;
    while (i >= this.#max) {
      this.#widen();
      i = Math.floor((tsNs - this.#start) / this.#width);
    }
    if (i + 1 > this.#used) this.#used = i + 1;
    return i;
  }

  #widen(): void {
    for (const col of this.#cols.values()) {
      const v = col.values;
      for (let j = 0; j < this.#max / 2; j++) {
        v[j] = col.combine === "sum" ? v[2 * j] + v[2 * j + 1] : Math.max(v[2 * j], v[2 * j + 1]);
      }
      v.fill(0, this.#max / 2);
    }
    this.#used = Math.ceil(this.#used / 2);
    this.#width *= 2;
  }

  /** Current bucket width in ns. */
  get bucketNs(): number {
    return this.#width;
  }

  /** The buckets used so far, every column with one value per bucket. */
  snapshot(): SeriesSnapshot {
    const columns: Record<string, number[]> = {};
    for (const [name, col] of this.#cols) columns[name] = [...col.values.subarray(0, this.#used)];
    return { startNs: this.#start ?? 0, bucketNs: this.#width, columns };
  }
}

/**
 * A Map that holds at most `limit` entries: a `set` of a new key beyond the
 * limit is refused and counted in `overflow`, so a capture that opens more
 * than the limit keeps constant memory and says how much it left out.
 */
export class BoundedMap<K, V> extends Map<K, V> {
  /** Largest number of entries kept. */
  readonly limit: number;
  /** New keys refused because the map was full. */
  overflow = 0;

  /** Builds an empty map of at most `limit` entries. */
  constructor(limit: number) {
    super();
    this.limit = limit;
  }

  /** Sets `key`; a new key when the map is full is dropped and counted. */
  override set(key: K, value: V): this {
    if (this.size >= this.limit && !this.has(key)) {
      this.overflow++;
      return this;
    }
    return super.set(key, value);
  }
}
