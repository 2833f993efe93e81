// The standard normal distribution, from simple-statistics: its `errorFunction` (the Numerical
// Recipes erfc approximation, relative error < 1.2e-7 on the tail) for the CDF, and its `probit`
// (Winitzki's closed form, ~1e-3 relative error) as the start of two Newton steps on that CDF,
// which brings quantiles to the CDF's own precision (the power calculation needs z to 4+ digits).
import { errorFunction, probit } from 'simple-statistics';

const SQRT2 = Math.SQRT2;
const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);

/**
 * P(Z > z), as (1 − erf(|z|/√2))/2 for z ≥ 0: ~1.2e-7 relative down to ~1e-9, and ~1e-16
 * absolute below that (1 − erf cancels), which is why results print such values as "< 1e-15".
 */
export function normalSurvival(z: number): number {
  if (Number.isNaN(z)) return NaN;
  return z >= 0 ? 0.5 * (1 - errorFunction(z / SQRT2)) : 1 - 0.5 * (1 - errorFunction(-z / SQRT2));
}

/** P(Z ≤ z). */
export function normalCdf(z: number): number {
  return 1 - normalSurvival(z);
}

/** Two-sided p-value of a z statistic: P(|Z| ≥ |z|). */
export function twoSidedP(z: number): number {
  if (Number.isNaN(z)) return NaN;
  return Math.min(1, 2 * normalSurvival(Math.abs(z)));
}

export function normalDensity(z: number): number {
  return INV_SQRT_2PI * Math.exp(-0.5 * z * z);
}

/** The p-quantile of the standard normal, 0 < p < 1. */
export function normalQuantile(p: number): number {
  if (!(p > 0 && p < 1)) return p === 0 ? -Infinity : p === 1 ? Infinity : NaN;
  let z = probit(p);
  for (let i = 0; i < 2; i++) z -= (normalCdf(z) - p) / normalDensity(z);
  return z;
}
