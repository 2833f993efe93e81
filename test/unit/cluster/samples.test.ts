// One learner for all workers: each worker samples and caps, forwards batches; the primary
// applies the cap again, globally. Two forwarders stand in for two workers (no processes).
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/config.js';
import type { RequestProfile } from '../../../src/features/profile.js';
import { embedUserAgent } from '../../../src/features/userAgent.js';
import type { WorkerMessage } from '../../../src/cluster/ipc.js';
import { learnsInPrimary, SampleIntake, startSampleForwarding } from '../../../src/cluster/samples.js';
import { createLogger } from '../../../src/telemetry/logger.js';
import { createMetrics } from '../../../src/telemetry/metrics.js';
import { profileOf } from '../../helpers/profiles.js';

const config = loadConfig({ PROFLAG_LEARN_MAX_PER_SECOND: '50', PROFLAG_UA_HASH_KEY: 'samples-test-key-0123' });
const logger = createLogger('silent');

describe('one learner fed by the workers', () => {
  it('keeps PROFLAG_LEARN_MAX_PER_SECOND global and counts each sample once', async () => {
    const primaryMetrics = createMetrics({ defaultMetrics: false });
    const intake = new SampleIntake(config, { logger, metrics: primaryMetrics });
    // Structured clone, as over the IPC channel.
    const send = (msg: WorkerMessage, done?: () => void) => {
      const copy = structuredClone(msg);
      setImmediate(() => {
        if (copy.proflag === 'learning') intake.onLearning(copy.storeKind);
        if (copy.proflag === 'samples') intake.onSamples(copy.profiles);
        done?.();
      });
      return true;
    };
    const workerMetrics = [createMetrics({ defaultMetrics: false }), createMetrics({ defaultMetrics: false })];
    const workers = workerMetrics.map((metrics) =>
      startSampleForwarding(config, { logger, metrics, storeKind: 'file' }, send),
    );
    const vector = embedUserAgent('curl/8.5.0');
    // 80 requests per worker within one second: each worker passes its cap (50), the primary
    // takes 50 of the 100 it gets.
    for (let i = 0; i < 80; i++)
      for (const w of workers) w.sink(profileOf({ endpoint: `/e${i}`, uaVector: vector, clientKey: `c${i}` }));
    for (const w of workers) await w.runner.drained();
    await new Promise((r) => setImmediate(r));
    await intake.learning!.runner.drained();
    const learnerRunner = intake.learning!.runner;
    expect(intake.learner).not.toBeNull();
    expect(learnerRunner.stats.queued).toBe(50);
    expect(learnerRunner.stats.droppedRate).toBe(50);
    expect(intake.learner!.stats.observed).toBe(50);
    for (const w of workers) await w.stop();
    await intake.stop();
    const total = async (name: string, reason?: string) => {
      let sum = 0;
      for (const m of [...workerMetrics, primaryMetrics]) {
        const json = (await m.registry.getMetricsAsJSON()).find((x) => x.name === name);
        for (const v of json?.values ?? []) if (reason === undefined || v.labels.reason === reason) sum += v.value;
      }
      return sum;
    };
    // Summed over processes as /metrics does: queued once (by the primary), drops where they happened.
    expect(await total('proflag_learner_samples_queued_total')).toBe(50);
    expect(await total('proflag_learner_samples_dropped_total', 'rate')).toBe(30 + 30 + 50);
    expect(await total('proflag_learner_observed_total')).toBe(50);
  });

  it('forwards only derived fields, the embedding as it is', async () => {
    const got: RequestProfile[] = [];
    const forwarding = startSampleForwarding(
      config,
      { logger, metrics: createMetrics({ defaultMetrics: false }), storeKind: 'redis' },
      (msg, done) => {
        if (msg.proflag === 'samples') got.push(...structuredClone(msg.profiles));
        done?.();
        return true;
      },
    );
    const vector = embedUserAgent('Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0');
    const profile = profileOf({
      method: 'POST',
      endpoint: '/api',
      payloadSize: 12,
      sizeBin: 4,
      hourBin: 8,
      country: 'DE',
      continent: 'EU',
      uaHash: 'h',
      uaVector: vector,
    });
    forwarding.sink({ ...profile, extra: 'not forwarded' } as RequestProfile);
    await forwarding.runner.drained();
    await forwarding.stop();
    expect(got).toEqual([profile]);
    expect(got[0]!.uaVector).toBeInstanceOf(Float32Array);
  });

  it('leaves learning to each worker when it publishes to Redis', () => {
    const publish = loadConfig({ PROFLAG_LEARN_MODE: 'publish' });
    expect(learnsInPrimary(publish, 'redis')).toBe(false);
    expect(learnsInPrimary(publish, 'file')).toBe(true);
    expect(learnsInPrimary(config, 'redis')).toBe(true);
    expect(learnsInPrimary(loadConfig({ PROFLAG_LEARN: 'off' }), 'file')).toBe(false);
  });
});
