// Count-min sketch (Cormode & Muthukrishnan 2005) over 32-bit keys, with conservative update
// (Estan & Varghese 2002: raise only the counters that are below the new estimate, which keeps
// the estimate an upper bound of the true count and cuts the collision error) and exponential
// forgetting by periodic halving of every counter. Counters are a flat Uint32Array of
// depth × width; the width is a power of two so that a row index is a mask.
//
// Error bound (no forgetting): with width w and depth d, est(x) ≤ true(x) + (e / w)·N with
// probability ≥ 1 − e^(−d), where N is the total count; est(x) ≥ true(x) always. Halving keeps
// both sides halved (up to the rounding of odd counters down, which may drop a count of 1).

import { mix32 } from './random.js';

export interface CountMinSketchOptions {
  /** Counters per row, rounded up to a power of two (default 16,384). */
  readonly width?: number;
  /** Rows (independent hash functions), default 4. */
  readonly depth?: number;
  /** Seed of the row hashes (default 1). */
  readonly seed?: number;
}

const MAX_COUNT = 0xffff_ffff;

export class CountMinSketch {
  readonly width: number;
  readonly depth: number;
  readonly memoryBytes: number;
  private readonly mask: number;
  private readonly counts: Uint32Array;
  private readonly rowSeeds: Uint32Array;
  /** Scratch for the counter indices of the key being added (no allocation per call). */
  private readonly scratch: Uint32Array;
  /** Sum of all increments, halved with the counters. */
  private totalCount = 0;
  private halvings = 0;

  constructor(options: CountMinSketchOptions = {}) {
    const width = options.width ?? 16_384;
    const depth = options.depth ?? 4;
    if (!(width >= 1 && width <= 2 ** 28)) throw new RangeError(`width must be in 1..2^28, got ${width}`);
    if (!Number.isInteger(depth) || depth < 1 || depth > 16)
      throw new RangeError(`depth must be an integer in 1..16, got ${depth}`);
    this.width = 2 ** Math.ceil(Math.log2(width));
    this.depth = depth;
    this.mask = this.width - 1;
    this.counts = new Uint32Array(this.width * depth);
    this.rowSeeds = new Uint32Array(depth);
    this.scratch = new Uint32Array(depth);
    const seed = options.seed ?? 1;
    for (let r = 0; r < depth; r++) this.rowSeeds[r] = mix32(seed * 0x27d4eb2d + r * 0x165667b1 + 1);
    this.memoryBytes = this.counts.byteLength + this.rowSeeds.byteLength;
  }

  /** Total count added (after halvings). */
  get total(): number {
    return this.totalCount;
  }

  /** Number of halvings so far. */
  get decays(): number {
    return this.halvings;
  }

  /** Estimated count of key (an upper bound of its true, decayed count). */
  estimate(key: number): number {
    let min = MAX_COUNT;
    for (let r = 0; r < this.depth; r++) {
      const c = this.counts[r * this.width + this.slot(key, r)]!;
      if (c < min) min = c;
    }
    return min;
  }

  /**
   * Conservative update: the new estimate is min + by; only counters below it are raised.
   * Returns the estimate after the update.
   */
  add(key: number, by = 1): number {
    const idx = this.scratch;
    let min = MAX_COUNT;
    for (let r = 0; r < this.depth; r++) {
      const i = r * this.width + this.slot(key, r);
      idx[r] = i;
      const c = this.counts[i]!;
      if (c < min) min = c;
    }
    let target = min + by;
    if (target > MAX_COUNT) target = MAX_COUNT;
    for (let r = 0; r < this.depth; r++) {
      const i = idx[r]!;
      if (this.counts[i]! < target) this.counts[i] = target;
    }
    this.totalCount += by;
    return target;
  }

  /** Halve every counter (exponential forgetting: half-life of one halving period). */
  halve(): void {
    const c = this.counts;
    for (let i = 0; i < c.length; i++) c[i] = c[i]! >>> 1;
    this.totalCount /= 2;
    this.halvings++;
  }

  clear(): void {
    this.counts.fill(0);
    this.totalCount = 0;
  }

  private slot(key: number, row: number): number {
    return mix32((key ^ this.rowSeeds[row]!) >>> 0) & this.mask;
  }
}
