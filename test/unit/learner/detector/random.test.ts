import { describe, expect, it } from 'vitest';
import { mix32, SeededRandom } from '../../../../src/learner/core/detector/random.js';

describe('SeededRandom', () => {
  it('is deterministic by seed and differs between seeds', () => {
    const a = new SeededRandom(42);
    const b = new SeededRandom(42);
    const c = new SeededRandom(43);
    const xs = Array.from({ length: 100 }, () => a.nextUint32());
    expect(Array.from({ length: 100 }, () => b.nextUint32())).toEqual(xs);
    expect(Array.from({ length: 100 }, () => c.nextUint32())).not.toEqual(xs);
  });

  it('draws doubles in [0,1) and integers in [0,n), roughly uniformly', () => {
    const r = new SeededRandom(7);
    const buckets = new Array<number>(10).fill(0);
    let outside = 0;
    for (let i = 0; i < 100_000; i++) {
      const x = r.next();
      if (!(x >= 0 && x < 1)) outside++;
      buckets[r.nextInt(10)]!++;
    }
    expect(outside).toBe(0);
    // Each bucket expects 10,000 (sd ≈ 95): 6 sd of slack.
    for (const b of buckets) expect(Math.abs(b - 10_000)).toBeLessThan(600);
  });

  it('mix32 is a 32-bit avalanche: one flipped input bit flips about half the output bits', () => {
    let flipped = 0;
    const trials = 2_000;
    for (let i = 0; i < trials; i++) {
      const x = (i * 0x9e3779b9) >>> 0;
      const d = (mix32(x) ^ mix32((x ^ (1 << (i % 32))) >>> 0)) >>> 0;
      flipped += d.toString(2).split('1').length - 1;
    }
    expect(flipped / trials).toBeGreaterThan(14);
    expect(flipped / trials).toBeLessThan(18);
  });
});
