// The console's reading of experiment results (ui/src/experiments.ts, pure): the report as
// GET /api/experiments/NAME answers it (CONTRACT §7 plus the module's extras, with the series
// the console adds per variant).
import { describe, expect, it } from 'vitest';
import { normalizeResults, plotSeries, type ExperimentResult } from '../../../ui/src/experiments.js';

const t0 = Date.UTC(2026, 10, 24, 12, 0);
const point = (minute: number, requests: number, errors: number, p95: number) => ({
  t: t0 + minute * 60_000,
  requests,
  errors,
  errorRate: errors / requests,
  latencyMs: { p50: p95 / 3, p95 },
});
const report = {
  flag: 'checkout-experiment',
  generation: '4212b52c',
  control: 'control',
  window: { from: '2026-11-24T12:00:00.000Z', to: '2026-11-24T12:06:00.000Z', minutes: 7 },
  variants: [
    {
      name: 'control',
      requests: 12000,
      errors: 120,
      errorRate: 0.01,
      latencyMs: { p50: 42.1, p95: 120.2, p99: 251.7 },
      vsControl: { errorRatePValue: null, latencyPValue: null },
      series: [point(0, 1900, 19, 118), point(1, 2000, 20, 121.5), point(2, 2050, 21, 119)],
    },
    {
      name: 'treatment',
      requests: 11800,
      errors: 236,
      errorRate: 0.02,
      latencyMs: { p50: 45.3, p95: 129.4, p99: 262 },
      vsControl: { errorRatePValue: 3.1e-6, latencyPValue: 0.2345 },
      // A minute without requests: no rate, no latency.
      series: [
        point(0, 1880, 20, 125),
        { t: t0 + 60_000, requests: 0, errors: 0, errorRate: null, latencyMs: { p50: null, p95: null } },
        { t: t0 + 120_000, requests: 1990, errors: 45, latencyMs: { p95: 131.2 } },
      ],
    },
  ],
  srm: { pValue: 0.1948, mismatch: false },
  earlierGenerations: [],
  trips: [],
};

function ok(r: ReturnType<typeof normalizeResults>): ExperimentResult {
  if ('error' in r) throw new Error(r.error);
  return r;
}

describe('experiment results for the console', () => {
  it('reads the CONTRACT §7 totals, p-values and SRM', () => {
    const r = ok(normalizeResults(report));
    expect(r.flag).toBe('checkout-experiment');
    expect(r.control).toBe('control');
    expect(r.generation).toBe('4212b52c');
    expect([r.since, r.until]).toEqual(['2026-11-24T12:00:00.000Z', '2026-11-24T12:06:00.000Z']);
    expect(r.srm).toEqual({ pValue: 0.1948, mismatch: false });
    expect(r.variants.map((v) => [v.name, v.isControl, v.requests, v.errors])).toEqual([
      ['control', true, 12000, 120],
      ['treatment', false, 11800, 236],
    ]);
    expect(r.variants[1]).toMatchObject({
      errorRate: 0.02,
      p95: 129.4,
      errorRatePValue: 0.0000031,
      latencyPValue: 0.2345,
    });
    expect(r.variants[0]!.errorRatePValue).toBeNull();
  });

  it('reads the series over time, and computes a missing error rate', () => {
    const r = ok(normalizeResults(report));
    const requests = plotSeries(r, 'requests');
    expect(requests.map((s) => s.points.length)).toEqual([3, 3]);
    expect(requests[0]!.points[0]).toEqual([t0, 1900]);
    const errorRate = plotSeries(r, 'errorRate');
    // The empty minute has no rate (no point), the last one's is computed from its counts.
    expect(errorRate[1]!.points.map((p) => p[0])).toEqual([t0, t0 + 120_000]);
    expect(errorRate[1]!.points[1]![1]).toBeCloseTo(45 / 1990, 10);
    expect(plotSeries(r, 'p95')[0]!.points[1]![1]).toBe(121.5);
    expect(plotSeries(r, 'p95')[1]!.points).toHaveLength(2);
  });

  it('takes other time keys, ISO times, unsorted points; skips what it cannot read', () => {
    const r = ok(
      normalizeResults({
        control: 'a',
        variants: [
          {
            name: 'a',
            buckets: [
              { minute: '2026-11-24T12:01:00Z', requests: 10, errors: 1, p95: 5 },
              { start: Date.UTC(2026, 10, 24, 12, 0), requests: 20 },
              { requests: 3 },
              'nonsense',
            ],
          },
          { weight: 3 },
        ],
      }),
    );
    expect(r.variants).toHaveLength(1);
    expect(r.variants[0]!.series.map((p) => [p.t, p.requests, p.errorRate, p.p95])).toEqual([
      [Date.UTC(2026, 10, 24, 12, 0), 20, null, null],
      [Date.UTC(2026, 10, 24, 12, 1), 10, 0.1, 5],
    ]);
    expect(r.variants[0]!.requests).toBeNull();
    expect(r.srm).toEqual({ pValue: null, mismatch: null });
  });

  it('says when the JSON is not results at all', () => {
    expect(normalizeResults(null)).toEqual({ error: 'the results are not a JSON object' });
    expect(normalizeResults({ flag: 'x' })).toEqual({ error: 'the results have no variants' });
  });
});
