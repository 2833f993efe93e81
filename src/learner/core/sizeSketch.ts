// Payload sizes of a cluster: a fixed-size uniform reservoir (Vitter's Algorithm R) for robust
// quantiles, a log-scale bin histogram for the clustering distance, and the share of events
// whose size was unknown. Quantiles are read with simple-statistics on a sorted copy, only when
// a proposal is built.
import { quantileSorted } from 'simple-statistics';
import { SIZE_BIN_COUNT } from '../../features/size.js';
import type { LearnerRandom } from './random.js';

export class SizeSketch {
  private readonly reservoir: Float64Array;
  private readonly bins = new Uint32Array(SIZE_BIN_COUNT);
  private known = 0;
  private unknown = 0;

  constructor(
    capacity: number,
    private readonly rng: LearnerRandom,
  ) {
    this.reservoir = new Float64Array(capacity);
  }

  add(size: number | null, bin: number | null): void {
    if (size === null || !Number.isFinite(size) || size < 0) {
      this.unknown++;
      return;
    }
    const n = this.known++;
    if (n < this.reservoir.length) this.reservoir[n] = size;
    else {
      const j = this.rng.int(n + 1);
      if (j < this.reservoir.length) this.reservoir[j] = size;
    }
    if (bin !== null && bin >= 0 && bin < SIZE_BIN_COUNT) this.bins[bin]!++;
  }

  /** Events with a known size. */
  get knownCount(): number {
    return this.known;
  }

  /** Share of events with a known size (0 when empty). */
  get knownShare(): number {
    const n = this.known + this.unknown;
    return n === 0 ? 0 : this.known / n;
  }

  /**
   * Closeness of a size bin to this cluster in [0, 1]: the share of known sizes in the same
   * bin plus half the share of the two neighbouring bins. An unknown size is close to a cluster
   * of mostly unknown sizes.
   */
  affinity(bin: number | null): number {
    const n = this.known + this.unknown;
    if (n === 0) return 0;
    if (bin === null) return this.unknown / n;
    if (this.known === 0) return 0;
    const b = this.bins;
    const same = b[bin] ?? 0;
    const near = (bin > 0 ? b[bin - 1]! : 0) + (bin + 1 < b.length ? b[bin + 1]! : 0);
    return Math.min(1, (same + 0.5 * near) / this.known) * (this.known / n);
  }

  /** The q-quantiles (each in [0, 1]) of the kept sizes; null without known sizes. */
  quantiles(qs: readonly number[]): number[] | null {
    const n = Math.min(this.known, this.reservoir.length);
    if (n === 0) return null;
    const sorted = Array.from(this.reservoir.subarray(0, n)).sort((a, b) => a - b);
    return qs.map((q) => quantileSorted(sorted, Math.min(1, Math.max(0, q))));
  }

  get memoryBytes(): number {
    return this.reservoir.byteLength + this.bins.byteLength;
  }
}

/** The largest power of ten ≤ bytes (log10 is off by one ulp near powers of ten). */
function decadeOf(bytes: number): number {
  let decade = 10 ** Math.floor(Math.log10(bytes));
  if (decade > bytes) decade /= 10;
  else if (decade * 10 <= bytes) decade *= 10;
  return decade;
}

/** The coarse 1-2-5 grid that published size bounds are snapped to (bytes). */
export function snapDown(bytes: number): number {
  if (!(bytes > 0)) return 0;
  const decade = decadeOf(bytes);
  for (const step of [5, 2, 1]) if (step * decade <= bytes) return step * decade;
  return decade;
}

export function snapUp(bytes: number): number {
  if (!(bytes > 0)) return 0;
  const decade = decadeOf(bytes);
  for (const step of [1, 2, 5, 10]) if (step * decade >= bytes) return step * decade;
  return 10 * decade;
}
