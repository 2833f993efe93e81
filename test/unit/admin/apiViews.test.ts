// The console's pure parts: flags and proposals in words, the approve documents, the preview.
import { Counter, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { describeActions, describeProfile } from '../../../src/admin/apiDescribe.js';
import { compileRange, previewRange, RecentProfiles } from '../../../src/admin/apiPreview.js';
import { approvedDocument, parseApproveRequest, ProposalViews } from '../../../src/admin/apiProposals.js';
import { EVALUATIONS_METRIC, ROUTED_METRIC, TrafficSampler } from '../../../src/admin/apiTraffic.js';
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
  const none = { shadow: false, respond: false, experiment: false };
  const all = { shadow: true, respond: true, experiment: true };

  it('writes the proposal as a flag, disabled or enabled, under the chosen name', () => {
    expect(approvedDocument(PROPOSAL, { as: 'disabled' }, none).document).toMatchObject({
      name: 'learned-abc',
      enabled: false,
    });
    const enabled = approvedDocument(PROPOSAL, { as: 'enabled', name: 'login-bots' }, none);
    expect(enabled.document).toMatchObject({ name: 'login-bots', enabled: true, profile: PROPOSAL.profile });
    expect(enabled.document.evidence).toEqual(PROPOSAL.evidence);
  });

  it('writes the CONTRACT §6 fields for a shadow block, only when the schema has them', () => {
    expect(() => approvedDocument(PROPOSAL, { as: 'shadow-block' }, none)).toThrow(/cannot block yet/);
    const block = approvedDocument(PROPOSAL, { as: 'shadow-block', perSecond: 50 }, all);
    expect(block.document).toMatchObject({
      enabled: true,
      mode: 'shadow',
      respondLimit: { perSecond: 50 },
      actions: { respond: { status: 429 } },
    });
    expect(block.detail).toBe('as shadow block 429 (at most 50/s)');
  });

  it('routes, in shadow mode only when the schema has it', () => {
    expect(() => approvedDocument(PROPOSAL, { as: 'route' }, all)).toThrow(/cluster/);
    const route = approvedDocument(PROPOSAL, { as: 'route', cluster: 'quarantine' }, none);
    expect(route.document).toMatchObject({ enabled: true, actions: { route: { cluster: 'quarantine' } } });
    expect(route.document.mode).toBeUndefined();
    expect(() => approvedDocument(PROPOSAL, { as: 'route', cluster: 'q', shadow: true }, none)).toThrow(/shadow/);
    expect(approvedDocument(PROPOSAL, { as: 'route', cluster: 'q', shadow: true }, all).document.mode).toBe('shadow');
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
      { id: 'abc', createdAt: 5, text: JSON.stringify(PROPOSAL) },
      { id: 'bad', createdAt: 6, text: '{"name": 1' },
      { id: 'gone', createdAt: 7, text: null },
      { id: 'invalid', createdAt: 8, text: JSON.stringify({ ...PROPOSAL, threshold: 7 }) },
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
    expect(views[1]!.problem).toMatch(/not a JSON object/);
    expect(views[2]!.problem).toMatch(/gone/);
    expect(views[3]!.problem).toMatch(/threshold/);
    expect(views[3]!.preview).toBeNull();
  });
});

describe('per-flag traffic', () => {
  it('keeps deltas of the per-flag counter, aligned and bounded', async () => {
    const registry = new Registry();
    const evaluations = new Counter({
      name: EVALUATIONS_METRIC,
      help: 'test',
      labelNames: ['flag', 'variant', 'result'],
      registers: [registry],
    });
    let t = 0;
    const sampler = new TrafficSampler({ registry, points: 3, now: () => (t += 1000) });
    evaluations.labels('a', '', 'matched').inc(5);
    await sampler.tick(); // the first reading is the baseline
    evaluations.labels('a', '', 'matched').inc(2);
    evaluations.labels('a', '', 'shadow').inc(1);
    await sampler.tick();
    evaluations.labels('b', 'treatment', 'matched').inc(4);
    await sampler.tick();
    let h = sampler.history();
    expect(h.source).toBe('evaluations');
    expect(h.times).toHaveLength(3);
    expect(h.series.a).toEqual({ total: [0, 3, 0], byResult: { matched: [0, 2, 0], shadow: [0, 1, 0] } });
    expect(h.series.b).toEqual({ total: [0, 0, 4], byResult: { matched: [0, 0, 4] } });
    await sampler.tick();
    h = sampler.history();
    expect(h.times).toHaveLength(3);
    expect(h.series.a!.total).toEqual([3, 0, 0]);
    // A counter that restarts counts from zero again.
    evaluations.reset();
    evaluations.labels('a', '', 'matched').inc(1);
    await sampler.tick();
    expect(sampler.history().series.a!.byResult.matched!.at(-1)).toBe(1);
  });

  it('falls back to requests routed per cluster while there is no per-flag counter', async () => {
    const registry = new Registry();
    const routed = new Counter({ name: ROUTED_METRIC, help: 'test', labelNames: ['cluster'], registers: [registry] });
    const sampler = new TrafficSampler({ registry });
    await sampler.tick();
    routed.labels('canary').inc(7);
    await sampler.tick();
    const h = sampler.history();
    expect(h.source).toBe('routed');
    expect(h.series.canary!.total).toEqual([0, 7]);
    expect(new TrafficSampler({ registry: new Registry() }).history().source).toBe('none');
  });
});
