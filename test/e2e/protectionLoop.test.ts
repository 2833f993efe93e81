// From a learned anomaly to protection, end to end (issue 9): planted traffic through the Envoy
// emulator into a sidecar (in-process learner, flags and proposals in a real Redis under a
// random prefix) → the learner's proposal → `scripts/ffr approve ID NAME --respond 429 --shadow
// --enable` (the real ffr process) → the shadow count rises in /metrics while nothing is
// blocked → `scripts/ffr enforce NAME` → the planted requests get 429 and the background passes
// exactly as before the flag existed → `scripts/ffr history NAME` shows both changes.
// The scenario is test/e2e/learner.test.ts's (same seed, same pattern).
import { describe, expect, it } from 'vitest';
import type { RawRequest } from '../../bench/scenarios/generator.js';
import type { EmulatedOutcome } from '../helpers/envoyEmulator.js';
import { runFfr } from '../helpers/ffr.js';
import { learningOnRedis, plantedSpec, proposalIds, sendInBatches } from '../helpers/plantedScenario.js';
import { metricSum } from '../helpers/proflagProcess.js';
import type { TestRedis } from '../helpers/redis.js';
import { until } from '../helpers/until.js';

const NAME = 'go-login-block';

function ffr(r: TestRedis, args: string[]) {
  return runFfr(r, args, { env: { PROFLAG_ACTOR: 'e2e-operator' } });
}

/** Everything Envoy makes of an exchange, without the per-request x-request-id. */
function wire(o: EmulatedOutcome): string {
  return JSON.stringify({
    status: o.status,
    cluster: o.cluster,
    path: o.path,
    upstream: [...o.upstreamHeaders].filter(([k]) => k !== 'x-request-id'),
    response: [...o.responseHeaders],
    localReply: o.localReply,
    body: o.body.toString('latin1'),
    details: o.details,
    metadata: o.dynamicMetadata,
    messages: o.messagesSent,
    error: o.error,
  });
}

describe('learned anomaly → shadow → enforce', () => {
  const scenario = learningOnRedis(plantedSpec('e2e', 3), { messageTimeoutMs: 5_000, allowModeOverride: true });

  /** The requests' outcomes, 32 at a time. */
  const send = (requests: readonly RawRequest[]) => sendInBatches(scenario.envoy, requests);

  async function evaluations(result: string): Promise<number> {
    const text = await (await fetch(`http://127.0.0.1:${scenario.sidecar.adminPort}/metrics`)).text();
    return metricSum(text, 'proflag_flag_evaluations_total', { flag: NAME, result });
  }

  it('proposes, shadows, then blocks the planted pattern with 429 and leaves the background alone', async () => {
    const { redis, client, sidecar, planted, background } = scenario;
    await scenario.playAll();

    const ids = await proposalIds(client, redis.prefix);
    expect(ids).toHaveLength(1);
    const proposal = JSON.parse((await client.get(`${redis.prefix}proposal:${ids[0]}`))!);
    expect(proposal).toMatchObject({ profile: { geo: { in: ['BR'] }, endpoint: { in: ['/api/login'] } } });

    // Before any flag: what every request gets (the baseline the background must keep).
    const sample = background.slice(-600);
    const baseline = (await send([...planted, ...sample])).map(wire);
    // The whole planted burst fits the default bucket (100): every one of them must get a 429.
    expect(planted.length).toBeGreaterThan(50);
    expect(planted.length).toBeLessThanOrEqual(100);

    // Approve as a shadow 429.
    const approved = await ffr(redis, ['approve', ids[0]!, NAME, '--respond', '429', '--shadow', '--enable']);
    expect(approved.stderr).toBe('');
    expect(approved.code).toBe(0);
    expect(approved.stdout).toMatch(new RegExp(`^approved ${ids[0]} as flag ${NAME}, enabled in shadow mode`));
    const stored = JSON.parse((await ffr(redis, ['get', NAME, '--raw'])).stdout);
    expect(stored).toMatchObject({
      enabled: true,
      mode: 'shadow',
      respondLimit: { perSecond: 100 },
      actions: { respond: { status: 429 } },
    });
    await until('the shadow flag in the snapshot', async () =>
      sidecar.holder.current.flags.some((f) => f.name === NAME && f.mode === 'shadow'),
    );

    // Shadow: counted for every planted request, nothing blocked, every exchange as before.
    const shadowBefore = await evaluations('shadow');
    const shadowed = (await send([...planted, ...sample])).map(wire);
    const shadowCount = (await evaluations('shadow')) - shadowBefore;
    expect(shadowCount).toBe(planted.length);
    expect(shadowed.filter((w, i) => w !== baseline[i])).toEqual([]);
    expect(await evaluations('match')).toBe(0);

    // Enforce: one atomic change.
    const enforced = await ffr(redis, ['enforce', NAME]);
    expect(enforced.code, enforced.stderr).toBe(0);
    expect(enforced.stdout).toMatch(new RegExp(`^${NAME} is now in enforce mode`));
    await until('the enforced flag in the snapshot', async () =>
      sidecar.holder.current.flags.some((f) => f.name === NAME && f.mode === 'enforce'),
    );

    const blocked = await send(planted);
    const got429 = blocked.filter((o) => o.localReply && o.status === 429 && o.messagesSent === 1).length;
    const passedBackground = (await send(sample)).map(wire).filter((w, i) => w === baseline[planted.length + i]).length;
    console.log(
      `protection loop: ${planted.length} planted → ${got429} × 429; ${sample.length} background → ${passedBackground} untouched; ` +
        `shadow count ${shadowCount}`,
    );
    expect(got429).toBe(planted.length);
    expect(passedBackground).toBe(sample.length);
    expect(await evaluations('match')).toBe(planted.length);
    expect(await evaluations('respond_limited')).toBe(0);

    // The audit trail: the approval (with what it made of the proposal) and the enforcement.
    const history = await ffr(redis, ['history', NAME]);
    expect(history.code).toBe(0);
    const rows = history.stdout.trim().split('\n').slice(1);
    expect(rows).toHaveLength(2);
    expect(rows[0]).toMatch(new RegExp(`e2e-operator\\s+enforce\\s+${NAME}\\s`));
    expect(rows[1]).toMatch(
      new RegExp(`e2e-operator\\s+approve\\s+${NAME}\\s.*proposal ${ids[0]}: respond 429 \\(limit 100/s\\), shadow`),
    );
  }, 120_000);
});
