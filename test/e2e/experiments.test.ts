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
import { normalizeResults } from '../../ui/src/experiments.js';
import { EnvoyEmulator, type EmulatedOutcome } from '../helpers/envoyEmulator.js';
import { runFfr } from '../helpers/ffr.js';
import { testRedis, type TestRedis } from '../helpers/redis.js';
import { until } from '../helpers/until.js';
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
    await until('the sidecar to load the flag', async () => s.holder.current.version === v0, 3000);

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
      'the post-trip traffic to be flushed',
      async () => {
        const r = await experimentReport(s.adminPort, 'checkout-exp', '?since=1h');
        const c = r && countedOf(r, 'control');
        return c && c.requests === all.sum((k) => k === `${v1}:control`).requests ? r : null;
      },
      5000,
    );
    expect(settled.generation).not.toBe(check.generation);
    expect(settled.variants.map((v) => [v.name, v.share])).toEqual([
      ['control', 1],
      ['treatment', 0],
    ]);
    expect(countedOf(settled, 'control')).toEqual(all.sum((k) => k === `${v1}:control`));
    expect(countedOf(settled, 'treatment').requests).toBe(0);
    // The per-variant time series (the console's plots) add up to the totals, in the form the
    // console reads.
    for (const g of [settled, ...settled.earlierGenerations])
      for (const v of g.variants) {
        expect(v.series.reduce((n, p) => n + p.requests, 0)).toBe(v.requests);
        expect(v.series.reduce((n, p) => n + p.errors, 0)).toBe(v.errors);
      }
    const plotted = normalizeResults(settled);
    if ('error' in plotted) throw new Error(plotted.error);
    expect(plotted.variants[0]!.series.reduce((n, p) => n + (p.requests ?? 0), 0)).toBe(settled.variants[0]!.requests);
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

describe('two replicas sharing one Redis', () => {
  it('give one merged result, the sum of what each observed, and exactly one guardrail change', async () => {
    // Guardrail timers far away: the test runs both replicas' checks at the same moment itself,
    // so that they really race over the same merged counts.
    const a = await sidecar({ guardrailIntervalMs: 3_600_000 });
    const b = await sidecar({ guardrailIntervalMs: 3_600_000 });
    await putFlag(
      redis,
      experimentFlag('pay-exp', '/pay', { control: 'control', guardrails: [ERROR_GUARDRAIL] }, 'backend_treatment'),
    );
    const v0 = await redisVersion(client, redis.prefix);
    await until('both to load', async () => a.holder.current.version === v0 && b.holder.current.version === v0, 3000);

    const upstream = backends(
      {
        backend_stable: { error5xx: 0.01, error4xx: 0.03, reset: 0.01 },
        backend_treatment: { error5xx: 0.08, error4xx: 0.03, reset: 0.01 },
      },
      11,
    );
    const tallies = [new Tally(), new Tally()];
    await drive({
      envoys: [emulator(a, upstream), emulator(b, upstream)],
      count: 1400,
      concurrency: 4,
      request: (i) => ({ path: '/pay', headers: { 'x-user-id': `payer-${i}` } }),
      onOutcome: (out, _i, which) => tallyInto(tallies[which]!, 'pay-exp')(out),
    });
    const [ta, tb] = tallies as [Tally, Tally];
    const sum = ta.merge(tb);
    for (const t of [ta, tb])
      for (const variant of ['control', 'treatment'])
        expect(t.sum((k) => k.endsWith(`:${variant}`)).requests).toBeGreaterThan(100);

    // Both replicas flush on their own; the merged counts are exactly the sum, and either
    // replica's admin port shows the same document.
    const merged = await until(
      'both replicas to flush',
      async () => {
        const r = await experimentReport(a.adminPort, 'pay-exp');
        return r && r.variants.reduce((n, v) => n + v.requests, 0) === 1400 ? r : null;
      },
      5000,
    );
    for (const variant of ['control', 'treatment']) {
      expect(countedOf(merged, variant), variant).toEqual(sum.sum((k) => k === `${v0}:${variant}`));
    }
    expect(withoutWindow((await experimentReport(b.adminPort, 'pay-exp'))!)).toEqual(withoutWindow(merged));
    expect(merged.guardrails[0]).toMatchObject({ status: 'tripped', variant: 'treatment' });

    // Both replicas check at once over the same counts: one change, the other finds it done.
    const [ra, rb] = await Promise.all([a.experiments!.runner!.runOnce(), b.experiments!.runner!.runOnce()]);
    expect(ra.checks[0]?.status).toBe('tripped');
    expect(rb.checks[0]?.status).toBe('tripped');
    expect(ra.applied.length + rb.applied.length).toBe(1);
    expect(ra.alreadyApplied.length + rb.alreadyApplied.length).toBe(1);
    expect(ra.errors.concat(rb.errors)).toEqual([]);
    expect(await redisVersion(client, redis.prefix)).toBe(v0 + 1);
    const audit = await client.xrange(`${redis.prefix}audit`, '-', '+');
    const guardrailEntries = audit.filter(([, fields]) => fields.includes('guardrail'));
    expect(guardrailEntries).toHaveLength(1);
    expect(await client.llen(`${redis.prefix}exp:pay-exp:trips`)).toBe(1);

    // Once both serve the change, further checks change nothing, and traffic is control only.
    await until('reload', async () => a.holder.current.version === v0 + 1 && b.holder.current.version === v0 + 1, 3000);
    const again = await Promise.all([a.experiments!.runner!.runOnce(), b.experiments!.runner!.runOnce()]);
    expect(again.flatMap((r) => r.applied)).toEqual([]);
    expect(await redisVersion(client, redis.prefix)).toBe(v0 + 1);
    await drive({
      envoys: [emulator(a, upstream), emulator(b, upstream)],
      count: 40,
      concurrency: 2,
      request: (i) => ({ path: '/pay', headers: { 'x-user-id': `late-${i}` } }),
      onOutcome: (out) => expect(flagsSeen(out).get('pay-exp')).toBe('control'),
    });
  });
});

describe('sample ratio mismatch', () => {
  it('flags a split that most requests break (one sticky unit sends 90 %), and not an honest one', async () => {
    const s = await sidecar({ guardrailIntervalMs: 3_600_000 });
    await putFlag(redis, experimentFlag('srm-broken', '/srm', { control: 'control' }, 'backend_treatment'));
    await putFlag(redis, experimentFlag('srm-honest', '/even', { control: 'control' }, 'backend_treatment'));
    const v = await redisVersion(client, redis.prefix);
    await until('load', async () => s.holder.current.version === v, 3000);
    const e = emulator(s, backends({}));
    const broken = new Tally();
    const honest = new Tally();
    await drive({
      envoys: [e],
      count: 800,
      concurrency: 4,
      // Weights 50/50 by x-user-id; on /srm nine requests in ten carry the same id.
      request: (i) =>
        i % 2 === 0
          ? { path: '/srm', headers: { 'x-user-id': i % 20 === 0 ? `user-${i}` : 'one-heavy-unit' } }
          : { path: '/even', headers: { 'x-user-id': `user-${i}` } },
      onOutcome: (out) => {
        if (flagsSeen(out).has('srm-broken')) tallyInto(broken, 'srm-broken')(out);
        else tallyInto(honest, 'srm-honest')(out);
      },
    });
    const report = async (flag: string, tally: Tally) =>
      until(
        `${flag} flushed`,
        async () => {
          const r = await experimentReport(s.adminPort, flag);
          return r && r.variants.reduce((n, x) => n + x.requests, 0) === tally.sum(() => true).requests ? r : null;
        },
        5000,
      );
    const bad = await report('srm-broken', broken);
    const good = await report('srm-honest', honest);
    for (const [r, t] of [
      [bad, broken],
      [good, honest],
    ] as const)
      for (const variant of ['control', 'treatment'])
        expect(countedOf(r, variant)).toEqual(t.sum((k) => k.endsWith(`:${variant}`)));
    expect(bad.srm.mismatch).toBe(true);
    expect(bad.srm.pValue!).toBeLessThan(0.001);
    expect(good.srm.mismatch).toBe(false);
    expect(good.srm.pValue!).toBeGreaterThan(0.001);
    const text = await runFfr(redis, ['results', 'srm-broken']);
    expect(text.stdout).toMatch(/sample ratio: chi-squared [\d.]+, 1 df, p < 1e-15: MISMATCH/);
  });
});

describe('requests without a response', () => {
  it("an upstream reset and a local reply from another flag's respond count as no response, never success", async () => {
    const s = await sidecar({ guardrailIntervalMs: 3_600_000 });
    await putFlag(redis, experimentFlag('nr-exp', '/nr', { control: 'control' }, 'backend_nr'));
    await putFlag(redis, {
      name: 'nr-blocker',
      enabled: true,
      priority: 100,
      profile: { endpoint: { in: ['/nr/blocked'] } },
      respondLimit: { perSecond: 100_000 },
      actions: { respond: { status: 429, body: 'slow down' } },
    });
    const v = await redisVersion(client, redis.prefix);
    await until('load', async () => s.holder.current.version === v, 3000);
    const e = emulator(
      s,
      backends({ backend_stable: { reset: 0.05 }, backend_nr: { reset: 0.15, error4xx: 0.05 } }, 3),
    );
    const tally = new Tally();
    let blocked = 0;
    await drive({
      envoys: [e],
      count: 400,
      concurrency: 4,
      request: (i) => ({ path: i % 5 === 0 ? '/nr/blocked' : '/nr/item', headers: { 'x-user-id': `u-${i}` } }),
      onOutcome: (out) => {
        if (out.localReply) {
          // A local reply carries the respond flag's metadata, not the experiment's variant.
          expect(out.status).toBe(429);
          blocked++;
        } else tallyInto(tally, 'nr-exp')(out);
      },
    });
    expect(blocked).toBe(80);
    const seen = tally.sum(() => true);
    expect(seen.noResponse).toBeGreaterThan(10);
    const r = await until(
      'flushed',
      async () => {
        const x = await experimentReport(s.adminPort, 'nr-exp');
        return x && x.variants.reduce((n, y) => n + y.requests, 0) === 400 ? x : null;
      },
      5000,
    );
    const total = { requests: 0, noResponse: 0, status5xx: 0, status4xx: 0, errors: 0, invalidStatus: 0 };
    for (const x of r.variants) {
      for (const k of Object.keys(total) as (keyof typeof total)[]) total[k] += x[k];
      // Per variant the resets are exactly what the client saw; the blocked ones come on top.
      expect(x.noResponse).toBeGreaterThanOrEqual(tally.sum((k) => k.endsWith(`:${x.name}`)).noResponse);
    }
    expect(total).toEqual({
      requests: 400,
      noResponse: seen.noResponse + blocked,
      status5xx: 0,
      status4xx: seen.status4xx,
      errors: seen.noResponse + blocked,
      invalidStatus: 0,
    });
    // Successes (requests − errors − 4xx) are exactly the 2xx the client got.
    expect(total.requests - total.errors - total.status4xx).toBe(seen.requests - seen.noResponse - seen.status4xx);
  });
});

describe('latency', () => {
  it('a slower treatment backend shows in latencyP95 and the Mann-Whitney p-value, and trips a latencyP95 guardrail', async () => {
    const s = await sidecar();
    const latencyGuardrail = { metric: 'latencyP95', maxRelativeIncrease: 0.5, minRequests: 100, pValue: 0.01 };
    await putFlag(
      redis,
      experimentFlag('lat-exp', '/lat', { control: 'control', guardrails: [latencyGuardrail] }, 'backend_slow'),
    );
    const v = await redisVersion(client, redis.prefix);
    await until('load', async () => s.holder.current.version === v, 3000);
    const e = emulator(s, backends({ backend_slow: { delayMs: 80 } }));
    await drive({
      envoys: [e],
      count: 300,
      concurrency: 12,
      request: (i) => ({ path: '/lat', headers: { 'x-user-id': `u-${i}` } }),
      onOutcome: () => {},
      stop: () => s.holder.current.version !== v,
    });
    const r = await until(
      'the latency guardrail to trip',
      async () => {
        const x = await experimentReport(s.adminPort, 'lat-exp', '?since=1h');
        return x && x.trips.length > 0 ? x : null;
      },
      5000,
    );
    const g = r.earlierGenerations.find((x) => x.generation === r.trips[0]!.generation) ?? r;
    const [control, treatment] = g.variants as [(typeof g.variants)[number], (typeof g.variants)[number]];
    // The histogram reads a quantile within one bucket (~9 %) of the true value.
    expect(treatment.latencyMs.p50!).toBeGreaterThanOrEqual(80 * 0.91);
    expect(treatment.latencyMs.p95!).toBeGreaterThanOrEqual(80 * 0.91);
    expect(treatment.latencyMs.p95!).toBeGreaterThan(2 * control.latencyMs.p95!);
    expect(treatment.vsControl.latencyPValue!).toBeLessThan(1e-9);
    expect(treatment.vsControl.probabilitySlower!).toBeGreaterThan(0.9);
    expect(treatment.vsControl.latencyP95Relative!).toBeGreaterThan(1);
    expect(r.trips[0]).toMatchObject({ variant: 'treatment', metric: 'latencyP95' });
    console.info(
      `latency: control p95 ${control.latencyMs.p95!.toFixed(1)} ms, treatment p95 ${treatment.latencyMs.p95!.toFixed(1)} ms, ` +
        `Mann-Whitney p = ${treatment.vsControl.latencyPValue!.toExponential(2)}, tripped at ${r.trips[0]!.check.variantRequests} / ${r.trips[0]!.check.controlRequests}`,
    );
  });
});
