// The console's reading of experiment results (ui/src/experiments.ts, pure), against the fixed
// data set the browser test also renders.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { normalizeResults, plotSeries, type ExperimentResult } from '../../../ui/src/experiments.js';

const fixture = JSON.parse(
  readFileSync(new URL('../../fixtures/console/experiment-results.json', import.meta.url), 'utf8'),
) as Record<string, unknown>;

function ok(r: ReturnType<typeof normalizeResults>): ExperimentResult {
  if ('error' in r) throw new Error(r.error);
  return r;
}

describe('experiment results for the console', () => {
  it('reads the CONTRACT §7 totals, p-values and SRM', () => {
    const r = ok(normalizeResults(fixture));
    expect(r.flag).toBe('checkout-experiment');
    expect(r.control).toBe('control');
    expect(r.srm).toEqual({ pValue: 0.1936, mismatch: false });
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
    const r = ok(normalizeResults(fixture));
    const requests = plotSeries(r, 'requests');
    expect(requests.map((s) => s.points.length)).toEqual([6, 6]);
    expect(requests[0]!.points[0]).toEqual([Date.UTC(2026, 10, 24, 12, 0), 1900]);
    const errorRate = plotSeries(r, 'errorRate');
    expect(errorRate[1]!.points[3]![1]).toBeCloseTo(45 / 1990, 10);
    expect(plotSeries(r, 'p95')[0]!.points[1]![1]).toBe(121.5);
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
