#!/usr/bin/env node
// `npm run learner`: the fleet learner. Sidecars run with PROFLAG_LEARN_MODE=publish and XADD
// their samples to `<prefix>samples`; this process reads them in the consumer group
// `proflag-learners` (XREADGROUP), runs the same Learner as the in-process mode, and writes
// proposals to `<prefix>proposal:<id>` / `<prefix>proposals`. Several of these processes may
// share the group (each learns from its share of the samples). Same configuration variables as
// the sidecar (REDIS_URL, PROFLAG_PREFIX, PROFLAG_REDIS_CLUSTER_NODES, LOG_LEVEL, ...); its own
// HTTP port (/metrics, /healthz, GET /learner) is PROFLAG_LEARNER_ADMIN_ADDR.
import { hostname } from 'node:os';
import { startLearnerAdminServer } from './admin/learnerAdmin.js';
import { LEARNER_GROUP, startStreamConsumer } from './learner/fleet.js';
import { Learner } from './learner/learner.js';
import { learnerRedis } from './learner/learning.js';
import { EMPTY_DROPS, type LearnerReport } from './learner/learnerReport.js';
import { createRedisProposalWriter } from './learner/proposalStore.js';
import { redisKeys } from './store/redisKeys.js';
import { createMetrics } from './telemetry/metrics.js';
import { runProcess } from './processRunner.js';

runProcess('proflag learner', async (config, logger) => {
  const metrics = createMetrics({ defaultMetrics: false });
  const keys = redisKeys(config.prefix);
  const consumerName = `${hostname()}-${process.pid}`;
  const commands = learnerRedis(config, consumerName);
  const blocking = learnerRedis(config, consumerName, 'learner-read');
  commands.on('error', () => {});
  blocking.on('error', () => {});
  // Commands fail fast while disconnected (no offline queue): wait for the first connection.
  const ready = (r: typeof commands) =>
    r.status === 'ready' ? Promise.resolve() : new Promise<void>((resolve) => r.once('ready', () => resolve()));
  await Promise.all([ready(commands), ready(blocking)]);

  const learner = new Learner({});
  const writer = createRedisProposalWriter({
    redis: commands,
    keys,
    logger,
    onOutcome: (outcome, _id, count = 1) => metrics.learnerProposals.labels(outcome).inc(count),
    onRetired: (id) => learner.retire(id),
  });
  const consumer = startStreamConsumer({
    redis: blocking,
    streamKey: keys.samples,
    group: LEARNER_GROUP,
    consumer: consumerName,
    learner,
    writer,
    logger,
    metrics,
  });
  const report = (): LearnerReport => {
    const s = consumer.stats;
    return {
      version: 1,
      generatedAt: new Date().toISOString(),
      mode: 'fleet',
      samples: {
        accepted: s.consumed + s.malformed,
        learned: s.consumed,
        dropped: { ...EMPTY_DROPS, decode: s.malformed },
        queueLength: 0,
      },
      learner: learner.explain(),
      note: `consumer ${consumerName} of group ${LEARNER_GROUP} on ${keys.samples}: this learner sees its share of the stream`,
    };
  };
  const admin = await startLearnerAdminServer(config.learnerAdminAddr, {
    registry: metrics.registry,
    learnerState: report,
  });
  logger.info(
    {
      component: 'learner',
      stream: keys.samples,
      group: LEARNER_GROUP,
      consumer: consumerName,
      admin: `${config.learnerAdminAddr.replace(/:\d+$/, '')}:${admin.port}`,
    },
    'fleet learner started',
  );
  const statsTimer = setInterval(() => logger.info({ ...learner.stats, ...consumer.stats }, 'learner stats'), 30_000);
  statsTimer.unref();

  return {
    async stop() {
      clearInterval(statsTimer);
      await consumer.stop();
      await admin.close();
      commands.disconnect();
      blocking.disconnect();
    },
  };
});
