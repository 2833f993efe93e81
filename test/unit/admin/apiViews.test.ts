// The console's pure parts: flags and proposals in words, the approve documents, the preview.
import { Counter, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { describeActions, describeProfile } from '../../../src/admin/apiDescribe.js';
import { compileRange, previewRange, RecentProfiles } from '../../../src/admin/apiPreview.js';
import {
  approveDetail,
  approvedDocument,
  parseApproveRequest,
  ProposalViews,
} from '../../../src/admin/apiProposals.js';
import { EVALUATIONS_METRIC, evaluationCounts } from '../../../src/admin/apiServed.js';
import { TrafficSampler, type ProcessCounts } from '../../../src/admin/apiTraffic.js';
import { profileOf } from '../../helpers/profiles.js';

describe('flags in words', () => {
  it('says each range, how they combine, and never repeats a user-agent exemplar', () => {
    const exemplar = 'Mozilla/5.0 (Linux; Android 14; Pixel 8) Chrome/124 Mobile';
    const lines = describeProfile({
      threshold: 0.75,
      profile: {
        method: { in: ['GET', 'POST'] },
        endpoint: { in: ['/checkout', '/checkout/**'], weight: 2 },
        geo: { in: ['DE', 'FR', 'AT'] },
        payloadSize: { min: 0, max: 8192, weight: 0.5 },
        timeOfDay: { min: 22, max: 5 },
        userAgent: { similarTo: [exemplar], hashes: ['0123456789abcdef'], maxDistance: 0.25 },
      },
    });
    expect(lines).toEqual([
      'method GET or POST',
      'path /checkout or /checkout/** (weight 2)',
      'countries DE, FR or AT',
      'body size 0 B to 8 KiB (weight 0.5)',
      'hour 22 to 5 (UTC, past midnight)',
      'user agent within distance 0.25 of 1 exemplar, or one of 1 known user-agent hash',
      'matches at a weighted score of at least 0.75 (share of the ranges that match)',
    ]);
    expect(lines.join(' ')).not.toContain('Android');
    expect(describeProfile({})).toEqual(['every request (no profile)']);
    expect(describeProfile({ profile: { payloadSize: { min: 1048576 } } })).toEqual(['body size at least 1 MiB']);
    expect(describeProfile({ profile: { geo: { in: 'ABCDEFGHIJ'.split('').map((c) => `${c}X`) } } })[0]).toBe(
      'countries AX, BX, CX, DX, EX, FX, GX, HX and 2 more',
    );
  });

  it('says what a flag does, including the CONTRACT §6 actions and variants', () => {
    expect(
      describeActions({
        actions: {
          route: { cluster: 'canary' },
          requestHeaders: { set: { 'x-a': '1', 'x-b': '2' }, remove: ['x-c'] },
          respond: { status: 429 },
        },
        respondLimit: { perSecond: 100 },
        rollout: { percent: 20, stickiness: 'header:x-user-id' },
        variants: [
          { name: 'control', weight: 1 },
          { name: 'treatment', weight: 3, actions: { route: { cluster: 'v2' } } },
        ],
      }),
    ).toEqual([
      'answers 429 itself (the request ends there)',
      'routes to cluster canary',
      'sets request headers x-a and x-b',
      'removes request header x-c',
      'answers at most 100 requests per second per replica',
      'applies to 20% of matching units (sticky by header:x-user-id)',
      'variants: control 25%; treatment 75% (routes to cluster v2)',
    ]);
    expect(describeActions({})).toEqual(['only tells the backend (flags header)']);
  });
});

const PROPOSAL = {
  name: 'learned-abc',
  description: '5% of traffic, country BR, POST /api/login',
  enabled: false,
  value: true,
  priority: 0,
  threshold: 1,
  profile: { method: { in: ['POST'] }, endpoint: { in: ['/api/login'] }, geo: { in: ['BR'] } },
  actions: {},
  evidence: { explain: 'country BR, POST /api/login', support: 120, clients: 64, lift: 40.5, shareOfTraffic: 0.05 },
};

describe('approving a proposal', () => {
  it('writes the proposal as a flag, disabled or enabled, under the chosen name', () => {
    expect(approvedDocument(PROPOSAL, { as: 'disabled' })).toMatchObject({ name: 'learned-abc', enabled: false });
    const enabled = approvedDocument(PROPOSAL, { as: 'enabled', name: 'login-bots' });
    expect(enabled).toMatchObject({ name: 'login-bots', enabled: true, profile: PROPOSAL.profile });
    expect(enabled.evidence).toEqual(PROPOSAL.evidence);
    expect(approveDetail({ as: 'enabled' })).toBe('enabled');
  });

  it('writes the CONTRACT §6 fields for a shadow block', () => {
    const block = approvedDocument(PROPOSAL, { as: 'shadow-block', perSecond: 50 });
    expect(block).toMatchObject({
      enabled: true,
      mode: 'shadow',
      respondLimit: { perSecond: 50 },
      actions: { respond: { status: 429 } },
    });
    expect(approveDetail({ as: 'shadow-block', perSecond: 50 })).toBe('as shadow block 429 (at most 50/s)');
    expect(approvedDocument(PROPOSAL, { as: 'shadow-block' }).respondLimit).toEqual({ perSecond: 100 });
  });

  it('routes, in shadow mode when asked', () => {
    expect(() => approvedDocument(PROPOSAL, { as: 'route' })).toThrow(/cluster/);
    const route = approvedDocument(PROPOSAL, { as: 'route', cluster: 'quarantine' });
    expect(route).toMatchObject({ enabled: true, actions: { route: { cluster: 'quarantine' } } });
    expect(route.mode).toBeUndefined();
    expect(approvedDocument(PROPOSAL, { as: 'route', cluster: 'q', shadow: true }).mode).toBe('shadow');
    expect(approveDetail({ as: 'route', cluster: 'q', shadow: true })).toBe('as route to q (shadow)');
  });

  it('checks the request body', () => {
    expect(parseApproveRequest({})).toMatchObject({ as: 'disabled', force: false });
    expect(() => parseApproveRequest({ as: 'delete-everything' })).toThrow(/as:/);
    expect(() => parseApproveRequest({ as: 'shadow-block', perSecond: -1 })).toThrow(/perSecond/);
    expect(() => parseApproveRequest({ name: 7 })).toThrow(/name/);
  });
});

describe('proposal preview', () => {
  const br = profileOf({ method: 'POST', endpoint: '/api/login', country: 'BR' });
  const other = profileOf({ method: 'GET', endpoint: '/', country: 'DE' });

  it('counts the recent samples the range matches, with the matcher', () => {
    const recent = new RecentProfiles({ capacity: 100, maxPerSecond: 1_000, timer: false });
    for (let i = 0; i < 30; i++) recent.add(i % 3 === 0 ? br : other);
    const compiled = compileRange(PROPOSAL);
    if ('error' in compiled) throw new Error(compiled.error);
    expect(previewRange(compiled, recent)).toEqual({ matched: 10, of: 30 });
  });

  it('keeps at most its capacity, and at most maxPerSecond per second', () => {
    const recent = new RecentProfiles({ capacity: 5, maxPerSecond: 3, timer: false });
    for (let i = 0; i < 10; i++) recent.add(other);
    expect(recent.size).toBe(3);
    recent.resetWindow(); // the next second
    for (let i = 0; i < 10; i++) recent.add(br);
    expect(recent.size).toBe(5);
    let brCount = 0;
    recent.forEach((p) => (brCount += p === br ? 1 : 0));
    expect(brCount).toBe(3);
  });

  it('passes every profile on to the learner sink it taps', () => {
    const recent = new RecentProfiles({ capacity: 5, maxPerSecond: 1, timer: false });
    const seen: unknown[] = [];
    const sink = recent.tap((p) => seen.push(p));
    sink(br);
    sink(other);
    expect(seen).toEqual([br, other]);
    expect(recent.size).toBe(1);
  });

  it('builds views with evidence, words and a preview; a broken document says why', () => {
    const recent = new RecentProfiles({ capacity: 10, maxPerSecond: 100, timer: false });
    recent.add(br);
    recent.add(other);
    const views = new ProposalViews(recent, 'UTC').build([
      { id: 'abc', createdAt: 5, document: PROPOSAL },
      { id: 'gone', createdAt: 7, document: null },
      { id: 'invalid', createdAt: 8, document: { ...PROPOSAL, threshold: 7 } },
    ]);
    expect(views[0]).toMatchObject({
      id: 'abc',
      name: 'learned-abc',
      explain: 'country BR, POST /api/login',
      evidence: { support: 120, clients: 64, lift: 40.5, shareOfTraffic: 0.05, onset: null },
      profile: ['method POST', 'path /api/login', 'country BR', 'all of these must match'],
      preview: { matched: 1, of: 2 },
      problem: null,
    });
    expect(views[1]!.problem).toMatch(/gone or not a JSON object/);
    expect(views[2]!.problem).toMatch(/threshold/);
    expect(views[2]!.preview).toBeNull();
  });
});

describe('per-flag traffic', () => {
  const registered = () => {
    const registry = new Registry();
    const evaluations = new Counter({
      name: EVALUATIONS_METRIC,
      help: 'test',
      labelNames: ['flag', 'variant', 'result'],
      registers: [registry],
    });
    return { registry, evaluations };
  };

  it('keeps deltas of the per-flag counter, aligned and bounded', async () => {
    const { registry, evaluations } = registered();
    let t = 0;
    const sampler = new TrafficSampler({
      read: async () => [{ worker: null, counts: await evaluationCounts(registry) }],
      points: 3,
      now: () => (t += 1000),
    });
    evaluations.labels('a', '', 'match').inc(5);
    await sampler.tick(); // the first reading is the baseline
    evaluations.labels('a', '', 'match').inc(2);
    evaluations.labels('a', '', 'shadow').inc(1);
    await sampler.tick();
    evaluations.labels('b', 'treatment', 'match').inc(4);
    await sampler.tick();
    let h = sampler.history();
    expect(h.source).toBe('evaluations');
    expect(h.times).toHaveLength(3);
    expect(h.series.a).toEqual({ total: [0, 3, 0], byResult: { match: [0, 2, 0], shadow: [0, 1, 0] } });
    expect(h.series.b).toEqual({ total: [0, 0, 4], byResult: { match: [0, 0, 4] } });
    await sampler.tick();
    h = sampler.history();
    expect(h.times).toHaveLength(3);
    expect(h.series.a!.total).toEqual([3, 0, 0]);
    // A counter that restarts counts from zero again.
    evaluations.reset();
    evaluations.labels('a', '', 'match').inc(1);
    await sampler.tick();
    expect(sampler.history().series.a!.byResult.match!.at(-1)).toBe(1);
  });

  it('adds the workers, each with its own baseline: a restarted worker never counts twice', async () => {
    const counts = (n: number) => [{ flag: 'a', variant: '', result: 'match', value: n }];
    let processes: ProcessCounts[] = [
      { worker: '1', counts: counts(100) },
      { worker: '2', counts: counts(50) },
    ];
    const sampler = new TrafficSampler({ read: async () => processes });
    await sampler.tick();
    processes = [
      { worker: '1', counts: counts(110) },
      { worker: '2', counts: counts(53) },
    ];
    await sampler.tick();
    // Worker 2 restarted: its counter begins again, and counts 4 since.
    processes = [
      { worker: '1', counts: counts(111) },
      { worker: '2', counts: counts(4) },
    ];
    await sampler.tick();
    expect(sampler.history().series.a!.byResult.match).toEqual([0, 13, 5]);
  });

  it('says when no process has the counter, and survives a failed read', async () => {
    const none = new TrafficSampler({
      read: async () => [{ worker: null, counts: await evaluationCounts(new Registry()) }],
    });
    await none.tick();
    expect(none.history()).toMatchObject({ source: 'none', series: {} });
    const failing = new TrafficSampler({ read: () => Promise.reject(new Error('no worker')) });
    await failing.tick();
    expect(failing.history().times).toHaveLength(1);
  });
});
