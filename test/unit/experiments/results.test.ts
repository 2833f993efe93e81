// The results document on a fixed data set, every figure against an independent calculation.
// Reference values: a python3 one-off with only the standard library (statistics.NormalDist,
// math). It expands the latency buckets into one value per request and ranks them by sorting
// (Mann–Whitney), finds the Farrington–Manning restricted rate by golden-section search,
// computes quantiles from the bucket bounds 0.1·2^((i−1)/8) ms, χ² with 1 df as
// erfc(√(x/2)), and the sample size with NormalDist().inv_cdf. The script is not committed;
// the formulas are in the comments next to each value.
import { describe, expect, it } from 'vitest';
import { emptyVariantCounts, type VariantCounts } from '../../../src/experiments/core/counts.js';
import { computeResults } from '../../../src/experiments/core/results.js';
import { experimentGeneration, type ExperimentSpec } from '../../../src/experiments/core/spec.js';

function counts(
  c: { requests: number; status5xx: number; status4xx: number; noResponse: number; invalidStatus: number },
  latency: Record<number, number>,
): VariantCounts {
  const v = emptyVariantCounts();
  Object.assign(v, c);
  for (const [bucket, n] of Object.entries(latency)) v.latency[Number(bucket)] = n;
  return v;
}

/** Paths of every NaN or ±Infinity in a document (JSON would silently turn them into null). */
function nonFinite(node: unknown, path = ''): string[] {
  if (typeof node === 'number') return Number.isFinite(node) ? [] : [path];
  if (node && typeof node === 'object') return Object.entries(node).flatMap(([k, v]) => nonFinite(v, `${path}.${k}`));
  return [];
}

const variants = [
  { name: 'control', share: 0.5 },
  { name: 'treatment', share: 0.5 },
];
const spec: ExperimentSpec = {
  flag: 'checkout-v2',
  generation: experimentGeneration('control', variants),
  control: 'control',
  variants,
  guardrails: [
    { metric: 'errorRate', maxRelativeIncrease: 0.1, minRequests: 500, pValue: 0.01 },
    { metric: 'latencyP95', maxRelativeIncrease: 0.25, minRequests: 500, pValue: 0.01 },
  ],
};

// control: 10,000 requests, errors = 80 5xx + 15 no response + 5 bad :status = 100 (1.00 %)
// treatment: 9,800 requests, errors = 140 + 8 + 2 = 150 (1.53 %)
// Latency histograms hold the requests that had response headers (requests − no response).
const data = new Map([
  [
    'control',
    counts(
      { requests: 10_000, status5xx: 80, status4xx: 120, noResponse: 15, invalidStatus: 5 },
      { 40: 985, 41: 2000, 42: 4000, 43: 2500, 50: 500 },
    ),
  ],
  [
    'treatment',
    counts(
      { requests: 9_800, status5xx: 140, status4xx: 90, noResponse: 8, invalidStatus: 2 },
      { 40: 900, 41: 1900, 42: 3900, 43: 2542, 51: 550 },
    ),
  ],
]);

describe('computeResults on a fixed data set', () => {
  const r = computeResults(spec, data, { fromMinute: 29_000_000, toMinute: 29_000_059 });
  const [control, treatment] = r.variants;

  it('has the CONTRACT §7 shape', () => {
    expect(r).toMatchObject({ flag: 'checkout-v2', control: 'control', srm: { mismatch: false } });
    for (const v of r.variants) {
      expect(v).toHaveProperty('name');
      expect(v).toHaveProperty('requests');
      expect(v).toHaveProperty('errors');
      expect(v).toHaveProperty('errorRate');
      expect(Object.keys(v.latencyMs)).toEqual(['p50', 'p95', 'p99']);
      expect(v.vsControl).toHaveProperty('errorRatePValue');
      expect(v.vsControl).toHaveProperty('latencyPValue');
    }
    expect(r.window).toEqual({ from: '2025-02-19T21:20:00.000Z', to: '2025-02-19T22:20:00.000Z', minutes: 60 });
  });

  it('counts errors as 5xx + no response + unusable :status, 4xx apart', () => {
    expect(control).toMatchObject({ requests: 10_000, errors: 100, errorRate: 0.01, status4xx: 120, isControl: true });
    expect(treatment).toMatchObject({ requests: 9_800, errors: 150, status4xx: 90, noResponse: 8, invalidStatus: 2 });
    expect(treatment!.errorRate).toBeCloseTo(150 / 9800, 15);
    expect(control!.vsControl.errorRatePValue).toBeNull();
  });

  it('error rate: two-proportion z-test p = 0.000827788 (z = 3.34333)', () => {
    // python: p̂ = 250/19800; z = (150/9800 − 100/10000)/√(p̂q̂(1/10000 + 1/9800)) = 3.3433320817162353
    expect(treatment!.vsControl.errorRatePValue!).toBeCloseTo(0.0008277877499489605, 9);
    expect(treatment!.vsControl.errorRateDifference!).toBeCloseTo(150 / 9800 - 0.01, 15);
    expect(treatment!.vsControl.errorRateRelative!).toBeCloseTo(0.5306122448979591, 12);
  });

  it('latency: quantiles from the buckets and Mann–Whitney p = 0.00181974 (z = 3.11818)', () => {
    // python: rank q·n in the sorted bucket counts, lo·2^(f/8) inside the bucket
    expect(control!.latencyMs.p50!).toBeCloseTo(3.6447156904105813, 10);
    expect(control!.latencyMs.p95!).toBeCloseTo(6.9801566068355285, 10);
    expect(control!.latencyMs.p99!).toBeCloseTo(7.480368825636026, 10);
    expect(treatment!.latencyMs.p50!).toBeCloseTo(3.6559628037296883, 10);
    expect(treatment!.latencyMs.p95!).toBeCloseTo(7.683689272906813, 10);
    expect(treatment!.latencyMs.p99!).toBeCloseTo(8.172725956590892, 10);
    expect(treatment!.vsControl.latencyP95Relative!).toBeCloseTo(0.100790384184551, 10);
    // python: 19,777 values ranked by sorting, U = 50,081,370, tie-corrected σ, continuity ½
    expect(treatment!.vsControl.latencyPValue!).toBeCloseTo(0.0018197379244973178, 8);
    expect(treatment!.vsControl.probabilitySlower!).toBeCloseTo(0.5122202298545858, 12);
  });

  it('sample ratio: χ² = 2.0202 with 1 df, p = 0.155218', () => {
    // python: expected 9,900 each; (100² + 100²)/9900; p = erfc(√(χ²/2))
    expect(r.srm.chiSquared).toBeCloseTo(2.0202020202020203, 12);
    expect(r.srm.degreesOfFreedom).toBe(1);
    expect(r.srm.pValue!).toBeCloseTo(0.15521848968468402, 9);
    expect(r.srm.expected).toEqual({ control: 9900, treatment: 9900 });
  });

  it('power: +10 % on 1.00 % needs 163,095 per arm, 306,190 more requests', () => {
    // python: z.975 = 1.959964, z.8 = 0.841621; [z√(2p̄q̄) + z√(p₁q₁ + p₂q₂)]²/(0.001)² = 163094.6
    // more = 2 · 163,095 − max(10,000, 9,800)/0.5
    expect(treatment!.vsControl.power).toMatchObject({
      relativeEffect: 0.1,
      requiredControl: 163_095,
      requiredVariant: 163_095,
      additionalRequests: 306_190,
      alpha: 0.05,
      power: 0.8,
    });
  });

  it('guardrails: the error rate trips (Farrington–Manning p = 0.00484), the p95 bound holds', () => {
    const [errorRate, latency] = r.guardrails;
    // python: restricted MLE p̃_c = 0.012031990, z = 2.586827246479563, p = 0.00484320711912398
    expect(errorRate).toMatchObject({ metric: 'errorRate', variant: 'treatment', status: 'tripped' });
    expect(errorRate!.pValue!).toBeCloseTo(0.00484320711912398, 8);
    expect(errorRate!.relativeIncrease!).toBeCloseTo(0.5306122448979591, 12);
    // python (Woodruff, ρ = 1.25): z = −0.941917785285324, p = 0.8268826331614638
    expect(latency).toMatchObject({ metric: 'latencyP95', status: 'within-bound', controlRequests: 9985 });
    expect(latency!.pValue!).toBeCloseTo(0.8268826331614638, 7);
  });
});

describe('computeResults edge cases', () => {
  it('a variant with no counts yet: zeros and nulls, no NaN anywhere', () => {
    const r = computeResults(spec, new Map([['control', data.get('control')!]]), { fromMinute: 0, toMinute: 0 });
    const t = r.variants[1]!;
    expect(t).toMatchObject({ requests: 0, errors: 0, errorRate: null });
    expect(t.latencyMs).toEqual({ p50: null, p95: null, p99: null });
    expect(t.vsControl.errorRatePValue).toBeNull();
    expect(r.guardrails.every((g) => g.status === 'insufficient-data')).toBe(true);
    expect(nonFinite(r)).toEqual([]);
  });

  it('no counts at all', () => {
    const r = computeResults(spec, new Map(), { fromMinute: 0, toMinute: 0 });
    expect(nonFinite(r)).toEqual([]);
    expect(r.srm.pValue).toBeNull();
    expect(r.variants.every((v) => v.requests === 0)).toBe(true);
    expect(r.variants[1]!.vsControl.power).toBeNull();
  });

  it('a zero-error control gives no power estimate instead of a wrong one', () => {
    const zero = emptyVariantCounts();
    zero.requests = 1000;
    const r = computeResults(
      spec,
      new Map([
        ['control', zero],
        ['treatment', zero],
      ]),
      { fromMinute: 0, toMinute: 0 },
    );
    expect(r.variants[1]!.vsControl.power).toBeNull();
    expect(r.variants[1]!.vsControl.errorRatePValue).toBe(1);
  });

  it('JSON round trip keeps every number', () => {
    const r = computeResults(spec, data, { fromMinute: 0, toMinute: 0 });
    expect(nonFinite(r)).toEqual([]);
    expect(JSON.parse(JSON.stringify(r))).toEqual(r);
  });

  it('series: per point the counts and figures of that point, from the first point with counts to the last', () => {
    const at = (requests: number, status5xx: number, bucket: number) =>
      counts({ requests, status5xx, status4xx: 0, noResponse: 0, invalidStatus: 0 }, { [bucket]: requests });
    const none = new Map<string, VariantCounts>();
    const series = [
      { fromMinute: 100, minutes: 2, counts: none }, // before anything: trimmed
      { fromMinute: 102, minutes: 2, counts: new Map([['control', at(10, 1, 40)]]) },
      { fromMinute: 104, minutes: 2, counts: none }, // a quiet run in between: kept, zero requests
      {
        fromMinute: 106,
        minutes: 1,
        counts: new Map([
          ['control', at(4, 0, 41)],
          ['treatment', at(5, 5, 50)],
        ]),
      },
      { fromMinute: 107, minutes: 1, counts: none }, // after the last count: trimmed
    ];
    const total = new Map([
      ['control', at(14, 1, 40)],
      ['treatment', at(5, 5, 50)],
    ]);
    const r = computeResults(spec, total, { fromMinute: 100, toMinute: 107, series });
    const [control, treatment] = r.variants;
    const iso = (m: number) => new Date(m * 60_000).toISOString();
    expect(control!.series.map((p) => [p.t, p.minutes, p.requests, p.errors, p.errorRate])).toEqual([
      [iso(102), 2, 10, 1, 0.1],
      [iso(104), 2, 0, 0, null],
      [iso(106), 1, 4, 0, 0],
    ]);
    expect(treatment!.series.map((p) => [p.requests, p.errors, p.errorRate])).toEqual([
      [0, 0, null],
      [0, 0, null],
      [5, 5, 1],
    ]);
    // Quantiles of each point's own histogram (the reference: the totals' function on that point).
    const alone = computeResults(spec, new Map([['control', at(4, 0, 41)]]), { fromMinute: 106, toMinute: 106 });
    expect(control!.series[2]!.latencyMs).toEqual(alone.variants[0]!.latencyMs);
    expect(control!.series[1]!.latencyMs).toEqual({ p50: null, p95: null, p99: null });
    expect(nonFinite(r)).toEqual([]);
    // Without series counts (the guardrail runner), the series are empty.
    expect(computeResults(spec, total, { fromMinute: 100, toMinute: 107 }).variants[0]!.series).toEqual([]);
  });
});
