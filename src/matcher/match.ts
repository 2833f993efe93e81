// (Snapshot, RequestProfile) → Decision. Pure and allocation-light: this runs for every
// request. Scoring follows CONTRACT §3 exactly; rollouts and variants bucket a stable unit.
//
// decide() scores only the candidates of the snapshot's CandidateIndex (prefilter.ts): the
// flags none of whose required dimensions rules them out. A user-agent distance is asked of
// the index only for a candidate that could still reach its threshold with a perfect UA score,
// and only for that flag's slot. Neither shortcut can change a score or a decision: the scores
// are computed with the very operations, in the very order, of scoreFlag (the property test
// test/unit/matcher/decide.property.test.ts compares decide() with scoring every flag).
import type { HeaderLookup, RequestProfile } from '../features/profile.js';
import type { CompiledActions, CompiledFlag, Stickiness } from './compiledFlag.js';
import type { Snapshot } from './snapshot.js';
import type { UaQuery } from './uaIndex.js';
import { unitBucket } from './bucket.js';

export interface FlagMatch {
  readonly flag: CompiledFlag;
  readonly score: number;
  /** The variant's name, or null for a flag without variants. */
  readonly variant: string | null;
  /** What goes into the flags header after `name=`. */
  readonly value: string;
  /** The flag's actions, merged with its variant's; empty for an explicit off. */
  readonly actions: CompiledActions;
}

export interface Decision {
  /** Matching flags, winner first: priority desc, score desc, name asc. */
  readonly matches: readonly FlagMatch[];
  /** The winning route, or null. */
  readonly route: { readonly cluster: string; readonly flag: string } | null;
  readonly setHeaders: ReadonlyMap<string, string>;
  readonly removeHeaders: readonly string[];
}

export const NO_DECISION: Decision = Object.freeze({
  matches: Object.freeze([]) as readonly FlagMatch[],
  route: null,
  setHeaders: new Map<string, string>(),
  removeHeaders: Object.freeze([]) as readonly string[],
});

/** Per-dimension match values of one flag for one request; NaN where the flag has no such range. */
export interface DimensionScores {
  method: number;
  endpoint: number;
  geo: number;
  payloadSize: number;
  timeOfDay: number;
  userAgent: number;
}

/**
 * Score = Σ wᵢ·mᵢ / Σ wᵢ over the dimensions the flag defines. `uaDistances` is the
 * snapshot index's answer for this request (null when there is none).
 */
export function scoreFlag(
  flag: CompiledFlag,
  profile: RequestProfile,
  uaDistances: Float64Array | null,
  out?: DimensionScores,
): number {
  if (flag.totalWeight === 0) return 1;
  let sum = 0;
  if (flag.method) {
    const m = flag.method.values.has(profile.method) ? 1 : 0;
    sum += flag.method.weight * m;
    if (out) out.method = m;
  }
  if (flag.endpoint) {
    const m = profile.endpoint !== null && flag.endpoint.pattern.test(profile.endpoint) ? 1 : 0;
    sum += flag.endpoint.weight * m;
    if (out) out.endpoint = m;
  }
  if (flag.geo) {
    const m = profile.country !== null && flag.geo.values.has(profile.country) ? 1 : 0;
    sum += flag.geo.weight * m;
    if (out) out.geo = m;
  }
  if (flag.payloadSize) {
    const size = profile.payloadSize;
    const m = size !== null && size >= flag.payloadSize.min && size <= flag.payloadSize.max ? 1 : 0;
    sum += flag.payloadSize.weight * m;
    if (out) out.payloadSize = m;
  }
  if (flag.timeOfDay) {
    const m = flag.timeOfDay.hours[profile.hour] === 1 ? 1 : 0;
    sum += flag.timeOfDay.weight * m;
    if (out) out.timeOfDay = m;
  }
  if (flag.userAgent) {
    const d = uaDistances ? (uaDistances[flag.userAgent.slot] ?? Infinity) : Infinity;
    const m = uaMatch(d, flag.userAgent.maxDistance);
    sum += flag.userAgent.weight * m;
    if (out) out.userAgent = m;
  }
  return sum / flag.totalWeight;
}

/** The user-agent dimension's match for distance d: 1 − d / maxDistance within reach, else 0. */
function uaMatch(d: number, maxDistance: number): number {
  return d <= maxDistance ? 1 - d / maxDistance : 0;
}

/**
 * Σ wᵢ·mᵢ over every dimension but the user agent, exactly as scoreFlag adds them (same
 * operations, same order). `endpointMatches` (bit flag.index) replaces the regex test when given.
 */
function sumWithoutUserAgent(flag: CompiledFlag, profile: RequestProfile, endpointMatches: Uint32Array | null): number {
  let sum = 0;
  if (flag.method) sum += flag.method.weight * (flag.method.values.has(profile.method) ? 1 : 0);
  if (flag.endpoint) {
    const i = flag.index;
    const m =
      endpointMatches !== null
        ? (endpointMatches[i >>> 5]! >>> (i & 31)) & 1
        : profile.endpoint !== null && flag.endpoint.pattern.test(profile.endpoint)
          ? 1
          : 0;
    sum += flag.endpoint.weight * m;
  }
  if (flag.geo) sum += flag.geo.weight * (profile.country !== null && flag.geo.values.has(profile.country) ? 1 : 0);
  if (flag.payloadSize) {
    const size = profile.payloadSize;
    sum +=
      flag.payloadSize.weight * (size !== null && size >= flag.payloadSize.min && size <= flag.payloadSize.max ? 1 : 0);
  }
  if (flag.timeOfDay) sum += flag.timeOfDay.weight * (flag.timeOfDay.hours[profile.hour] === 1 ? 1 : 0);
  return sum;
}

function cookieValue(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  // Bounded scan: a hostile cookie header cannot make this quadratic.
  for (const part of header.slice(0, 8192).split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

function rolloutUnit(stickiness: Stickiness, profile: RequestProfile, headers: HeaderLookup): string {
  let unit: string | undefined;
  if (stickiness.kind === 'header') unit = headers.get(stickiness.name);
  else if (stickiness.kind === 'cookie') unit = cookieValue(headers.get('cookie'), stickiness.name);
  // A missing header or cookie falls back to the client, as CONTRACT §3 says.
  return unit === undefined || unit === '' ? `client:${profile.clientKey}` : `unit:${unit}`;
}

function valueText(value: boolean | string | number): string {
  return typeof value === 'string' ? value : String(value);
}

/** Winner order: priority desc, score desc, name asc. */
function compareMatches(a: FlagMatch, b: FlagMatch): number {
  return (
    b.flag.priority - a.flag.priority ||
    b.score - a.score ||
    (a.flag.name < b.flag.name ? -1 : a.flag.name > b.flag.name ? 1 : 0)
  );
}

const OFF_ACTIONS: CompiledActions = Object.freeze({
  route: null,
  setHeaders: Object.freeze([]) as readonly (readonly [string, string])[],
  removeHeaders: Object.freeze([]) as readonly string[],
});

export function evaluateFlag(
  flag: CompiledFlag,
  profile: RequestProfile,
  headers: HeaderLookup,
  uaDistances: Float64Array | null,
): FlagMatch | null {
  return matchWithScore(flag, scoreFlag(flag, profile, uaDistances), profile, headers);
}

/** The threshold, rollout and variant steps of a flag whose score is known. */
function matchWithScore(
  flag: CompiledFlag,
  score: number,
  profile: RequestProfile,
  headers: HeaderLookup,
): FlagMatch | null {
  if (score < flag.threshold) return null;
  let variant: string | null = null;
  let actions = flag.actions;
  if (flag.rolloutShare < 1 || flag.variants) {
    const unit = rolloutUnit(flag.stickiness, profile, headers);
    // Independent buckets for "in the rollout" and "which variant": raising the percent
    // only adds units and never reshuffles variants.
    if (flag.rolloutShare < 1 && unitBucket(flag.name, 'rollout', unit) >= flag.rolloutShare) return null;
    if (flag.variants) {
      const b = unitBucket(flag.name, 'variant', unit);
      const chosen = flag.variants.find((v) => b < v.upTo) ?? flag.variants[flag.variants.length - 1]!;
      variant = chosen.name;
      actions = chosen.actions;
    }
  }
  if (flag.value === false) actions = OFF_ACTIONS;
  return { flag, score, variant, value: variant ?? valueText(flag.value), actions };
}

/** The user-agent view of one request, created on the first flag that needs a distance. */
class LazyUa {
  private query: UaQuery | null | undefined = undefined;

  constructor(
    private readonly snapshot: Snapshot,
    private readonly profile: RequestProfile,
  ) {}

  distance(slot: number): number {
    if (this.query === undefined) {
      const index = this.snapshot.uaIndex;
      const { uaVector, uaHash } = this.profile;
      // Without a user agent every distance is Infinity: no need to ask.
      this.query = index && (uaVector !== null || uaHash !== null) ? index.query(uaVector, uaHash) : null;
    }
    return this.query === null ? Infinity : this.query.distance(slot);
  }
}

/**
 * One candidate: its score by scoreFlag's rule, then the match steps. A flag with a UA range
 * that stays below its threshold even with a perfect UA score is dropped before any distance
 * is computed (its real score can only be lower or equal).
 */
function evaluateCandidate(
  flag: CompiledFlag,
  profile: RequestProfile,
  headers: HeaderLookup,
  endpointMatches: Uint32Array | null,
  ua: LazyUa,
): FlagMatch | null {
  let score = 1;
  if (flag.totalWeight !== 0) {
    let sum = sumWithoutUserAgent(flag, profile, endpointMatches);
    const range = flag.userAgent;
    if (range) {
      if ((sum + range.weight * uaMatch(0, range.maxDistance)) / flag.totalWeight < flag.threshold) return null;
      sum += range.weight * uaMatch(ua.distance(range.slot), range.maxDistance);
    }
    score = sum / flag.totalWeight;
  }
  return matchWithScore(flag, score, profile, headers);
}

export function decide(snapshot: Snapshot, profile: RequestProfile, headers: HeaderLookup): Decision {
  const flags = snapshot.flags;
  if (flags.length === 0) return NO_DECISION;
  const ua = new LazyUa(snapshot, profile);
  let matches: FlagMatch[] | null = null;
  const index = snapshot.prefilter;
  if (index) {
    const selection = index.select(profile);
    const candidates = selection.candidates;
    const endpointMatches = selection.endpointMatches;
    for (let w = 0; w < candidates.length; w++) {
      let word = candidates[w]!;
      while (word !== 0) {
        const low = word & -word;
        word ^= low;
        const m = evaluateCandidate(flags[(w << 5) | (31 - Math.clz32(low))]!, profile, headers, endpointMatches, ua);
        if (m) (matches ??= []).push(m);
      }
    }
  } else {
    for (let i = 0; i < flags.length; i++) {
      const m = evaluateCandidate(flags[i]!, profile, headers, null, ua);
      if (m) (matches ??= []).push(m);
    }
  }
  if (!matches) return NO_DECISION;
  if (matches.length > 1) matches.sort(compareMatches);

  let route: Decision['route'] = null;
  const setHeaders = new Map<string, string>();
  let removed: Set<string> | null = null;
  for (let k = 0; k < matches.length; k++) {
    const m = matches[k]!;
    const actions = m.actions;
    if (route === null && actions.route !== null) route = { cluster: actions.route, flag: m.flag.name };
    // The first (winning) flag to touch a header decides it.
    const set = actions.setHeaders;
    for (let j = 0; j < set.length; j++) {
      const name = set[j]![0];
      if (!setHeaders.has(name) && (removed === null || !removed.has(name))) setHeaders.set(name, set[j]![1]);
    }
    const remove = actions.removeHeaders;
    for (let j = 0; j < remove.length; j++) {
      if (!setHeaders.has(remove[j]!)) (removed ??= new Set()).add(remove[j]!);
    }
  }
  return { matches, route, setHeaders, removeHeaders: removed === null ? NO_REMOVALS : [...removed] };
}

const NO_REMOVALS: readonly string[] = Object.freeze([]);
