// GET /learner's document (CONTRACT §8) and its text form for `scripts/ffr learner`.
//
// A report is built on request wherever the learner lives (the sidecar's in-process learner,
// the fleet learner, or a primary process fed by workers): the learner's own state
// (Learner.explain(), core/explain.ts) plus the counts of the samples on their way to it.
// Nothing under the privacy floor and no raw user agent or IP (see core/explain.ts).
import type { ClusterReport, DimensionReport, LearnerState } from './core/explain.js';
import { formatBytes, percent } from './core/explain.js';

export type { ClusterReport, LearnerState } from './core/explain.js';

export interface SamplesReport {
  /** Samples taken into the learner's queue (sidecar) or read from the stream (fleet). */
  readonly accepted: number;
  /** Samples the learner has learned from (in publish mode: published to the stream). */
  readonly learned: number;
  readonly dropped: {
    /** Over PROFLAG_LEARN_MAX_PER_SECOND. */
    readonly rate: number;
    /** The queue was full. */
    readonly full: number;
    /** Publish mode: XADD failed. */
    readonly publish: number;
    /** Fleet learner: stream entries that did not decode. */
    readonly decode: number;
  };
  /** Samples waiting in the queue now. */
  readonly queueLength: number;
}

export interface LearnerReport {
  readonly version: 1;
  readonly generatedAt: string;
  /** in-process: this sidecar learns; publish: it publishes samples; fleet: `npm run learner`. */
  readonly mode: 'in-process' | 'publish' | 'fleet';
  readonly samples: SamplesReport;
  /** Null in publish mode (the fleet learner has it). */
  readonly learner: LearnerState | null;
  readonly note: string | null;
}

export const EMPTY_DROPS: SamplesReport['dropped'] = Object.freeze({ rate: 0, full: 0, publish: 0, decode: 0 });

const n = (x: number): string => Math.round(x).toLocaleString('en-US');

export function formatDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  const m = Math.round(s / 60);
  if (m < 120) return `${m} min`;
  const h = Math.round(m / 60);
  return h < 48 ? `${h} h` : `${Math.round(h / 24)} d`;
}

function values(d: DimensionReport, max = 3): string | null {
  if (d.values.length === 0) return null;
  const shown = d.values.slice(0, max).map((v) => `${v.value} ${percent(v.share)}`);
  if (d.values.length > max) shown.push(`+${d.values.length - max}`);
  return shown.join(', ');
}

function clusterLines(c: ClusterReport): string[] {
  const head =
    `#${c.id} ${c.kind}: ${n(c.events)} events, clients ${c.clients.text}, ` +
    `age ${formatDuration(c.ageMs)}, last seen ${formatDuration(c.idleMs)} ago, anomaly ${c.meanScore.toFixed(2)}` +
    (c.absorbing ? ', absorbing in-range traffic' : '');
  const what = [
    values(c.top.method),
    values(c.top.endpoint),
    values(c.top.country),
    values(c.top.uaFamily) && `UA ${values(c.top.uaFamily)}`,
    c.size && `size ${formatBytes(c.size.min)}–${formatBytes(c.size.max)}`,
  ].filter((x): x is string => !!x);
  const hidden =
    c.top.method.hidden + c.top.endpoint.hidden + c.top.country.hidden + c.top.uaFamily.hidden > 0
      ? ' (values under the privacy floor not shown)'
      : '';
  const lines = [head, `    ${what.length > 0 ? what.join(' · ') : 'no value at the privacy floor yet'}${hidden}`];
  const age = c.reasonAgeEvents !== null ? ` (checked ${n(c.reasonAgeEvents)} events ago)` : '';
  lines.push(`    ${c.status === 'proposed' ? '✔' : '✘'} [${c.status}] ${c.reason}${age}`);
  return lines;
}

/** The text `scripts/ffr learner` prints: a summary, then one block per cluster. */
export function formatLearnerReport(r: LearnerReport, options: { maxClusters?: number } = {}): string {
  const out: string[] = [];
  const s = r.samples;
  const l = r.learner;
  out.push(
    `proflag learner (${r.mode}) at ${r.generatedAt}` +
      (l ? `, privacy floor k = ${l.privacyFloor} distinct clients` : ''),
  );
  const drops = Object.entries(s.dropped).filter(([, v]) => v > 0);
  out.push(
    `samples: ${n(s.accepted)} accepted, ${n(s.learned)} ${r.mode === 'publish' ? 'published' : 'learned'}, ` +
      `${drops.length === 0 ? '0 dropped' : `dropped ${drops.map(([k, v]) => `${n(v)} (${k})`).join(', ')}`}` +
      (s.queueLength > 0 ? `, ${n(s.queueLength)} queued` : ''),
  );
  if (r.note) out.push(r.note);
  if (!l) return out.join('\n') + '\n';
  out.push(`warm-up: ${l.warmUp.summary}`);
  out.push(
    `learner: ${n(l.observed)} events, ${n(l.anomalies)} anomalous, ${n(l.absorbed)} absorbed; ` +
      `${l.families} UA families; ${formatBytes(l.memoryBytes)}; clock ${l.clock ?? '–'}`,
  );
  out.push(
    `clusters: ${l.clusterCount.potential} potential, ${l.clusterCount.outlier} new; ` +
      `proposals: ${l.proposalsEmitted} written` +
      (l.proposals.length > 0 ? ` (${l.proposals.map((p) => p.id).join(', ')})` : '') +
      (l.proposalsInvalid > 0 ? `, ${l.proposalsInvalid} invalid` : ''),
  );
  const max = options.maxClusters ?? 20;
  for (const c of l.clusters.slice(0, max)) out.push(...clusterLines(c).map((line) => `  ${line}`));
  const more = l.clusters.length - Math.min(max, l.clusters.length) + l.clustersOmitted;
  if (more > 0) out.push(`  … and ${n(more)} smaller clusters`);
  if (l.clusters.length === 0) out.push('  (no clusters: nothing anomalous kept)');
  return out.join('\n') + '\n';
}
