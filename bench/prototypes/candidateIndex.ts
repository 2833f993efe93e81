// PROTOTYPE (bench only): candidate pruning for decide(). Not used by the sidecar; it exists to
// measure what a per-snapshot candidate index would save, and to check that it gives exactly
// the decisions of src/matcher/match.ts (the decision bench counts disagreements).
//
// Idea: a flag can only reach its threshold if every "required" dimension matches. A dimension
// d of weight w is required when the flag's best score without it, (T − w) / T, is below the
// threshold (all dimensions when the threshold is 1). For the categorical and hour dimensions
// the set of flags that pass (or do not require) a value is a bitset over the snapshot's flags:
//   - method: one bitset per method named by any flag, plus one for every other method;
//   - country: one per country named by any flag, plus one for unknown/other countries;
//   - hour: 24 bitsets;
//   - endpoint: one bitset per normalized endpoint, computed on first sight (one regex test
//     per flag) and kept in a bounded map (endpoints are normalized, so real traffic has few).
// A request ANDs four bitsets (32 words for 1,000 flags) and scores only the surviving flags
// with the unchanged evaluateFlag. The UA index is queried only when a candidate has a
// userAgent range.
//
// Optionally (`slotExemplars`), user-agent distances are computed exactly and only for the
// candidate flags' slots (100 exemplars × 64 dimensions ≈ a few µs per slot), cached per UA
// hash, instead of asking the snapshot's index for every slot at once: that index's answer
// for all 100 slots is what makes a cold request expensive.
import type { HeaderLookup, RequestProfile } from '../../src/features/profile.js';
import type { CompiledFlag } from '../../src/matcher/compiledFlag.js';
import { evaluateFlag, NO_DECISION, scoreFlag, type Decision, type FlagMatch } from '../../src/matcher/match.js';
import type { Snapshot } from '../../src/matcher/snapshot.js';

const EPSILON = 1e-9;
const OTHER = '\u0000other';

function isRequired(flag: CompiledFlag, weight: number): boolean {
  if (flag.totalWeight === 0) return false;
  // Conservative: only prune when the flag clearly cannot reach its threshold without d.
  return (flag.totalWeight - weight) / flag.totalWeight < flag.threshold - EPSILON;
}

export interface CandidateIndexStats {
  /** Candidates scored per request, summed (divide by requests). */
  candidates: number;
  requests: number;
  endpointMisses: number;
  /** Exact per-slot UA distance computations (slot-restricted mode). */
  uaSlots: number;
}

export interface PrunedDecider {
  decide(profile: RequestProfile, headers: HeaderLookup): Decision;
  readonly stats: CandidateIndexStats;
}

/** Per UA slot, its exemplar vectors packed (n × dim), L2-normalised. */
export type SlotExemplars = ReadonlyMap<number, { readonly points: Float64Array; readonly dim: number }>;

export function createPrunedDecider(
  snapshot: Snapshot,
  slotExemplars: SlotExemplars | null = null,
  maxEndpoints = 4_096,
): PrunedDecider {
  const flags = snapshot.flags;
  const n = flags.length;
  const words = Math.max(1, Math.ceil(n / 32));
  const all = new Uint32Array(words);
  for (let i = 0; i < n; i++) all[i >>> 5]! |= 1 << (i & 31);

  const setBit = (bits: Uint32Array, i: number) => {
    bits[i >>> 5]! |= 1 << (i & 31);
  };

  // A bitset for one value of a categorical dimension.
  const categorical = (
    dimension: (f: CompiledFlag) => { values: ReadonlySet<string>; weight: number } | null,
    value: string,
  ): Uint32Array => {
    const bits = new Uint32Array(words);
    for (let i = 0; i < n; i++) {
      const d = dimension(flags[i]!);
      if (!d || !isRequired(flags[i]!, d.weight) || d.values.has(value)) setBit(bits, i);
    }
    return bits;
  };
  const byValue = (dimension: (f: CompiledFlag) => { values: ReadonlySet<string>; weight: number } | null) => {
    const values = new Set<string>();
    for (const f of flags) for (const v of dimension(f)?.values ?? []) values.add(v);
    const map = new Map<string, Uint32Array>();
    for (const v of values) map.set(v, categorical(dimension, v));
    map.set(OTHER, categorical(dimension, OTHER));
    return map;
  };
  const methods = byValue((f) => f.method);
  const countries = byValue((f) => f.geo);

  const hours: Uint32Array[] = [];
  for (let h = 0; h < 24; h++) {
    const bits = new Uint32Array(words);
    for (let i = 0; i < n; i++) {
      const t = flags[i]!.timeOfDay;
      if (!t || !isRequired(flags[i]!, t.weight) || t.hours[h] === 1) setBit(bits, i);
    }
    hours.push(bits);
  }

  const endpointBits = (endpoint: string | null): Uint32Array => {
    const bits = new Uint32Array(words);
    for (let i = 0; i < n; i++) {
      const e = flags[i]!.endpoint;
      if (!e || !isRequired(flags[i]!, e.weight) || (endpoint !== null && e.pattern.test(endpoint))) setBit(bits, i);
    }
    return bits;
  };
  const endpoints = new Map<string, Uint32Array>();
  const noEndpoint = endpointBits(null);
  const stats: CandidateIndexStats = { candidates: 0, requests: 0, endpointMisses: 0, uaSlots: 0 };
  const hasUa = new Uint8Array(n);
  for (let i = 0; i < n; i++) hasUa[i] = flags[i]!.userAgent ? 1 : 0;

  // Slot-restricted exact UA distances, cached per UA hash (NaN: not computed yet).
  const slotCount = snapshot.uaIndex?.slots ?? 0;
  const uaCache = new Map<string, Float64Array>();
  const query = new Float64Array(64);
  /** Distance 0 for every slot: the best a user agent could score. */
  const optimistic = new Float64Array(slotCount);
  const exactDistance = (vector: Float32Array | null, slot: number): number => {
    const ex = slotExemplars?.get(slot);
    const dim = ex?.dim ?? 0;
    if (!ex || vector === null || vector.length !== dim || dim > query.length) return Infinity;
    // The same arithmetic as the index (float64 normalisation, two partial sums), so that
    // both give bit-identical distances and the decisions can be compared exactly.
    let norm = 0;
    for (let d = 0; d < dim; d++) norm += vector[d]! * vector[d]!;
    if (!(norm > 0)) return Infinity;
    const inv = 1 / Math.sqrt(norm);
    for (let d = 0; d < dim; d++) query[d] = vector[d]! * inv;
    let best = Infinity;
    const pts = ex.points;
    for (let base = 0; base < pts.length; base += dim) {
      let s0 = 0;
      let s1 = 0;
      let d = 0;
      for (; d + 1 < dim; d += 2) {
        s0 += query[d]! * pts[base + d]!;
        s1 += query[d + 1]! * pts[base + d + 1]!;
      }
      if (d < dim) s0 += query[d]! * pts[base + d]!;
      const dist = 1 - (s0 + s1);
      if (dist < best) best = dist;
    }
    return best < 0 ? 0 : best > 2 ? 2 : best;
  };
  const slotDistances = (profile: RequestProfile, flag: CompiledFlag): Float64Array => {
    const key = profile.uaHash ?? '';
    let row = uaCache.get(key);
    if (row === undefined) {
      row = new Float64Array(slotCount).fill(NaN);
      if (uaCache.size >= 10_000) uaCache.clear();
      uaCache.set(key, row);
    }
    const slot = flag.userAgent!.slot;
    if (Number.isNaN(row[slot]!)) {
      stats.uaSlots++;
      row[slot] = exactDistance(profile.uaVector, slot);
    }
    return row;
  };

  const compare = (a: FlagMatch, b: FlagMatch) =>
    b.flag.priority - a.flag.priority ||
    b.score - a.score ||
    (a.flag.name < b.flag.name ? -1 : a.flag.name > b.flag.name ? 1 : 0);

  return {
    stats,
    decide(profile: RequestProfile, headers: HeaderLookup): Decision {
      if (n === 0) return NO_DECISION;
      stats.requests++;
      const m = methods.get(profile.method) ?? methods.get(OTHER)!;
      const c = (profile.country !== null ? countries.get(profile.country) : undefined) ?? countries.get(OTHER)!;
      const h = hours[profile.hour] ?? all;
      let e: Uint32Array;
      if (profile.endpoint === null) e = noEndpoint;
      else {
        let cached = endpoints.get(profile.endpoint);
        if (cached === undefined) {
          stats.endpointMisses++;
          cached = endpointBits(profile.endpoint);
          // Bounded: a flood of distinct endpoints starts the map over instead of growing it.
          if (endpoints.size >= maxEndpoints) endpoints.clear();
          endpoints.set(profile.endpoint, cached);
        }
        e = cached;
      }

      let uaDistances: Float64Array | null = null;
      let uaQueried = false;
      let matches: FlagMatch[] | null = null;
      for (let w = 0; w < words; w++) {
        let word = m[w]! & c[w]! & h[w]! & e[w]!;
        while (word !== 0) {
          const bit = 31 - Math.clz32(word & -word);
          word &= word - 1;
          const i = (w << 5) | bit;
          stats.candidates++;
          if (hasUa[i] === 1 && slotExemplars !== null) {
            // Only pay for the distance when the flag can still match with a perfect UA score.
            if (scoreFlag(flags[i]!, profile, optimistic) < flags[i]!.threshold) continue;
            uaDistances = slotDistances(profile, flags[i]!);
          } else if (hasUa[i] === 1 && !uaQueried) {
            uaQueried = true;
            uaDistances = snapshot.uaIndex ? snapshot.uaIndex.nearestDistances(profile.uaVector, profile.uaHash) : null;
          }
          const match = evaluateFlag(flags[i]!, profile, headers, uaDistances);
          if (match) (matches ??= []).push(match);
        }
      }
      if (!matches) return NO_DECISION;
      if (matches.length > 1) matches.sort(compare);

      // The same assembly as decide(): the first (winning) flag to touch a header decides it.
      let route: Decision['route'] = null;
      const setHeaders = new Map<string, string>();
      const removed = new Set<string>();
      for (const match of matches) {
        if (route === null && match.actions.route !== null)
          route = { cluster: match.actions.route, flag: match.flag.name };
        for (const [name, value] of match.actions.setHeaders) {
          if (!setHeaders.has(name) && !removed.has(name)) setHeaders.set(name, value);
        }
        for (const name of match.actions.removeHeaders) if (!setHeaders.has(name)) removed.add(name);
      }
      return { matches, route, setHeaders, removeHeaders: [...removed] };
    },
  };
}

/** The exemplars of every UA slot of a snapshot, embedded and normalised as the index does. */
export function slotExemplarsOf(
  snapshot: Snapshot,
  similarTo: (flagName: string) => readonly string[],
  embed: (ua: string) => Float32Array,
): SlotExemplars {
  const out = new Map<number, { points: Float64Array; dim: number }>();
  for (const flag of snapshot.flags) {
    if (!flag.userAgent) continue;
    const vectors = similarTo(flag.name).map(embed);
    const dim = vectors[0]?.length ?? 0;
    const points = new Float64Array(vectors.length * dim);
    vectors.forEach((v, k) => {
      let norm = 0;
      for (let d = 0; d < dim; d++) norm += v[d]! * v[d]!;
      const inv = norm > 0 ? 1 / Math.sqrt(norm) : 0;
      for (let d = 0; d < dim; d++) points[k * dim + d] = v[d]! * inv;
    });
    out.set(flag.userAgent.slot, { points, dim });
  }
  return out;
}

/** A comparable fingerprint of a decision (order, variants, route and header changes). */
export function decisionKey(d: Decision): string {
  const parts = d.matches.map((m) => `${m.flag.name}=${m.value}@${m.score.toFixed(12)}`);
  parts.push(`route:${d.route?.cluster ?? ''}`);
  for (const [k, v] of d.setHeaders) parts.push(`set:${k}=${v}`);
  for (const k of d.removeHeaders) parts.push(`rm:${k}`);
  return parts.join('|');
}
