// The fixed log-bucket latency histogram. Every replica uses the same bounds, so histograms
// merge exactly by adding counts (no sketch error, no resampling): the merged histogram of
// two replicas is the histogram of all their requests.
//
// Bounds, in milliseconds (request headers at proflag → response headers at proflag):
//   bucket 0                [0, 0.1)            also NaN and negative inputs
//   bucket i, 1 ≤ i ≤ 160   [0.1·2^((i−1)/8), 0.1·2^(i/8))   eight buckets per doubling,
//                                                  each ~9 % wide
//   bucket 161              [104,857.6, ∞)      0.1 · 2^20 ms ≈ 105 s, past any route timeout
// Quantiles: the target rank is q·n (1-based, continuous); inside the bucket that holds it the
// value is interpolated geometrically (lo · (hi/lo)^f, f the share of the bucket's count below
// the rank), linearly in the first bucket, and the lower bound in the open last bucket. The
// interpolation error is therefore at most one bucket width, ~9 %, and usually far less.

/** Lower bound of bucket 1, ms. */
export const HISTOGRAM_MIN_MS = 0.1;
/** Buckets per doubling of latency. */
export const BUCKETS_PER_DOUBLING = 8;
/** Doublings covered by the log buckets. */
const DOUBLINGS = 20;
const LOG_BUCKETS = BUCKETS_PER_DOUBLING * DOUBLINGS;
/** Underflow + log buckets + overflow. */
export const HISTOGRAM_BUCKETS = LOG_BUCKETS + 2;
/** Lower bound of the overflow bucket, ms. */
export const HISTOGRAM_MAX_MS = HISTOGRAM_MIN_MS * 2 ** DOUBLINGS;

/** The bucket of one latency; NaN and negative values land in bucket 0. O(1), no allocation. */
export function bucketOf(ms: number): number {
  if (!(ms >= HISTOGRAM_MIN_MS)) return 0;
  if (ms >= HISTOGRAM_MAX_MS) return HISTOGRAM_BUCKETS - 1;
  const i = Math.floor(BUCKETS_PER_DOUBLING * Math.log2(ms / HISTOGRAM_MIN_MS)) + 1;
  // Guard against log2 rounding at the very top.
  return i > LOG_BUCKETS ? LOG_BUCKETS : i;
}

/** Inclusive lower bound of bucket i, ms. */
export function bucketLowerMs(i: number): number {
  if (i <= 0) return 0;
  return HISTOGRAM_MIN_MS * 2 ** ((i - 1) / BUCKETS_PER_DOUBLING);
}

/** Exclusive upper bound of bucket i, ms (Infinity for the overflow bucket). */
export function bucketUpperMs(i: number): number {
  if (i >= HISTOGRAM_BUCKETS - 1) return Infinity;
  return HISTOGRAM_MIN_MS * 2 ** (i / BUCKETS_PER_DOUBLING);
}

export function emptyHistogram(): Float64Array {
  return new Float64Array(HISTOGRAM_BUCKETS);
}

/** Adds `from` into `into` (exact: counts are integers far below 2^53). */
export function addHistogram(into: Float64Array, from: ArrayLike<number>): void {
  for (let i = 0; i < HISTOGRAM_BUCKETS; i++) into[i]! += from[i] ?? 0;
}

export function histogramTotal(h: ArrayLike<number>): number {
  let n = 0;
  for (let i = 0; i < h.length; i++) n += h[i]!;
  return n;
}

/**
 * The value at continuous rank `rank` (0 < rank ≤ n) of the histogram, with the interpolation
 * described at the top. NaN for an empty histogram.
 */
export function valueAtRank(h: ArrayLike<number>, rank: number): number {
  const n = histogramTotal(h);
  if (n === 0) return NaN;
  const target = Math.min(Math.max(rank, 0), n);
  let below = 0;
  for (let i = 0; i < HISTOGRAM_BUCKETS; i++) {
    const c = h[i] ?? 0;
    if (c === 0) continue;
    if (below + c >= target) {
      const f = (target - below) / c;
      if (i === 0) return f * HISTOGRAM_MIN_MS;
      if (i === HISTOGRAM_BUCKETS - 1) return HISTOGRAM_MAX_MS;
      return bucketLowerMs(i) * 2 ** (f / BUCKETS_PER_DOUBLING);
    }
    below += c;
  }
  return HISTOGRAM_MAX_MS;
}

/** The q-quantile (0 ≤ q ≤ 1): the value at rank q·n. NaN for an empty histogram. */
export function histogramQuantile(h: ArrayLike<number>, q: number): number {
  return valueAtRank(h, q * histogramTotal(h));
}
