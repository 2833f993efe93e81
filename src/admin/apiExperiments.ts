// The console's experiment page data beyond the report (CONTRACT §7, src/experiments/, whose
// report carries the per-minute series the plots draw): the guardrail history, i.e. the audit
// entries of the change path with the trip records' variant and metric.
import type { AuditEntry } from '../changes/index.js';
import type { TripRecord } from '../experiments/core/report.js';

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
