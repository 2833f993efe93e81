// Calibration and gated learning, the two habits that matter more than the detector
// (LEARNING.md): scores are turned into "rarer than this share of recent traffic" against an
// unbiased random sample of recent raw scores, and the model does not learn from the events it
// finds most surprising (so that a burst cannot teach the model that it is normal), except for
// a small random share (so that a lasting change is learned in the end).

import { SeededRandom } from './random.js';

export interface ScoreCalibratorOptions {
  /** Scores kept (default 2,048). */
  readonly capacity?: number;
  /**
   * Mean age, in offered scores, of the sample once full (default 50,000): every score enters
   * with probability capacity / horizon and replaces a uniformly random kept one, so the sample
   * is exponentially biased towards recent traffic but unbiased across score values.
   */
  readonly horizon?: number;
  /**
   * Beyond the largest kept score, the tail share keeps falling by a factor e per `tailScale`
   * raw units (default 1) instead of stopping at 1 − 0.5/n, so that the most extreme events stay
   * ordered among themselves (the top of a finite sample would otherwise tie them).
   */
  readonly tailScale?: number;
  readonly seed?: number;
}

/**
 * A sorted reservoir of recent raw scores. calibrate(raw) is the empirical CDF of raw within it
 * (ties count one half): the share of recent traffic that scored below raw. Monotone in raw.
 */
export class ScoreCalibrator {
  readonly capacity: number;
  readonly horizon: number;
  readonly memoryBytes: number;
  private readonly sorted: Float64Array;
  private size = 0;
  private readonly rng: SeededRandom;
  private readonly tailScale: number;

  constructor(options: ScoreCalibratorOptions = {}) {
    const capacity = options.capacity ?? 2_048;
    const horizon = options.horizon ?? 50_000;
    if (!Number.isInteger(capacity) || capacity < 1)
      throw new RangeError(`capacity must be a positive integer, got ${capacity}`);
    if (!(horizon >= capacity)) throw new RangeError(`horizon must be ≥ capacity, got ${horizon}`);
    this.capacity = capacity;
    this.horizon = horizon;
    this.sorted = new Float64Array(capacity);
    this.memoryBytes = this.sorted.byteLength;
    this.rng = new SeededRandom(options.seed ?? 7);
    this.tailScale = options.tailScale ?? 1;
    if (!(this.tailScale > 0)) throw new RangeError(`tailScale must be > 0, got ${this.tailScale}`);
  }

  /** Scores currently kept. */
  get count(): number {
    return this.size;
  }

  /** Offer a raw score to the sample (call for every scored event, gated or not). */
  admit(raw: number): void {
    if (!Number.isFinite(raw)) return;
    if (this.size < this.capacity) {
      this.insert(raw);
      return;
    }
    if (this.rng.next() * this.horizon >= this.capacity) return;
    // Replace a uniformly random kept score: in a sorted array a random index is a random element.
    this.removeAt(this.rng.nextInt(this.size));
    this.insert(raw);
  }

  /**
   * Share of the sample below raw (ties count one half), in [0,1); beyond the largest kept score
   * 1 − (0.5/n)·e^(−(raw − max)/tailScale). 0 when empty. Non-decreasing in raw.
   */
  calibrate(raw: number): number {
    const n = this.size;
    if (n === 0) return 0;
    const max = this.sorted[n - 1]!;
    if (raw > max) return 1 - (0.5 / n) * Math.exp(-(raw - max) / this.tailScale);
    const below = this.lowerBound(raw);
    let upper = below;
    while (upper < n && this.sorted[upper] === raw) upper++;
    return (below + (upper - below) / 2) / n;
  }

  /**
   * −ln(1 − calibrate(raw)): the evidence, in nats, that raw is rarer than recent traffic
   * (ln 100 ≈ 4.6 at the 99th percentile). Unbounded and exact beyond the sample's maximum.
   */
  evidence(raw: number): number {
    const n = this.size;
    if (n === 0) return 0;
    const max = this.sorted[n - 1]!;
    if (raw > max) return Math.log(2 * n) + (raw - max) / this.tailScale;
    return -Math.log(1 - this.calibrate(raw));
  }

  /** The q-quantile (0..1) of the sample, NaN when empty. */
  quantile(q: number): number {
    if (this.size === 0) return NaN;
    const i = Math.min(this.size - 1, Math.max(0, Math.ceil(q * this.size) - 1));
    return this.sorted[i]!;
  }

  clear(): void {
    this.size = 0;
  }

  private lowerBound(v: number): number {
    let lo = 0;
    let hi = this.size;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.sorted[mid]! < v) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private insert(v: number): void {
    const at = this.lowerBound(v);
    this.sorted.copyWithin(at + 1, at, this.size);
    this.sorted[at] = v;
    this.size++;
  }

  private removeAt(i: number): void {
    this.sorted.copyWithin(i, i + 1, this.size);
    this.size--;
  }
}

export interface LearningGateOptions {
  /** Events calibrated at or above this share are not learned (default 0.99). 1 disables the gate. */
  readonly quantile?: number;
  /** Share of gated events learned anyway, at random (default 0.02). */
  readonly passShare?: number;
  /** Calibrated scores are trusted once the calibrator keeps this many (default 256). */
  readonly minSample?: number;
  readonly seed?: number;
}

/** Decides whether the model learns an event from its calibrated score. */
export class LearningGate {
  readonly quantile: number;
  readonly passShare: number;
  readonly minSample: number;
  private readonly rng: SeededRandom;
  private gatedCount = 0;

  constructor(options: LearningGateOptions = {}) {
    this.quantile = options.quantile ?? 0.99;
    this.passShare = options.passShare ?? 0.02;
    this.minSample = options.minSample ?? 256;
    if (!(this.quantile > 0 && this.quantile <= 1))
      throw new RangeError(`gate quantile must be in (0,1], got ${this.quantile}`);
    if (!(this.passShare >= 0 && this.passShare <= 1))
      throw new RangeError(`passShare must be in [0,1], got ${this.passShare}`);
    this.rng = new SeededRandom(options.seed ?? 11);
  }

  /** Events kept out of learning so far. */
  get gated(): number {
    return this.gatedCount;
  }

  /** True when the event should be learned. `sample` is the calibrator's current size. */
  shouldLearn(calibrated: number, sample: number): boolean {
    if (sample < this.minSample || this.quantile >= 1 || calibrated < this.quantile) return true;
    if (this.rng.next() < this.passShare) return true;
    this.gatedCount++;
    return false;
  }
}
