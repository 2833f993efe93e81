// The experiment statistics against values computed independently, written down here with how.
// The reference values come from a one-off python3 script (standard library only:
// statistics.NormalDist, math) that does NOT reuse proflag's methods:
//   - z-tests: NormalDist().cdf / math.erfc on the textbook formula;
//   - Farrington–Manning: the restricted maximum-likelihood rate found by golden-section search
//     on the log-likelihood (not the quadratic's root), then z and math.erfc;
//   - Mann–Whitney: the bucket counts expanded into one value per request, mid-ranks by sorting,
//     U also checked by counting all pairs, tie term Σ(t³−t), continuity correction ½;
//   - χ² survival: the closed forms for integer degrees of freedom (even k:
//     e^(−x/2) Σ_{i<k/2} (x/2)^i/i!; odd k: erfc(√(x/2)) + e^(−x/2) Σ (x/2)^(i−½)/Γ(i+½)),
//     and P(a, x) for a = 3.7 by Simpson's rule on t^(a−1)e^(−t) (200,000 intervals);
//   - power: NormalDist().inv_cdf in the sample-size formula;
//   - histogram quantiles: the bucket bounds 0.1·2^((i−1)/8) ms by hand.
import { describe, expect, it } from 'vitest';
import { chiSquaredSurvival, regularizedGammaP, regularizedGammaQ } from '../../../src/experiments/core/gamma.js';
import { HISTOGRAM_BUCKETS } from '../../../src/experiments/core/histogram.js';
import { normalQuantile, normalSurvival, twoSidedP } from '../../../src/experiments/core/normal.js';
import {
  guardrailRequestsPerArm,
  mannWhitneyBuckets,
  quantileRatioTest,
  ratioScoreTest,
  requiredControlRequests,
  sampleRatioTest,
  twoProportionZTest,
} from '../../../src/experiments/core/tests.js';

/**
 * |actual − expected| ≤ rel · |expected| + 2e-16. The normal tail comes from simple-statistics'
 * erf as 1 − erf(x), good to ~1.2e-7 relative down to p ≈ 1e-9 but only to ~1e-16 absolute
 * below (the results print such p-values as "< 1e-15"; the thresholds in use are ≥ 1e-3).
 */
function expectRel(actual: number, expected: number, rel = 1e-6): void {
  expect(Math.abs(actual - expected)).toBeLessThanOrEqual(rel * Math.abs(expected) + 2e-16);
}

function histogram(counts: Record<number, number>): Float64Array {
  const h = new Float64Array(HISTOGRAM_BUCKETS);
  for (const [bucket, n] of Object.entries(counts)) h[Number(bucket)] = n;
  return h;
}

describe('the normal distribution (simple-statistics errorFunction and probit, refined)', () => {
  it('matches NormalDist in the body and math.erfc in the tail', () => {
    expectRel(normalSurvival(1), 0.15865525393145707); // 1 − NormalDist().cdf(1)
    expectRel(normalSurvival(3), 0.0013498980316300957); // erfc(3/√2)/2
    expectRel(normalSurvival(6), 9.865876450377012e-10, 1e-6); // erfc(6/√2)/2
    expectRel(normalSurvival(-1), 1 - 0.15865525393145707);
    expect(twoSidedP(0)).toBe(1);
  });

  it('quantiles: probit refined by Newton agrees with NormalDist().inv_cdf to 1e-6', () => {
    expect(normalQuantile(0.975)).toBeCloseTo(1.9599639845400536, 6);
    expect(normalQuantile(0.8)).toBeCloseTo(0.8416212335729144, 6);
    expect(normalQuantile(0.995)).toBeCloseTo(2.5758293035489, 6);
    expect(normalQuantile(0.01)).toBeCloseTo(-2.3263478740408408, 6);
  });
});

describe('two-proportion z-test (pooled, two-sided)', () => {
  it.each([
    // control x/n, treatment x/n, z, p — python: z = (x2/n2 − x1/n1)/√(p̂q̂(1/n1+1/n2)); p = 2(1 − Φ(|z|))
    [100, 10_000, 150, 9_800, 3.3433320817162353, 0.0008277877499489605],
    [2, 500, 12, 480, 2.769397988262306, 0.005615998772031006],
    [10, 1000, 80, 1000, 7.550489353056692, 4.336258489608162e-14],
  ])('%i/%i vs %i/%i', (x1, n1, x2, n2, z, p) => {
    const t = twoProportionZTest(x1, n1, x2, n2);
    expectRel(t.z, z, 1e-12);
    expectRel(t.pValue, p);
  });

  it('is "no evidence" for equal rates, zero variance and empty arms', () => {
    expect(twoProportionZTest(40, 1000, 40, 1000)).toEqual({ z: 0, pValue: 1 });
    expect(twoProportionZTest(0, 1000, 0, 1000)).toEqual({ z: 0, pValue: 1 });
    expect(twoProportionZTest(0, 0, 5, 10)).toEqual({ z: 0, pValue: 1 });
  });
});

describe('Farrington–Manning score test against a relative bound (one-sided)', () => {
  it.each([
    // treatment x/n, control x/n, ρ, z, one-sided p — python: golden-section restricted MLE
    [60, 1000, 40, 1000, 1.1, 1.5647945795494589, 0.058815541565640894],
    [80, 1000, 10, 1000, 1.1, 7.090343940124322, 6.688954999290979e-13],
    [12, 600, 10, 600, 1.1, 0.2051600932638794, 0.41872352359163023],
    // ρ = 1 is the pooled z-test, one-sided: p = 0.0401738…/2
    [60, 1000, 40, 1000, 1.0, 2.0519566799535918, 0.020086936321106183],
  ])('%i/%i vs %i/%i, ρ = %f', (xt, nt, xc, nc, rho, z, p) => {
    const t = ratioScoreTest(xt, nt, xc, nc, rho);
    // The golden-section optimum is good to ~1e-8 in p̃, so z agrees to ~1e-7.
    expectRel(t.z, z, 1e-6);
    expectRel(t.pValue, p, 1e-5);
  });
});

describe('Mann–Whitney U on histogram buckets', () => {
  const treatment = histogram({ 41: 4, 42: 18, 43: 25, 44: 15, 52: 6 });
  const control = histogram({ 40: 5, 41: 12, 42: 30, 43: 20, 50: 3 });

  it('matches ranks computed on the expanded values (U also by counting pairs)', () => {
    const t = mannWhitneyBuckets(treatment, control);
    expect(t.u).toBe(3470); // python: rank sum − n(n+1)/2 and Σ over pairs [x>y] + ½[x=y]
    expectRel(t.z, 4.836595033665845, 1e-12);
    expectRel(t.pValue, 1.3208213822668569e-6);
    expectRel(t.probabilityGreater, 0.7289915966386554, 1e-12);
  });

  it('is symmetric and finds nothing between identical histograms', () => {
    const back = mannWhitneyBuckets(control, treatment);
    expect(back.z).toBeCloseTo(-4.836595033665845, 10);
    expect(back.pValue).toBeCloseTo(1.3208213822668569e-6, 10);
    const same = mannWhitneyBuckets(control, control);
    expect(same.u).toBe(2450);
    expect(same.pValue).toBe(1);
  });

  it('answers "no evidence" for an empty side or a single shared bucket', () => {
    expect(mannWhitneyBuckets(histogram({}), control).pValue).toBe(1);
    expect(mannWhitneyBuckets(histogram({ 40: 10 }), histogram({ 40: 7 })).pValue).toBe(1);
  });
});

describe('χ² survival through the regularized incomplete gamma (Numerical Recipes §6.2)', () => {
  it.each([
    [3.841458820694124, 1, 0.05000000000000008],
    [10, 2, 0.006737946999085467],
    [20, 5, 0.0012497305630313753],
    [100, 3, 1.5541594313896051e-21],
    [0.5, 7, 0.9994464813904249],
    [16, 1, 6.334248366623977e-5],
    [1e-3, 4, 0.9999998750416588],
    [250, 40, 3.469536887053956e-32],
  ])('Q(χ² = %f, %i df)', (x, dof, expected) => {
    // ~1e-10 relative, except where erfc-based tails limit python's own closed form.
    expectRel(chiSquaredSurvival(x, dof), expected, 1e-9);
  });

  it('P(a, x) for a non-half-integer a, both branches (series and continued fraction)', () => {
    expectRel(regularizedGammaP(3.7, 2.2), 0.22976730879644194, 1e-9); // x < a + 1: series
    expectRel(regularizedGammaP(3.7, 9.0), 0.984814088344326, 1e-9); // x ≥ a + 1: fraction
    expectRel(regularizedGammaQ(3.7, 9.0), 1 - 0.984814088344326, 1e-7);
  });

  it('edges: 0, ∞ and outside the domain', () => {
    expect(regularizedGammaP(2, 0)).toBe(0);
    expect(regularizedGammaQ(2, Infinity)).toBe(0);
    expect(chiSquaredSurvival(0, 3)).toBe(1);
    expect(regularizedGammaP(-1, 1)).toBeNaN();
    expect(chiSquaredSurvival(-1, 3)).toBeNaN();
  });
});

describe('sample-ratio mismatch', () => {
  it('matches the closed-form χ² p-values', () => {
    const balanced = sampleRatioTest([5000, 5000], [0.5, 0.5]);
    expect(balanced.chiSquared).toBe(0);
    expect(balanced.pValue).toBe(1);
    expect(balanced.mismatch).toBe(false);
    const drift = sampleRatioTest([5200, 4800], [0.5, 0.5]);
    expect(drift.chiSquared).toBeCloseTo(16, 12);
    expectRel(drift.pValue!, 6.334248366623977e-5, 1e-9);
    expect(drift.mismatch).toBe(true); // p < 0.001
    const three = sampleRatioTest([3410, 3290, 3300], [1 / 3, 1 / 3, 1 / 3]);
    expect(three.degreesOfFreedom).toBe(2);
    expectRel(three.pValue!, 0.2644772612998239, 1e-9);
    expect(three.mismatch).toBe(false);
    // 2 % off at n = 10,000: p = 0.0455, suspicious but not flagged at 0.001.
    const mild = sampleRatioTest([5100, 4900], [0.5, 0.5]);
    expectRel(mild.pValue!, 0.045500263896358396, 1e-9);
    expect(mild.mismatch).toBe(false);
  });

  it('flags a deliberately broken split: weights 90/10, traffic 50/50', () => {
    const broken = sampleRatioTest([5000, 5000], [0.9, 0.1]);
    expect(broken.chiSquared).toBeCloseTo(17777.777777777777, 6);
    expect(broken.pValue).toBe(0);
    expect(broken.mismatch).toBe(true);
  });

  it('a zero-weight variant that gets requests is a mismatch; one variant is not testable', () => {
    const stray = sampleRatioTest([990, 10], [1, 0]);
    expect(stray.pValue).toBeNull();
    expect(stray.mismatch).toBe(true);
    expect(sampleRatioTest([1000, 0], [1, 0])).toMatchObject({ pValue: null, mismatch: false });
  });
});

describe('power and sample size', () => {
  it.each([
    // pC, pT, α, k, python (unrounded) — the function rounds up
    [0.01, 0.011, 0.05, 1, 163094.617498142],
    [0.01, 0.011, 0.05, 2, 123081.21904605307],
    [0.01, 0.08, 0.01, 1, 203.41269967030246],
    [0.05, 0.06, 0.05, 1, 8157.731447849279],
  ])('%f → %f at α %f, ratio %i', (pC, pT, alpha, ratio, n) => {
    expect(requiredControlRequests(pC, pT, { alpha, power: 0.8, ratio })).toBe(Math.ceil(n));
  });

  it('guardrail sample size, one-sided against the bound', () => {
    // python: (z_.99 + z_.8)² (p_t q_t + ρ² p_c q_c) / (p_t − ρ p_c)² = 180.397…
    expect(guardrailRequestsPerArm(0.01, 0.08, 1.1, 0.01)).toBe(181);
    expect(guardrailRequestsPerArm(0.01, 0.01, 1.1, 0.01)).toBe(Infinity);
    expect(requiredControlRequests(0.01, 0.01)).toBe(Infinity);
  });
});

describe('p95 ratio test against a bound (Woodruff standard errors)', () => {
  const treatment = histogram({ 40: 200, 42: 300, 44: 280, 46: 150, 48: 50, 50: 20 });
  const control = histogram({ 40: 220, 42: 300, 44: 300, 46: 140, 47: 30, 48: 10 });

  it('matches an independent implementation of the same method', () => {
    // python: its own histogram quantile (rank q·n, geometric interpolation), Woodruff SE
    // (Q(q ± 1.96√(q(1−q)/n)) on the log scale ÷ 2·1.96), z and 1 − NormalDist().cdf(z).
    const t = quantileRatioTest(treatment, control, 0.95, 1.1);
    expectRel(t.ratio, 1.1359730207874665, 1e-12);
    expectRel(t.z, 2.3834858789993816, 1e-9);
    expectRel(t.pValue, 0.008574771202575215, 1e-6);
  });

  it('does not find a bound exceeded when the treatment is within it', () => {
    const t = quantileRatioTest(
      histogram({ 40: 300, 44: 500, 47: 200 }),
      histogram({ 40: 320, 44: 480, 46: 200 }),
      0.95,
      1.1,
    );
    expect(t.z).toBeCloseTo(-2.0525351507544847, 9);
    expect(t.pValue).toBeGreaterThan(0.9);
  });
});
