// Streaming Half-Space Trees (Tan, Ting & Liu, "Fast anomaly detection for streaming data",
// IJCAI 2011). Each tree halves a work space (by default the paper's randomly enlarged copy of
// the unit cube) on a random dimension at every level, down to a fixed depth, without looking at
// data. The stream is cut
// into windows of W learned events: the "latest" profile counts how many points of the current
// window fell into each node; when the window is full it becomes the "reference" profile that
// scores the next window. A point scores by the mass of the reference window around it, scaled
// by 2^depth so that deep, small cells compare with shallow, big ones: low mass means anomalous.
//
// Layout: complete binary trees in heap order in flat typed arrays (node i has children 2i+1
// and 2i+2), so scoring and learning walk arrays with integer arithmetic and allocate nothing.

import { SeededRandom } from './random.js';

export interface HalfSpaceTreesOptions {
  /** Dimension of the input vectors (expected in [0,1]; values outside fall into the border cells). */
  readonly dimensions: number;
  /** Number of trees (default 25). */
  readonly trees?: number;
  /** Depth of every tree (default 8: 256 leaves). */
  readonly depth?: number;
  /** Learned events per window (default 20,000: longer than the longest burst to tolerate). */
  readonly window?: number;
  /**
   * A walk stops at the first node whose reference mass is at most this share of the window
   * (the paper's sizeLimit, 0.1 there). Default 0.001.
   */
  readonly sizeLimit?: number;
  /** Seed of the random work spaces and split dimensions (default 1). */
  readonly seed?: number;
  /**
   * The work space the trees halve. 'expanded' (default, the paper's): per dimension a random
   * centre s in [0,1) and the range s ± 2·max(s, 1−s), so split points are random and inputs may
   * stray outside [0,1]. 'unit': exactly [0,1] per dimension (split points 1/2, 1/4, 3/4...,
   * only the dimensions are random), for features that are in [0,1] by construction: every split
   * then cuts the data. On the profile features this took the AUC spread over seeds from
   * 0.83–0.995 to 0.992–0.998 (docs/learning.md); KDD99 is better with 'expanded'.
   */
  readonly workspace?: 'expanded' | 'unit';
}

export const HST_DEFAULTS = { trees: 25, depth: 8, window: 20_000, sizeLimit: 0.001, seed: 1 } as const;

export class HalfSpaceTrees {
  readonly dimensions: number;
  readonly trees: number;
  readonly depth: number;
  readonly window: number;
  /** Bytes held by the typed arrays (constant after construction). */
  readonly memoryBytes: number;

  private readonly internalPerTree: number;
  private readonly nodesPerTree: number;
  private readonly splitDim: Uint16Array;
  private readonly splitValue: Float32Array;
  private reference: Uint32Array;
  private latest: Uint32Array;
  private readonly massLimit: number;
  /** log2(1 + largest possible per-tree mass × 2^depth): the normaliser of the score. */
  private readonly logMaxMass: number;
  private readonly workspace: 'expanded' | 'unit';
  private filled = 0;
  private completedWindows = 0;
  private learnedCount = 0;

  constructor(options: HalfSpaceTreesOptions) {
    const d = options.dimensions;
    if (!Number.isInteger(d) || d < 1 || d > 65_535)
      throw new RangeError(`dimensions must be an integer in 1..65535, got ${d}`);
    const trees = options.trees ?? HST_DEFAULTS.trees;
    const depth = options.depth ?? HST_DEFAULTS.depth;
    const window = options.window ?? HST_DEFAULTS.window;
    const sizeLimit = options.sizeLimit ?? HST_DEFAULTS.sizeLimit;
    if (!Number.isInteger(trees) || trees < 1) throw new RangeError(`trees must be a positive integer, got ${trees}`);
    if (!Number.isInteger(depth) || depth < 1 || depth > 20)
      throw new RangeError(`depth must be an integer in 1..20, got ${depth}`);
    if (!Number.isInteger(window) || window < 1)
      throw new RangeError(`window must be a positive integer, got ${window}`);
    if (!(sizeLimit >= 0 && sizeLimit < 1)) throw new RangeError(`sizeLimit must be in [0,1), got ${sizeLimit}`);
    this.dimensions = d;
    this.trees = trees;
    this.depth = depth;
    this.window = window;
    this.internalPerTree = (1 << depth) - 1;
    this.nodesPerTree = (1 << (depth + 1)) - 1;
    this.splitDim = new Uint16Array(trees * this.internalPerTree);
    this.splitValue = new Float32Array(trees * this.internalPerTree);
    this.reference = new Uint32Array(trees * this.nodesPerTree);
    this.latest = new Uint32Array(trees * this.nodesPerTree);
    this.massLimit = sizeLimit * window;
    this.logMaxMass = Math.log2(1 + window * 2 ** depth);
    this.memoryBytes =
      this.splitDim.byteLength + this.splitValue.byteLength + this.reference.byteLength + this.latest.byteLength;
    this.workspace = options.workspace ?? 'expanded';
    this.build(new SeededRandom(options.seed ?? HST_DEFAULTS.seed));
  }

  /** True once a full window has been learned and scores come from a complete reference. */
  get ready(): boolean {
    return this.completedWindows > 0;
  }

  /** Events learned so far. */
  get learned(): number {
    return this.learnedCount;
  }

  /**
   * Anomaly score in [0,1], higher = more anomalous: 1 − log2(1 + m) / log2(1 + W·2^D) where m is
   * the mean over trees of (reference mass × 2^depth) at the node where the walk stopped.
   * Monotone in the paper's mass score, spread over [0,1] for readability. During the first
   * window, before any reference exists, the partly filled latest profile stands in for it
   * (masses scaled by W / events so far), so the model is useful before its first swap; those
   * early scores are noisier (see `ready`). 0 before anything was learned.
   */
  score(x: ArrayLike<number>): number {
    const ready = this.completedWindows > 0;
    if (!ready && this.filled === 0) return 0;
    const masses = ready ? this.reference : this.latest;
    const scale = ready ? 1 : this.window / this.filled;
    const internal = this.internalPerTree;
    const nodes = this.nodesPerTree;
    const dims = this.splitDim;
    const values = this.splitValue;
    const limit = this.massLimit;
    let total = 0;
    for (let t = 0; t < this.trees; t++) {
      const splitBase = t * internal;
      const massBase = t * nodes;
      let node = 0;
      let level = 0;
      for (;;) {
        const r = masses[massBase + node]! * scale;
        if (node >= internal || r <= limit) {
          total += r * (1 << level);
          break;
        }
        const s = splitBase + node;
        node = x[dims[s]!]! < values[s]! ? 2 * node + 1 : 2 * node + 2;
        level++;
      }
    }
    return this.normalise(total);
  }

  /** Count x into the latest window; swaps windows when it is full. */
  learn(x: ArrayLike<number>): void {
    const internal = this.internalPerTree;
    const nodes = this.nodesPerTree;
    const latest = this.latest;
    const dims = this.splitDim;
    const values = this.splitValue;
    for (let t = 0; t < this.trees; t++) {
      const splitBase = t * internal;
      const massBase = t * nodes;
      let node = 0;
      for (;;) {
        latest[massBase + node]!++;
        if (node >= internal) break;
        const s = splitBase + node;
        node = x[dims[s]!]! < values[s]! ? 2 * node + 1 : 2 * node + 2;
      }
    }
    this.afterLearn();
  }

  /** score(x) then learn(x) in one walk per tree (the prequential step). */
  scoreAndLearn(x: ArrayLike<number>): number {
    const ready = this.completedWindows > 0;
    const empty = !ready && this.filled === 0;
    const masses = ready ? this.reference : this.latest;
    const scale = ready || empty ? 1 : this.window / this.filled;
    const internal = this.internalPerTree;
    const nodes = this.nodesPerTree;
    const latest = this.latest;
    const dims = this.splitDim;
    const values = this.splitValue;
    const limit = this.massLimit;
    let total = 0;
    for (let t = 0; t < this.trees; t++) {
      const splitBase = t * internal;
      const massBase = t * nodes;
      let node = 0;
      let level = 0;
      let scored = empty;
      for (;;) {
        if (!scored) {
          // Read before counting x: in the first window `masses` is `latest` itself.
          const r = masses[massBase + node]! * scale;
          if (node >= internal || r <= limit) {
            total += r * (1 << level);
            scored = true;
          }
        }
        latest[massBase + node]!++;
        if (node >= internal) break;
        const s = splitBase + node;
        node = x[dims[s]!]! < values[s]! ? 2 * node + 1 : 2 * node + 2;
        level++;
      }
    }
    this.afterLearn();
    return empty ? 0 : this.normalise(total);
  }

  /** Forget everything learned (the trees' structure stays). */
  reset(): void {
    this.reference.fill(0);
    this.latest.fill(0);
    this.filled = 0;
    this.completedWindows = 0;
    this.learnedCount = 0;
  }

  private normalise(total: number): number {
    const s = 1 - Math.log2(1 + total / this.trees) / this.logMaxMass;
    return s < 0 ? 0 : s;
  }

  private afterLearn(): void {
    this.learnedCount++;
    if (++this.filled < this.window) return;
    // The full latest window becomes the reference; recycle the old reference's memory.
    const old = this.reference;
    this.reference = this.latest;
    this.latest = old;
    this.latest.fill(0);
    this.filled = 0;
    this.completedWindows++;
  }

  /**
   * The paper's random work space: per dimension a centre s in [0,1) and the range
   * s ± 2·max(s, 1−s), which always contains [0,1] with room to spare, so that the cells
   * around the data are not aligned across trees (or, with 'unit', [0,1] itself). Each internal
   * node splits its cell in half on a random dimension.
   */
  private build(rng: SeededRandom): void {
    const d = this.dimensions;
    const lo = new Float64Array(d);
    const hi = new Float64Array(d);
    const internal = this.internalPerTree;
    for (let t = 0; t < this.trees; t++) {
      for (let q = 0; q < d; q++) {
        if (this.workspace === 'unit') {
          lo[q] = 0;
          hi[q] = 1;
          continue;
        }
        const s = rng.next();
        const r = 2 * Math.max(s, 1 - s);
        lo[q] = s - r;
        hi[q] = s + r;
      }
      this.buildNode(rng, t * internal, 0, lo, hi);
    }
  }

  private buildNode(rng: SeededRandom, base: number, node: number, lo: Float64Array, hi: Float64Array): void {
    if (node >= this.internalPerTree) return;
    const q = rng.nextInt(this.dimensions);
    const mid = (lo[q]! + hi[q]!) / 2;
    this.splitDim[base + node] = q;
    this.splitValue[base + node] = mid;
    const oldHi = hi[q]!;
    hi[q] = mid;
    this.buildNode(rng, base, 2 * node + 1, lo, hi);
    hi[q] = oldHi;
    const oldLo = lo[q]!;
    lo[q] = mid;
    this.buildNode(rng, base, 2 * node + 2, lo, hi);
    lo[q] = oldLo;
  }
}
