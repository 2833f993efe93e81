// Experiments in a running sidecar (CONTRACT §7): the recorder the request path reports to,
// bound to each new snapshot off the request path; the flusher and the guardrail runner over
// a Redis client of their own; guardrail changes through the atomic change path
// (src/changes/), so that replicas racing over the same trip make exactly one change.
// With the file store there is nowhere to merge counts, so there are no experiments.
import type { Config } from '../config/config.js';
import { ChangeRefused, FlagChanges } from '../changes/index.js';
import type { Snapshot } from '../matcher/snapshot.js';
import { createRedisClient } from '../store/redisConnection.js';
import type { Logger } from '../telemetry/logger.js';
import type { Metrics } from '../telemetry/metrics.js';
import type { FlagChangePath } from './guardrailRunner.js';
import { startExperiments, type ExperimentsRuntime } from './runtime.js';
import { experimentMetrics } from './telemetry.js';

export interface SidecarExperiments {
  readonly runtime: ExperimentsRuntime;
  /** Build the new snapshot's counting table before requests reach it. */
  bind(snapshot: Snapshot): void;
  stop(): Promise<void>;
}

/** The guardrail's view of the change path: a compare-and-set that says whether it wrote. */
export function guardrailChangePath(changes: FlagChanges, logger: Logger): FlagChangePath {
  return {
    async update(name, mutate, context) {
      try {
        const result = await changes.update(name, mutate, context, { action: 'guardrail' });
        return { applied: result.changed };
      } catch (err) {
        // A flag deleted or replaced meanwhile is not a failure of the guardrail.
        if (err instanceof ChangeRefused && err.refusal === 'not-found') return { applied: false };
        logger.warn(
          { code: 'PROFLAG_ERR_EXPERIMENT', err: (err as Error).message, flag: name },
          'guardrail change failed',
        );
        throw err;
      }
    },
  };
}

export function startSidecarExperiments(
  config: Config,
  deps: { readonly logger: Logger; readonly metrics: Metrics },
): SidecarExperiments {
  const redis = createRedisClient(config, { role: 'experiments', lazyConnect: false });
  // Connection errors are reported by the flusher's failed flushes; keep ioredis quiet.
  redis.on('error', () => {});
  const changes = new FlagChanges(redis, config.prefix);
  const runtime = startExperiments({
    redis,
    prefix: config.prefix,
    flushMs: config.experimentFlushMs,
    ttlDays: config.experimentTtlDays,
    guardrailIntervalMs: config.guardrailIntervalMs,
    changes: guardrailChangePath(changes, deps.logger),
    actor: 'guardrail',
    logger: deps.logger,
    metrics: experimentMetrics(deps.metrics),
  });
  return {
    runtime,
    bind: (snapshot) => void runtime.recorder.bind(snapshot),
    async stop() {
      await runtime.stop();
      redis.disconnect();
    },
  };
}
