// The guardrail loop through a real Redis, with two replicas: each decides with the real
// matcher, records outcomes, flushes, and runs its own guardrail runner over the merged
// counts. The treatment answers 5xx at 8 %, control at 1 %. One replica's change (through a
// compare-and-set change path, casChangePath.ts) sets the treatment's weight to 0: one version
// bump, one audit entry with reason `guardrail`, and traffic after the reload is control only.
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { parseFlagValue } from '../../../src/flags/schema.js';
import { compileSnapshot } from '../../../src/matcher/compile.js';
import { decide } from '../../../src/matcher/match.js';
import { guardrailRequestsPerArm } from '../../../src/experiments/core/tests.js';
import type { ExperimentConfig } from '../../../src/experiments/core/spec.js';
import { ExperimentFlusher } from '../../../src/experiments/flusher.js';
import { GuardrailRunner, type FlagChangePath } from '../../../src/experiments/guardrailRunner.js';
import { GenerationCountsCache, RedisTripLog } from '../../../src/experiments/reader.js';
import { readExperimentReport } from '../../../src/experiments/reportReader.js';
import { ExperimentRecorder } from '../../../src/experiments/recorder.js';
import { redisKeys } from '../../../src/store/redisKeys.js';
import { headersOf, profileOf } from '../../helpers/profiles.js';
import { fileRedis } from '../../helpers/fileRedis.js';
import { seededRandom } from '../../helpers/seededRandom.js';
import { casChangePath } from './casChangePath.js';

const T0 = 29_000_000 * 60_000;
const GUARDRAIL = { metric: 'errorRate' as const, maxRelativeIncrease: 0.1, minRequests: 500, pValue: 0.01 };

const FLAG = {
  name: 'checkout',
  enabled: true,
  rollout: { percent: 100, stickiness: 'header:x-user-id' },
  variants: [
    { name: 'control', weight: 50 },
    { name: 'treatment', weight: 50, actions: { route: { cluster: 'checkout_v3' } } },
  ],
  experiment: { control: 'control', guardrails: [GUARDRAIL] },
};

const r = fileRedis({ connect: (url) => new Redis(url, { maxRetriesPerRequest: 1 }) });

/**
 * What a replica serves for the flag document in Redis. The flag schema does not know
 * `experiment` yet (it is the flags branch's, interface 2): it is kept as an unknown field,
 * and attached to the compiled flag here, as CompiledFlag.experiment will carry it.
 */
async function loadSnapshot() {
  const doc = JSON.parse((await r.redis.get(redisKeys(r.prefix).flag('checkout')))!) as typeof FLAG;
  const parsed = parseFlagValue(doc);
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
  const compiled = compileSnapshot(
    [parsed.flag],
    { version: 1, source: 'test', rejected: [] },
    { uaIndexBuilder: null },
  );
  const experiment: ExperimentConfig = {
    control: doc.experiment.control,
    controlIndex: doc.variants.findIndex((v) => v.name === doc.experiment.control),
    guardrails: doc.experiment.guardrails,
  };
  return { ...compiled, flags: compiled.flags.map((f) => ({ ...f, experiment })) };
}

type Snapshot = Awaited<ReturnType<typeof loadSnapshot>>;

function makeReplica(clock: { now: number }, changes: FlagChangePath, actor: string) {
  const recorder = new ExperimentRecorder({ now: () => clock.now });
  const flusher = new ExperimentFlusher({
    redis: r.redis,
    prefix: r.prefix,
    recorder,
    flushMs: 1000,
    ttlDays: 30,
    now: () => clock.now,
  });
  const runner = new GuardrailRunner({
    experiments: () => recorder.currentExperiments(),
    counts: new GenerationCountsCache(r.redis, r.prefix, 30),
    changes,
    trips: new RedisTripLog(r.redis, r.prefix, 30),
    intervalMs: 10_000,
    actor,
    now: () => clock.now,
  });
  let snapshot: Snapshot | null = null;
  return {
    recorder,
    flusher,
    runner,
    use(s: Snapshot) {
      snapshot = s;
      recorder.bind(s);
    },
    /** One request of unit `user`: decide, then the response phase reports its outcome. */
    request(user: number, random: () => number): string {
      const decision = decide(snapshot!, profileOf(), headersOf({ 'x-user-id': `user-${user}` }));
      const variant = decision.matches[0]!.variant!;
      const observe = recorder.observerFor(snapshot!, decision.matches)!;
      const failing = random() < (variant === 'treatment' ? 0.08 : 0.01);
      observe(failing ? 503 : 200, 5 + random() * 20);
      return variant;
    },
  };
}

describe('guardrail: 8 % vs 1 % errors, two replicas, one Redis', () => {
  it('trips within the predicted traffic, once, and traffic after the reload is control only', async () => {
    const k = redisKeys(r.prefix);
    await r.redis.set(k.flag('checkout'), JSON.stringify(FLAG));
    await r.redis.set(k.version, '1');
    const clock = { now: T0 };
    const changes = casChangePath(r.redis, r.prefix);
    const replicas = [makeReplica(clock, changes, 'replica-a'), makeReplica(clock, changes, 'replica-b')];
    const first = await loadSnapshot();
    for (const rep of replicas) rep.use(first);

    // Prediction: the guardrail needs minRequests = 500 per arm (its own power calculation
    // says 181 per arm for 80 % power at p < 0.01 against +10 %, so minRequests decides).
    const predictedPerArm = Math.max(GUARDRAIL.minRequests, guardrailRequestsPerArm(0.01, 0.08, 1.1, 0.01));
    expect(predictedPerArm).toBe(500);

    const random = seededRandom(42);
    const perArm = { control: 0, treatment: 0 };
    let user = 0;
    let applied = 0;
    let noops = 0;
    let tripAt: { control: number; treatment: number } | null = null;
    // One "guardrail interval" = 200 requests spread over both replicas, then flush + check.
    for (let tick = 0; tick < 50 && !tripAt; tick++) {
      for (let i = 0; i < 200; i++, user++) perArm[replicas[user % 2]!.request(user, random) as 'control']++;
      clock.now += 10_000;
      await Promise.all(replicas.map((rep) => rep.flusher.flush()));
      const runs = await Promise.all(replicas.map((rep) => rep.runner.runOnce()));
      applied += runs.reduce((n, run) => n + run.applied.length, 0);
      noops += runs.reduce((n, run) => n + run.alreadyApplied.length, 0);
      if (applied > 0) tripAt = { ...perArm };
    }
    expect(tripAt).not.toBeNull();
    // Within the predicted traffic: the smaller arm is at most one interval (≤ 200 requests,
    // ~100 per arm) past 500 when the guardrail trips.
    expect(Math.min(tripAt!.control, tripAt!.treatment)).toBeGreaterThanOrEqual(500);
    expect(Math.min(tripAt!.control, tripAt!.treatment)).toBeLessThanOrEqual(predictedPerArm + 200);
    // Exactly one change, by one replica; the other found nothing to do.
    expect(applied).toBe(1);
    expect(noops).toBe(1);
    expect(await r.redis.get(k.version)).toBe('2');
    const doc = JSON.parse((await r.redis.get(k.flag('checkout')))!) as typeof FLAG;
    expect(doc.variants.map((v) => v.weight)).toEqual([50, 0]);
    expect(doc.variants[1]!.actions).toEqual(FLAG.variants[1]!.actions);

    // The history: one audit entry with reason guardrail and the figures.
    const audit = await r.redis.xrange(k.audit, '-', '+');
    expect(audit).toHaveLength(1);
    const entry = Object.fromEntries(
      audit[0]![1].reduce<[string, string][]>((pairs, v, i, all) => (i % 2 ? pairs : [...pairs, [v, all[i + 1]!]]), []),
    );
    expect(entry).toMatchObject({ action: 'update', name: 'checkout', reason: 'guardrail' });
    expect(['replica-a', 'replica-b']).toContain(entry.who);
    expect(entry.detail).toMatch(
      /^guardrail errorRate on checkout: treatment \d+\.\d\d% vs control \d\.\d\d% \(\+\d+\.\d%, bound \+10\.0%\), p [=<] /,
    );

    // The replicas reload (what the change feed triggers) and fall back to control.
    const second = await loadSnapshot();
    for (const rep of replicas) rep.use(second);
    const after = { control: 0, treatment: 0 };
    for (let i = 0; i < 2000; i++, user++) after[replicas[user % 2]!.request(user, random) as 'control']++;
    expect(after).toEqual({ control: 2000, treatment: 0 });
    clock.now += 10_000;
    await Promise.all(replicas.map((rep) => rep.flusher.flush()));
    const again = await Promise.all(replicas.map((rep) => rep.runner.runOnce()));
    expect(again.flatMap((run) => run.applied)).toEqual([]);
    expect(await r.redis.get(k.version)).toBe('2');

    // `results` says why: the trip, and the tripped generation's figures.
    const report = (await readExperimentReport(r.redis, r.prefix, 'checkout', {
      ttlDays: 30,
      nowMs: clock.now,
      sinceMs: 3_600_000,
    }))!;
    expect(report.variants.map((v) => [v.name, v.share, v.requests])).toEqual([
      ['control', 1, 2000],
      ['treatment', 0, 0],
    ]);
    expect(report.trips).toHaveLength(1);
    expect(report.trips[0]).toMatchObject({ flag: 'checkout', variant: 'treatment', metric: 'errorRate' });
    expect(report.trips[0]!.detail).toBe(entry.detail);
    const tripped = report.earlierGenerations[0]!;
    expect(tripped.generation).toBe(report.trips[0]!.generation);
    expect(tripped.guardrails[0]!.status).toBe('tripped');
    expect(tripped.variants[1]!.errorRate!).toBeGreaterThan(0.05);
  });

  it('two runners that reach the compare-and-set together still make exactly one change', async () => {
    const k = redisKeys(r.prefix);
    await r.redis.set(k.flag('checkout'), JSON.stringify(FLAG));
    await r.redis.set(k.version, '1');
    // A barrier: each runner has read the flag and computed its change before either writes.
    let waiting: (() => void)[] = [];
    const barrier = () =>
      new Promise<void>((resolve) => {
        waiting.push(resolve);
        if (waiting.length === 2) {
          for (const go of waiting) go();
          waiting = [];
        }
      });
    let first = true;
    const changes = casChangePath(r.redis, r.prefix, {
      beforeWrite: () => {
        if (!first) return Promise.resolve();
        return barrier().then(() => {
          first = false;
        });
      },
    });
    const clock = { now: T0 };
    const replicas = [makeReplica(clock, changes, 'replica-a'), makeReplica(clock, changes, 'replica-b')];
    const snapshot = await loadSnapshot();
    for (const rep of replicas) rep.use(snapshot);
    const random = seededRandom(7);
    for (let user = 0; user < 3000; user++) replicas[user % 2]!.request(user, random);
    clock.now += 10_000;
    await Promise.all(replicas.map((rep) => rep.flusher.flush()));
    const runs = await Promise.all(replicas.map((rep) => rep.runner.runOnce()));
    expect(runs.map((run) => run.applied.length).sort()).toEqual([0, 1]);
    expect(runs.map((run) => run.alreadyApplied.length).sort()).toEqual([0, 1]);
    expect(changes.conflicts).toBe(1); // the loser's write was refused, and its retry found nothing to do
    expect(await r.redis.get(k.version)).toBe('2');
    expect(await r.redis.xlen(k.audit)).toBe(1);
    expect(await r.redis.llen(`${r.prefix}exp:checkout:trips`)).toBe(1);
  });
});
