// The learner explains itself (GET /learner): a read-only snapshot of its state, built on
// request from what the learner already keeps (never per sample), with, for every cluster, why
// it is not a proposal yet.
//
// Privacy, as for proposals (docs/learning.md, "Privacy"): a value (method, endpoint, country,
// user-agent family) is shown only with ≥ k events and ≥ k distinct clients; client counts
// under the floor are floored to a coarse step ("30+", "< 10"); sizes only for clusters at the
// floor, snapped outward like a proposal's; no user-agent string or hash and no IP, ever
// (families are reference names or learned ids such as "u3").
import type { Cluster } from './clustering.js';
import type { NotProposed, NotProposedCode } from './notProposed.js';
import { formatBytes, percent, RANGE_DIMENSIONS } from './proposal.js';
import { snapDown, snapUp } from './sizeSketch.js';
import type { TopValues } from './topValues.js';
import type { UaFamilies } from './uaFamily.js';

/** The reason a check recorded, and when (the learner's event sequence number). */
export interface RecordedReason extends NotProposed {
  readonly seq: number;
}

export type ClusterStatusCode = NotProposedCode | 'proposed' | 'pending';

export interface ClientCountReport {
  /** "≥ 50", "30+" or "< 10": exact counts under the floor are never shown. */
  readonly text: string;
  /** A lower bound: the floor, or the count floored to the step. */
  readonly atLeast: number;
  readonly floorReached: boolean;
}

export interface ValueReport {
  readonly value: string;
  readonly events: number;
  readonly share: number;
}

export interface DimensionReport {
  /** Values with ≥ k events and ≥ k distinct clients, by support. */
  readonly values: readonly ValueReport[];
  /** Tracked values under the privacy floor (not shown). */
  readonly hidden: number;
}

export interface ClusterReport {
  readonly id: number;
  /** outlier: new, still light; potential: promoted (DenStream's terms, docs/learning.md). */
  readonly kind: 'outlier' | 'potential';
  readonly events: number;
  readonly anomalous: number;
  readonly clients: ClientCountReport;
  readonly meanScore: number;
  readonly firstSeen: string;
  readonly lastSeen: string;
  readonly ageMs: number;
  readonly idleMs: number;
  /** True while it has a draft range and absorbs in-range traffic the detector let through. */
  readonly absorbing: boolean;
  readonly top: {
    readonly method: DimensionReport;
    readonly endpoint: DimensionReport;
    readonly country: DimensionReport;
    readonly uaFamily: DimensionReport;
  };
  /** Keyed user-agent hashes at the floor (the hashes themselves are not shown here). */
  readonly userAgentHashesAtFloor: number;
  /** Payload sizes (0.25–99.75 % quantiles snapped to the 1-2-5 grid), only at the floor. */
  readonly size: { readonly min: number; readonly max: number } | null;
  readonly proposalId: string | null;
  readonly status: ClusterStatusCode;
  /** One sentence with figures: why not proposed, or that it is. */
  readonly reason: string;
  /** Events since that reason was recorded by a check (null: derived now, or never checked). */
  readonly reasonAgeEvents: number | null;
}

export interface LearnerState {
  readonly privacyFloor: number;
  /** Time of the newest learned sample (the learner's clock), or null before the first. */
  readonly clock: string | null;
  readonly observed: number;
  readonly anomalies: number;
  readonly absorbed: number;
  readonly families: number;
  readonly memoryBytes: number;
  readonly proposalsEmitted: number;
  readonly proposalsInvalid: number;
  readonly clustersCreated: number;
  readonly warmUp: {
    readonly detector: { readonly observed: number; readonly warmUpEvents: number | null; readonly done: boolean };
    readonly clustering: { readonly startsAfter: number; readonly started: boolean };
    readonly baseline: { readonly events: number; readonly needed: number; readonly enough: boolean };
    /** The constraint that binds now, in one sentence. */
    readonly summary: string;
  };
  readonly thresholds: {
    readonly anomaly: number;
    readonly minLift: number;
    readonly minZ: number;
    readonly maxBackgroundShare: number;
  };
  readonly clusterCount: { readonly potential: number; readonly outlier: number };
  /** The most telling clusters (proposed first, then by events), at most `maxClusters`. */
  readonly clusters: readonly ClusterReport[];
  readonly clustersOmitted: number;
  readonly proposals: readonly { readonly id: string; readonly clusterId: number; readonly createdAt: string }[];
}

export interface ExplainInputs {
  readonly clusters: readonly Cluster[];
  readonly families: UaFamilies;
  readonly reasons: ReadonlyMap<number, RecordedReason>;
  readonly isRetired: (id: string) => boolean;
  readonly proposals: ReadonlyMap<string, { readonly createdMs: number; readonly clusterId: number }>;
  /** Time of the newest sample, NaN before the first. */
  readonly nowMs: number;
  /** Events observed (the next sequence number). */
  readonly seq: number;
  readonly historyEvents: number;
  readonly stats: {
    readonly anomalies: number;
    readonly absorbed: number;
    readonly emitted: number;
    readonly invalid: number;
    readonly created: number;
    readonly memoryBytes: number;
  };
  readonly detector: { readonly observed: number; readonly warmUpEvents: number | null };
  readonly o: {
    readonly minClients: number;
    readonly warmupEvents: number;
    readonly minBaselineEvents: number;
    readonly anomalyThreshold: number;
    readonly minLift: number;
    readonly minZ: number;
    readonly maxBackgroundShare: number;
    readonly updateEvents: number;
    readonly coverageTarget: number;
  };
  readonly maxClusters?: number;
}

const iso = (ms: number): string => new Date(ms).toISOString();
const grouped = (n: number): string => Math.round(n).toLocaleString('en-US');

/** Client count as shown: "≥ k" at the floor, else floored to a step of k/5 ("30+", "< 10"). */
export function clientCountReport(count: number, floor: number, floorReached: boolean): ClientCountReport {
  if (floorReached) return { text: `≥ ${floor}`, atLeast: floor, floorReached: true };
  const step = Math.max(1, Math.round(floor / 5));
  const floored = Math.min(floor - 1, Math.floor(count / step) * step);
  if (step > 1 && floored < step) return { text: `< ${step}`, atLeast: 0, floorReached: false };
  return { text: step === 1 ? String(floored) : `${floored}+`, atLeast: floored, floorReached: false };
}

const asShown = (v: string): string => (v === '' ? '(none)' : v);

function dimension(top: TopValues, k: number, label: (value: string) => string = asShown): DimensionReport {
  const entries = top.entries();
  const values: ValueReport[] = [];
  for (const e of entries) {
    if (e.count < k || e.clients < k) continue;
    values.push({ value: label(e.value), events: e.count, share: top.total > 0 ? e.count / top.total : 0 });
  }
  return { values, hidden: entries.length - values.length };
}

function sizeOf(c: Cluster, perDim: number): ClusterReport['size'] {
  if (c.sizes.knownShare < 0.95) return null;
  const q = c.sizes.quantiles([(1 - perDim) / 2, 1 - (1 - perDim) / 2]);
  if (q === null) return null;
  const min = snapDown(q[0]!);
  return { min, max: Math.max(snapUp(q[1]!), min) };
}

function statusOf(
  c: Cluster,
  clients: ClientCountReport,
  x: ExplainInputs,
): { status: ClusterStatusCode; reason: string; reasonAgeEvents: number | null } {
  const k = x.o.minClients;
  if (c.proposalId !== null) {
    if (x.isRetired(c.proposalId))
      return {
        status: 'retired',
        reason: `proposal ${c.proposalId} was approved or rejected; this learner no longer updates it`,
        reasonAgeEvents: null,
      };
    const next = Math.max(0, c.lastEmitSeq + x.o.updateEvents - x.seq + 1);
    return {
      status: 'proposed',
      reason: `proposed as ${c.proposalId}; evidence updated in ${grouped(next)} events while the pattern lasts`,
      reasonAgeEvents: null,
    };
  }
  if (!clients.floorReached || c.events < k) {
    const parts = [`${clients.text} of ${k} distinct clients`];
    if (c.events < k) parts.push(`${c.events} of ${k} events`);
    return { status: 'below-floor', reason: parts.join(', '), reasonAgeEvents: null };
  }
  const recorded = x.reasons.get(c.id);
  if (recorded) return { status: recorded.code, reason: recorded.message, reasonAgeEvents: x.seq - recorded.seq };
  return { status: 'pending', reason: 'at the privacy floor; checked with its next event', reasonAgeEvents: null };
}

function clusterReport(c: Cluster, x: ExplainInputs, perDim: number): ClusterReport {
  const k = x.o.minClients;
  const clients = clientCountReport(c.clients.count, k, c.clients.reachedFloor);
  const atFloor = clients.floorReached && c.events >= k;
  const familyLabel = (id: string): string => x.families.byId(id)?.reference?.label ?? id;
  let hashesAtFloor = 0;
  for (const e of c.uaHashes.entries()) if (e.value !== '' && e.count >= k && e.clients >= k) hashesAtFloor++;
  const now = Number.isFinite(x.nowMs) ? x.nowMs : c.lastSeen;
  return {
    id: c.id,
    kind: c.potential ? 'potential' : 'outlier',
    events: c.events,
    anomalous: c.anomalous,
    clients,
    meanScore: Math.round(c.meanScore * 1000) / 1000,
    firstSeen: iso(c.firstSeen),
    lastSeen: iso(c.lastSeen),
    ageMs: Math.max(0, now - c.firstSeen),
    idleMs: Math.max(0, now - c.lastSeen),
    absorbing: c.candidate !== null,
    top: {
      method: dimension(c.methods, k),
      endpoint: dimension(c.endpoints, k),
      country: dimension(c.countries, k),
      uaFamily: dimension(c.families, k, familyLabel),
    },
    userAgentHashesAtFloor: hashesAtFloor,
    size: atFloor ? sizeOf(c, perDim) : null,
    proposalId: c.proposalId,
    ...statusOf(c, clients, x),
  };
}

function warmUpSummary(x: ExplainInputs): string {
  const d = x.detector;
  if (x.seq === 0) return 'no samples yet';
  if (d.warmUpEvents !== null && d.observed <= d.warmUpEvents)
    return `detector warming up: ${grouped(d.observed)} of ${grouped(d.warmUpEvents)} events (scores are 0 until then, so nothing is clustered)`;
  if (x.seq <= x.o.warmupEvents)
    return `clustering starts after ${grouped(x.o.warmupEvents)} events (${grouped(x.seq)} so far)`;
  if (x.historyEvents < x.o.minBaselineEvents)
    return `collecting a baseline: ${grouped(x.historyEvents)} of ${grouped(x.o.minBaselineEvents)} events (an onset needs this much traffic before it)`;
  return 'done: scoring, clustering and checking onsets';
}

/** The learner's state for GET /learner; cost grows with the clusters kept, not with traffic. */
export function explainLearnerState(x: ExplainInputs): LearnerState {
  const perDim = 1 - (1 - x.o.coverageTarget) / RANGE_DIMENSIONS;
  const reports = x.clusters.map((c) => clusterReport(c, x, perDim));
  const rank = (r: ClusterReport): number => (r.status === 'proposed' ? 0 : r.status === 'retired' ? 2 : 1);
  reports.sort((a, b) => rank(a) - rank(b) || b.events - a.events || a.id - b.id);
  const max = x.maxClusters ?? 50;
  let potential = 0;
  for (const c of x.clusters) if (c.potential) potential++;
  const d = x.detector;
  return {
    privacyFloor: x.o.minClients,
    clock: Number.isFinite(x.nowMs) ? iso(x.nowMs) : null,
    observed: x.seq,
    anomalies: x.stats.anomalies,
    absorbed: x.stats.absorbed,
    families: x.families.size,
    memoryBytes: x.stats.memoryBytes,
    proposalsEmitted: x.stats.emitted,
    proposalsInvalid: x.stats.invalid,
    clustersCreated: x.stats.created,
    warmUp: {
      detector: {
        observed: d.observed,
        warmUpEvents: d.warmUpEvents,
        done: d.warmUpEvents === null || d.observed > d.warmUpEvents,
      },
      clustering: { startsAfter: x.o.warmupEvents, started: x.seq > x.o.warmupEvents },
      baseline: {
        events: x.historyEvents,
        needed: x.o.minBaselineEvents,
        enough: x.historyEvents >= x.o.minBaselineEvents,
      },
      summary: warmUpSummary(x),
    },
    thresholds: {
      anomaly: x.o.anomalyThreshold,
      minLift: x.o.minLift,
      minZ: x.o.minZ,
      maxBackgroundShare: x.o.maxBackgroundShare,
    },
    clusterCount: { potential, outlier: x.clusters.length - potential },
    clusters: reports.slice(0, max),
    clustersOmitted: Math.max(0, reports.length - max),
    proposals: [...x.proposals].map(([id, p]) => ({ id, clusterId: p.clusterId, createdAt: iso(p.createdMs) })),
  };
}

/** "1.2 KB", "12%": re-exported for the text formatter. */
export { formatBytes, percent };
