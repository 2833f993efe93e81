import { describe, expect, it } from 'vitest';
import { rocAuc } from '../../../../src/learner/core/detector/auc.js';
import { HalfSpaceTrees } from '../../../../src/learner/core/detector/halfSpaceTrees.js';
import { SeededRandom } from '../../../../src/learner/core/detector/random.js';

/** Two Gaussian clusters in [0,1]^2 with 1% uniform outliers far from both. */
function twoClusters(n: number, seed: number): { xs: Float64Array[]; labels: Uint8Array } {
  const r = new SeededRandom(seed);
  const gauss = () => Math.sqrt(-2 * Math.log(1 - r.next())) * Math.cos(2 * Math.PI * r.next());
  const xs: Float64Array[] = [];
  const labels = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    if (r.next() < 0.01) {
      // Outliers: the empty corners.
      xs.push(Float64Array.of(r.next() < 0.5 ? 0.02 + 0.1 * r.next() : 0.88 + 0.1 * r.next(), 0.85 + 0.13 * r.next()));
      labels[i] = 1;
    } else {
      const [cx, cy] = r.next() < 0.6 ? [0.3, 0.3] : [0.7, 0.45];
      xs.push(Float64Array.of(cx + 0.05 * gauss(), cy + 0.05 * gauss()));
    }
  }
  return { xs, labels };
}

describe('HalfSpaceTrees', () => {
  it('ranks planted outliers of a 2-d stream above the clusters (prequential)', () => {
    const { xs, labels } = twoClusters(30_000, 1);
    const hst = new HalfSpaceTrees({ dimensions: 2, window: 2_000, seed: 1 });
    const scores = xs.map((x) => hst.scoreAndLearn(x));
    // Skip the first window: the reference is still being filled.
    expect(rocAuc(scores.slice(2_000), labels.slice(2_000))).toBeGreaterThan(0.97);
    expect(hst.learned).toBe(30_000);
    expect(hst.ready).toBe(true);
  });

  it('scores in [0,1], 0 before anything was learned, and ready only after a full window', () => {
    const hst = new HalfSpaceTrees({ dimensions: 3, window: 100 });
    expect(hst.score([0.5, 0.5, 0.5])).toBe(0);
    const r = new SeededRandom(3);
    for (let i = 0; i < 99; i++) hst.learn([r.next(), r.next(), r.next()]);
    expect(hst.ready).toBe(false);
    hst.learn([0.5, 0.5, 0.5]);
    expect(hst.ready).toBe(true);
    for (let i = 0; i < 1_000; i++) {
      const s = hst.score([r.next() * 3 - 1, r.next(), r.next()]);
      expect(s).toBeGreaterThanOrEqual(0);
      expect(s).toBeLessThanOrEqual(1);
    }
  });

  it('scores during the first window against the partly filled profile', () => {
    const hst = new HalfSpaceTrees({ dimensions: 2, window: 10_000, seed: 2 });
    const r = new SeededRandom(4);
    for (let i = 0; i < 2_000; i++) hst.learn([0.5 + 0.02 * r.next(), 0.5 + 0.02 * r.next()]);
    expect(hst.ready).toBe(false);
    expect(hst.score([0.95, 0.05])).toBeGreaterThan(hst.score([0.51, 0.51]));
  });

  it('scoreAndLearn equals score then learn', () => {
    const a = new HalfSpaceTrees({ dimensions: 4, window: 500, seed: 9 });
    const b = new HalfSpaceTrees({ dimensions: 4, window: 500, seed: 9 });
    const r = new SeededRandom(5);
    for (let i = 0; i < 3_000; i++) {
      const x = [r.next(), r.next(), r.next() ** 3, r.next()];
      const sa = a.scoreAndLearn(x);
      const sb = b.score(x);
      b.learn(x);
      expect(sa).toBe(sb);
    }
  });

  it('is deterministic by seed, and seeds give different trees', () => {
    const run = (seed: number) => {
      const hst = new HalfSpaceTrees({ dimensions: 2, window: 300, seed });
      const { xs } = twoClusters(2_000, 7);
      return xs.map((x) => hst.scoreAndLearn(x));
    };
    expect(run(11)).toEqual(run(11));
    expect(run(11)).not.toEqual(run(12));
  });

  it('a window much longer than a burst keeps the burst anomalous; a short one learns it', () => {
    // 20,000 normal points, then a burst of 1,000 identical outliers.
    const r = new SeededRandom(8);
    const stream: number[][] = [];
    for (let i = 0; i < 20_000; i++) stream.push([0.4 + 0.1 * r.next(), 0.4 + 0.1 * r.next()]);
    for (let i = 0; i < 1_000; i++) stream.push([0.95, 0.05]);
    const lastBurstScore = (window: number) => {
      const hst = new HalfSpaceTrees({ dimensions: 2, window, seed: 1 });
      let s = 0;
      for (const x of stream) s = hst.scoreAndLearn(x);
      return { s, normal: hst.score([0.45, 0.45]) };
    };
    const long = lastBurstScore(10_000);
    const short = lastBurstScore(250);
    expect(long.s).toBeGreaterThan(long.normal + 0.3);
    expect(short.s).toBeLessThan(short.normal + 0.1);
  });

  it("the 'unit' work space splits [0,1] itself", () => {
    const hst = new HalfSpaceTrees({ dimensions: 1, depth: 3, window: 10, workspace: 'unit' });
    // With one dimension, the splits are 1/2, then 1/4 and 3/4, then the eighths.
    for (let i = 0; i < 10; i++) hst.learn([0.55]);
    expect(hst.score([0.6])).toBeLessThan(hst.score([0.7]));
  });

  it('memory is fixed by trees, depth and dimensions', () => {
    const hst = new HalfSpaceTrees({ dimensions: 3, trees: 25, depth: 8, window: 1_000 });
    // Per tree: 255 internal nodes × (2 B dimension + 4 B split) + 511 nodes × 2 profiles × 4 B.
    expect(hst.memoryBytes).toBe(25 * (255 * 6 + 511 * 8));
    const before = hst.memoryBytes;
    for (let i = 0; i < 10_000; i++) hst.scoreAndLearn([i % 7, 0.5, 0.1]);
    expect(hst.memoryBytes).toBe(before);
  });

  it('rejects invalid options', () => {
    expect(() => new HalfSpaceTrees({ dimensions: 0 })).toThrow(RangeError);
    expect(() => new HalfSpaceTrees({ dimensions: 2, depth: 0 })).toThrow(RangeError);
    expect(() => new HalfSpaceTrees({ dimensions: 2, window: 0 })).toThrow(RangeError);
    expect(() => new HalfSpaceTrees({ dimensions: 2, sizeLimit: 1 })).toThrow(RangeError);
  });
});
