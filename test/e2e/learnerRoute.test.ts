// GET /learner end to end: planted traffic through the Envoy emulator into a sidecar with the
// in-process learner (file store: proposals go to the log). Before the planted pattern reaches
// the privacy floor the biggest cluster is shown with its not-proposed reason and no value;
// after, the same cluster says it is proposed and shows its values. At both points the body
// (JSON and text) is searched for every raw user agent and client IP that was sent: none may
// appear, and every value shown has at least k events and clients.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LearnerReport } from '../../src/learner/learnerReport.js';
import type { Sidecar } from '../../src/sidecar.js';
import { EnvoyEmulator } from '../helpers/envoyEmulator.js';
import { plantedSpec, ScenarioPlayer, startLearningSidecar } from '../helpers/plantedScenario.js';

describe('GET /learner', () => {
  let sidecar: Sidecar;
  let envoy: EnvoyEmulator;
  let now = Date.UTC(2026, 10, 24, 12, 0);
  const userAgents = new Set<string>();
  const ips = new Set<string>();
  // 3,000 background requests, then a Go-http-client family from BR logging in at 5 %.
  const spec = plantedSpec('learner-route', 5);

  const get = async (query = ''): Promise<{ status: number; type: string; body: string }> => {
    await sidecar.learning!.runner.drained();
    const res = await fetch(`http://127.0.0.1:${sidecar.adminPort}/learner${query}`);
    return { status: res.status, type: res.headers.get('content-type') ?? '', body: await res.text() };
  };

  /** No raw user agent or IP in the body, and no value under the floor. */
  function expectPrivate(json: string, text: string) {
    for (const body of [json, text]) {
      for (const ua of userAgents) expect(body.includes(ua), `user agent ${ua}`).toBe(false);
      for (const ip of ips) expect(body.includes(ip), `IP ${ip}`).toBe(false);
    }
    const report = JSON.parse(json) as LearnerReport;
    const k = report.learner!.privacyFloor;
    for (const c of report.learner!.clusters) {
      for (const dim of Object.values(c.top)) for (const v of dim.values) expect(v.events).toBeGreaterThanOrEqual(k);
      if (!c.clients.floorReached) {
        expect(c.clients.text).toMatch(/^(< \d+|\d+\+)$/);
        for (const dim of Object.values(c.top)) expect(dim.values).toEqual([]);
        expect(c.size).toBeNull();
      }
    }
  }

  beforeAll(async () => {
    // The file store: the proposal goes to the log.
    sidecar = await startLearningSidecar({ PROFLAG_STORE: 'file' }, () => now);
    envoy = new EnvoyEmulator(`127.0.0.1:${sidecar.grpcPort}`, { messageTimeoutMs: 5_000 });
  });

  afterAll(async () => {
    envoy?.close();
    await sidecar?.stop(1_000);
  });

  it('explains the planted cluster before and after its proposal, with no raw user agent or IP', async () => {
    const early = await get();
    expect(early.status).toBe(200);
    expect((JSON.parse(early.body) as LearnerReport).learner!.warmUp.summary).toBe('no samples yet');

    let planted = 0;
    const player = new ScenarioPlayer(
      envoy,
      spec,
      (t) => (now = t),
      (e) => {
        if (e.request.userAgent) userAgents.add(e.request.userAgent);
        ips.add(e.request.sourceAddress.slice(0, e.request.sourceAddress.lastIndexOf(':')));
        if (e.label) planted++;
      },
    );

    // 34 planted requests from 34 distinct clients: under the floor.
    await player.play(() => planted >= 34);
    const before = await get();
    const beforeText = await get('?format=text');
    expect(beforeText.type).toMatch(/^text\/plain/);
    expectPrivate(before.body, beforeText.body);
    const b = (JSON.parse(before.body) as LearnerReport).learner!;
    expect(b.proposals).toEqual([]);
    expect(b.warmUp.summary).toBe('done: scoring, clustering and checking onsets');
    const biggest = [...b.clusters].sort((x, y) => y.events - x.events)[0]!;
    expect(biggest).toMatchObject({ status: 'below-floor', proposalId: null });
    expect(biggest.reason).toMatch(/^(20|30)\+ of 50 distinct clients, \d+ of 50 events$/);
    expect(beforeText.body).toContain(`✘ [below-floor] ${biggest.reason}`);
    expect(before.body).not.toContain('/api/login');

    await player.play();
    const after = await get();
    const afterText = await get('?format=text');
    expectPrivate(after.body, afterText.body);
    const a = (JSON.parse(after.body) as LearnerReport).learner!;
    expect(a.proposals).toHaveLength(1);
    const proposed = a.clusters.find((c) => c.id === biggest.id)!;
    expect(proposed).toMatchObject({ status: 'proposed', proposalId: a.proposals[0]!.id });
    expect(proposed.clients.text).toBe('≥ 50');
    expect(proposed.top.endpoint.values.map((v) => v.value)).toEqual(['/api/login']);
    expect(proposed.top.country.values.map((v) => v.value)).toEqual(['BR']);
    expect(proposed.top.uaFamily.values.map((v) => v.value)).toEqual(['Go-http-client']);
    expect(afterText.body).toContain(`✔ [proposed] proposed as ${proposed.proposalId}`);
    expect(userAgents.size).toBeGreaterThan(100);
    expect(ips.size).toBeGreaterThan(500);
  });

  it('answers 405 to a POST', async () => {
    const res = await fetch(`http://127.0.0.1:${sidecar.adminPort}/learner`, { method: 'POST' });
    expect(res.status).toBe(405);
  });
});
