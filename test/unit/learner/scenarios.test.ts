// QUALITY.md learning bars on small, fast versions of the benchmark's scenarios (fixed seeds,
// real user agents, the real feature extractor, detector and matcher):
//   a new pattern at 1 % of traffic is proposed within 5,000 requests of its onset, and the
//   proposed range captures ≥ 95 % of the planted requests and ≤ 2 % of the rest;
//   a proposal's support is never fewer than k = 50 distinct clients.
import { beforeAll, describe, expect, it } from 'vitest';
import { plantedScenario, QUICK } from '../../../bench/scenarios/catalog.js';
import {
  judgeProposals,
  runScenario,
  type ProposalQuality,
  type ScenarioRun,
} from '../../../bench/scenarios/evaluate.js';
import { generateScenario } from '../../../bench/scenarios/generator.js';
import { embedUserAgent } from '../../../src/features/userAgent.js';
import { parseFlagValue } from '../../../src/flags/schema.js';
import { Learner } from '../../../src/learner/learner.js';
import { compileSnapshot } from '../../../src/matcher/compile.js';
import { decide } from '../../../src/matcher/match.js';
import { buildUaIndex } from '../../../src/matcher/uaIndexImpl.js';
import { headersOf } from '../../helpers/profiles.js';

/** Distinct clients (true client keys) of the requests in each proposal's range up to its first emission. */
function clientsBehindFirstVersions(run: ScenarioRun): number[] {
  const first = new Map<string, { index: number; name: string }>();
  const flags = [];
  for (const e of run.emitted) {
    if (first.has(e.emission.id)) continue;
    const name = `p${first.size}`;
    first.set(e.emission.id, { index: e.index, name });
    const parsed = parseFlagValue({ ...e.emission.document, name, enabled: true });
    if (!parsed.ok) throw new Error('invalid proposal');
    flags.push(parsed.flag);
  }
  if (flags.length === 0) return [];
  const snapshot = compileSnapshot(
    flags,
    { version: 1, source: 'test', rejected: [] },
    { uaIndexBuilder: { embed: embedUserAgent, build: buildUaIndex } },
  );
  const clients = new Map<string, Set<string>>(flags.map((f) => [f.name, new Set<string>()]));
  const until = new Map([...first.values()].map((v) => [v.name, v.index]));
  const last = Math.max(...until.values());
  for (const e of generateScenario(run.spec)) {
    if (e.index > last) break;
    for (const m of decide(snapshot, e.profile, headersOf()).matches) {
      if (e.index <= until.get(m.flag.name)!) clients.get(m.flag.name)!.add(e.profile.clientKey);
    }
  }
  return [...clients.values()].map((s) => s.size);
}

describe.each(['new-family-1pct', 'unknown-family-1pct'])('a new pattern at 1 %% of traffic (%s)', (name) => {
  let run: ScenarioRun;
  let judged: ProposalQuality[];
  beforeAll(() => {
    run = runScenario(plantedScenario(name, QUICK), new Learner({}));
    judged = judgeProposals(run);
  });

  it('is proposed within 5,000 requests of its onset, with a range that captures ≥ 95 % of it and ≤ 2 % of the rest', () => {
    const mine = judged.filter((q) => q.label === name);
    expect(mine, JSON.stringify(judged.map((q) => q.explain))).toHaveLength(1);
    const q = mine[0]!;
    expect(q.requestsAfterOnset!).toBeLessThanOrEqual(5_000);
    expect(q.recall).toBeGreaterThanOrEqual(0.95);
    expect(q.restCapture).toBeLessThanOrEqual(0.02);
    expect(q.last.recall).toBeGreaterThanOrEqual(0.95);
    expect(q.last.restCapture).toBeLessThanOrEqual(0.02);
    expect(judged.filter((x) => x.label === null)).toHaveLength(0);
    expect(q.document.enabled).toBe(false);
    expect(q.explain).toMatch(/^\d+(\.\d+)?% of traffic since \d\d:\d\d UTC, \d+ clients, .*, anomaly \d\.\d\d$/);
  });

  it('never has fewer than k = 50 distinct clients behind a proposal', () => {
    for (const e of run.emitted)
      expect((e.emission.document.evidence as { clients: number }).clients).toBeGreaterThanOrEqual(50);
    for (const n of clientsBehindFirstVersions(run)) expect(n).toBeGreaterThanOrEqual(50);
  });

  it('writes no raw user agent into a proposal', () => {
    for (const e of run.emitted) {
      const text = JSON.stringify(e.emission.document);
      expect(text).not.toMatch(/Fetchr|Go-http-client\/1\.1/);
      const similar = (e.emission.document.profile.userAgent?.similarTo ?? []) as string[];
      for (const s of similar) expect(['Go-http-client/2.0']).toContain(s); // a reference string, not traffic
    }
  });
});
