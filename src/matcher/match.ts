// (Snapshot, RequestProfile) → Decision. Pure and allocation-light: this runs for every
// request. Scoring follows CONTRACT §3 exactly; rollouts and variants bucket a stable unit.
import type { HeaderLookup, RequestProfile } from '../features/profile.js';
import type { CompiledActions, CompiledFlag, Stickiness } from './compiledFlag.js';
import type { Snapshot } from './snapshot.js';
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
    const m = d <= flag.userAgent.maxDistance ? 1 - d / flag.userAgent.maxDistance : 0;
    sum += flag.userAgent.weight * m;
    if (out) out.userAgent = m;
  }
  return sum / flag.totalWeight;
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
  const score = scoreFlag(flag, profile, uaDistances);
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

export function decide(snapshot: Snapshot, profile: RequestProfile, headers: HeaderLookup): Decision {
  const flags = snapshot.flags;
  if (flags.length === 0) return NO_DECISION;
  const uaDistances = snapshot.uaIndex ? snapshot.uaIndex.nearestDistances(profile.uaVector, profile.uaHash) : null;
  let matches: FlagMatch[] | null = null;
  const candidates = snapshot.prefilter?.candidates(profile.endpoint);
  const n = candidates ? candidates.length : flags.length;
  for (let i = 0; i < n; i++) {
    const m = evaluateFlag(flags[candidates ? candidates[i]! : i]!, profile, headers, uaDistances);
    if (m) (matches ??= []).push(m);
  }
  if (!matches) return NO_DECISION;
  if (matches.length > 1) matches.sort(compareMatches);

  let route: Decision['route'] = null;
  const setHeaders = new Map<string, string>();
  const removed = new Set<string>();
  for (const m of matches) {
    if (route === null && m.actions.route !== null) route = { cluster: m.actions.route, flag: m.flag.name };
    // The first (winning) flag to touch a header decides it.
    for (const [name, value] of m.actions.setHeaders) {
      if (!setHeaders.has(name) && !removed.has(name)) setHeaders.set(name, value);
    }
    for (const name of m.actions.removeHeaders) {
      if (!setHeaders.has(name)) removed.add(name);
    }
  }
  return { matches, route, setHeaders, removeHeaders: [...removed] };
}
