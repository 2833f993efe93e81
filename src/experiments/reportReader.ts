// The experiment report from Redis, for `ffr results NAME` and `GET /experiments/NAME`:
// the generation in force (the one that came into force last) from its start, or, with
// `sinceMs`, every generation with counts in the last `sinceMs`; plus the recorded trips. Each
// variant also gets a `series` over the window (at most MAX_SERIES_POINTS points) for plots.
import { experimentReport, type ExperimentReport } from './core/report.js';
import { addVariantCounts, emptyVariantCounts } from './core/counts.js';
import { computeResults, MAX_SERIES_POINTS, type ExperimentResults } from './core/results.js';
import type { RedisClient } from './flusher.js';
import { experimentKeys, minuteOf } from './keys.js';
import { readGenerations, readTrips, readWindow, type GenerationCounts } from './reader.js';

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
  // The window in at most MAX_SERIES_POINTS runs of minutes, each read once: the runs are the
  // series' points, and their sum is the totals.
  const step = Math.max(1, Math.ceil((nowMinute - fromMinute + 1) / MAX_SERIES_POINTS));
  const runs: { fromMinute: number; minutes: number }[] = [];
  for (let m = fromMinute; m <= nowMinute; m += step)
    runs.push({ fromMinute: m, minutes: Math.min(step, nowMinute - m + 1) });
  const [points, trips] = await Promise.all([
    Promise.all(runs.map((r) => readWindow(redis, keys, flag, r.fromMinute, r.fromMinute + r.minutes - 1))),
    readTrips(redis, keys, flag),
  ]);
  const counts: GenerationCounts = new Map();
  for (const point of points) {
    for (const [generation, byVariant] of point.counts) {
      let into = counts.get(generation);
      if (!into) counts.set(generation, (into = new Map()));
      for (const [variant, c] of byVariant) {
        let target = into.get(variant);
        if (!target) into.set(variant, (target = emptyVariantCounts()));
        addVariantCounts(target, c);
      }
    }
  }
  const resultsOf = (generation: string): ExperimentResults =>
    computeResults(generations.get(generation)!.spec, counts.get(generation) ?? new Map(), {
      fromMinute,
      toMinute: nowMinute,
      relativeEffect: options.relativeEffect,
      series: runs.map((r, i) => ({ ...r, counts: points[i]!.counts.get(generation) ?? new Map() })),
    });
  const earlier = infos
    .slice(1)
    .filter((g) => counts.has(g.spec.generation))
    .sort((a, b) => b.last - a.last)
    .map((g) => resultsOf(g.spec.generation));
  return experimentReport(resultsOf(current.spec.generation), earlier, trips);
}
