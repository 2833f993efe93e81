import { describe, expect, it } from 'vitest';
import { CountMinSketch } from '../../../../src/learner/core/detector/countMinSketch.js';
import { mix32, SeededRandom } from '../../../../src/learner/core/detector/random.js';

/** A Zipf-like stream over `distinct` keys: key k has weight 1/(k+1). */
function zipfStream(n: number, distinct: number, seed: number): Uint32Array {
  const r = new SeededRandom(seed);
  const cdf = new Float64Array(distinct);
  let sum = 0;
  for (let k = 0; k < distinct; k++) cdf[k] = sum += 1 / (k + 1);
  const out = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    const u = r.next() * sum;
    let lo = 0;
    let hi = distinct - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid]! < u) lo = mid + 1;
      else hi = mid;
    }
    out[i] = mix32(lo + 1);
  }
  return out;
}

describe('CountMinSketch', () => {
  it('never underestimates and stays within the ε·N bound for at least 1 − δ of the keys', () => {
    // width 1024, depth 4: ε = e / 1024, δ = e^-4 ≈ 1.8 %.
    const cms = new CountMinSketch({ width: 1_024, depth: 4, seed: 3 });
    const stream = zipfStream(200_000, 20_000, 1);
    const truth = new Map<number, number>();
    for (const k of stream) {
      cms.add(k);
      truth.set(k, (truth.get(k) ?? 0) + 1);
    }
    expect(cms.total).toBe(200_000);
    const bound = (Math.E / cms.width) * cms.total;
    let within = 0;
    for (const [k, c] of truth) {
      const est = cms.estimate(k);
      expect(est).toBeGreaterThanOrEqual(c);
      if (est - c <= bound) within++;
    }
    expect(within / truth.size).toBeGreaterThanOrEqual(1 - Math.exp(-4));
  });

  it('conservative update keeps heavy hitters exact and errs less than the plain update', () => {
    const cms = new CountMinSketch({ width: 2_048, depth: 4, seed: 5 });
    const stream = zipfStream(100_000, 50_000, 2);
    const truth = new Map<number, number>();
    for (const k of stream) {
      cms.add(k);
      truth.set(k, (truth.get(k) ?? 0) + 1);
    }
    const top = [...truth.entries()].sort((a, b) => b[1] - a[1]).slice(0, 10);
    for (const [k, c] of top) expect(cms.estimate(k) / c).toBeLessThan(1.02);
    // The plain update would add every increment to every row: its mean error is ≥ N / width.
    let err = 0;
    for (const [k, c] of truth) err += cms.estimate(k) - c;
    expect(err / truth.size).toBeLessThan(100_000 / 2_048);
  });

  it('keys never seen read 0 on an empty sketch, and unseen keys read little on a loaded one', () => {
    const cms = new CountMinSketch({ width: 4_096, depth: 4, seed: 9 });
    expect(cms.estimate(12345)).toBe(0);
    for (let i = 0; i < 4_000; i++) cms.add(mix32(i));
    let sum = 0;
    for (let i = 100_000; i < 101_000; i++) sum += cms.estimate(mix32(i));
    expect(sum / 1_000).toBeLessThan(0.2);
  });

  it('halving halves counts and the total (exponential forgetting)', () => {
    const cms = new CountMinSketch({ width: 256, depth: 3 });
    for (let i = 0; i < 100; i++) cms.add(7);
    cms.add(8, 5);
    cms.halve();
    expect(cms.estimate(7)).toBe(50);
    expect(cms.estimate(8)).toBe(2);
    expect(cms.total).toBe(52.5);
    expect(cms.decays).toBe(1);
  });

  it('rounds the width up to a power of two; memory is fixed however many keys arrive', () => {
    const cms = new CountMinSketch({ width: 1_000, depth: 4 });
    expect(cms.width).toBe(1_024);
    const before = cms.memoryBytes;
    for (let i = 0; i < 200_000; i++) cms.add(mix32(i));
    expect(cms.memoryBytes).toBe(before);
    expect(before).toBe(1_024 * 4 * 4 + 4 * 4);
  });

  it('is deterministic by seed', () => {
    const a = new CountMinSketch({ width: 64, depth: 2, seed: 1 });
    const b = new CountMinSketch({ width: 64, depth: 2, seed: 1 });
    const c = new CountMinSketch({ width: 64, depth: 2, seed: 2 });
    for (let i = 0; i < 1_000; i++) {
      a.add(mix32(i));
      b.add(mix32(i));
      c.add(mix32(i));
    }
    const read = (s: CountMinSketch) => Array.from({ length: 200 }, (_, i) => s.estimate(mix32(i + 5_000)));
    expect(read(a)).toEqual(read(b));
    expect(read(a)).not.toEqual(read(c));
  });
});
