// Issue 10 end to end: A/B tests that measure themselves, through real sidecars (startSidecar,
// Redis under a random prefix) driven by the Envoy emulator, whose upstream plays each
// variant's backend. What the client saw is tallied independently of proflag (per flags version
// and variant, from the flags header and the dynamic metadata) and compared with what
// `ffr results` and GET /experiments/NAME report.
import { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { guardrailRequestsPerArm } from '../../src/experiments/core/tests.js';
import type { ExperimentReport } from '../../src/experiments/core/report.js';
import type { Sidecar } from '../../src/sidecar.js';
import { EnvoyEmulator, type EmulatedOutcome } from '../helpers/envoyEmulator.js';
import { runFfr } from '../helpers/ffr.js';
import { testRedis, type TestRedis } from '../helpers/redis.js';
import {
  backends,
  classOf,
  countedOf,
  drive,
  experimentReport,
  flagsSeen,
  metadataOf,
  putFlag,
  redisVersion,
  startExperimentSidecar,
  Tally,
  until,
  withoutWindow,
} from './experimentsKit.js';

let redis: TestRedis;
let client: Redis;
const sidecars: Sidecar[] = [];
const envoys: EnvoyEmulator[] = [];

beforeEach(async () => {
  redis = await testRedis();
  client = new Redis(redis.url);
});
afterEach(async () => {
  for (const e of envoys.splice(0)) e.close();
  await Promise.all(sidecars.splice(0).map((s) => s.stop(1000)));
  client.disconnect();
  await redis.cleanup();
});

async function sidecar(options: Parameters<typeof startExperimentSidecar>[1] = {}): Promise<Sidecar> {
  const s = await startExperimentSidecar(redis, options);
  sidecars.push(s);
  return s;
}

function emulator(s: Sidecar, upstream: ReturnType<typeof backends>): EnvoyEmulator {
  const e = new EnvoyEmulator(`127.0.0.1:${s.grpcPort}`, {
    allowModeOverride: true,
    upstream,
    messageTimeoutMs: 2_000,
  });
  envoys.push(e);
  return e;
}

/** A 50/50 experiment on `path/**` with the treatment on its own cluster. */
function experimentFlag(name: string, path: string, experiment: Record<string, unknown>, treatmentCluster: string) {
  return {
    name,
    enabled: true,
    profile: { endpoint: { in: [path, `${path}/**`] } },
    rollout: { percent: 100, stickiness: 'header:x-user-id' },
    variants: [
      { name: 'control', weight: 50 },
      { name: 'treatment', weight: 50, actions: { route: { cluster: treatmentCluster } } },
    ],
    experiment,
  };
}

const ERROR_GUARDRAIL = { metric: 'errorRate', maxRelativeIncrease: 0.1, minRequests: 500, pValue: 0.01 } as const;

/** Tallies one outcome under `${version}:${variant}` of `flag` (the variant from the flags header). */
function tallyInto(tally: Tally, flag: string) {
  return (out: EmulatedOutcome) => {
    const variant = flagsSeen(out).get(flag);
    expect(variant, 'every request of the experiment is assigned a variant').toBeDefined();
    // The access log's view: the variant is in the dynamic metadata too.
    expect(metadataOf(out).flags).toContain(`${flag}=${variant}`);
    tally.add(`${metadataOf(out).version}:${variant}`, classOf(out));
  };
}

describe('guardrail: a treatment failing at 8 % against 1 %', () => {
  it('trips within the traffic the power calculation predicts; treatment weight 0, control only after; history and results say why', async () => {
    const s = await sidecar();
    await putFlag(
      redis,
      experimentFlag(
        'checkout-exp',
        '/checkout',
        { control: 'control', guardrails: [ERROR_GUARDRAIL] },
        'backend_treatment',
      ),
    );
    const v0 = await redisVersion(client, redis.prefix);
    await until(async () => s.holder.current.version === v0, 3000, 'the sidecar to load the flag');

    // The guardrail's own power calculation: its one-sided test against the +10 % bound at
    // p < 0.01 reaches 80 % power at this many requests per arm; minRequests may bind first.
    const byPower = guardrailRequestsPerArm(
      0.01,
      0.08,
      1 + ERROR_GUARDRAIL.maxRelativeIncrease,
      ERROR_GUARDRAIL.pValue,
    );
    const predictedPerArm = Math.max(ERROR_GUARDRAIL.minRequests, byPower);
    expect(byPower).toBe(181);
    expect(predictedPerArm).toBe(500);

    const upstream = backends({ backend_stable: { error5xx: 0.01 }, backend_treatment: { error5xx: 0.08 } }, 7);
    const e = emulator(s, upstream);
    const tally = new Tally();
    const record = tallyInto(tally, 'checkout-exp');
    // Paced at 200 requests/s (≈ 100 per arm), so the trip point is set by the counts, not by
    // how fast this machine is: one flush (1 s) and one check (1 s) behind at most.
    let sentAtTrip = 0;
    const sent = await drive({
      envoys: [e],
      count: 5000,
      concurrency: 4,
      perSecond: 200,
      request: (i) => ({ path: '/checkout', headers: { 'x-user-id': `user-${i}` } }),
      onOutcome: record,
      stop: () => {
        if (s.holder.current.version === v0) return false;
        sentAtTrip ||= tally.sum(() => true).requests;
        return true;
      },
    });
    expect(sent).toBeLessThan(5000);
    const v1 = await redisVersion(client, redis.prefix);
    expect(v1).toBe(v0 + 1);

    // The trip as the replica that made it recorded it: the figures of the deciding check.
    const trips = (await client.lrange(`${redis.prefix}exp:checkout-exp:trips`, 0, -1)).map(
      (t) => JSON.parse(t) as ExperimentReport['trips'][number],
    );
    expect(trips).toHaveLength(1);
    const check = trips[0]!.check;
    expect(check).toMatchObject({ variant: 'treatment', metric: 'errorRate', status: 'tripped', control: 'control' });
    expect(check.pValue!).toBeLessThan(0.01);
    // Within a bounded multiple (2×) of the predicted per-arm count, and never before minRequests.
    for (const n of [check.variantRequests, check.controlRequests]) {
      expect(n).toBeGreaterThanOrEqual(predictedPerArm);
      expect(n).toBeLessThanOrEqual(2 * predictedPerArm);
    }
    console.info(
      `guardrail trip: predicted ${predictedPerArm} per arm (power alone ${byPower}); tripped at ` +
        `${check.variantRequests} treatment / ${check.controlRequests} control requests ` +
        `(${(100 * check.variantValue!).toFixed(2)} % vs ${(100 * check.controlValue!).toFixed(2)} %, p = ${check.pValue!.toExponential(2)}); ` +
        `${sentAtTrip} requests sent when the change was served`,
    );

    // The flag: treatment weight 0, through the change path.
    const doc = JSON.parse((await client.get(`${redis.prefix}flag:checkout-exp`))!) as {
      variants: { weight: number }[];
    };
    expect(doc.variants.map((v) => v.weight)).toEqual([50, 0]);

    // New traffic: control only, on the control's cluster.
    const after = new Tally();
    await drive({
      envoys: [e],
      count: 200,
      concurrency: 4,
      request: (i) => ({ path: '/checkout', headers: { 'x-user-id': `late-${i}` } }),
      onOutcome: (out, i) => {
        expect(flagsSeen(out).get('checkout-exp'), `late request ${i}`).toBe('control');
        expect(out.cluster).toBe('backend_stable');
        tallyInto(after, 'checkout-exp')(out);
      },
    });
    expect(after.sum((k) => k.startsWith(`${v1}:`)).requests).toBe(200);

    // History: the guardrail entry with its figures.
    const history = await runFfr(redis, ['history', 'checkout-exp']);
    expect(history.code, history.stderr).toBe(0);
    const line = history.stdout.split('\n').find((l) => /\bguardrail\b.*\bguardrail\b/.test(l));
    expect(line, history.stdout).toBeDefined();
    expect(line).toMatch(`${v0} -> ${v1}`);
    expect(line).toMatch(/guardrail errorRate on checkout-exp: treatment [\d.]+% vs control [\d.]+%/);
    expect(line).toMatch(`requests ${check.variantRequests} / ${check.controlRequests}`);

    // Results: every request counted exactly once, in the generation it was decided under.
    const all = tally.merge(after);
    const settled = await until(
      async () => {
        const r = await experimentReport(s.adminPort, 'checkout-exp', '?since=1h');
        const c = r && countedOf(r, 'control');
        return c && c.requests === all.sum((k) => k === `${v1}:control`).requests ? r : null;
      },
      5000,
      'the post-trip traffic to be flushed',
    );
    expect(settled.generation).not.toBe(check.generation);
    expect(settled.variants.map((v) => [v.name, v.share])).toEqual([
      ['control', 1],
      ['treatment', 0],
    ]);
    expect(countedOf(settled, 'control')).toEqual(all.sum((k) => k === `${v1}:control`));
    expect(countedOf(settled, 'treatment').requests).toBe(0);
    const tripped = settled.earlierGenerations.find((g) => g.generation === check.generation)!;
    expect(tripped).toBeDefined();
    for (const variant of ['control', 'treatment']) {
      expect(countedOf(tripped, variant), variant).toEqual(all.sum((k) => k === `${v0}:${variant}`));
    }
    expect(tripped.guardrails[0]).toMatchObject({ status: 'tripped', variant: 'treatment' });
    expect(tripped.variants[1]!.vsControl.errorRatePValue!).toBeLessThan(0.001);

    // `ffr results --json` and GET /experiments/NAME: the same document, and it shows the trip.
    const cli = await runFfr(redis, ['results', 'checkout-exp', '--json']);
    expect(cli.code, cli.stderr).toBe(0);
    const viaCli = JSON.parse(cli.stdout) as ExperimentReport;
    const viaAdmin = (await experimentReport(s.adminPort, 'checkout-exp'))!;
    expect(withoutWindow(viaCli)).toEqual(withoutWindow(viaAdmin));
    expect(viaAdmin.trips).toHaveLength(1);
    expect(viaAdmin.trips[0]).toMatchObject({
      variant: 'treatment',
      metric: 'errorRate',
      generation: check.generation,
    });
    const text = await runFfr(redis, ['results', 'checkout-exp']);
    expect(text.stdout).toMatch(
      /guardrail changes:\n {2}\S+: treatment weight set to 0: guardrail errorRate on checkout-exp/,
    );
  });
});
