// The experiment report from Redis, for `ffr results NAME` and `GET /experiments/NAME`:
// the generation in force (the one that came into force last) from its start, with the earlier
// generations that have counts since then over their own spans; or, with `sinceMs`, every
// generation with counts in the last `sinceMs`, over that window; plus the recorded trips. Each
// variant also gets a `series` over its window (at most MAX_SERIES_POINTS points) for plots.
import { experimentReport, type ExperimentReport } from './core/report.js';
import { addVariantCounts, emptyVariantCounts } from './core/counts.js';
import { computeResults, MAX_SERIES_POINTS, type ExperimentResults } from './core/results.js';
import type { RedisClient } from './flusher.js';
import { experimentKeys, minuteOf, type ExperimentKeys } from './keys.js';
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

/** Minutes [fromMinute, toMinute] read in at most MAX_SERIES_POINTS runs: the series' points. */
interface WindowRead {
  readonly fromMinute: number;
  readonly toMinute: number;
  readonly runs: readonly { readonly fromMinute: number; readonly minutes: number }[];
  readonly points: readonly GenerationCounts[];
  /** The sum of the points. */
  readonly counts: GenerationCounts;
}

async function readRuns(
  redis: RedisClient,
  keys: ExperimentKeys,
  flag: string,
  fromMinute: number,
  toMinute: number,
): Promise<WindowRead> {
  const step = Math.max(1, Math.ceil((toMinute - fromMinute + 1) / MAX_SERIES_POINTS));
  const runs: { fromMinute: number; minutes: number }[] = [];
  for (let m = fromMinute; m <= toMinute; m += step)
    runs.push({ fromMinute: m, minutes: Math.min(step, toMinute - m + 1) });
  // Each minute is read once; the runs are read side by side (at most MAX_SERIES_POINTS).
  const points = (
    await Promise.all(runs.map((r) => readWindow(redis, keys, flag, r.fromMinute, r.fromMinute + r.minutes - 1)))
  ).map((w) => w.counts);
  const counts: GenerationCounts = new Map();
  for (const point of points) {
    for (const [generation, byVariant] of point) {
      let into = counts.get(generation);
      if (!into) counts.set(generation, (into = new Map()));
      for (const [variant, c] of byVariant) {
        let target = into.get(variant);
        if (!target) into.set(variant, (target = emptyVariantCounts()));
        addVariantCounts(target, c);
      }
    }
  }
  return { fromMinute, toMinute, runs, points, counts };
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
  const infos = [...generations.values()].sort(
    (a, b) => b.since - a.since || b.sinceEpochMs - a.sinceEpochMs || b.last - a.last,
  );
  const current = infos[0]!;
  const oldest = nowMinute - Math.ceil(options.ttlDays * 1440);
  const fromMinute =
    options.sinceMs !== undefined
      ? Math.max(oldest, minuteOf((options.nowMs ?? Date.now()) - options.sinceMs))
      : Math.max(oldest, Math.min(current.since, nowMinute));
  const [window, trips] = await Promise.all([
    readRuns(redis, keys, flag, fromMinute, nowMinute),
    readTrips(redis, keys, flag),
  ]);
  const resultsOf = (generation: string, read: WindowRead): ExperimentResults =>
    computeResults(generations.get(generation)!.spec, read.counts.get(generation) ?? new Map(), {
      fromMinute: read.fromMinute,
      toMinute: read.toMinute,
      relativeEffect: options.relativeEffect,
      series: read.runs.map((r, i) => ({ ...r, counts: read.points[i]!.get(generation) ?? new Map() })),
    });
  // Earlier generations with counts in the window: with `sinceMs`, over that window; by default
  // each over its own span (from when it came into force to its last counts), so the generation
  // a guardrail just stopped shows all its figures, not only its last minutes.
  const earlierInfos = infos
    .slice(1)
    .filter((g) => window.counts.has(g.spec.generation))
    .sort((a, b) => b.last - a.last);
  const earlier = await Promise.all(
    earlierInfos.map(async (g) => {
      if (options.sinceMs !== undefined) return resultsOf(g.spec.generation, window);
      const to = Math.min(nowMinute, Math.max(g.last, g.since));
      const own = await readRuns(redis, keys, flag, Math.max(oldest, Math.min(g.since, to)), to);
      return resultsOf(g.spec.generation, own);
    }),
  );
  return experimentReport(resultsOf(current.spec.generation, window), earlier, trips);
}
