import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LearningGate, ScoreCalibrator } from '../../../../src/learner/core/detector/gate.js';
import { SeededRandom } from '../../../../src/learner/core/detector/random.js';

describe('ScoreCalibrator', () => {
  it('is the empirical CDF of the kept scores, ties counting one half', () => {
    const c = new ScoreCalibrator({ capacity: 10, horizon: 10 });
    for (const v of [1, 2, 2, 3, 4]) c.admit(v);
    expect(c.count).toBe(5);
    expect(c.calibrate(0)).toBe(0);
    expect(c.calibrate(1)).toBeCloseTo(0.1, 12); // half of one tie out of 5
    expect(c.calibrate(2)).toBeCloseTo(0.4, 12); // 1 below + 2 ties / 2
    expect(c.calibrate(2.5)).toBeCloseTo(0.6, 12);
    expect(c.calibrate(4)).toBeCloseTo(0.9, 12);
    expect(c.quantile(0.5)).toBe(2);
    expect(c.quantile(1)).toBe(4);
  });

  it('keeps falling in the tail beyond the largest kept score (e per tailScale)', () => {
    const c = new ScoreCalibrator({ capacity: 100, horizon: 100, tailScale: 2 });
    for (let i = 0; i < 100; i++) c.admit(i);
    expect(c.calibrate(100)).toBeCloseTo(1 - 0.005 * Math.exp(-0.5), 12);
    expect(c.calibrate(109)).toBeGreaterThan(c.calibrate(101));
    expect(c.calibrate(1e9)).toBeLessThanOrEqual(1);
    expect(c.evidence(99 + 4)).toBeCloseTo(Math.log(200) + 2, 12);
    expect(c.evidence(49.5)).toBeCloseTo(-Math.log(0.5), 12);
  });

  it('is monotone in the raw score and stays in [0,1] (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: -1e6, max: 1e6, noNaN: true }), { minLength: 1, maxLength: 200 }),
        fc.double({ min: -2e6, max: 2e6, noNaN: true }),
        fc.double({ min: -2e6, max: 2e6, noNaN: true }),
        (sample, a, b) => {
          const c = new ScoreCalibrator({ capacity: 64, horizon: 256, seed: 1 });
          for (const v of sample) c.admit(v);
          const [lo, hi] = a <= b ? [a, b] : [b, a];
          const clo = c.calibrate(lo);
          const chi = c.calibrate(hi);
          expect(clo).toBeLessThanOrEqual(chi);
          expect(clo).toBeGreaterThanOrEqual(0);
          expect(chi).toBeLessThanOrEqual(1);
          expect(c.evidence(lo)).toBeLessThanOrEqual(c.evidence(hi));
        },
      ),
    );
  });

  it('means "rarer than this share of recent traffic": ~1% of a stationary stream calibrates ≥ 0.99', () => {
    const c = new ScoreCalibrator({ capacity: 2_048, horizon: 20_000, seed: 2 });
    const r = new SeededRandom(3);
    let high = 0;
    const n = 200_000;
    for (let i = 0; i < n; i++) {
      const v = -Math.log(1 - r.next()); // exponential scores
      if (i >= 5_000 && c.calibrate(v) >= 0.99) high++;
      c.admit(v);
    }
    expect(high / (n - 5_000)).toBeGreaterThan(0.007);
    expect(high / (n - 5_000)).toBeLessThan(0.013);
  });

  it('follows a shift of the score distribution within a few horizons (recency)', () => {
    const c = new ScoreCalibrator({ capacity: 512, horizon: 5_000, seed: 4 });
    const r = new SeededRandom(5);
    for (let i = 0; i < 20_000; i++) c.admit(r.next());
    expect(c.calibrate(0.5)).toBeCloseTo(0.5, 1);
    for (let i = 0; i < 20_000; i++) c.admit(10 + r.next());
    // After 4 horizons, e^-4 ≈ 2% of the old scores remain.
    expect(c.calibrate(10.5)).toBeGreaterThan(0.4);
    expect(c.calibrate(5)).toBeLessThan(0.06);
  });

  it('ignores non-finite scores and keeps a fixed size', () => {
    const c = new ScoreCalibrator({ capacity: 8, horizon: 16 });
    c.admit(Number.NaN);
    c.admit(Number.POSITIVE_INFINITY);
    expect(c.count).toBe(0);
    for (let i = 0; i < 1_000; i++) c.admit(i);
    expect(c.count).toBe(8);
    expect(c.memoryBytes).toBe(64);
  });
});

describe('LearningGate', () => {
  it('learns everything below the quantile and only the pass share above it', () => {
    const g = new LearningGate({ quantile: 0.95, passShare: 0.02, minSample: 10, seed: 1 });
    let learnedAbove = 0;
    let learnedBelow = 0;
    for (let i = 0; i < 100_000; i++) {
      if (g.shouldLearn(0.94, 100)) learnedBelow++;
      if (g.shouldLearn(0.97, 100)) learnedAbove++;
    }
    expect(learnedBelow).toBe(100_000);
    expect(learnedAbove / 100_000).toBeGreaterThan(0.017);
    expect(learnedAbove / 100_000).toBeLessThan(0.023);
    expect(g.gated).toBe(100_000 - learnedAbove);
  });

  it('learns everything while the calibration sample is too small, and never gates at quantile 1', () => {
    const g = new LearningGate({ quantile: 0.9, passShare: 0, minSample: 50 });
    expect(g.shouldLearn(1, 49)).toBe(true);
    expect(g.shouldLearn(1, 50)).toBe(false);
    const off = new LearningGate({ quantile: 1, passShare: 0 });
    expect(off.shouldLearn(1, 10_000)).toBe(true);
  });
});
