// The hot-path recorder: one slot per (experiment flag, variant), every outcome counted once in
// exactly one class, requests outside experiments get no observer, tables follow snapshots.
import { describe, expect, it } from 'vitest';
import { parseFlagValue, type FlagDefinition } from '../../../src/flags/schema.js';
import { compileSnapshot } from '../../../src/matcher/compile.js';
import { decide } from '../../../src/matcher/match.js';
import { bucketOf, histogramTotal } from '../../../src/experiments/core/histogram.js';
import type { VariantCounts } from '../../../src/experiments/core/counts.js';
import type { ExperimentFlagLike, ExperimentSpec } from '../../../src/experiments/core/spec.js';
import {
  ExperimentRecorder,
  ExperimentTable,
  MAX_RETIRED_TABLES,
  RETIRED_GRACE_MS,
} from '../../../src/experiments/recorder.js';
import { headersOf, profileOf } from '../../helpers/profiles.js';

const guardrails = [{ metric: 'errorRate' as const, maxRelativeIncrease: 0.1, minRequests: 500, pValue: 0.01 }];

function flag(
  name: string,
  index: number,
  weights: number[] | null,
  control: string | null = 'control',
): ExperimentFlagLike {
  const names = ['control', 'treatment', 'third'];
  let acc = 0;
  const total = weights?.reduce((a, b) => a + b, 0) ?? 0;
  const variants = weights ? weights.map((w, i) => ({ name: names[i]!, upTo: (acc += w / total) })) : null;
  return {
    name,
    index,
    variants,
    experiment: control === null ? null : { control, controlIndex: 0, guardrails },
  };
}

function drainAll(table: ExperimentTable): Map<string, VariantCounts> {
  const out = new Map<string, VariantCounts>();
  table.drain((spec: ExperimentSpec, variant, counts) => out.set(`${spec.flag}/${variant}`, counts));
  return out;
}

const match = (index: number, variant: string | null, variantIndex?: number) => ({
  flag: { index },
  variant,
  ...(variantIndex === undefined ? {} : { variantIndex }),
});

describe('ExperimentTable', () => {
  const flags = [flag('plain', 0, null, null), flag('exp-a', 1, [50, 50]), flag('exp-b', 2, [1, 1, 2])];

  it('gives slots only to experiment variants', () => {
    const t = new ExperimentTable(flags);
    expect(t.slots).toBe(5);
    expect(t.experiments.map((e) => e.flag)).toEqual(['exp-a', 'exp-b']);
    expect(t.experiments[1]!.variants.map((v) => v.share)).toEqual([0.25, 0.25, 0.5]);
    expect(t.slotOf(match(0, null))).toBe(-1);
    expect(t.slotOf(match(1, 'treatment', 1))).toBe(1);
    expect(t.slotOf(match(2, 'third', 2))).toBe(4);
    expect(t.slotOf(match(2, 'third'))).toBe(4); // by name when there is no variantIndex
    expect(t.slotOf(match(2, 'nope'))).toBe(-1);
    expect(t.slotOf(match(2, null, 7))).toBe(-1); // out of range
    expect(t.slotOf(match(2, null, -1))).toBe(-1);
    expect(t.slotOf(match(99, 'control', 0))).toBe(-1); // a flag index beyond the table
  });

  it('counts each outcome once, in exactly one class', () => {
    const t = new ExperimentTable(flags);
    const slot = t.slotOf(match(1, 'control', 0));
    const cases: [number | null, number][] = [
      [200, 12],
      [204, 3],
      [302, 8],
      [404, 5],
      [429, 5],
      [500, 40],
      [503, 40],
      [null, 0], // reset or local reply before response headers
      [NaN, 7], // :status that is not a number
      [700, 7],
      [99, 7],
      [200.5, 7],
    ];
    for (const [status, ms] of cases) t.observe(slot, status, ms);
    const c = drainAll(t).get('exp-a/control')!;
    expect(c).toMatchObject({ requests: 12, status5xx: 2, status4xx: 2, noResponse: 1, invalidStatus: 4 });
    expect(histogramTotal(c.latency)).toBe(11); // every answer with headers has a latency
    expect(c.latency[bucketOf(40)]).toBe(2);
    expect(c.latency[bucketOf(7)]).toBe(4);
  });

  it('drain hands the counts over once and zeroes them', () => {
    const t = new ExperimentTable(flags);
    t.observe(0, 200, 1);
    expect(t.dirty).toBe(true);
    expect(drainAll(t).size).toBe(1);
    expect(t.dirty).toBe(false);
    expect(drainAll(t).size).toBe(0);
    expect([...t.counters].every((x) => x === 0)).toBe(true);
    expect([...t.latency].every((x) => x === 0)).toBe(true);
  });

  it('ignores slots out of range and absurd latencies without throwing', () => {
    const t = new ExperimentTable(flags);
    t.observe(-1, 200, 1);
    t.observe(5, 200, 1);
    t.observe(Number.NaN, 200, 1);
    t.observe(0, 200, NaN);
    t.observe(0, 200, -3);
    t.observe(0, 200, Infinity);
    const c = drainAll(t).get('exp-a/control')!;
    expect(c.requests).toBe(3);
    expect(histogramTotal(c.latency)).toBe(3);
  });

  it('observerFor: null outside experiments, one prebuilt function per slot, all slots for several', () => {
    const t = new ExperimentTable(flags);
    expect(t.observerFor([])).toBeNull();
    expect(t.observerFor([match(0, null)])).toBeNull();
    const a = t.observerFor([match(0, null), match(1, 'treatment', 1)]);
    expect(a).toBe(t.observerFor([match(1, 'treatment', 1)])); // the same function object: no allocation
    const both = t.observerFor([match(1, 'treatment', 1), match(2, 'control', 0)])!;
    both(503, 10);
    const drained = drainAll(t);
    expect(drained.get('exp-a/treatment')).toMatchObject({ requests: 1, status5xx: 1 });
    expect(drained.get('exp-b/control')).toMatchObject({ requests: 1, status5xx: 1 });
    expect(new ExperimentTable([flag('plain', 0, null, null)]).observerFor([match(0, null)])).toBeNull();
  });

  it('refuses an experiment whose control names no variant, and drops impossible guardrails', () => {
    const bad = flag('bad', 0, [1, 1], 'nobody');
    const weird: ExperimentFlagLike = {
      ...flag('weird', 1, [1, 1]),
      experiment: {
        control: 'control',
        controlIndex: 0,
        guardrails: [
          { metric: 'errorRate', maxRelativeIncrease: -1, minRequests: 10, pValue: 0.01 },
          { metric: 'errorRate', maxRelativeIncrease: 0.1, minRequests: 10, pValue: 2 },
          { metric: 'errorRate', maxRelativeIncrease: 0.1, minRequests: 10, pValue: 0.05 },
        ],
      },
    };
    const noVariants: ExperimentFlagLike = { ...flag('novariants', 2, null), experiment: flags[1]!.experiment! };
    const t = new ExperimentTable([bad, weird, noVariants]);
    expect(t.rejected).toEqual([
      { flag: 'bad', reason: 'experiment.control "nobody" names no variant' },
      { flag: 'novariants', reason: 'an experiment needs variants' },
    ]);
    expect(t.experiments.map((e) => e.flag)).toEqual(['weird']);
    expect(t.experiments[0]!.guardrails).toHaveLength(1);
    expect(t.observerFor([match(0, 'control', 0)])).toBeNull();
  });
});

describe('ExperimentRecorder', () => {
  it('one table per snapshot; a new snapshot retires the old one, which stays drainable for a while', () => {
    let now = 1_000_000;
    const recorder = new ExperimentRecorder({ now: () => now });
    const s1 = { flags: [flag('exp', 0, [50, 50])] };
    const s2 = { flags: [flag('exp', 0, [50, 50])] };
    const t1 = recorder.tableFor(s1);
    expect(recorder.tableFor(s1)).toBe(t1);
    const t2 = recorder.bind(s2);
    expect(t2).not.toBe(t1);
    expect(t1.retiredAt).toBe(now);
    expect(t2.changedGenerations.size).toBe(0); // same weights: same generation
    expect(recorder.liveTables()).toEqual([t1, t2]);
    now += RETIRED_GRACE_MS + 1;
    expect(recorder.liveTables()).toEqual([t1, t2]); // returned one last time
    expect(recorder.liveTables()).toEqual([t2]);
    expect(recorder.currentExperiments()).toBe(t2.experiments);
  });

  it('keeps at most MAX_RETIRED_TABLES retired tables', () => {
    const recorder = new ExperimentRecorder();
    for (let i = 0; i < MAX_RETIRED_TABLES + 5; i++) recorder.bind({ flags: [flag('exp', 0, [50, 50])] });
    recorder.liveTables();
    expect(recorder.liveTables()).toHaveLength(MAX_RETIRED_TABLES + 1);
  });

  it('marks a flag whose weights changed as a new generation', () => {
    const recorder = new ExperimentRecorder();
    const t1 = recorder.bind({ flags: [flag('exp', 0, [50, 50]), flag('other', 1, [50, 50])] });
    const t2 = recorder.bind({ flags: [flag('exp', 0, [50, 0]), flag('other', 1, [50, 50])] });
    expect(t2.experiments[0]!.generation).not.toBe(t1.experiments[0]!.generation);
    expect([...t2.changedGenerations]).toEqual(['exp']);
  });

  it('observerFor with no matches never builds a table', () => {
    const recorder = new ExperimentRecorder();
    expect(recorder.observerFor({ flags: [flag('exp', 0, [50, 50])] }, [])).toBeNull();
    expect(recorder.liveTables()).toEqual([]);
  });
});

describe('with the real matcher (decide → matches → observer)', () => {
  function def(doc: Record<string, unknown>): FlagDefinition {
    const r = parseFlagValue({ enabled: true, ...doc });
    if (!r.ok) throw new Error(JSON.stringify(r.issues));
    return r.flag;
  }
  const compiled = compileSnapshot(
    [
      def({
        name: 'search',
        rollout: { percent: 100, stickiness: 'header:x-user-id' },
        variants: [
          { name: 'control', weight: 50 },
          { name: 'treatment', weight: 50 },
        ],
      }),
      def({ name: 'plain', profile: { method: { in: ['GET'] } } }),
    ],
    { version: 1, source: 'test', rejected: [] },
    { uaIndexBuilder: null },
  );
  // CompiledFlag gains `experiment` in the flags branch (interface 2); add it here meanwhile.
  const snapshot = {
    ...compiled,
    flags: compiled.flags.map((f) =>
      f.name === 'search' ? { ...f, experiment: { control: 'control', controlIndex: 0, guardrails } } : f,
    ),
  };
  const recorder = new ExperimentRecorder();

  it('records the variant each unit gets, and nothing for other flags', () => {
    let observed = 0;
    for (let u = 0; u < 2000; u++) {
      const headers = headersOf({ 'x-user-id': `user-${u}` });
      const decision = decide(snapshot, profileOf(), headers);
      const observe = recorder.observerFor(snapshot, decision.matches);
      expect(observe).not.toBeNull();
      observe!(u % 10 === 0 ? 503 : 200, 5);
      observed++;
    }
    const counts = drainAll(recorder.tableFor(snapshot));
    const c = counts.get('search/control')!;
    const t = counts.get('search/treatment')!;
    expect(c.requests + t.requests).toBe(observed);
    expect(c.status5xx + t.status5xx).toBe(200);
    expect(c.requests / observed).toBeGreaterThan(0.45);
    expect(c.requests / observed).toBeLessThan(0.55);
    expect([...counts.keys()].some((k) => k.startsWith('plain/'))).toBe(false);
  });

  it('hostile stickiness values (10 KB, control characters) still get one variant, counted once', () => {
    for (const unit of ['x'.repeat(10 * 1024), 'a\u0000b\u0001\r\n\u007f', '\uFFFD'.repeat(100)]) {
      const decision = decide(snapshot, profileOf({ method: 'POST' }), headersOf({ 'x-user-id': unit }));
      expect(decision.matches).toHaveLength(1);
      const again = decide(snapshot, profileOf({ method: 'POST' }), headersOf({ 'x-user-id': unit }));
      expect(again.matches[0]!.variant).toBe(decision.matches[0]!.variant); // sticky
      recorder.observerFor(snapshot, decision.matches)!(200, 1);
    }
    const counts = drainAll(recorder.tableFor(snapshot));
    expect([...counts.values()].reduce((n, c) => n + c.requests, 0)).toBe(3);
  });
});
