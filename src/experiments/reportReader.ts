// The experiment report from Redis, for `ffr results NAME` and `GET /experiments/NAME`:
// the generation in force (the one that came into force last) from its start, or, with
// `sinceMs`, every generation with counts in the last `sinceMs`; plus the recorded trips.
import { experimentReport, type ExperimentReport } from './core/report.js';
import { computeResults, type ExperimentResults } from './core/results.js';
import type { RedisClient } from './flusher.js';
import { experimentKeys, minuteOf } from './keys.js';
import { readGenerations, readTrips, readWindow } from './reader.js';

export interface ReportOptions {
  /** Look back this far (ms); default: since the generation in force came into force. */
  readonly sinceMs?: number;
  /** Bounds the default window. */
  readonly ttlDays: number;
  /** Relative error-rate effect for the power line (default: the errorRate guardrail's bound, else 0.1). */
  readonly relativeEffect?: number;
  readonly nowMs?: number;
}

/** null when Redis holds no experiment record for the flag. */
export async function readExperimentReport(
  redis: RedisClient,
  prefix: string,
  flag: string,
  options: ReportOptions,
): Promise<ExperimentReport | null> {
  const keys = experimentKeys(prefix);
  const generations = await readGenerations(redis, keys, flag);
  if (generations.size === 0) return null;
  const nowMinute = minuteOf(options.nowMs ?? Date.now());
  const infos = [...generations.values()].sort((a, b) => b.since - a.since || b.last - a.last);
  const current = infos[0]!;
  const oldest = nowMinute - Math.ceil(options.ttlDays * 1440);
  const fromMinute =
    options.sinceMs !== undefined
      ? Math.max(oldest, minuteOf((options.nowMs ?? Date.now()) - options.sinceMs))
      : Math.max(oldest, Math.min(current.since, nowMinute));
  const [window, trips] = await Promise.all([
    readWindow(redis, keys, flag, fromMinute, nowMinute),
    readTrips(redis, keys, flag),
  ]);
  const resultsOf = (generation: string): ExperimentResults =>
    computeResults(generations.get(generation)!.spec, window.counts.get(generation) ?? new Map(), {
      fromMinute,
      toMinute: nowMinute,
      relativeEffect: options.relativeEffect,
    });
  const earlier = infos
    .slice(1)
    .filter((g) => window.counts.has(g.spec.generation))
    .sort((a, b) => b.last - a.last)
    .map((g) => resultsOf(g.spec.generation));
  return experimentReport(resultsOf(current.spec.generation), earlier, trips);
}
