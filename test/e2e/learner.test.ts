// The learner end to end: planted traffic through the Envoy emulator into a sidecar (in-process
// learner, flags and proposals in a real Redis) produces a proposal; `scripts/ffr approve`
// turns it into an enabled flag; a route action is added with `ffr get | jq | ffr put -` (a
// proposal never routes by itself: the learner does not know the upstream clusters); the
// sidecar then routes the pattern's requests and leaves the rest alone.
import { describe, expect, it } from 'vitest';
import { runFfr } from '../helpers/ffr.js';
import { emulated, learningOnRedis, plantedSpec, proposalIds } from '../helpers/plantedScenario.js';
import type { TestRedis } from '../helpers/redis.js';
import { until } from '../helpers/until.js';
import { flagsOf } from './routingTable.js';

function ffr(r: TestRedis, args: string[], input = '') {
  return runFfr(r, args, { input, env: { PROFLAG_ACTOR: 'e2e' } });
}

describe('learned proposal → approval → routing', () => {
  // 3,000 background requests, then a Go-http-client family from BR logging in at 5 %.
  const spec = plantedSpec('e2e', 3);
  const scenario = learningOnRedis(spec, { messageTimeoutMs: 5_000 });

  it('proposes the planted pattern from traffic through Envoy, approves it with ffr, and routes it', async () => {
    const { redis, client, sidecar, envoy, planted, background } = scenario;
    await scenario.playAll();
    expect(sidecar.learning!.runner.stats).toMatchObject({ queued: spec.requests, droppedFull: 0, droppedRate: 0 });

    const ids = await proposalIds(client, redis.prefix);
    expect(ids).toHaveLength(1);
    const proposal = JSON.parse((await client.get(`${redis.prefix}proposal:${ids[0]}`))!);
    expect(proposal).toMatchObject({
      enabled: false,
      profile: { geo: { in: ['BR'] }, endpoint: { in: ['/api/login'] } },
    });
    expect(proposal.evidence.clients).toBeGreaterThanOrEqual(50);
    expect(proposal.description).toMatch(/UA family like Go-http-client, country BR, POST \/api\/login/);

    // Before approval nothing routes or tags the pattern.
    const before = await envoy.request(emulated(planted[0]!));
    expect(before.cluster).toBe('backend_stable');
    expect(flagsOf(before.upstreamHeaders)).toEqual([]);

    const approved = await ffr(redis, ['approve', ids[0]!, 'go-login-bots', '--enable']);
    expect(approved.stderr).toBe('');
    expect(approved.stdout).toMatch(/approved .* as flag go-login-bots, enabled/);
    expect(await client.zcard(`${redis.prefix}proposals`)).toBe(0);
    const got = await ffr(redis, ['get', 'go-login-bots', '--raw']);
    const flag = JSON.parse(got.stdout);
    flag.actions = { ...flag.actions, route: { cluster: 'backend_quarantine' } };
    const put = await ffr(redis, ['put', '-'], JSON.stringify(flag));
    expect(put.code, put.stderr).toBe(0);

    await until('the routed flag in the snapshot', async () =>
      sidecar.holder.current.flags.some((f) => f.name === 'go-login-bots' && f.actions.route !== null),
    );
    // Every planted request routes, the background does not.
    let routed = 0;
    for (const r of planted) {
      const out = await envoy.request(emulated(r));
      if (out.cluster === 'backend_quarantine') routed++;
      expect(flagsOf(out.upstreamHeaders)).toContain('go-login-bots=true');
    }
    expect(routed).toBe(planted.length);
    let misrouted = 0;
    for (const r of background.slice(0, 600))
      if ((await envoy.request(emulated(r))).cluster !== 'backend_stable') misrouted++;
    expect(misrouted).toBe(0);
  });
});
