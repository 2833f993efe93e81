// The text of `ffr results NAME`, and the small pure pieces around the report: generations,
// the counter fields in Redis, durations.
import { describe, expect, it } from 'vitest';
import {
  counterField,
  emptyVariantCounts,
  parseCounterField,
  addToCounts,
} from '../../../src/experiments/core/counts.js';
import { formatReport } from '../../../src/experiments/core/format.js';
import { parseDuration } from '../../../src/experiments/core/duration.js';
import { experimentReport } from '../../../src/experiments/core/report.js';
import { computeResults } from '../../../src/experiments/core/results.js';
import { experimentGeneration, type ExperimentSpec } from '../../../src/experiments/core/spec.js';

const variants = [
  { name: 'control', share: 0.5 },
  { name: 'treatment', share: 0.5 },
];
const spec: ExperimentSpec = {
  flag: 'checkout-v2',
  generation: experimentGeneration('control', variants),
  control: 'control',
  variants,
  guardrails: [{ metric: 'errorRate', maxRelativeIncrease: 0.1, minRequests: 500, pValue: 0.01 }],
};

function counts(requests: number, errors: number, bucket: number) {
  const c = emptyVariantCounts();
  c.requests = requests;
  c.status5xx = errors;
  c.latency[bucket] = requests;
  return c;
}

describe('formatReport', () => {
  const results = computeResults(
    spec,
    new Map([
      ['control', counts(1000, 10, 40)],
      ['treatment', counts(1000, 80, 44)],
    ]),
    { fromMinute: 29_000_000, toMinute: 29_000_009 },
  );
  const text = formatReport(
    experimentReport(
      results,
      [],
      [
        {
          at: '2025-02-19T21:25:00.000Z',
          flag: 'checkout-v2',
          generation: spec.generation,
          variant: 'treatment',
          metric: 'errorRate',
          detail: 'guardrail errorRate on checkout-v2: treatment 8.00% vs control 1.00%',
          check: results.guardrails[0]!,
        },
      ],
    ),
  );

  it('prints one row per variant with counts, rates, latency and the tests', () => {
    const lines = text.split('\n');
    expect(lines[0]).toBe(
      `experiment checkout-v2, control "control", generation ${spec.generation} (control 50%, treatment 50%)`,
    );
    expect(lines[1]).toBe('window 2025-02-19T21:20:00.000Z to 2025-02-19T21:30:00.000Z (10 min)');
    const header = lines[3]!;
    for (const column of ['variant', 'requests', 'error rate', 'p95 ms', 'p (z-test)', 'p (MWU)']) {
      expect(header).toContain(column);
    }
    expect(lines[4]).toMatch(/^control \(control\)\s+50%\s+1,000\s+10\s+1\.00%/);
    expect(lines[5]).toMatch(/^treatment\s+50%\s+1,000\s+80\s+8\.00%.*\+7\.00 pp\s+[\d.e-]+\s+\+\d+\.\d%\s+< 1e-15$/);
  });

  it('says whether the split is sound, what power needs, and what the guardrails did', () => {
    expect(text).toContain('sample ratio: chi-squared 0.00, 1 df, p = 1.0: ok');
    expect(text).toMatch(/treatment: \+10\.0% on control's 1\.00% needs 163,095 control \/ 163,095 treatment requests/);
    expect(text).toMatch(
      /treatment: errorRate at most \+10\.0% \(min 500, p < 0\.01\): TRIPPED; 8\.00% vs 1\.00% \(\+700\.0%\)/,
    );
    expect(text).toContain('2025-02-19T21:25:00.000Z: treatment weight set to 0: guardrail errorRate on checkout-v2');
  });

  it('marks a broken split loudly', () => {
    const broken = computeResults(
      spec,
      new Map([
        ['control', counts(6000, 60, 40)],
        ['treatment', counts(4000, 40, 40)],
      ]),
      { fromMinute: 0, toMinute: 0 },
    );
    expect(formatReport(experimentReport(broken, [], []))).toMatch(
      /sample ratio: chi-squared 400\.00, 1 df, p < 1e-15: MISMATCH \(p < 0\.001\)/,
    );
  });
});

describe('counter fields', () => {
  it('round-trips and refuses anything else', () => {
    expect(parseCounterField(counterField('0a1b2c3d', 'treatment', 'n'))).toEqual({
      generation: '0a1b2c3d',
      variant: 'treatment',
      slot: 0,
    });
    expect(parseCounterField('0a1b2c3d:treatment:h161')!.slot).toBe(261);
    for (const bad of [
      '',
      'x',
      'a:b',
      'a::n',
      ':v:n',
      'a:v:',
      'a:v:zz',
      'a:v:h162',
      'a:v:h-1',
      'a:v:h1e3',
      'a:b:c:n',
    ]) {
      expect(parseCounterField(bad)).toBeNull();
    }
    const c = emptyVariantCounts();
    expect(addToCounts(c, 0, 5)).toBe(true);
    expect(addToCounts(c, 0, -5)).toBe(false);
    expect(addToCounts(c, 0, 1.5)).toBe(false);
    expect(addToCounts(c, 0, NaN)).toBe(false);
    expect(addToCounts(c, 50, 1)).toBe(false);
    expect(c.requests).toBe(5);
  });

  it('generations depend on control, names and shares only', () => {
    const g = experimentGeneration('control', variants);
    expect(g).toMatch(/^[0-9a-f]{8}$/);
    expect(experimentGeneration('control', [...variants])).toBe(g);
    expect(experimentGeneration('control', [{ name: 'control', share: 0.5 + 1e-13 }, variants[1]!])).toBe(g);
    expect(experimentGeneration('treatment', variants)).not.toBe(g);
    expect(experimentGeneration('control', [variants[0]!, { name: 'treatment', share: 0 }])).not.toBe(g);
  });
});

describe('parseDuration', () => {
  it.each([
    ['90s', 90_000],
    ['30m', 1_800_000],
    ['1h', 3_600_000],
    ['7d', 604_800_000],
    ['1h30m', 5_400_000],
  ])('%s', (text, ms) => expect(parseDuration(text)).toBe(ms));

  it.each(['', '0s', '1', 'h', '1y', '-1h', '1.5h', '99999999d', '1h1h'])('refuses %j', (text) =>
    expect(parseDuration(text)).toBeNull(),
  );
});
