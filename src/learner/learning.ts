// Wiring of the learner into the sidecar, from the validated configuration (sidecar.ts calls
// startLearning when PROFLAG_LEARN=on). Two modes:
//   in-process: sink → queue → Learner → proposals written to Redis (or logged with the file
//               store);
//   publish:    sink → queue → XADD to `<prefix>samples`; `npm run learner` (src/learnerMain.ts)
//               consumes the stream for the whole fleet.
// The learner's own Redis connection never queues commands while disconnected (a proposal or
// a batch of samples fails fast and is counted), so a Redis outage cannot build memory up here.
import type { Config } from '../config/config.js';
import type { ProfileSink } from '../extproc/requestProcessor.js';
import { createRedisClient, type RedisClient } from '../store/redisConnection.js';
import { redisKeys } from '../store/redisKeys.js';
import type { Logger } from '../telemetry/logger.js';
import { streamPublisher } from './fleet.js';
import { Learner, type LearnerOptions } from './learner.js';
import { EMPTY_DROPS, type LearnerReport } from './learnerReport.js';
import { createLogProposalWriter, createRedisProposalWriter, type ProposalWriter } from './proposalStore.js';
import {
  inProcessHandler,
  startLearnerRunner,
  type LearnerMetrics,
  type LearnerRunner,
  type SampleHandler,
} from './runner.js';

/** Test and benchmark overrides of the learner's options (the defaults are the product's). */
export type LearningOverrides = Partial<LearnerOptions>;

export interface LearningDeps {
  readonly logger: Logger;
  readonly metrics: LearnerMetrics;
  /** Which flag store serves the sidecar: proposals need Redis. */
  readonly storeKind: 'redis' | 'file';
  /** Clock of the samples (the request path's clock). */
  readonly now?: () => number;
  readonly overrides?: LearningOverrides;
}

export interface Learning {
  readonly sink: ProfileSink;
  readonly runner: LearnerRunner;
  readonly mode: 'in-process' | 'publish';
  /** The in-process learner (null in publish mode). */
  readonly learner: Learner | null;
  /** GET /learner's document, built now. */
  report(): LearnerReport;
  stop(): Promise<void>;
}

/**
 * A Redis connection for the learner, on the same topology and with the same credentials and
 * TLS as the flag store (src/store/redisConnection.ts). `role` 'learner' writes proposals or
 * publishes samples; 'learner-read' holds the fleet learner's blocking XREADGROUP.
 */
export function learnerRedis(config: Config, id: string, role: 'learner' | 'learner-read' = 'learner'): RedisClient {
  return createRedisClient(config, { role, id, lazyConnect: false, backoff: { baseMs: 100, maxMs: 5_000 } });
}

export function startLearning(config: Config, deps: LearningDeps): Learning {
  const log = deps.logger.child({ component: 'learner' });
  let mode = config.learnMode;
  if (mode === 'publish' && deps.storeKind !== 'redis') {
    log.warn('PROFLAG_LEARN_MODE=publish needs Redis; the file store is in use, so learning stays in-process');
    mode = 'in-process';
  }
  const redis = deps.storeKind === 'redis' ? learnerRedis(config, String(process.pid)) : null;
  redis?.on('error', () => {}); // failures are counted where commands fail
  const keys = redisKeys(config.prefix);

  let handler: SampleHandler;
  let learner: Learner | null = null;
  let publisher: ReturnType<typeof streamPublisher> | null = null;
  if (mode === 'publish' && redis) {
    handler = publisher = streamPublisher({
      redis,
      streamKey: keys.samples,
      maxLen: config.learnStreamMaxLen,
      logger: deps.logger,
      metrics: deps.metrics,
    });
  } else {
    learner = new Learner({ ...deps.overrides });
    const onOutcome = (outcome: string, _id: string, count = 1) =>
      deps.metrics.learnerProposals.labels(outcome).inc(count);
    const l = learner;
    const writer: ProposalWriter = redis
      ? createRedisProposalWriter({
          redis,
          keys,
          logger: deps.logger,
          onOutcome,
          onRetired: (id) => l.retire(id),
        })
      : createLogProposalWriter(deps.logger, onOutcome);
    handler = inProcessHandler({ learner, writer, metrics: deps.metrics });
  }
  const runner = startLearnerRunner({
    sampleRate: config.learnSampleRate,
    maxPerSecond: config.learnMaxPerSecond,
    queueSize: config.learnQueueSize,
    handler,
    metrics: deps.metrics,
    ...(deps.now ? { now: deps.now } : {}),
  });
  log.info(
    { mode, sampleRate: config.learnSampleRate, maxPerSecond: config.learnMaxPerSecond, queue: config.learnQueueSize },
    'learner started',
  );
  const report = (): LearnerReport => {
    const r = runner.stats;
    return {
      version: 1,
      generatedAt: new Date().toISOString(),
      mode,
      samples: {
        accepted: r.queued,
        learned: publisher ? publisher.published : (learner?.stats.observed ?? 0),
        dropped: { ...EMPTY_DROPS, rate: r.droppedRate, full: r.droppedFull, publish: publisher?.failed ?? 0 },
        queueLength: r.queueLength,
      },
      learner: learner?.explain() ?? null,
      note: publisher
        ? `samples go to the ${keys.samples} stream; the fleet learner (npm run learner) learns and explains itself on PROFLAG_LEARNER_ADMIN_ADDR`
        : null,
    };
  };
  return {
    sink: runner.sink,
    runner,
    mode,
    learner,
    report,
    async stop() {
      await runner.stop(2_000);
      redis?.disconnect();
    },
  };
}
