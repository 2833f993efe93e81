// The results document of one experiment generation (CONTRACT §7, extended): per variant the
// counts, error rate and latency quantiles, and against control the tests, the power
// calculation and the guardrail checks; plus the sample-ratio-mismatch check. Pure.
import { emptyVariantCounts, errorsOf, type VariantCounts } from './counts.js';
import { evaluateGuardrails, type GuardrailCheck } from './guardrails.js';
import { histogramQuantile, histogramTotal } from './histogram.js';
import type { ExperimentSpec } from './spec.js';
import {
  mannWhitneyBuckets,
  requiredControlRequests,
  sampleRatioTest,
  SRM_P_THRESHOLD,
  twoProportionZTest,
} from './tests.js';

export interface LatencyQuantiles {
  readonly p50: number | null;
  readonly p95: number | null;
  readonly p99: number | null;
}

export interface PowerEstimate {
  /** The relative error-rate increase to detect (0.1 = +10 %). */
  readonly relativeEffect: number;
  readonly controlRate: number;
  readonly targetRate: number;
  readonly alpha: number;
  readonly power: number;
  /** Requests needed in control and in this variant (at the configured weights). */
  readonly requiredControl: number;
  readonly requiredVariant: number;
  /** Further requests to the whole experiment (all variants, at the weights) until both are met. */
  readonly additionalRequests: number;
}

export interface VsControl {
  /** Two-proportion z-test (pooled), two-sided; null for control itself or without data. */
  readonly errorRatePValue: number | null;
  /** Mann–Whitney U on the latency histograms, two-sided; null for control or without data. */
  readonly latencyPValue: number | null;
  /** Error rate of this variant minus control's (absolute). */
  readonly errorRateDifference: number | null;
  /** Error rate ÷ control's − 1. */
  readonly errorRateRelative: number | null;
  readonly latencyP50Relative: number | null;
  readonly latencyP95Relative: number | null;
  readonly latencyP99Relative: number | null;
  /** P(a request of this variant is slower than one of control), ties counted ½ (U / n₁n₂). */
  readonly probabilitySlower: number | null;
  /** null for control, or when control has no errors yet (a relative effect of 0 is 0). */
  readonly power: PowerEstimate | null;
}

/**
 * One point of a variant's time series (for the console's plots): the counts of `minutes`
 * minutes from `t`, with the same derived figures as the totals.
 */
export interface SeriesPoint {
  /** ISO start of the point's minutes. */
  readonly t: string;
  readonly minutes: number;
  readonly requests: number;
  readonly errors: number;
  /** null without requests. */
  readonly errorRate: number | null;
  readonly latencyMs: LatencyQuantiles;
}

/** The counts of a run of minutes, one per series point (reportReader.ts reads them). */
export interface SeriesCounts {
  readonly fromMinute: number;
  readonly minutes: number;
  readonly counts: ReadonlyMap<string, VariantCounts>;
}

/** A series has at most this many points; each covers ⌈window minutes ÷ this⌉ minutes. */
export const MAX_SERIES_POINTS = 60;

export interface VariantResult {
  readonly name: string;
  readonly isControl: boolean;
  /** Configured share of the experiment's units. */
  readonly share: number;
  readonly requests: number;
  /** 5xx + no response + unusable :status. */
  readonly errors: number;
  /** errors ÷ requests; null without requests. */
  readonly errorRate: number | null;
  readonly status5xx: number;
  readonly status4xx: number;
  readonly noResponse: number;
  readonly invalidStatus: number;
  /** Time from request headers to response headers at proflag, from the histogram. */
  readonly latencyMs: LatencyQuantiles;
  readonly vsControl: VsControl;
  /**
   * Over time, oldest first, from the generation's first point with counts to its last (empty
   * points in between included, with zero requests); empty when the reader asked for none.
   */
  readonly series: readonly SeriesPoint[];
}

export interface SrmResult {
  readonly chiSquared: number;
  readonly degreesOfFreedom: number;
  readonly pValue: number | null;
  readonly mismatch: boolean;
  readonly threshold: number;
  /** Expected requests per variant at the configured shares. */
  readonly expected: Readonly<Record<string, number>>;
}

export interface ExperimentResults {
  readonly flag: string;
  readonly generation: string;
  readonly control: string;
  /** Minutes (epoch minutes, inclusive) the counts were read from. */
  readonly window: { readonly from: string; readonly to: string; readonly minutes: number };
  readonly variants: readonly VariantResult[];
  readonly srm: SrmResult;
  readonly guardrails: readonly GuardrailCheck[];
  readonly methods: Readonly<Record<string, string>>;
}

export const METHODS = Object.freeze({
  errorRate: 'errors = 5xx + no response + unusable :status; two-proportion z-test, pooled variance, two-sided',
  latency:
    'Mann-Whitney U on the log-bucket histograms (each bucket a tie group), tie-corrected normal approximation, two-sided',
  quantiles: 'from the histogram: rank q·n, geometric interpolation inside the bucket (≤ ~9 % error)',
  srm: "Pearson's chi-squared of requests against the configured weights, k-1 degrees of freedom; mismatch when p < 0.001",
  power:
    'requests for a two-sided two-proportion z-test to detect the relative effect at the given power (normal approximation)',
  guardrails: 'one-sided tests against the bound: Farrington-Manning (error rate), Woodruff log-ratio (p95)',
});

export interface ResultsOptions {
  /** Relative error-rate increase for the power line; default: the first errorRate guardrail's bound, else 0.1. */
  readonly relativeEffect?: number;
  readonly alpha?: number;
  readonly power?: number;
  /** Epoch minutes of the window, for the document. */
  readonly fromMinute: number;
  readonly toMinute: number;
  /** Per-point counts of this generation, oldest first, for the variants' `series`. */
  readonly series?: readonly SeriesCounts[];
}

const quantile = (h: Float64Array, q: number): number | null =>
  histogramTotal(h) > 0 ? histogramQuantile(h, q) : null;

const relative = (value: number | null, base: number | null): number | null =>
  value === null || base === null || !(base > 0) ? null : value / base - 1;

function powerEstimate(
  control: VariantCounts,
  variant: VariantCounts,
  controlShare: number,
  variantShare: number,
  relativeEffect: number,
  alpha: number,
  power: number,
): PowerEstimate | null {
  if (!(control.requests > 0 && controlShare > 0 && variantShare > 0 && relativeEffect > 0)) return null;
  const pC = errorsOf(control) / control.requests;
  const pT = Math.min(1, pC * (1 + relativeEffect));
  if (!(pC > 0) || pT === pC) return null;
  const ratio = variantShare / controlShare;
  const requiredControl = requiredControlRequests(pC, pT, { alpha, power, ratio });
  const requiredVariant = Math.ceil(requiredControl * ratio);
  // The experiment's traffic splits by share: total T gives T·share to each arm.
  const totalNeeded = Math.max(requiredControl / controlShare, requiredVariant / variantShare);
  const totalSoFar = Math.max(control.requests / controlShare, variant.requests / variantShare);
  return {
    relativeEffect,
    controlRate: pC,
    targetRate: pT,
    alpha,
    power,
    requiredControl,
    requiredVariant,
    additionalRequests: Math.max(0, Math.ceil(totalNeeded - totalSoFar)),
  };
}

const NO_COMPARISON: VsControl = Object.freeze({
  errorRatePValue: null,
  latencyPValue: null,
  errorRateDifference: null,
  errorRateRelative: null,
  latencyP50Relative: null,
  latencyP95Relative: null,
  latencyP99Relative: null,
  probabilitySlower: null,
  power: null,
});

function minuteIso(minute: number): string {
  return new Date(minute * 60_000).toISOString();
}

/** The points from the first with counts (any variant) to the last. */
function trimmedSeries(series: readonly SeriesCounts[]): readonly SeriesCounts[] {
  const counted = (p: SeriesCounts) => [...p.counts.values()].some((c) => c.requests > 0);
  const first = series.findIndex(counted);
  if (first < 0) return [];
  let last = series.length - 1;
  while (!counted(series[last]!)) last--;
  return series.slice(first, last + 1);
}

function seriesOf(series: readonly SeriesCounts[], variant: string): SeriesPoint[] {
  return series.map((p) => {
    const c = p.counts.get(variant);
    const requests = c?.requests ?? 0;
    const errors = c ? errorsOf(c) : 0;
    return {
      t: minuteIso(p.fromMinute),
      minutes: p.minutes,
      requests,
      errors,
      errorRate: requests > 0 ? errors / requests : null,
      latencyMs: c
        ? { p50: quantile(c.latency, 0.5), p95: quantile(c.latency, 0.95), p99: quantile(c.latency, 0.99) }
        : { p50: null, p95: null, p99: null },
    };
  });
}

/** The results of one generation from its merged counts (missing variants count as zero). */
export function computeResults(
  spec: ExperimentSpec,
  counts: ReadonlyMap<string, VariantCounts>,
  options: ResultsOptions,
): ExperimentResults {
  const alpha = options.alpha ?? 0.05;
  const power = options.power ?? 0.8;
  const relativeEffect =
    options.relativeEffect ?? spec.guardrails.find((g) => g.metric === 'errorRate')?.maxRelativeIncrease ?? 0.1;
  const of = (name: string) => counts.get(name) ?? emptyVariantCounts();
  const control = of(spec.control);
  const controlShare = spec.variants.find((v) => v.name === spec.control)?.share ?? 0;
  const controlRate = control.requests > 0 ? errorsOf(control) / control.requests : null;
  const series = trimmedSeries(options.series ?? []);
  const controlLatency = {
    p50: quantile(control.latency, 0.5),
    p95: quantile(control.latency, 0.95),
    p99: quantile(control.latency, 0.99),
  };

  const variants: VariantResult[] = spec.variants.map((v) => {
    const c = of(v.name);
    const isControl = v.name === spec.control;
    const errors = errorsOf(c);
    const errorRate = c.requests > 0 ? errors / c.requests : null;
    const latencyMs = isControl
      ? controlLatency
      : { p50: quantile(c.latency, 0.5), p95: quantile(c.latency, 0.95), p99: quantile(c.latency, 0.99) };
    let vsControl = NO_COMPARISON;
    if (!isControl) {
      const both = c.requests > 0 && control.requests > 0;
      const latencyBoth = histogramTotal(c.latency) > 0 && histogramTotal(control.latency) > 0;
      const mw = latencyBoth ? mannWhitneyBuckets(c.latency, control.latency) : null;
      vsControl = {
        errorRatePValue: both
          ? twoProportionZTest(errorsOf(control), control.requests, errors, c.requests).pValue
          : null,
        latencyPValue: mw ? mw.pValue : null,
        errorRateDifference: both && errorRate !== null && controlRate !== null ? errorRate - controlRate : null,
        errorRateRelative: both ? relative(errorRate, controlRate) : null,
        latencyP50Relative: relative(latencyMs.p50, controlLatency.p50),
        latencyP95Relative: relative(latencyMs.p95, controlLatency.p95),
        latencyP99Relative: relative(latencyMs.p99, controlLatency.p99),
        probabilitySlower: mw ? mw.probabilityGreater : null,
        power: powerEstimate(control, c, controlShare, v.share, relativeEffect, alpha, power),
      };
    }
    return {
      name: v.name,
      isControl,
      share: v.share,
      requests: c.requests,
      errors,
      errorRate,
      status5xx: c.status5xx,
      status4xx: c.status4xx,
      noResponse: c.noResponse,
      invalidStatus: c.invalidStatus,
      latencyMs,
      vsControl,
      series: seriesOf(series, v.name),
    };
  });

  const srm = sampleRatioTest(
    variants.map((v) => v.requests),
    variants.map((v) => v.share),
  );
  return {
    flag: spec.flag,
    generation: spec.generation,
    control: spec.control,
    window: {
      from: minuteIso(options.fromMinute),
      to: minuteIso(options.toMinute + 1),
      minutes: Math.max(0, options.toMinute - options.fromMinute + 1),
    },
    variants,
    srm: {
      chiSquared: srm.chiSquared,
      degreesOfFreedom: srm.degreesOfFreedom,
      pValue: srm.pValue,
      mismatch: srm.mismatch,
      threshold: SRM_P_THRESHOLD,
      expected: Object.fromEntries(variants.map((v, i) => [v.name, srm.expected[i]!])),
    },
    guardrails: evaluateGuardrails(spec, counts, emptyVariantCounts),
    methods: METHODS,
  };
}
