// Small statistics and timing helpers shared by the benches. Every figure a bench reports is a
// median over rounds (these machines are 2-core and noisy), so the helpers work on plain arrays.
import { seededRandom } from '../../test/helpers/seededRandom.js';

/** Nanoseconds since an arbitrary origin, as a double (exact below 2^53 ns ≈ 104 days). */
export function nowNs(): number {
  return Number(process.hrtime.bigint());
}

/** The p-th percentile (0..100) of already sorted values, nearest-rank; NaN when empty. */
export function percentileSorted(sorted: ArrayLike<number>, p: number): number {
  const n = sorted.length;
  if (n === 0) return NaN;
  const rank = Math.ceil((p / 100) * n);
  return sorted[Math.min(n - 1, Math.max(0, rank - 1))]!;
}

/** Percentiles of unsorted values; sorts a copy. */
export function percentiles(values: ArrayLike<number>, ps: readonly number[]): number[] {
  const sorted = Float64Array.from(values as ArrayLike<number>).sort();
  return ps.map((p) => percentileSorted(sorted, p));
}

/** The middle value (the mean of the two middle ones for an even count); NaN when empty. */
export function median(values: readonly number[]): number {
  const sorted = Float64Array.from(values).sort();
  const n = sorted.length;
  if (n === 0) return NaN;
  return n % 2 === 1 ? sorted[(n - 1) / 2]! : (sorted[n / 2 - 1]! + sorted[n / 2]!) / 2;
}

export function mean(values: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < values.length; i++) s += values[i]!;
  return values.length ? s / values.length : NaN;
}

/** Growable sample buffer of doubles (latencies) without per-sample allocation. */
export class Samples {
  private data: Float64Array;
  private n = 0;

  constructor(capacity = 1024) {
    this.data = new Float64Array(capacity);
  }

  push(value: number): void {
    if (this.n === this.data.length) {
      const next = new Float64Array(this.data.length * 2);
      next.set(this.data);
      this.data = next;
    }
    this.data[this.n++] = value;
  }

  get length(): number {
    return this.n;
  }

  values(): Float64Array {
    return this.data.subarray(0, this.n);
  }

  clear(): void {
    this.n = 0;
  }
}

/** Round to a few significant digits for the JSON and the table. */
export function round(value: number, digits = 3): number {
  if (!Number.isFinite(value) || value === 0) return value;
  const scale = 10 ** Math.max(0, digits - 1 - Math.floor(Math.log10(Math.abs(value))));
  return Math.round(value * scale) / scale;
}

/** Run `fn` for at least `minMs` (and at least `minCalls` times), to let the JIT settle. */
export function warmUp(fn: () => void, minMs: number, minCalls = 1_000): void {
  const end = Date.now() + minMs;
  let calls = 0;
  while (calls < minCalls || Date.now() < end) {
    fn();
    calls++;
  }
}

/** Seeded PRNG (the tests' mulberry32): every bench builds the same fixtures in every process. */
export const createRng: (seed: number) => () => number = seededRandom;

export function pick<T>(rng: () => number, items: readonly T[]): T {
  return items[Math.floor(rng() * items.length)]!;
}

export function intBetween(rng: () => number, lo: number, hi: number): number {
  return lo + Math.floor(rng() * (hi - lo + 1));
}

/** k distinct items (or all of them when k ≥ length), in random order. */
export function sample<T>(rng: () => number, items: readonly T[], k: number): T[] {
  const copy = items.slice();
  const n = Math.min(k, copy.length);
  for (let i = 0; i < n; i++) {
    const j = i + Math.floor(rng() * (copy.length - i));
    [copy[i], copy[j]] = [copy[j]!, copy[i]!];
  }
  return copy.slice(0, n);
}
