// Everything experiments need in a running sidecar, started with one call from the wiring:
//   const experiments = startExperiments({ redis, prefix, flushMs, ttlDays, guardrailIntervalMs,
//                                          changes, logger, metrics: experimentMetrics(metrics) });
//   holder swap      → experiments.recorder.bind(snapshot)        (builds the table off the hot path)
//   response phase   → experiments.recorder.observerFor(snapshot, decision.matches)
//   admin route      → handleExperiments(req, res, experiments)   (it has `report`)
//   shutdown         → await experiments.stop()                   (last flush included)
import type { ExperimentReport } from './core/report.js';
import { ExperimentFlusher, type RedisClient } from './flusher.js';
import { GuardrailRunner, type FlagChangePath } from './guardrailRunner.js';
import { GenerationCountsCache, RedisTripLog } from './reader.js';
import { readExperimentReport } from './reportReader.js';
import { ExperimentRecorder } from './recorder.js';
import type { ExperimentLogger, ExperimentMetrics } from './telemetry.js';

export interface ExperimentsRuntimeOptions {
  readonly redis: RedisClient;
  readonly prefix: string;
  /** PROFLAG_EXPERIMENT_FLUSH_MS */
  readonly flushMs: number;
  /** PROFLAG_EXPERIMENT_TTL_DAYS */
  readonly ttlDays: number;
  /** PROFLAG_GUARDRAIL_INTERVAL_MS */
  readonly guardrailIntervalMs: number;
  /** The atomic change path; null: guardrails are evaluated (results show them) but never applied. */
  readonly changes: FlagChangePath | null;
  /** The audit entry's `who` for guardrail changes. Default 'guardrail'. */
  readonly actor?: string;
  readonly logger?: ExperimentLogger;
  readonly metrics?: ExperimentMetrics;
}

export interface ExperimentsRuntime {
  readonly recorder: ExperimentRecorder;
  readonly flusher: ExperimentFlusher;
  readonly runner: GuardrailRunner | null;
  report(flag: string, options: { sinceMs?: number; relativeEffect?: number }): Promise<ExperimentReport | null>;
  stop(): Promise<void>;
}

export function startExperiments(o: ExperimentsRuntimeOptions): ExperimentsRuntime {
  const recorder = new ExperimentRecorder();
  const flusher = new ExperimentFlusher({
    redis: o.redis,
    prefix: o.prefix,
    recorder,
    flushMs: o.flushMs,
    ttlDays: o.ttlDays,
    logger: o.logger,
    metrics: o.metrics,
  });
  const runner =
    o.changes === null
      ? null
      : new GuardrailRunner({
          experiments: () => recorder.currentExperiments(),
          counts: new GenerationCountsCache(o.redis, o.prefix, o.ttlDays),
          changes: o.changes,
          trips: new RedisTripLog(o.redis, o.prefix, o.ttlDays),
          intervalMs: o.guardrailIntervalMs,
          actor: o.actor,
          logger: o.logger,
          metrics: o.metrics,
        });
  flusher.start();
  runner?.start();
  return {
    recorder,
    flusher,
    runner,
    report: (flag, options) => readExperimentReport(o.redis, o.prefix, flag, { ttlDays: o.ttlDays, ...options }),
    async stop() {
      await runner?.stop();
      await flusher.stop();
    },
  };
}
