// The fixed log-bucket histogram: bounds as documented, exact merge, quantiles by rank with
// geometric interpolation (expected values worked out by hand from 0.1·2^((i−1)/8) ms).
import { describe, expect, it } from 'vitest';
import {
  addHistogram,
  bucketLowerMs,
  bucketOf,
  bucketUpperMs,
  emptyHistogram,
  HISTOGRAM_BUCKETS,
  HISTOGRAM_MAX_MS,
  histogramQuantile,
  histogramTotal,
} from '../../../src/experiments/core/histogram.js';

describe('buckets', () => {
  it('has 162 buckets: underflow, 160 log buckets of 2^(1/8), overflow from 104,857.6 ms', () => {
    expect(HISTOGRAM_BUCKETS).toBe(162);
    expect(HISTOGRAM_MAX_MS).toBeCloseTo(104_857.6, 6);
    expect(bucketLowerMs(1)).toBe(0.1);
    expect(bucketUpperMs(8)).toBeCloseTo(0.2, 12);
    expect(bucketUpperMs(161)).toBe(Infinity);
    for (let i = 1; i < 161; i++) expect(bucketUpperMs(i) / bucketLowerMs(i)).toBeCloseTo(2 ** (1 / 8), 12);
  });

  it('puts every value in the bucket whose bounds hold it', () => {
    for (const ms of [0.1, 0.13, 0.5, 1, 3.3, 12.7, 99.9, 250, 1500, 14_999, 100_000]) {
      const i = bucketOf(ms);
      expect(ms).toBeGreaterThanOrEqual(bucketLowerMs(i) * (1 - 1e-12));
      expect(ms).toBeLessThan(bucketUpperMs(i) * (1 + 1e-12));
    }
  });

  it('sends NaN, negatives and tiny values to bucket 0, huge ones to the overflow', () => {
    expect(bucketOf(NaN)).toBe(0);
    expect(bucketOf(-5)).toBe(0);
    expect(bucketOf(0)).toBe(0);
    expect(bucketOf(0.0999)).toBe(0);
    expect(bucketOf(HISTOGRAM_MAX_MS)).toBe(161);
    expect(bucketOf(Infinity)).toBe(161);
    expect(bucketOf(1e12)).toBe(161);
  });
});

describe('merge and quantiles', () => {
  it('merges exactly: two halves add up to the whole', () => {
    const values = Array.from({ length: 5000 }, (_, i) => 0.05 + ((i * 7919) % 10_007) / 37);
    const whole = emptyHistogram();
    const a = emptyHistogram();
    const b = emptyHistogram();
    values.forEach((v, i) => {
      whole[bucketOf(v)]!++;
      (i % 2 ? a : b)[bucketOf(v)]!++;
    });
    const merged = emptyHistogram();
    addHistogram(merged, a);
    addHistogram(merged, b);
    expect([...merged]).toEqual([...whole]);
    expect(histogramTotal(merged)).toBe(5000);
  });

  it('interpolates by rank q·n inside the bucket', () => {
    const h = emptyHistogram();
    h[40] = 10;
    h[48] = 10;
    // p50: rank 10 is the top of bucket 40 = 0.1·2^(40/8) = 3.2 ms
    expect(histogramQuantile(h, 0.5)).toBeCloseTo(3.2, 12);
    // p25: rank 5, half-way (geometrically) through bucket 40: 0.1·2^(39/8)·2^(0.5/8)
    expect(histogramQuantile(h, 0.25)).toBeCloseTo(3.0643304982354356, 12);
    // p95: rank 19, 9/10 through bucket 48
    expect(histogramQuantile(h, 0.95)).toBeCloseTo(6.344787759761037, 12);
    expect(histogramQuantile(h, 0.99)).toBeCloseTo(6.388919248623313, 12);
  });

  it('is within one bucket width of the exact quantile of the raw values', () => {
    const values = Array.from({ length: 20_000 }, (_, i) => Math.exp(Math.sin(i * 12.9898) * 3 + 2));
    const h = emptyHistogram();
    for (const v of values) h[bucketOf(v)]!++;
    const sorted = [...values].sort((x, y) => x - y);
    for (const q of [0.5, 0.9, 0.95, 0.99]) {
      const exact = sorted[Math.ceil(q * sorted.length) - 1]!;
      const estimate = histogramQuantile(h, q);
      expect(Math.abs(Math.log(estimate / exact))).toBeLessThan(Math.log(2) / 8);
    }
  });

  it('handles the first and last buckets and the empty histogram', () => {
    const h = emptyHistogram();
    h[0] = 4;
    expect(histogramQuantile(h, 0.5)).toBeCloseTo(0.05, 12); // linear in [0, 0.1)
    h[161] = 4;
    expect(histogramQuantile(h, 0.99)).toBe(HISTOGRAM_MAX_MS); // "at least", the lower bound
    expect(histogramQuantile(emptyHistogram(), 0.5)).toBeNaN();
  });
});
