// Cluster → proposal: a flag-shaped range (CONTRACT §3) with evidence and an explanation.
//
// Range rules (LEARNING.md, "Clustering into readable ranges"):
// - The range should hold `targetCoverage` of the pattern. Coverage of a range is about the
//   product of its per-dimension coverages, so each dimension aims at
//   1 − (1 − target) / DIMENSIONS (0.995 for a 97 % target over six dimensions).
// - Categorical sets (method, endpoint, country, user-agent hashes): values by support, highest
//   first, until that coverage. Only values with ≥ k events and ≥ k distinct clients may be
//   published (the privacy floor); a dimension whose publishable values cover less than
//   `minDimensionCoverage` of the cluster is left out rather than published partially wrong.
// - Payload size: robust quantiles of the reservoir, snapped outward to the 1-2-5 grid (never
//   raw extremes); only when nearly all members had a known size (a request without one scores
//   0 on the dimension).
// - Hour of day: the smallest circular window, only once the cluster has been seen for a full
//   day (before that the window just says when the pattern started) and only when it is
//   narrow enough to say something.
// - User agent: raw user agents are never kept, so `similarTo` can only carry a *reference*
//   string (uaReferences.ts) when most members belong to that reference's family; members are
//   within the family radius r of it, and `maxDistance` = 2r puts them at a user-agent score
//   ≥ 0.5. Member user agents with ≥ k distinct clients go into `hashes` (keyed hashes, an
//   exact match). Without either, the dimension is left out and the explanation names the
//   family only.
// - Weights are 1; the threshold is 1 (every dimension must match) or, with a reference
//   user agent, (n − 0.5) / n: any other dimension missing fails, a user agent at score ≥ 0.5
//   passes.
// The id is a hash of the categorical part of the first range published for a pattern, so the
// same pattern seen twice (another cluster, a restart) updates one proposal.
import { createHash } from 'node:crypto';
import type { Cluster } from './clustering.js';
import { rangeDimensions, type LearnedRange, type RangeUserAgent } from './range.js';
import { snapDown, snapUp } from './sizeSketch.js';
import type { TopValues } from './topValues.js';
import type { UaFamilies } from './uaFamily.js';
import type { NotProposedCode } from './notProposed.js';

/** Dimensions a range can have (the per-dimension coverage divides the miss by this). */
export const RANGE_DIMENSIONS = 6;
const DAY_MS = 86_400_000;

export interface ProposalPolicy {
  /** The privacy floor k: events and distinct clients per cluster and per published value. */
  readonly minClients: number;
  /** Share of the pattern the whole range should hold. */
  readonly targetCoverage: number;
  /** A dimension is published only when its publishable values hold this share of the cluster. */
  readonly minDimensionCoverage: number;
  /** The range must hold this share of the cluster (product of dimension coverages). */
  readonly minRangeCoverage: number;
  /** Widest hour window worth publishing. */
  readonly maxHourWindow: number;
  /** Observation span needed before an hour window is published. */
  readonly minSpanForHoursMs: number;
  /** Radius of the user-agent families (maxDistance is twice it). */
  readonly familyRadius: number;
  readonly maxValues: {
    readonly method: number;
    readonly endpoint: number;
    readonly country: number;
    readonly userAgent: number;
  };
}

export const DEFAULT_PROPOSAL_POLICY: ProposalPolicy = Object.freeze({
  minClients: 50,
  targetCoverage: 0.97,
  minDimensionCoverage: 0.85,
  minRangeCoverage: 0.75,
  maxHourWindow: 16,
  minSpanForHoursMs: DAY_MS,
  familyRadius: 0.2,
  maxValues: Object.freeze({ method: 4, endpoint: 10, country: 10, userAgent: 24 }),
});

export interface DimensionCoverage {
  method?: number;
  endpoint?: number;
  geo?: number;
  userAgent?: number;
  payloadSize?: number;
  timeOfDay?: number;
}

export type RangeResult =
  | {
      readonly ok: true;
      readonly range: LearnedRange;
      readonly coverage: number;
      readonly dimensions: DimensionCoverage;
    }
  | { readonly ok: false; readonly code: NotProposedCode; readonly reason: string };

/** Values by support until `coverage`, each with ≥ k events and ≥ k clients. */
function pickValues(
  top: TopValues,
  coverage: number,
  k: number,
  max: number,
  accept: (value: string) => boolean,
): { values: string[]; covered: number } {
  const total = top.total;
  const values: string[] = [];
  let sum = 0;
  if (total === 0) return { values, covered: 0 };
  // Client sets saturate at the floor: "clients ≥ k" is exact; a draft asks for 1 client.
  const minClients = k <= 2 ? 1 : k;
  for (const e of top.entries()) {
    if (sum >= coverage * total || values.length >= max) break;
    if (e.count < k || e.clients < minClients || !accept(e.value)) continue;
    values.push(e.value);
    sum += e.count;
  }
  return { values, covered: sum / total };
}

const METHOD_OK = /^[A-Z]{1,16}$/;
const COUNTRY_OK = /^[A-Z]{2}$/;
const HASH_OK = /^[0-9a-f]{16,64}$/;
// Glob characters would widen the pattern; over-long or odd paths are not published.
const ENDPOINT_OK = (e: string): boolean => e.length > 0 && e.length <= 1024 && e.startsWith('/') && !/[*\s?#]/.test(e);

/**
 * The publishable range of a cluster, or why there is none yet. With `draft`, the privacy floor
 * is not applied (values need 2 events): the learner's internal candidate range, used only to
 * count in-range traffic, never written anywhere.
 */
export function rangeOfCluster(c: Cluster, families: UaFamilies, p: ProposalPolicy, draft = false): RangeResult {
  const k = draft ? 2 : p.minClients;
  if (!draft && (c.events < k || !c.clients.reachedFloor))
    return { ok: false, code: 'below-floor', reason: 'below the privacy floor' };
  const perDim = 1 - (1 - p.targetCoverage) / RANGE_DIMENSIONS;
  const dims: DimensionCoverage = {};
  let coverage = 1;

  const categorical = (
    top: TopValues,
    max: number,
    accept: (v: string) => boolean,
    dim: 'method' | 'endpoint' | 'geo',
  ): string[] | null => {
    const { values, covered } = pickValues(top, perDim, k, max, accept);
    if (values.length === 0 || covered < p.minDimensionCoverage) return null;
    coverage *= Math.min(1, covered);
    dims[dim] = Math.min(1, covered);
    return values.sort();
  };
  const methods = categorical(c.methods, p.maxValues.method, (v) => METHOD_OK.test(v), 'method');
  const endpoints = categorical(c.endpoints, p.maxValues.endpoint, ENDPOINT_OK, 'endpoint');
  const countries = categorical(c.countries, p.maxValues.country, (v) => COUNTRY_OK.test(v), 'geo');

  // User agent: a reference family and/or hashes with enough clients.
  let userAgent: RangeUserAgent | null = null;
  {
    const top = c.families.entries()[0];
    const family = top ? families.byId(top.value) : undefined;
    const familyShare = top && c.families.total > 0 ? top.count / c.families.total : 0;
    const { values: hashes, covered: hashCovered } = pickValues(c.uaHashes, perDim, k, p.maxValues.userAgent, (v) =>
      HASH_OK.test(v),
    );
    const reference = family?.reference ?? null;
    const refCovered = reference !== null && familyShare >= p.minDimensionCoverage ? familyShare : 0;
    const covered = Math.max(refCovered, hashCovered >= p.minDimensionCoverage ? hashCovered : 0);
    if (covered > 0) {
      userAgent = {
        hashes: hashCovered >= p.minDimensionCoverage || refCovered > 0 ? hashes.sort() : [],
        reference: refCovered > 0 ? reference : null,
        referenceFamily: refCovered > 0 && family ? family.index : -1,
        maxDistance: Math.min(2, 2 * p.familyRadius),
      };
      coverage *= covered;
      dims.userAgent = covered;
    }
  }

  let size: LearnedRange['size'] = null;
  if (c.sizes.knownShare >= 1 - (1 - p.minDimensionCoverage) / 3) {
    const q = c.sizes.quantiles([(1 - perDim) / 2, 1 - (1 - perDim) / 2]);
    if (q !== null) {
      const min = snapDown(q[0]!);
      const max = Math.max(snapUp(q[1]!), min);
      size = { min, max };
      coverage *= c.sizes.knownShare;
      dims.payloadSize = c.sizes.knownShare;
    }
  }

  let hours: LearnedRange['hours'] = null;
  if (c.lastSeen - c.firstSeen >= p.minSpanForHoursMs) {
    const w = c.hours.smallestWindow(perDim);
    if (w !== null && w.length <= p.maxHourWindow) {
      hours = { start: w.start, end: w.end };
      coverage *= w.covered;
      dims.timeOfDay = w.covered;
    }
  }

  const range: LearnedRange = { methods, endpoints, countries, userAgent, size, hours };
  const coherent = (): string => `${p.minDimensionCoverage * 100}% of the cluster in values with ≥ ${k} clients`;
  if (rangeDimensions(range) < 2) {
    const found = Object.keys(dims).join(', ') || 'none';
    return {
      ok: false,
      code: 'few-dimensions',
      reason: `fewer than two coherent dimensions (found: ${found}; a dimension needs ${coherent()})`,
    };
  }
  if (!endpoints && !countries && !userAgent)
    return {
      ok: false,
      code: 'no-anchor-dimension',
      reason: `no endpoint, country or user-agent dimension holds ${coherent()}`,
    };
  if (coverage < p.minRangeCoverage)
    return {
      ok: false,
      code: 'low-coverage',
      reason: `range holds only ${(coverage * 100).toFixed(0)}% of the cluster (needs ${(p.minRangeCoverage * 100).toFixed(0)}%)`,
    };
  return { ok: true, range, coverage, dimensions: dims };
}

/** Deterministic id of a pattern: the categorical part of its range. */
export function proposalIdOf(range: LearnedRange): string {
  const ua = range.userAgent;
  const canonical = JSON.stringify([
    range.methods ?? [],
    range.endpoints ?? [],
    range.countries ?? [],
    ua?.reference?.id ?? '',
    ua && !ua.reference ? ua.hashes : [],
  ]);
  return createHash('sha256').update(canonical).digest('hex').slice(0, 12);
}

/** The flag JSON's `profile` and `threshold` for a range. */
export function flagProfileOf(range: LearnedRange): { profile: Record<string, unknown>; threshold: number } {
  const profile: Record<string, unknown> = {};
  if (range.methods) profile.method = { in: [...range.methods], weight: 1 };
  if (range.endpoints) profile.endpoint = { in: [...range.endpoints], weight: 1 };
  if (range.countries) profile.geo = { in: [...range.countries], weight: 1 };
  if (range.size) profile.payloadSize = { min: range.size.min, max: range.size.max, weight: 1 };
  if (range.hours) profile.timeOfDay = { min: range.hours.start, max: range.hours.end, weight: 1 };
  const ua = range.userAgent;
  if (ua) {
    profile.userAgent = {
      similarTo: ua.reference ? [ua.reference.userAgent] : [],
      hashes: [...ua.hashes],
      maxDistance: ua.maxDistance,
      weight: 1,
    };
  }
  const n = rangeDimensions(range);
  const threshold = ua?.reference ? Math.floor(((n - 0.5) / n) * 10_000) / 10_000 : 1;
  return { profile, threshold };
}

// ----------------------------------------------------------------------------------------------
// Explanation

/** 12%, 1.4%, 0.05%: two significant figures at most, for explanations. */
export function percent(share: number): string {
  const p = share * 100;
  return p >= 10 ? `${p.toFixed(0)}%` : p >= 1 ? `${p.toFixed(1)}%` : `${p.toFixed(2)}%`;
}

export function formatBytes(n: number): string {
  const trim = (x: number): string => String(Number(x.toFixed(1)));
  if (n >= 1e9) return `${trim(n / 1e9)} GB`;
  if (n >= 1e6) return `${trim(n / 1e6)} MB`;
  if (n >= 1e3) return `${trim(n / 1e3)} KB`;
  return `${n} B`;
}

function clock(ms: number): string {
  const d = new Date(ms);
  return `${String(d.getUTCHours()).padStart(2, '0')}:${String(d.getUTCMinutes()).padStart(2, '0')} UTC`;
}

function listOf(values: readonly string[], max = 3): string {
  if (values.length <= max) return values.join(', ');
  return `${values.slice(0, max).join(', ')} and ${values.length - max} more`;
}

export interface ExplainFacts {
  readonly range: LearnedRange;
  readonly shareOfTraffic: number;
  readonly sinceMs: number;
  readonly clients: number;
  readonly score: number;
  /** The cluster's dominant user-agent family: a reference label, or null. */
  readonly familyLabel: string | null;
  /** Share of the cluster in that family. */
  readonly familyShare: number;
}

/** "1.4% of traffic since 10:02 UTC, 312 clients, UA family like Go-http-client, country BR, ..." */
export function explainProposal(f: ExplainFacts): string {
  const r = f.range;
  const parts: string[] = [`${percent(f.shareOfTraffic)} of traffic since ${clock(f.sinceMs)}`, `${f.clients} clients`];
  if (r.userAgent?.reference) parts.push(`UA family like ${r.userAgent.reference.label}`);
  else if (r.userAgent)
    parts.push(`${r.userAgent.hashes.length} user agent${r.userAgent.hashes.length === 1 ? '' : 's'} (by hash)`);
  else if (f.familyLabel !== null && f.familyShare >= 0.5) parts.push(`mostly UA family like ${f.familyLabel}`);
  else parts.push('varied user agents');
  if (r.countries) parts.push(`${r.countries.length === 1 ? 'country' : 'countries'} ${listOf(r.countries, 5)}`);
  const methods = r.methods ? r.methods.join('/') : 'any method';
  parts.push(r.endpoints ? `${methods} ${listOf(r.endpoints)}` : `${methods}, any endpoint`);
  if (r.size) parts.push(`size ${formatBytes(r.size.min)}–${formatBytes(r.size.max)}`);
  if (r.hours)
    parts.push(
      `hours ${String(r.hours.start).padStart(2, '0')}:00–${String((r.hours.end + 1) % 24).padStart(2, '0')}:00`,
    );
  parts.push(`anomaly ${f.score.toFixed(2)}`);
  return parts.join(', ');
}
