// (Snapshot, RequestProfile) → Decision. Pure and allocation-light: this runs for every
// request. Scoring follows CONTRACT §3 exactly; rollouts and variants bucket a stable unit.
//
// decide() scores only the candidates of the snapshot's CandidateIndex (prefilter.ts): the
// flags none of whose required dimensions rules them out. A user-agent distance is asked of
// the index only for a candidate that could still reach its threshold with a perfect UA score,
// and only for that flag's slot. Neither shortcut can change a score or a decision: the scores
// are computed with the very operations, in the very order, of scoreFlag (the property test
// test/unit/matcher/decide.property.test.ts compares decide() with scoring every flag).
//
// Actions (CONTRACT §3, §6), over the matching flags in winner order (priority desc, score
// desc, name asc), each flag's actions merged with its variant's:
//   - Shadow-mode flags are evaluated exactly like the others and reported in `shadow`; they
//     take no part in anything below and are not in `matches` (so not in the flags header).
//   - respond: the first enforce-mode match whose actions carry a `respond` takes a token from
//     its flag's respondLimit bucket. With a token, it is the reply and the request ends there:
//     no route, rewrite or header change applies. Without one, that flag counts as not matched
//     at all (`respondLimited`: no headers, no route, not in the flags header) and the next
//     match carrying a `respond` is tried. Only the flag whose reply is sent spends a token.
//   - Otherwise route and rewritePath each come from the first match that carries one (as
//     route always has), and the header changes of every match apply, a conflict on one header
//     going to the first (winning) match that touches it; request and response headers alike.
import type { HeaderLookup, RequestProfile } from '../features/profile.js';
import type { CompiledActions, CompiledFlag, CompiledRespond, CompiledRewrite, Stickiness } from './compiledFlag.js';
import { EMPTY_ACTIONS } from './compile.js';
import type { Snapshot } from './snapshot.js';
import type { UaQuery } from './uaIndex.js';
import { unitBucket } from './bucket.js';

export interface FlagMatch {
  readonly flag: CompiledFlag;
  readonly score: number;
  /** The variant's name, or null for a flag without variants. */
  readonly variant: string | null;
  /** The variant's position in flag.variants, -1 for a flag without variants. */
  readonly variantIndex: number;
  /** What goes into the flags header after `name=`. */
  readonly value: string;
  /** The flag's actions, merged with its variant's; empty for an explicit off. */
  readonly actions: CompiledActions;
}

export interface Decision {
  /**
   * Matching enforce-mode flags that apply, winner first (priority desc, score desc, name
   * asc): what the flags header lists. Neither shadow-mode nor respond-limited flags.
   */
  readonly matches: readonly FlagMatch[];
  /** The winning route, or null (always null when `respond` is set). */
  readonly route: { readonly cluster: string; readonly flag: string } | null;
  readonly setHeaders: ReadonlyMap<string, string>;
  readonly removeHeaders: readonly string[];
  /** The immediate reply that ends the request, or null. Nothing else applies when set. */
  readonly respond: { readonly flag: string; readonly reply: CompiledRespond } | null;
  /** The rewrite of the winning flag that carries one, or null (applies only if its prefix does). */
  readonly rewritePath: { readonly flag: string; readonly prefix: string; readonly to: string } | null;
  /** Changes to the upstream's response headers (non-empty: the response headers are needed). */
  readonly responseSetHeaders: ReadonlyMap<string, string>;
  readonly responseRemoveHeaders: readonly string[];
  /** Shadow-mode flags that matched, winner order: counted and explained, never applied. */
  readonly shadow: readonly FlagMatch[];
  /** Flags that matched but were over their respondLimit: treated as not matched. */
  readonly respondLimited: readonly FlagMatch[];
  /** Flags whose score reached the threshold but whose rollout left this unit out. */
  readonly rolloutExcluded: readonly CompiledFlag[];
  /**
   * Flags scored below their threshold. Only the candidates decide() scored: the flags that
   * the prefilter ruled out on a required dimension are not listed (that would cost a pass
   * over every flag).
   */
  readonly belowThreshold: readonly CompiledFlag[];
}

const NO_MATCHES = Object.freeze([]) as readonly FlagMatch[];
const NO_FLAGS = Object.freeze([]) as readonly CompiledFlag[];
const NO_NAMES = Object.freeze([]) as readonly string[];
const NO_HEADERS: ReadonlyMap<string, string> = new Map<string, string>();

/** Nothing matched and nothing was missed: one shared, frozen answer. */
export const NO_DECISION: Decision = Object.freeze(missesOnly(NO_FLAGS, NO_FLAGS));

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

/** An explicit off (`"value": false`) applies nothing. */
const OFF_ACTIONS: CompiledActions = EMPTY_ACTIONS;

export function evaluateFlag(
  flag: CompiledFlag,
  profile: RequestProfile,
  headers: HeaderLookup,
  uaDistances: Float64Array | null,
): FlagMatch | null {
  return matchWithScore(flag, scoreFlag(flag, profile, uaDistances), profile, headers, null);
}

/** What one request's evaluation gathers besides the matches (for per-flag counters). */
interface Misses {
  excluded: CompiledFlag[] | null;
  below: CompiledFlag[] | null;
}

/**
 * The threshold, rollout and variant steps of a flag whose score is known. A flag left out
 * of the rollout is noted in `misses` (when given).
 */
function matchWithScore(
  flag: CompiledFlag,
  score: number,
  profile: RequestProfile,
  headers: HeaderLookup,
  misses: Misses | null,
): FlagMatch | null {
  if (score < flag.threshold) return null;
  let variant: string | null = null;
  let variantIndex = -1;
  let actions = flag.actions;
  if (flag.rolloutShare < 1 || flag.variants) {
    const unit = rolloutUnit(flag.stickiness, profile, headers);
    // Independent buckets for "in the rollout" and "which variant": raising the percent
    // only adds units and never reshuffles variants.
    if (flag.rolloutShare < 1 && unitBucket(flag.name, 'rollout', unit) >= flag.rolloutShare) {
      if (misses) (misses.excluded ??= []).push(flag);
      return null;
    }
    const variants = flag.variants;
    if (variants) {
      const b = unitBucket(flag.name, 'variant', unit);
      variantIndex = variants.length - 1;
      for (let k = 0; k < variants.length; k++) {
        if (b < variants[k]!.upTo) {
          variantIndex = k;
          break;
        }
      }
      const chosen = variants[variantIndex]!;
      variant = chosen.name;
      actions = chosen.actions;
    }
  }
  if (flag.value === false) actions = OFF_ACTIONS;
  return { flag, score, variant, variantIndex, value: variant ?? valueText(flag.value), actions };
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
  misses: Misses,
): FlagMatch | null {
  let score = 1;
  if (flag.totalWeight !== 0) {
    let sum = sumWithoutUserAgent(flag, profile, endpointMatches);
    const range = flag.userAgent;
    if (range) {
      if ((sum + range.weight * uaMatch(0, range.maxDistance)) / flag.totalWeight < flag.threshold) {
        (misses.below ??= []).push(flag);
        return null;
      }
      sum += range.weight * uaMatch(ua.distance(range.slot), range.maxDistance);
    }
    score = sum / flag.totalWeight;
    if (score < flag.threshold) {
      (misses.below ??= []).push(flag);
      return null;
    }
  }
  return matchWithScore(flag, score, profile, headers, misses);
}

/**
 * How decide() treats the respondLimit buckets: `take` spends a token for the reply it
 * chooses (the request path); `peek` only looks (explain: asking must not use up replies).
 */
export type RespondBudget = 'take' | 'peek';

/**
 * The decision for one request. `nowMs` is the request's clock, which feeds the respondLimit
 * buckets; without it no `respond` is ever chosen (those flags count as over their limit).
 */
export function decide(snapshot: Snapshot, profile: RequestProfile, headers: HeaderLookup, nowMs?: number): Decision {
  return decideWith(snapshot, profile, headers, nowMs ?? NaN, 'take');
}

export function decideWith(
  snapshot: Snapshot,
  profile: RequestProfile,
  headers: HeaderLookup,
  nowMs: number,
  budget: RespondBudget,
): Decision {
  const flags = snapshot.flags;
  if (flags.length === 0) return NO_DECISION;
  const ua = new LazyUa(snapshot, profile);
  const misses: Misses = { excluded: null, below: null };
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
        const flag = flags[(w << 5) | (31 - Math.clz32(low))]!;
        const m = evaluateCandidate(flag, profile, headers, endpointMatches, ua, misses);
        if (m) (matches ??= []).push(m);
      }
    }
  } else {
    for (let i = 0; i < flags.length; i++) {
      const m = evaluateCandidate(flags[i]!, profile, headers, null, ua, misses);
      if (m) (matches ??= []).push(m);
    }
  }
  const excluded = misses.excluded ?? NO_FLAGS;
  const below = misses.below ?? NO_FLAGS;
  if (!matches) {
    if (excluded === NO_FLAGS && below === NO_FLAGS) return NO_DECISION;
    return missesOnly(excluded, below);
  }
  if (matches.length > 1) matches.sort(compareMatches);
  return applyActions(snapshot, matches, nowMs, budget, excluded, below);
}

/** A decision that applies nothing, naming the flags that rollout or threshold left out. */
function missesOnly(excluded: readonly CompiledFlag[], below: readonly CompiledFlag[]): Decision {
  return {
    matches: NO_MATCHES,
    route: null,
    setHeaders: NO_HEADERS,
    removeHeaders: NO_NAMES,
    respond: null,
    rewritePath: null,
    responseSetHeaders: NO_HEADERS,
    responseRemoveHeaders: NO_NAMES,
    shadow: NO_MATCHES,
    respondLimited: NO_MATCHES,
    rolloutExcluded: excluded,
    belowThreshold: below,
  };
}

/** Whether the respond bucket of `flag` lets a reply out now (spending a token for `take`). */
function replyAllowed(snapshot: Snapshot, flag: CompiledFlag, nowMs: number, budget: RespondBudget): boolean {
  const limiter = snapshot.respondLimiter;
  const limit = flag.respondLimit;
  if (!limiter || !limit) return false;
  return budget === 'take' ? limiter.take(limit.slot, nowMs) : limiter.available(limit.slot, nowMs);
}

/** Everything after scoring: shadow and respond split-off, then the winners' actions. */
function applyActions(
  snapshot: Snapshot,
  all: FlagMatch[],
  nowMs: number,
  budget: RespondBudget,
  excluded: readonly CompiledFlag[],
  below: readonly CompiledFlag[],
): Decision {
  // The common case (no shadow flag, no respond) keeps `all` as it is.
  let special = false;
  for (let k = 0; k < all.length; k++) {
    const m = all[k]!;
    if (m.flag.mode === 'shadow' || m.actions.respond !== null) {
      special = true;
      break;
    }
  }
  const matches: readonly FlagMatch[] = all;
  let shadow: readonly FlagMatch[] = NO_MATCHES;
  let limited: FlagMatch[] | null = null;
  let respond: Decision['respond'] = null;
  if (special) {
    // Split in place: the enforce matches that apply stay in `all`, in order.
    let kept = 0;
    let shadowed: FlagMatch[] | null = null;
    for (let k = 0; k < all.length; k++) {
      const m = all[k]!;
      if (m.flag.mode === 'shadow') (shadowed ??= []).push(m);
      else if (respond === null && m.actions.respond !== null) {
        if (replyAllowed(snapshot, m.flag, nowMs, budget)) {
          respond = { flag: m.flag.name, reply: m.actions.respond };
          all[kept++] = m;
        } else (limited ??= []).push(m);
      } else all[kept++] = m;
    }
    all.length = kept;
    if (shadowed !== null) shadow = shadowed;
  }
  const respondLimited = limited ?? NO_MATCHES;
  if (respond !== null) {
    // The reply ends the request: no other action applies.
    return {
      matches,
      route: null,
      setHeaders: NO_HEADERS,
      removeHeaders: NO_NAMES,
      respond,
      rewritePath: null,
      responseSetHeaders: NO_HEADERS,
      responseRemoveHeaders: NO_NAMES,
      shadow,
      respondLimited,
      rolloutExcluded: excluded,
      belowThreshold: below,
    };
  }

  let route: Decision['route'] = null;
  let rewrite: Decision['rewritePath'] = null;
  const setHeaders = new Map<string, string>();
  let removed: Set<string> | null = null;
  let responseSet: Map<string, string> | null = null;
  let responseRemoved: Set<string> | null = null;
  for (let k = 0; k < matches.length; k++) {
    const m = matches[k]!;
    const actions = m.actions;
    if (route === null && actions.route !== null) route = { cluster: actions.route, flag: m.flag.name };
    if (rewrite === null && actions.rewritePath !== null) rewrite = rewriteOf(m.flag.name, actions.rewritePath);
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
    const rset = actions.responseSetHeaders;
    for (let j = 0; j < rset.length; j++) {
      const name = rset[j]![0];
      if (
        (responseSet === null || !responseSet.has(name)) &&
        (responseRemoved === null || !responseRemoved.has(name))
      ) {
        (responseSet ??= new Map()).set(name, rset[j]![1]);
      }
    }
    const rremove = actions.responseRemoveHeaders;
    for (let j = 0; j < rremove.length; j++) {
      if (responseSet === null || !responseSet.has(rremove[j]!)) (responseRemoved ??= new Set()).add(rremove[j]!);
    }
  }
  return {
    matches,
    route,
    setHeaders,
    removeHeaders: removed === null ? NO_NAMES : [...removed],
    respond: null,
    rewritePath: rewrite,
    responseSetHeaders: responseSet ?? NO_HEADERS,
    responseRemoveHeaders: responseRemoved === null ? NO_NAMES : [...responseRemoved],
    shadow,
    respondLimited,
    rolloutExcluded: excluded,
    belowThreshold: below,
  };
}

function rewriteOf(flag: string, rewrite: CompiledRewrite): NonNullable<Decision['rewritePath']> {
  return { flag, prefix: rewrite.prefix, to: rewrite.to };
}
