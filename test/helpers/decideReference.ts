// The decision by scoring every flag of a snapshot with given UA distances: no pruning, no
// lazy distances, the action rules written out plainly from CONTRACT §3 and §6 (and
// src/matcher/match.ts's header comment). What decide() must equal (the property test and
// the decision bench check it).
import type { HeaderLookup, RequestProfile } from '../../src/features/profile.js';
import type { CompiledFlag } from '../../src/matcher/compiledFlag.js';
import { evaluateFlag, scoreFlag, type Decision, type FlagMatch } from '../../src/matcher/match.js';
import type { Snapshot } from '../../src/matcher/snapshot.js';

/**
 * respondLimit buckets written from their definition: capacity max(1, perSecond), refilled at
 * perSecond per second from the last time seen, one token per reply; no time, no reply.
 */
export class ReferenceBuckets {
  private readonly state = new Map<string, { tokens: number; last: number }>();

  take(flag: CompiledFlag, nowMs: number): boolean {
    const limit = flag.respondLimit;
    if (limit === null || !Number.isFinite(nowMs)) return false;
    const capacity = Math.max(1, limit.perSecond);
    let s = this.state.get(flag.name);
    if (!s) this.state.set(flag.name, (s = { tokens: capacity, last: nowMs }));
    if (nowMs > s.last) {
      s.tokens = Math.min(capacity, s.tokens + (nowMs - s.last) * (limit.perSecond / 1000));
      s.last = nowMs;
    }
    if (s.tokens < 1) return false;
    s.tokens -= 1;
    return true;
  }
}

export interface ReferenceDecision extends Decision {
  /** Every flag scored below its threshold (decide() lists only the candidates it scored). */
  readonly allBelowThreshold: readonly CompiledFlag[];
}

export function decideByScoringEveryFlag(
  snapshot: Snapshot,
  profile: RequestProfile,
  headers: HeaderLookup,
  distances: Float64Array | null,
  buckets: ReferenceBuckets | null = null,
  nowMs = NaN,
): ReferenceDecision {
  const all: FlagMatch[] = [];
  const rolloutExcluded: CompiledFlag[] = [];
  const allBelowThreshold: CompiledFlag[] = [];
  for (const flag of snapshot.flags) {
    const m = evaluateFlag(flag, profile, headers, distances);
    if (m) all.push(m);
    else if (scoreFlag(flag, profile, distances) >= flag.threshold) rolloutExcluded.push(flag);
    else allBelowThreshold.push(flag);
  }
  all.sort(
    (a, b) =>
      b.flag.priority - a.flag.priority ||
      b.score - a.score ||
      (a.flag.name < b.flag.name ? -1 : a.flag.name > b.flag.name ? 1 : 0),
  );
  const shadow = all.filter((m) => m.flag.mode === 'shadow');
  const enforced = all.filter((m) => m.flag.mode !== 'shadow');

  // The first enforce match carrying a respond that gets a token replies; those before it
  // without a token count as not matched.
  const respondLimited: FlagMatch[] = [];
  let respond: Decision['respond'] = null;
  for (const m of enforced) {
    if (m.actions.respond === null) continue;
    if (buckets !== null && buckets.take(m.flag, nowMs)) {
      respond = { flag: m.flag.name, reply: m.actions.respond };
      break;
    }
    respondLimited.push(m);
  }
  const matches = enforced.filter((m) => !respondLimited.includes(m));
  const base = {
    matches,
    shadow,
    respondLimited,
    rolloutExcluded,
    belowThreshold: allBelowThreshold,
    allBelowThreshold,
  };
  if (respond !== null) {
    return {
      ...base,
      respond,
      route: null,
      rewritePath: null,
      setHeaders: new Map(),
      removeHeaders: [],
      responseSetHeaders: new Map(),
      responseRemoveHeaders: [],
    };
  }

  let route: Decision['route'] = null;
  let rewritePath: Decision['rewritePath'] = null;
  const setHeaders = new Map<string, string>();
  const removed: string[] = [];
  const responseSet = new Map<string, string>();
  const responseRemoved: string[] = [];
  for (const m of matches) {
    if (route === null && m.actions.route !== null) route = { cluster: m.actions.route, flag: m.flag.name };
    if (rewritePath === null && m.actions.rewritePath !== null) {
      rewritePath = { flag: m.flag.name, prefix: m.actions.rewritePath.prefix, to: m.actions.rewritePath.to };
    }
    for (const [name, value] of m.actions.setHeaders) {
      if (!setHeaders.has(name) && !removed.includes(name)) setHeaders.set(name, value);
    }
    for (const name of m.actions.removeHeaders) {
      if (!setHeaders.has(name) && !removed.includes(name)) removed.push(name);
    }
    for (const [name, value] of m.actions.responseSetHeaders) {
      if (!responseSet.has(name) && !responseRemoved.includes(name)) responseSet.set(name, value);
    }
    for (const name of m.actions.responseRemoveHeaders) {
      if (!responseSet.has(name) && !responseRemoved.includes(name)) responseRemoved.push(name);
    }
  }
  return {
    ...base,
    respond: null,
    route,
    rewritePath,
    setHeaders,
    removeHeaders: removed,
    responseSetHeaders: responseSet,
    responseRemoveHeaders: responseRemoved,
  };
}
