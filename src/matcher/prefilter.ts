// Candidate pruning, so that a request scores only the few flags of a large snapshot that can
// still match it.
//
// A dimension is *required* by a flag when the flag cannot reach its threshold without it:
// Σ other weights < threshold × Σ weights (with a small relative margin, so that rounding can
// never prune a flag that exactly reaches its threshold). A flag whose required dimension does
// not match the request cannot match, whatever its other dimensions do, so it need not be
// scored. For every dimension the index keeps bitsets over snapshot.flags (bit i = flag i):
//   - method and country: one bitset per value named by a flag that requires the dimension
//     ("the flags that do not require it, plus those whose set has this value"), and one for
//     every other value; an unknown country gets the latter, so it excludes the flags that
//     require geo;
//   - hour: 24 bitsets (and one for an hour outside 0-23, which no window contains);
//   - payload size: the flags' bounds cut the number line into elementary pieces (each bound
//     alone, and the open intervals between them); one bitset per piece, found by a binary
//     search; an unknown size gets the flags that do not require a size;
//   - user agent: the flags that do not require one, for requests without a user agent (and
//     for every request when the snapshot has no UA index);
//   - endpoint: the flags whose endpoint patterns match a given endpoint, computed on first
//     sight (one regex test per flag with an endpoint) and memoised per snapshot: endpoints are
//     normalized, so real traffic has few. The memo is bounded (entries and bytes) and simply
//     cleared when full; it is the only mutable part, internal to the index, and it never
//     changes an answer. The matched bits also stand in for the regex test when scoring.
// The candidates of a request are the AND of its values' bitsets (ceil(flags / 32) words
// each); only they are scored, by the unchanged scoring rule, so pruning never changes a
// decision (test/unit/matcher/decide.property.test.ts checks it against scoring every flag).
import type { CompiledFlag } from './compiledFlag.js';
import type { RequestProfile } from '../features/profile.js';

export const MAX_MEMOISED_ENDPOINTS = 8192;
/** Bytes of memoised endpoint bitsets, at most (large snapshots memoise fewer endpoints). */
export const MAX_MEMOISED_ENDPOINT_BYTES = 4 * 1024 * 1024;

/**
 * Bytes of bitsets per dimension, at most: a dimension that would need more (thousands of
 * distinct countries or size bounds over a huge snapshot) is simply not used for pruning.
 */
const MAX_DIMENSION_BYTES = 1024 * 1024;

/** Relative margin of the requiredness test (far above float rounding, far below any real weight). */
const REQUIRED_EPSILON = 1e-9;

/** True when `flag` cannot reach its threshold unless the dimension of this weight matches. */
export function requiresDimension(flag: CompiledFlag, weight: number): boolean {
  const total = flag.totalWeight;
  if (!(total > 0) || !(weight > 0)) return false;
  const without = total - weight;
  return without < flag.threshold * total - REQUIRED_EPSILON * Math.max(1, total);
}

/** True when `flag` cannot match a request whose endpoint does not match its patterns. */
export function requiresEndpoint(flag: CompiledFlag): boolean {
  return flag.endpoint !== null && requiresDimension(flag, flag.endpoint.weight);
}

/** What decide() needs from the index for one request; reused (valid until the next call). */
export interface CandidateSelection {
  /** Bit i set: flag i is worth scoring. */
  readonly candidates: Uint32Array;
  /** Bit i set: flag i has an endpoint range that matches the request's endpoint. */
  readonly endpointMatches: Uint32Array;
}

export interface CandidateIndexStats {
  readonly flags: number;
  /** Flags that require each dimension. */
  readonly required: {
    readonly method: number;
    readonly endpoint: number;
    readonly geo: number;
    readonly payloadSize: number;
    readonly timeOfDay: number;
    readonly userAgent: number;
  };
  /** Endpoints currently memoised. */
  readonly memoised: number;
}

type Bits = Uint32Array;

function setBit(bits: Bits, i: number): void {
  bits[i >>> 5]! |= 1 << (i & 31);
}

export class CandidateIndex {
  readonly words: number;
  private readonly flags: readonly CompiledFlag[];
  private readonly methodBits: ReadonlyMap<string, Bits>;
  private readonly otherMethod: Bits;
  private readonly countryBits: ReadonlyMap<string, Bits>;
  private readonly otherCountry: Bits;
  /** 24 bitsets, then one for any other hour. */
  private readonly hourBits: readonly Bits[];
  /** Sorted distinct size bounds b0 < b1 < ... and the bitsets of the pieces they cut. */
  private readonly sizeBounds: Float64Array;
  /** Piece 2j: below bounds[j] (above bounds[j-1]); piece 2j+1: exactly bounds[j]. */
  private readonly sizeBits: readonly Bits[];
  private readonly noSize: Bits;
  private readonly noUserAgent: Bits;
  /** Flags that do not require their endpoint (or have none). */
  private readonly endpointFree: Bits;
  /** Indexes of the flags with an endpoint range. */
  private readonly withEndpoint: Int32Array;
  private readonly memo = new Map<string, Bits>();
  private readonly memoCap: number;
  private readonly noEndpoint: Bits;
  private readonly requiredCounts: CandidateIndexStats['required'];
  private readonly out: { candidates: Bits; endpointMatches: Bits };
  /** True when the snapshot has no UA index: no user agent can score. */
  private readonly uaBlind: boolean;

  constructor(flags: readonly CompiledFlag[], hasUaIndex = true) {
    this.flags = flags;
    const n = flags.length;
    const words = Math.max(1, Math.ceil(n / 32));
    this.words = words;
    this.uaBlind = !hasUaIndex;
    const required = (f: CompiledFlag, d: { readonly weight: number } | null): boolean =>
      d !== null && requiresDimension(f, d.weight);
    const counts = { method: 0, endpoint: 0, geo: 0, payloadSize: 0, timeOfDay: 0, userAgent: 0 };

    // Bitsets start as the flags that do not require the dimension; each flag that requires
    // it then sets its bit in the bitsets of the values it accepts (one pass over the flags).
    const free = (requires: (f: CompiledFlag) => boolean): Bits => {
      const bits = new Uint32Array(words);
      for (let i = 0; i < n; i++) if (!requires(flags[i]!)) setBit(bits, i);
      return bits;
    };

    const maxBitsets = Math.max(2, Math.floor(MAX_DIMENSION_BYTES / (words * 4)));
    const categorical = (
      dim: (f: CompiledFlag) => { readonly values: ReadonlySet<string>; readonly weight: number } | null,
    ) => {
      let needs = (f: CompiledFlag) => required(f, dim(f));
      const values = new Set<string>();
      for (const f of flags) if (needs(f)) for (const v of dim(f)!.values) values.add(v);
      if (values.size + 1 > maxBitsets) {
        needs = () => false;
        values.clear();
      }
      const other = free(needs);
      const byValue = new Map<string, Bits>();
      for (const v of values) byValue.set(v, other.slice());
      for (let i = 0; i < n; i++) {
        const f = flags[i]!;
        if (needs(f)) for (const v of dim(f)!.values) setBit(byValue.get(v)!, i);
      }
      return { byValue, other, count: flags.filter(needs).length };
    };
    const method = categorical((f) => f.method);
    this.methodBits = method.byValue;
    this.otherMethod = method.other;
    counts.method = method.count;
    const geo = categorical((f) => f.geo);
    this.countryBits = geo.byValue;
    this.otherCountry = geo.other;
    counts.geo = geo.count;

    const needsHour = (f: CompiledFlag) => required(f, f.timeOfDay);
    const noHour = free(needsHour);
    const hours: Bits[] = Array.from({ length: 24 }, () => noHour.slice());
    for (let i = 0; i < n; i++) {
      const f = flags[i]!;
      if (needsHour(f)) for (let h = 0; h < 24; h++) if (f.timeOfDay!.hours[h] === 1) setBit(hours[h]!, i);
    }
    // Any other hour (not an integer in 0-23): inside no window.
    hours.push(noHour);
    this.hourBits = hours;
    counts.timeOfDay = flags.filter(needsHour).length;

    // Sizes: a flag with an unusable bound (NaN) is never pruned by size.
    let needsSize = (f: CompiledFlag) =>
      required(f, f.payloadSize) && !Number.isNaN(f.payloadSize!.min) && !Number.isNaN(f.payloadSize!.max);
    const bounds = new Set<number>();
    for (const f of flags) {
      if (!needsSize(f)) continue;
      bounds.add(f.payloadSize!.min);
      bounds.add(f.payloadSize!.max);
    }
    if (2 * bounds.size + 2 > maxBitsets) {
      needsSize = () => false;
      bounds.clear();
    }
    this.sizeBounds = Float64Array.from(bounds).sort();
    this.noSize = free(needsSize);
    // Piece 2j is the open interval below bound j, piece 2j + 1 the bound itself. A flag's
    // range [min, max] covers exactly the pieces from its min's to its max's, both bounds.
    const pieces: Bits[] = Array.from({ length: 2 * this.sizeBounds.length + 1 }, () => this.noSize.slice());
    const pieceOf = (bound: number) => 2 * this.sizeBounds.indexOf(bound) + 1;
    for (let i = 0; i < n; i++) {
      const f = flags[i]!;
      if (!needsSize(f)) continue;
      const last = pieceOf(f.payloadSize!.max);
      for (let piece = pieceOf(f.payloadSize!.min); piece <= last; piece++) setBit(pieces[piece]!, i);
    }
    this.sizeBits = pieces;
    counts.payloadSize = flags.filter(needsSize).length;

    const needsUa = (f: CompiledFlag) => required(f, f.userAgent);
    this.noUserAgent = free(needsUa);
    counts.userAgent = flags.filter(needsUa).length;

    const needsEndpoint = (f: CompiledFlag) => requiresEndpoint(f);
    this.endpointFree = free(needsEndpoint);
    this.noEndpoint = new Uint32Array(words);
    const withEndpoint: number[] = [];
    for (let i = 0; i < n; i++) if (flags[i]!.endpoint) withEndpoint.push(i);
    this.withEndpoint = Int32Array.from(withEndpoint);
    counts.endpoint = flags.filter(needsEndpoint).length;
    this.memoCap = Math.max(
      1,
      Math.min(MAX_MEMOISED_ENDPOINTS, Math.floor(MAX_MEMOISED_ENDPOINT_BYTES / (words * 4 + 64))),
    );

    this.requiredCounts = Object.freeze(counts);
    this.out = { candidates: new Uint32Array(words), endpointMatches: this.noEndpoint };
  }

  /**
   * The flags worth scoring for this request. The returned object and its arrays are reused
   * by the next call: read them before calling again (decide() is synchronous).
   */
  select(profile: RequestProfile): CandidateSelection {
    const m = this.methodBits.get(profile.method) ?? this.otherMethod;
    const c = (profile.country !== null ? this.countryBits.get(profile.country) : undefined) ?? this.otherCountry;
    const hour = profile.hour;
    const h = this.hourBits[Number.isInteger(hour) && hour >= 0 && hour < 24 ? hour : 24]!;
    const s = this.sizePiece(profile.payloadSize);
    const u = this.uaBlind || (profile.uaVector === null && profile.uaHash === null) ? this.noUserAgent : null;
    const e = this.endpointBits(profile.endpoint);
    const free = this.endpointFree;
    const out = this.out.candidates;
    if (u === null) {
      for (let w = 0; w < out.length; w++) out[w] = m[w]! & c[w]! & h[w]! & s[w]! & (e[w]! | free[w]!);
    } else {
      for (let w = 0; w < out.length; w++) out[w] = m[w]! & c[w]! & h[w]! & s[w]! & u[w]! & (e[w]! | free[w]!);
    }
    this.out.endpointMatches = e;
    return this.out;
  }

  get stats(): CandidateIndexStats {
    return { flags: this.flags.length, required: this.requiredCounts, memoised: this.memo.size };
  }

  private sizePiece(size: number | null): Bits {
    if (size === null || Number.isNaN(size)) return this.noSize;
    const b = this.sizeBounds;
    // j = number of bounds below size.
    let lo = 0;
    let hi = b.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (b[mid]! < size) lo = mid + 1;
      else hi = mid;
    }
    return this.sizeBits[lo < b.length && b[lo] === size ? 2 * lo + 1 : 2 * lo]!;
  }

  /** Flags with an endpoint range matching `endpoint` (memoised). */
  private endpointBits(endpoint: string | null): Bits {
    if (endpoint === null || this.withEndpoint.length === 0) return this.noEndpoint;
    const hit = this.memo.get(endpoint);
    if (hit !== undefined) return hit;
    const bits = new Uint32Array(this.words);
    const idx = this.withEndpoint;
    const flags = this.flags;
    for (let k = 0; k < idx.length; k++) {
      const i = idx[k]!;
      if (flags[i]!.endpoint!.pattern.test(endpoint)) setBit(bits, i);
    }
    // Bounded: a flood of distinct endpoints starts the memo over instead of growing it.
    if (this.memo.size >= this.memoCap) this.memo.clear();
    this.memo.set(endpoint, bits);
    return bits;
  }
}
