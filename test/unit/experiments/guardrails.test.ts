// Guardrail checks (pure) and the mutation a tripped guardrail asks the change path for.
import { describe, expect, it } from 'vitest';
import { emptyVariantCounts, type VariantCounts } from '../../../src/experiments/core/counts.js';
import { describeCheck, evaluateGuardrails } from '../../../src/experiments/core/guardrails.js';
import { bucketOf } from '../../../src/experiments/core/histogram.js';
import type { ExperimentSpec, Guardrail } from '../../../src/experiments/core/spec.js';
import { zeroVariantWeight } from '../../../src/experiments/guardrailRunner.js';

function variant(requests: number, errors: number, latencyMs: number[] = []): VariantCounts {
  const c = emptyVariantCounts();
  c.requests = requests;
  c.status5xx = errors;
  for (const ms of latencyMs) c.latency[bucketOf(ms)]!++;
  return c;
}

const errorRate: Guardrail = { metric: 'errorRate', maxRelativeIncrease: 0.1, minRequests: 500, pValue: 0.01 };

function spec(guardrails: Guardrail[], shares = [0.5, 0.5, 0]): ExperimentSpec {
  return {
    flag: 'f',
    generation: 'g1',
    control: 'control',
    variants: [
      { name: 'control', share: shares[0]! },
      { name: 'treatment', share: shares[1]! },
      { name: 'off', share: shares[2]! },
    ],
    guardrails,
  };
}

describe('evaluateGuardrails', () => {
  it('checks every non-control variant with a weight, against control', () => {
    const checks = evaluateGuardrails(
      spec([errorRate]),
      new Map([
        ['control', variant(600, 6)],
        ['treatment', variant(600, 48)],
      ]),
      emptyVariantCounts,
    );
    expect(checks).toHaveLength(1); // "off" has share 0: nothing to protect
    expect(checks[0]).toMatchObject({
      variant: 'treatment',
      status: 'tripped',
      controlValue: 0.01,
      variantValue: 0.08,
    });
    expect(checks[0]!.pValue!).toBeLessThan(1e-6);
    expect(checks[0]!.relativeIncrease!).toBeCloseTo(7, 12);
  });

  it('needs minRequests on both sides', () => {
    const checks = evaluateGuardrails(
      spec([errorRate]),
      new Map([
        ['control', variant(499, 5)],
        ['treatment', variant(5000, 400)],
      ]),
      emptyVariantCounts,
    );
    expect(checks[0]!.status).toBe('insufficient-data');
    expect(checks[0]!.pValue!).toBeLessThan(0.01); // the evidence is there; the rule says wait
  });

  it('a difference inside the bound, or not significant beyond it, does not trip', () => {
    const inside = evaluateGuardrails(
      spec([errorRate]),
      new Map([
        ['control', variant(100_000, 1000)],
        ['treatment', variant(100_000, 1050)], // +5 % < +10 %
      ]),
      emptyVariantCounts,
    );
    expect(inside[0]!.status).toBe('within-bound');
    const noisy = evaluateGuardrails(
      spec([errorRate]),
      new Map([
        ['control', variant(600, 6)],
        ['treatment', variant(600, 9)], // +50 %, but 9 vs 6 errors proves nothing
      ]),
      emptyVariantCounts,
    );
    expect(noisy[0]!.status).toBe('within-bound');
    expect(noisy[0]!.pValue!).toBeGreaterThan(0.1);
  });

  it('a better treatment never trips', () => {
    const checks = evaluateGuardrails(
      spec([errorRate]),
      new Map([
        ['control', variant(10_000, 800)],
        ['treatment', variant(10_000, 10)],
      ]),
      emptyVariantCounts,
    );
    expect(checks[0]!.status).toBe('within-bound');
    expect(checks[0]!.pValue!).toBeGreaterThan(0.99);
  });

  it('latencyP95: trips on a slower treatment, counts responses (not requests)', () => {
    const fast = Array.from({ length: 1000 }, (_, i) => 10 + (i % 50));
    const slow = fast.map((ms) => ms * 1.6);
    const g: Guardrail = { metric: 'latencyP95', maxRelativeIncrease: 0.2, minRequests: 500, pValue: 0.01 };
    const c = variant(1010, 0, fast);
    c.noResponse = 10;
    const checks = evaluateGuardrails(
      spec([g]),
      new Map([
        ['control', c],
        ['treatment', variant(1000, 0, slow)],
      ]),
      emptyVariantCounts,
    );
    expect(checks[0]).toMatchObject({ metric: 'latencyP95', status: 'tripped', controlRequests: 1000 });
    expect(checks[0]!.relativeIncrease!).toBeGreaterThan(0.5);
    const same = evaluateGuardrails(
      spec([g]),
      new Map([
        ['control', variant(1000, 0, fast)],
        ['treatment', variant(1000, 0, fast)],
      ]),
      emptyVariantCounts,
    );
    expect(same[0]!.status).toBe('within-bound');
  });

  it('zero errors in control and some in treatment: a defined answer, no Infinity', () => {
    const checks = evaluateGuardrails(
      spec([errorRate]),
      new Map([
        ['control', variant(1000, 0)],
        ['treatment', variant(1000, 30)],
      ]),
      emptyVariantCounts,
    );
    expect(checks[0]!.status).toBe('tripped');
    expect(checks[0]!.relativeIncrease).toBeNull();
    expect(describeCheck(checks[0]!)).toContain('treatment 3.00% vs control 0.00%');
  });

  it('describes a trip in one line with the figures', () => {
    const [check] = evaluateGuardrails(
      spec([errorRate]),
      new Map([
        ['control', variant(600, 6)],
        ['treatment', variant(600, 48)],
      ]),
      emptyVariantCounts,
    );
    expect(describeCheck(check!)).toMatch(
      /^guardrail errorRate on f: treatment 8\.00% vs control 1\.00% \(\+700\.0%, bound \+10\.0%\), p = [0-9.e-]+ < 0\.01 \(Farrington-Manning .*\); requests 600 \/ 600, generation g1$/,
    );
  });
});

describe('zeroVariantWeight (the mutation handed to the change path)', () => {
  const doc = {
    name: 'f',
    enabled: true,
    variants: [
      { name: 'control', weight: 50 },
      { name: 'treatment', weight: 50, actions: { route: { cluster: 'v2' } } },
    ],
    experiment: { control: 'control' },
  };

  it('sets the weight to 0 and keeps everything else', () => {
    const next = zeroVariantWeight('treatment', 'control')(doc)!;
    expect(next.variants).toEqual([
      { name: 'control', weight: 50 },
      { name: 'treatment', weight: 0, actions: { route: { cluster: 'v2' } } },
    ]);
    expect({ ...next, variants: undefined }).toEqual({ ...doc, variants: undefined });
    expect(doc.variants[1]!.weight).toBe(50); // the input is not modified
  });

  it('returns null when there is nothing to do (so racing replicas make one change)', () => {
    const once = zeroVariantWeight('treatment', 'control')(doc)!;
    expect(zeroVariantWeight('treatment', 'control')(once)).toBeNull();
    expect(zeroVariantWeight('missing', 'control')(doc)).toBeNull();
    expect(zeroVariantWeight('control', 'control')(doc)).toBeNull(); // never the control
    expect(zeroVariantWeight('treatment', 'control')({ name: 'f' })).toBeNull();
    // The last variant with a weight is never zeroed: the flag must still serve.
    const lonely = {
      variants: [
        { name: 'control', weight: 0 },
        { name: 'treatment', weight: 5 },
      ],
    };
    expect(zeroVariantWeight('treatment', 'control')(lonely)).toBeNull();
  });
});
