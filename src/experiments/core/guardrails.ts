// Guardrail evaluation, pure: merged counts of one experiment generation + its guardrails →
// one check per (guardrail, non-control variant), each with its figures and a verdict.
//
// "Worse than control beyond the bound with p below pValue" is tested as a one-sided
// hypothesis against the bound itself, not against equality:
//   errorRate:  H₀: rate_v ≤ (1 + maxRelativeIncrease) · rate_c, Farrington–Manning score test;
//   latencyP95: H₀: p95_v ≤ (1 + maxRelativeIncrease) · p95_c, log-ratio test with Woodruff
//               standard errors from the histograms.
// A check trips when both sides have at least minRequests and that p-value is below pValue.
// Testing against the bound (not against "no difference") is what keeps repeated checks safe:
// in an A/A split the statistic drifts away from the bound as counts grow, so checking every
// 10 s for weeks cannot accumulate false trips the way repeated equality tests would.
import { errorsOf, type VariantCounts } from './counts.js';
import { histogramQuantile, histogramTotal } from './histogram.js';
import { milliseconds, pEquals, percent, signedPercent } from './numbers.js';
import type { ExperimentSpec, Guardrail } from './spec.js';
import { quantileRatioTest, ratioScoreTest } from './tests.js';

export type GuardrailStatus = 'insufficient-data' | 'within-bound' | 'tripped';

export interface GuardrailCheck {
  readonly flag: string;
  readonly generation: string;
  readonly metric: Guardrail['metric'];
  readonly variant: string;
  readonly control: string;
  readonly maxRelativeIncrease: number;
  readonly minRequests: number;
  readonly pValueThreshold: number;
  readonly status: GuardrailStatus;
  /** Requests (latencyP95: responses with a latency) on each side. */
  readonly controlRequests: number;
  readonly variantRequests: number;
  /** Error rate, or p95 in ms; null without data. */
  readonly controlValue: number | null;
  readonly variantValue: number | null;
  /** variant ÷ control − 1; null without data or when control's value is 0. */
  readonly relativeIncrease: number | null;
  /** One-sided p-value of the test against the bound; null without data. */
  readonly pValue: number | null;
  readonly test: string;
}

export const ERROR_RATE_TEST = 'Farrington-Manning score test against the bound, one-sided';
export const LATENCY_P95_TEST = 'log p95 ratio against the bound, Woodruff standard errors, one-sided';

function checkOne(
  spec: ExperimentSpec,
  guardrail: Guardrail,
  variant: string,
  c: VariantCounts,
  v: VariantCounts,
): GuardrailCheck {
  const rho = 1 + guardrail.maxRelativeIncrease;
  let controlRequests: number;
  let variantRequests: number;
  let controlValue: number | null = null;
  let variantValue: number | null = null;
  let pValue: number | null = null;
  let test: string;
  if (guardrail.metric === 'errorRate') {
    test = ERROR_RATE_TEST;
    controlRequests = c.requests;
    variantRequests = v.requests;
    if (c.requests > 0 && v.requests > 0) {
      controlValue = errorsOf(c) / c.requests;
      variantValue = errorsOf(v) / v.requests;
      pValue = ratioScoreTest(errorsOf(v), v.requests, errorsOf(c), c.requests, rho).pValue;
    }
  } else {
    test = LATENCY_P95_TEST;
    controlRequests = histogramTotal(c.latency);
    variantRequests = histogramTotal(v.latency);
    if (controlRequests > 0 && variantRequests > 0) {
      controlValue = histogramQuantile(c.latency, 0.95);
      variantValue = histogramQuantile(v.latency, 0.95);
      pValue = quantileRatioTest(v.latency, c.latency, 0.95, rho).pValue;
    }
  }
  // null (not Infinity, which JSON cannot carry) when control's value is 0.
  const relativeIncrease =
    controlValue !== null && variantValue !== null && controlValue > 0 ? variantValue / controlValue - 1 : null;
  const enough = controlRequests >= guardrail.minRequests && variantRequests >= guardrail.minRequests;
  const status: GuardrailStatus = !enough
    ? 'insufficient-data'
    : pValue !== null && pValue < guardrail.pValue
      ? 'tripped'
      : 'within-bound';
  return {
    flag: spec.flag,
    generation: spec.generation,
    metric: guardrail.metric,
    variant,
    control: spec.control,
    maxRelativeIncrease: guardrail.maxRelativeIncrease,
    minRequests: guardrail.minRequests,
    pValueThreshold: guardrail.pValue,
    status,
    controlRequests,
    variantRequests,
    controlValue,
    variantValue,
    relativeIncrease,
    pValue,
    test,
  };
}

/**
 * Every guardrail against every non-control variant that has a positive share. Counts missing
 * for a variant count as zero (insufficient data).
 */
export function evaluateGuardrails(
  spec: ExperimentSpec,
  counts: ReadonlyMap<string, VariantCounts>,
  empty: () => VariantCounts,
): GuardrailCheck[] {
  const checks: GuardrailCheck[] = [];
  if (spec.guardrails.length === 0) return checks;
  const control = counts.get(spec.control) ?? empty();
  for (const guardrail of spec.guardrails) {
    for (const v of spec.variants) {
      if (v.name === spec.control || !(v.share > 0)) continue;
      checks.push(checkOne(spec, guardrail, v.name, control, counts.get(v.name) ?? empty()));
    }
  }
  return checks;
}

/** One line with the figures, for the audit entry and logs. */
export function describeCheck(check: GuardrailCheck): string {
  const value = (x: number | null) => (check.metric === 'errorRate' ? percent(x) : `${milliseconds(x)} ms`);
  return (
    `guardrail ${check.metric} on ${check.flag}: ${check.variant} ${value(check.variantValue)} vs ` +
    `${check.control} ${value(check.controlValue)} (${signedPercent(check.relativeIncrease)}, bound ` +
    `${signedPercent(check.maxRelativeIncrease)}), ${pEquals(check.pValue)} ${check.status === 'tripped' ? '<' : '≥'} ${check.pValueThreshold} ` +
    `(${check.test}); requests ${check.variantRequests} / ${check.controlRequests}, generation ${check.generation}`
  );
}
