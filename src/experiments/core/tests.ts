// The hypothesis tests behind experiment results and guardrails. Pure functions over counts
// and histograms; each returns its statistic and p-value, never throws, and answers "no
// evidence" (p = 1) where the data cannot say anything (no requests, zero variance).
import { chiSquaredSurvival } from './gamma.js';
import { HISTOGRAM_BUCKETS, histogramQuantile, histogramTotal } from './histogram.js';
import { normalQuantile, normalSurvival, twoSidedP } from './normal.js';

export interface ZTest {
  readonly z: number;
  readonly pValue: number;
}

/**
 * Two-proportion z-test with the pooled variance, two-sided: x errors out of n in each arm.
 * z = (x₂/n₂ − x₁/n₁) / √(p̂(1−p̂)(1/n₁ + 1/n₂)), p̂ = (x₁+x₂)/(n₁+n₂).
 */
export function twoProportionZTest(x1: number, n1: number, x2: number, n2: number): ZTest {
  if (!(n1 > 0 && n2 > 0)) return { z: 0, pValue: 1 };
  const pooled = (x1 + x2) / (n1 + n2);
  const variance = pooled * (1 - pooled) * (1 / n1 + 1 / n2);
  if (!(variance > 0)) return { z: 0, pValue: 1 };
  const z = (x2 / n2 - x1 / n1) / Math.sqrt(variance);
  return { z, pValue: twoSidedP(z) };
}

/**
 * One-sided score test of H₀: p_t ≤ ρ·p_c against H₁: p_t > ρ·p_c (a treatment error rate more
 * than ρ times control's), after Farrington & Manning (Statistics in Medicine 9, 1990, 1447–54):
 * the variance is taken at the maximum-likelihood rates restricted to p_t = ρ·p_c, which behaves
 * well with few errors where the plain Wald variance does not. With ρ = 1 it is the pooled z-test.
 * The restricted p̃_c is the smaller root of A p² + B p + C = 0 with A = ρ(n_t + n_c),
 * B = −(ρ n_t + x_t + n_c + ρ x_c), C = x_t + x_c (from setting the likelihood's derivative to 0).
 */
export function ratioScoreTest(xT: number, nT: number, xC: number, nC: number, rho: number): ZTest {
  if (!(nT > 0 && nC > 0 && rho > 0)) return { z: 0, pValue: 1 };
  const a = rho * (nT + nC);
  const b = -(rho * nT + xT + nC + rho * xC);
  const c = xT + xC;
  const disc = Math.max(0, b * b - 4 * a * c);
  const pc = Math.min(1, Math.max(0, (-b - Math.sqrt(disc)) / (2 * a)));
  const pt = Math.min(1, rho * pc);
  const variance = (pt * (1 - pt)) / nT + (rho * rho * pc * (1 - pc)) / nC;
  if (!(variance > 0)) return { z: 0, pValue: 1 };
  const z = (xT / nT - (rho * xC) / nC) / Math.sqrt(variance);
  return { z, pValue: normalSurvival(z) };
}

export interface MannWhitney extends ZTest {
  /** U of the first histogram: pairs (a, b) with a > b, plus half the ties. */
  readonly u: number;
  /** U / (n_a · n_b): the probability that a request of `a` is slower than one of `b` (ties ½). */
  readonly probabilityGreater: number;
}

/**
 * Mann–Whitney U on two histograms with the same buckets, two-sided, normal approximation with
 * the tie correction and a continuity correction of ½.
 *
 * Why it suits a histogram: U depends only on the order of the values, and bucketed latencies
 * are exactly ordered data with ties (every request in one bucket ties with the others there).
 * Each bucket is one tie group with the mid-rank of its span, the tie-corrected variance is
 * exact for that, and the whole test is O(buckets) on merged counts: no raw values needed.
 *   R_a = Σ_k a_k · (before_k + (t_k + 1)/2),  U = R_a − n_a(n_a+1)/2,
 *   σ² = n_a n_b / 12 · ((N + 1) − Σ_k (t_k³ − t_k) / (N (N − 1))),  t_k = a_k + b_k.
 */
export function mannWhitneyBuckets(a: ArrayLike<number>, b: ArrayLike<number>): MannWhitney {
  const na = histogramTotal(a);
  const nb = histogramTotal(b);
  const none = { z: 0, pValue: 1, u: (na * nb) / 2, probabilityGreater: 0.5 };
  if (!(na > 0 && nb > 0)) return none;
  const n = na + nb;
  let before = 0;
  let rankSum = 0;
  let tieTerm = 0;
  for (let k = 0; k < HISTOGRAM_BUCKETS; k++) {
    const ak = a[k] ?? 0;
    const t = ak + (b[k] ?? 0);
    if (t === 0) continue;
    rankSum += ak * (before + (t + 1) / 2);
    tieTerm += t * t * t - t;
    before += t;
  }
  const u = rankSum - (na * (na + 1)) / 2;
  const mean = (na * nb) / 2;
  const variance = ((na * nb) / 12) * (n + 1 - tieTerm / (n * (n - 1)));
  const probabilityGreater = u / (na * nb);
  if (!(variance > 0)) return { ...none, u, probabilityGreater };
  const distance = Math.max(0, Math.abs(u - mean) - 0.5);
  const z = (Math.sign(u - mean) * distance) / Math.sqrt(variance);
  return { z, pValue: twoSidedP(z), u, probabilityGreater };
}

export interface QuantileRatioTest extends ZTest {
  /** q-quantile of the treatment ÷ of control. */
  readonly ratio: number;
}

/** The standard error of ln(q-quantile) by Woodruff's method (JASA 47, 1952, 635–46). */
function logQuantileSe(h: ArrayLike<number>, q: number): number {
  const n = histogramTotal(h);
  const z = 1.959964;
  const s = z * Math.sqrt((q * (1 - q)) / n);
  const hi = histogramQuantile(h, Math.min(1, q + s));
  const lo = histogramQuantile(h, Math.max(0, q - s));
  // Bucket 0 reaches down to 0 ms; a floor of 1 µs keeps the logarithm finite.
  return (Math.log(Math.max(hi, 1e-3)) - Math.log(Math.max(lo, 1e-3))) / (2 * z);
}

/**
 * One-sided test of H₀: Q_t(q) ≤ ρ·Q_c(q) (the treatment's q-quantile at most ρ times
 * control's) on the log scale: z = (ln Q_t − ln Q_c − ln ρ) / √(se_t² + se_c²), each standard
 * error from Woodruff's confidence interval (the interval for the CDF at the quantile,
 * q ± z√(q(1−q)/n), mapped through the histogram's quantile function).
 */
export function quantileRatioTest(
  treatment: ArrayLike<number>,
  control: ArrayLike<number>,
  q: number,
  rho: number,
): QuantileRatioTest {
  const qt = histogramQuantile(treatment, q);
  const qc = histogramQuantile(control, q);
  if (!(qt > 0 && qc > 0 && rho > 0)) return { z: 0, pValue: 1, ratio: qt / qc };
  const se = Math.hypot(logQuantileSe(treatment, q), logQuantileSe(control, q));
  const d = Math.log(qt) - Math.log(qc) - Math.log(rho);
  if (!(se > 0)) return { z: d > 0 ? Infinity : 0, pValue: d > 0 ? 0 : 1, ratio: qt / qc };
  const z = d / se;
  return { z, pValue: normalSurvival(z), ratio: qt / qc };
}

export interface SrmTest {
  readonly chiSquared: number;
  readonly degreesOfFreedom: number;
  /** null when fewer than two variants have a positive weight (nothing to compare). */
  readonly pValue: number | null;
  readonly mismatch: boolean;
  readonly expected: readonly number[];
}

/** The p-value below which a sample ratio mismatch is flagged. */
export const SRM_P_THRESHOLD = 0.001;

/**
 * Sample-ratio-mismatch check: Pearson's χ² of the observed requests per variant against the
 * configured shares, k − 1 degrees of freedom over the k variants with a positive share.
 * A variant with share 0 that received requests is a mismatch by itself.
 */
export function sampleRatioTest(observed: readonly number[], shares: readonly number[]): SrmTest {
  let total = 0;
  let shareSum = 0;
  for (let i = 0; i < observed.length; i++) {
    total += observed[i]!;
    if ((shares[i] ?? 0) > 0) shareSum += shares[i]!;
  }
  const expected = observed.map((_, i) => (shareSum > 0 ? (total * Math.max(0, shares[i] ?? 0)) / shareSum : 0));
  let chi = 0;
  let k = 0;
  let strayRequests = false;
  for (let i = 0; i < observed.length; i++) {
    const e = expected[i]!;
    if (e > 0) {
      k++;
      chi += (observed[i]! - e) ** 2 / e;
    } else if (observed[i]! > 0) {
      strayRequests = true;
    }
  }
  if (k < 2 || total === 0) {
    return { chiSquared: chi, degreesOfFreedom: Math.max(0, k - 1), pValue: null, mismatch: strayRequests, expected };
  }
  const pValue = chiSquaredSurvival(chi, k - 1);
  return {
    chiSquared: chi,
    degreesOfFreedom: k - 1,
    pValue,
    mismatch: strayRequests || pValue < SRM_P_THRESHOLD,
    expected,
  };
}

export interface PowerOptions {
  /** Two-sided significance level. Default 0.05. */
  readonly alpha?: number;
  /** Default 0.8. */
  readonly power?: number;
  /** Treatment requests per control request (the ratio of their weights). Default 1. */
  readonly ratio?: number;
}

/**
 * Requests needed in the control arm (the treatment arm needs `ratio` times as many) for a
 * two-sided two-proportion z-test at level α to detect error rates pC versus pT with the given
 * power; the usual normal approximation without continuity correction, for unequal group sizes
 * (as in Fleiss, Levin & Paik, "Statistical Methods for Rates and Proportions", 3rd ed., ch. 4):
 *   n_c = [z_{1−α/2} √(p̄ q̄ (1 + 1/k)) + z_{1−β} √(p_c q_c + p_t q_t / k)]² / (p_t − p_c)²,
 *   k = ratio, p̄ = (p_c + k p_t)/(1 + k), q = 1 − p.
 * Infinity when the rates are equal; NaN outside [0, 1].
 */
export function requiredControlRequests(pC: number, pT: number, options: PowerOptions = {}): number {
  const alpha = options.alpha ?? 0.05;
  const power = options.power ?? 0.8;
  const k = options.ratio ?? 1;
  if (!(pC >= 0 && pC <= 1 && pT >= 0 && pT <= 1 && k > 0)) return NaN;
  if (pC === pT) return Infinity;
  const zA = normalQuantile(1 - alpha / 2);
  const zB = normalQuantile(power);
  const pBar = (pC + k * pT) / (1 + k);
  const root = zA * Math.sqrt(pBar * (1 - pBar) * (1 + 1 / k)) + zB * Math.sqrt(pC * (1 - pC) + (pT * (1 - pT)) / k);
  return Math.ceil((root * root) / (pT - pC) ** 2);
}

/**
 * Requests per arm (equal arms) at which the guardrail's one-sided score test at level α
 * reaches the given power when the true rates are pC and pT (pT > ρ·pC): the same normal
 * approximation with the variance at the true rates,
 *   n = (z_{1−α} + z_{1−β})² (p_t q_t + ρ² p_c q_c) / (p_t − ρ p_c)².
 * Infinity when pT ≤ ρ·pC (the guardrail should not trip).
 */
export function guardrailRequestsPerArm(pC: number, pT: number, rho: number, alpha: number, power = 0.8): number {
  const d = pT - rho * pC;
  if (!(d > 0)) return Infinity;
  const z = normalQuantile(1 - alpha) + normalQuantile(power);
  return Math.ceil((z * z * (pT * (1 - pT) + rho * rho * pC * (1 - pC))) / (d * d));
}
