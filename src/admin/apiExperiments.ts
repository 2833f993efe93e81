// The console's experiment page data beyond the report (CONTRACT §7, src/experiments/): the
// per-variant figures minute by minute, for the plots over time, read from the same per-minute
// buckets the report sums (`<prefix>exp:<flag>:m:<minute>`), and the guardrail history (the
// audit entries of the change path, with the trip records' variant and metric).
import type { AuditEntry } from '../changes/index.js';
import {
  addToCounts,
  emptyVariantCounts,
  errorsOf,
  parseCounterField,
  type VariantCounts,
} from '../experiments/core/counts.js';
import { histogramQuantile, histogramTotal } from '../experiments/core/histogram.js';
import type { TripRecord } from '../experiments/core/report.js';
import { experimentKeys, minuteOf } from '../experiments/keys.js';
import type { RedisClient } from '../store/redisConnection.js';

/** Minutes plotted at most: the last hour of the report's window. */
export const SERIES_MINUTES = 60;

export interface SeriesPoint {
  /** Start of the minute, epoch ms. */
  readonly t: number;
  readonly requests: number;
  /** 5xx + no response + unusable :status, as in the report. */
  readonly errors: number;
  readonly errorRate: number | null;
  readonly latencyMs: { readonly p50: number | null; readonly p95: number | null };
}

function pointOf(minute: number, c: VariantCounts): SeriesPoint {
  const latency = histogramTotal(c.latency) > 0;
  return {
    t: minute * 60_000,
    requests: c.requests,
    errors: errorsOf(c),
    errorRate: c.requests > 0 ? errorsOf(c) / c.requests : null,
    latencyMs: {
      p50: latency ? histogramQuantile(c.latency, 0.5) : null,
      p95: latency ? histogramQuantile(c.latency, 0.95) : null,
    },
  };
}

/**
 * Per variant, one point per minute of one generation, from the first to the last minute with
 * requests in [fromMinute, toMinute] (the empty minutes between them count as 0 requests).
 * One pipelined HGETALL per minute.
 */
export async function readSeries(
  redis: RedisClient,
  prefix: string,
  flag: string,
  generation: string,
  fromMinute: number,
  toMinute: number,
): Promise<Map<string, SeriesPoint[]>> {
  const keys = experimentKeys(prefix);
  const pipeline = redis.pipeline();
  for (let m = fromMinute; m <= toMinute; m++) pipeline.hgetall(keys.bucket(flag, m));
  const replies = (await pipeline.exec()) ?? [];
  const minutes: Array<Map<string, VariantCounts>> = [];
  const variants = new Set<string>();
  replies.forEach(([err, hash]) => {
    if (err) throw err;
    const byVariant = new Map<string, VariantCounts>();
    for (const [field, value] of Object.entries(hash as Record<string, string>)) {
      const parsed = parseCounterField(field);
      if (!parsed || parsed.generation !== generation) continue;
      let counts = byVariant.get(parsed.variant);
      if (!counts) byVariant.set(parsed.variant, (counts = emptyVariantCounts()));
      if (addToCounts(counts, parsed.slot, Number(value))) variants.add(parsed.variant);
    }
    minutes.push(byVariant);
  });
  const busy = (m: Map<string, VariantCounts>) => [...m.values()].some((c) => c.requests > 0);
  const first = minutes.findIndex(busy);
  const out = new Map<string, SeriesPoint[]>();
  if (first < 0) return out;
  const last = minutes.length - 1 - [...minutes].reverse().findIndex(busy);
  for (const variant of variants) {
    const points: SeriesPoint[] = [];
    for (let i = first; i <= last; i++) {
      points.push(pointOf(fromMinute + i, minutes[i]!.get(variant) ?? emptyVariantCounts()));
    }
    out.set(variant, points);
  }
  return out;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

/** The minutes to plot for a report: its generation and the last SERIES_MINUTES of its window. */
export function seriesWindow(
  report: unknown,
  nowMs = Date.now(),
): { generation: string; fromMinute: number; toMinute: number } | null {
  if (!isObj(report) || typeof report.generation !== 'string' || !isObj(report.window)) return null;
  const from = Date.parse(String(report.window.from));
  const to = Date.parse(String(report.window.to));
  const toMinute = Number.isFinite(to) ? minuteOf(to) : minuteOf(nowMs);
  const start = Number.isFinite(from) ? minuteOf(from) : toMinute;
  return { generation: report.generation, fromMinute: Math.max(start, toMinute - SERIES_MINUTES + 1), toMinute };
}

/** The report with each variant's `series` (variants that carry their own keep it). */
export function withSeries(report: Obj, series: ReadonlyMap<string, SeriesPoint[]>): Obj {
  if (!Array.isArray(report.variants)) return report;
  return {
    ...report,
    variants: report.variants.map((v: unknown) =>
      isObj(v) && typeof v.name === 'string' && v.series === undefined ? { ...v, series: series.get(v.name) ?? [] } : v,
    ),
  };
}

/** One row of the guardrail history. */
export interface GuardrailEvent {
  readonly id: string;
  /** Epoch ms. */
  readonly time: number;
  readonly who: string;
  readonly action: string;
  readonly detail: string;
  readonly reason: string | null;
  /** The versions around the change (null: known only from the trip record). */
  readonly before: number | null;
  readonly after: number | null;
  /** From the trip record, when there is one. */
  readonly variant: string | null;
  readonly metric: string | null;
}

/**
 * A flag's guardrail changes, newest first: its audit entries made by or for a guardrail
 * (reason or action `guardrail`), each with the variant and metric of the trip record that
 * carries the same detail; trip records whose audit entry has left the capped audit stream
 * are listed from the record alone.
 */
export function guardrailHistory(
  flag: string,
  audit: readonly AuditEntry[],
  trips: readonly TripRecord[],
): GuardrailEvent[] {
  const unmatched = [...trips];
  const out: GuardrailEvent[] = [];
  for (const e of audit) {
    if (e.name !== flag || (e.reason !== 'guardrail' && e.action !== 'guardrail')) continue;
    const at = unmatched.findIndex((t) => t.detail === e.detail);
    const trip = at >= 0 ? unmatched.splice(at, 1)[0]! : null;
    out.push({
      id: e.id,
      time: e.time,
      who: e.who,
      action: e.action,
      detail: e.detail ?? '',
      reason: e.reason,
      before: Number.isFinite(e.before) ? e.before : null,
      after: Number.isFinite(e.after) ? e.after : null,
      variant: trip?.variant ?? null,
      metric: trip?.metric ?? null,
    });
  }
  for (const t of unmatched) {
    if (t.flag !== flag) continue;
    out.push({
      id: `trip-${t.at}-${t.variant}`,
      time: Date.parse(t.at),
      who: 'guardrail',
      action: 'guardrail',
      detail: t.detail,
      reason: 'guardrail',
      before: null,
      after: null,
      variant: t.variant,
      metric: t.metric,
    });
  }
  return out.sort((a, b) => b.time - a.time);
}
