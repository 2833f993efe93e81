// GET /learner's content, from the learner alone: a planted pattern before and after its
// proposal, a stationary segment that is never proposed (and says why), the warm-up, the text
// form, and the privacy floor (no raw user agent, hash or client key; no value under the floor).
import { describe, expect, it } from 'vitest';
import { createUaHasher } from '../../../src/features/userAgent.js';
import { clientCountReport, type ClusterReport } from '../../../src/learner/core/explain.js';
import { createProfileDetector } from '../../../src/learner/core/detector/profileDetector.js';
import { Learner, type LearnerInput } from '../../../src/learner/learner.js';
import { formatLearnerReport, type LearnerReport } from '../../../src/learner/learnerReport.js';
import { ATTACK_UA, BROWSERS, clientKey, scriptedDetector, scriptedTraffic } from './scriptedTraffic.js';

const hash = createUaHasher('explain-test-key-0123456789');
const T0 = Date.UTC(2026, 2, 2, 10, 0);
const traffic = scriptedTraffic(hash);

/** Every client key sent, to look for in the output. */
const clientsSeen: string[] = [];
function background(i: number): LearnerInput {
  const input = traffic.background(i);
  if (i < 3_000) clientsSeen.push(input.clientKey);
  return input;
}

function attack(n: number): LearnerInput {
  const input = traffic.attack(n);
  clientsSeen.push(input.clientKey);
  return input;
}

const report = (learner: Learner): LearnerReport => ({
  version: 1,
  generatedAt: new Date(T0).toISOString(),
  mode: 'in-process',
  samples: { accepted: 0, learned: 0, dropped: { rate: 0, full: 0, publish: 0, decode: 0 }, queueLength: 0 },
  learner: learner.explain(),
  note: null,
});
const tokenCluster = (learner: Learner): ClusterReport | undefined =>
  learner.explain().clusters.find((c) => c.anomalous > 0 && c.events > 10 && c.status !== 'no-onset');

/** What must never appear in /learner: raw user agents, their keyed hashes, client keys. */
function expectNothingRaw(text: string) {
  for (const ua of [...BROWSERS, ATTACK_UA]) {
    expect(text).not.toContain(ua);
    expect(text).not.toContain(hash(ua));
    expect(text).not.toContain(hash(ua).slice(0, 16));
  }
  expect(text).not.toContain('Go-http-client/'); // the reference family is named, never a version string
  for (const key of clientsSeen) expect(text).not.toContain(key);
}

describe('Learner.explain()', () => {
  it('shows a planted pattern under the floor, then as proposed, with nothing under the floor', () => {
    const learner = new Learner({ detector: scriptedDetector((p) => p.endpoint === '/api/v1/token') });
    let attacks = 0;
    let proposedAt = -1;
    let before: ClusterReport | undefined;
    for (let i = 0; i < 20_000 && proposedAt < 0; i++) {
      const isAttack = i >= 10_000 && i % 20 === 0;
      const out = learner.observe(isAttack ? attack(attacks++) : background(i), T0 + i * 100);
      if (out.length > 0) proposedAt = attacks;
      if (attacks === 34 && isAttack) {
        before = tokenCluster(learner);
        const text = formatLearnerReport(report(learner));
        expectNothingRaw(text);
        expectNothingRaw(JSON.stringify(report(learner)));
        // Under the floor: no value of the pattern is shown, in JSON or text.
        expect(text).not.toContain('/api/v1/token');
        expect(JSON.stringify(before)).not.toMatch(/api\/v1\/token|"BR"|go-http-client|Go-http-client/);
      }
    }
    expect(proposedAt).toBe(50);
    expect(before).toMatchObject({
      status: 'below-floor',
      reason: '30+ of 50 distinct clients, 34 of 50 events',
      events: 34,
      clients: { text: '30+', atLeast: 30, floorReached: false },
      size: null,
      proposalId: null,
    });
    for (const dim of Object.values(before!.top)) expect(dim.values).toEqual([]);
    expect(before!.top.endpoint.hidden).toBe(1);

    const state = learner.explain();
    const after = state.clusters[0]!;
    expect(after.status).toBe('proposed');
    expect(after.proposalId).toMatch(/^[0-9a-f]{12}$/);
    expect(after.reason).toMatch(new RegExp(`^proposed as ${after.proposalId}; evidence updated in 5,000 events`));
    expect(after.clients).toEqual({ text: '≥ 50', atLeast: 50, floorReached: true });
    expect(after.top.endpoint.values).toEqual([{ value: '/api/v1/token', events: 50, share: 1 }]);
    expect(after.top.country.values.map((v) => v.value)).toEqual(['BR']);
    expect(after.top.uaFamily.values.map((v) => v.value)).toEqual(['Go-http-client']);
    expect(after.size).toEqual({ min: 200, max: 500 });
    expect(state.proposals).toEqual([{ id: after.proposalId, clusterId: after.id, createdAt: expect.any(String) }]);
    expect(state.warmUp.summary).toBe('done: scoring, clustering and checking onsets');

    const text = formatLearnerReport(report(learner));
    expect(text).toContain(`✔ [proposed] proposed as ${after.proposalId}`);
    expect(text).toContain('POST 100% · /api/v1/token 100% · BR 100% · UA Go-http-client 100% · size 200 B–500 B');
    expectNothingRaw(text);
    expectNothingRaw(JSON.stringify(report(learner)));
  });

  it('says why a stationary anomalous segment is not proposed: no onset, with its rate', () => {
    const learner = new Learner({ detector: scriptedDetector((p) => p.endpoint === '/rare') });
    let c = 0;
    for (let i = 0; i < 30_000; i++) {
      const p =
        i % 100 === 0 ? { ...background(i), endpoint: '/rare', clientKey: clientKey(`rare${c++}`) } : background(i);
      expect(learner.observe(p, T0 + i * 100)).toEqual([]);
    }
    const rare = learner.explain().clusters.find((x) => x.top.endpoint.values.some((v) => v.value === '/rare'));
    expect(rare).toBeDefined();
    expect(rare!.status).toBe('no-onset');
    const m = /^no onset: rate (\d\.\d+)% over the last ([\d,]+) events, with no rise of 4× or more/.exec(rare!.reason);
    expect(m, rare!.reason).not.toBeNull();
    expect(Number(m![1])).toBeGreaterThan(0.5); // the segment is 1 % of traffic
    expect(Number(m![1])).toBeLessThanOrEqual(1.1);
    expect(rare!.reasonAgeEvents).toBeGreaterThanOrEqual(0);
    expect(formatLearnerReport(report(learner))).toContain(`✘ [no-onset] ${rare!.reason}`);
  });

  it('reports the warm-up of the real detector, then of the baseline', () => {
    const learner = new Learner({ detector: createProfileDetector({ window: 1_000 }), warmupEvents: 500 });
    expect(learner.explain().warmUp.summary).toBe('no samples yet');
    expect(learner.explain().clock).toBeNull();
    for (let i = 0; i < 700; i++) learner.observe(background(i), T0 + i * 100);
    let w = learner.explain().warmUp;
    expect(w.detector).toEqual({ observed: 700, warmUpEvents: 1_000, done: false });
    expect(w.summary).toBe(
      'detector warming up: 700 of 1,000 events (scores are 0 until then, so nothing is clustered)',
    );
    for (let i = 700; i < 2_000; i++) learner.observe(background(i), T0 + i * 100);
    w = learner.explain().warmUp;
    expect(w.detector.done).toBe(true);
    expect(w.clustering).toEqual({ startsAfter: 500, started: true });
    expect(w.baseline).toEqual({ events: 2_000, needed: 5_000, enough: false });
    expect(w.summary).toMatch(/^collecting a baseline: 2,000 of 5,000 events/);
    expect(learner.explain().clock).toBe(new Date(T0 + 1_999 * 100).toISOString());
  });
});

describe('clientCountReport', () => {
  it.each([
    [0, false, '< 10', 0],
    [9, false, '< 10', 0],
    [10, false, '10+', 10],
    [34, false, '30+', 30],
    [49, false, '40+', 40],
    [50, true, '≥ 50', 50],
    [900, true, '≥ 50', 50],
  ])('%i clients (floor reached: %s) → %s', (count, reached, text, atLeast) => {
    expect(clientCountReport(count, 50, reached)).toEqual({ text, atLeast, floorReached: reached });
  });

  it('uses steps of one for a small floor', () => {
    expect(clientCountReport(3, 5, false)).toEqual({ text: '3', atLeast: 3, floorReached: false });
  });
});

describe('formatLearnerReport without a learner (publish mode)', () => {
  it('shows the sample counts and the note', () => {
    const text = formatLearnerReport({
      version: 1,
      generatedAt: '2026-03-02T10:00:00.000Z',
      mode: 'publish',
      samples: {
        accepted: 12_000,
        learned: 11_990,
        dropped: { rate: 4, full: 0, publish: 10, decode: 0 },
        queueLength: 2,
      },
      learner: null,
      note: 'samples go to the proflag:samples stream',
    });
    expect(text).toBe(
      'proflag learner (publish) at 2026-03-02T10:00:00.000Z\n' +
        'samples: 12,000 accepted, 11,990 published, dropped 4 (rate), 10 (publish), 2 queued\n' +
        'samples go to the proflag:samples stream\n',
    );
  });
});
