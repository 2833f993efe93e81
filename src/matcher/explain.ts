// Why a request did or did not match: every flag's per-dimension scores (for /explain).
import type { HeaderLookup, RequestProfile } from '../features/profile.js';
import type { FlagMode } from './compiledFlag.js';
import { decideWith, evaluateFlag, scoreFlag, type DimensionScores } from './match.js';
import type { Snapshot } from './snapshot.js';

/**
 * What became of one flag for this request:
 *   - matched: it applies (listed in the flags header);
 *   - shadow: it matched in shadow mode (counted and shown here, applied nowhere);
 *   - respond-limited: it matched, but its respondLimit bucket is empty right now, so it is
 *     treated as not matched;
 *   - outside-rollout: the score reached the threshold, the rollout left this unit out;
 *   - below-threshold: the score is below the threshold.
 */
export type FlagResult = 'matched' | 'shadow' | 'respond-limited' | 'outside-rollout' | 'below-threshold';

export interface FlagExplanation {
  readonly name: string;
  readonly mode: FlagMode;
  readonly priority: number;
  readonly threshold: number;
  readonly score: number;
  /** Match of each dimension the flag defines (absent dimensions are left out). */
  readonly dimensions: Partial<DimensionScores>;
  readonly result: FlagResult;
  readonly variant: string | null;
}

export interface Explanation {
  /** The profile without its embedding (privacy: the hash, never the raw user agent). */
  readonly profile: Omit<RequestProfile, 'uaVector'> & { uaVector: 'present' | null };
  readonly snapshot: { readonly version: number | null; readonly source: string; readonly compiledAt: number };
  readonly flags: readonly FlagExplanation[];
  readonly decision: {
    readonly route: string | null;
    /** The flags header's items (`name=value`), winner first. */
    readonly flags: readonly string[];
    /** The immediate reply this request would get (if its flag's bucket has a token now). */
    readonly respond: { readonly flag: string; readonly status: number } | null;
    readonly rewritePath: { readonly flag: string; readonly prefix: string; readonly to: string } | null;
    readonly responseHeaders: { readonly set: Record<string, string>; readonly remove: readonly string[] };
    /** Shadow-mode matches (`name=value`): what they would do is not applied. */
    readonly shadow: readonly string[];
  };
  /** Flags the store refused (a flag that can never match is refused, with the reason). */
  readonly rejected: readonly { readonly key: string; readonly reason: string }[];
}

/**
 * `nowMs` is the clock of the respondLimit buckets, which explain only looks at: asking
 * /explain never uses up a flag's replies.
 */
export function explain(
  snapshot: Snapshot,
  profile: RequestProfile,
  headers: HeaderLookup,
  nowMs: number = NaN,
): Explanation {
  const uaDistances = snapshot.uaIndex ? snapshot.uaIndex.nearestDistances(profile.uaVector, profile.uaHash) : null;
  const decision = decideWith(snapshot, profile, headers, nowMs, 'peek');
  const limited = new Set(decision.respondLimited.map((m) => m.flag.name));
  const flags = snapshot.flags.map((flag): FlagExplanation => {
    const dims: DimensionScores = {
      method: NaN,
      endpoint: NaN,
      geo: NaN,
      payloadSize: NaN,
      timeOfDay: NaN,
      userAgent: NaN,
    };
    const score = scoreFlag(flag, profile, uaDistances, dims);
    const defined = Object.fromEntries(Object.entries(dims).filter(([, v]) => !Number.isNaN(v)));
    const match = evaluateFlag(flag, profile, headers, uaDistances);
    let result: FlagResult;
    if (match) {
      result = flag.mode === 'shadow' ? 'shadow' : limited.has(flag.name) ? 'respond-limited' : 'matched';
    } else result = score >= flag.threshold ? 'outside-rollout' : 'below-threshold';
    return {
      name: flag.name,
      mode: flag.mode,
      priority: flag.priority,
      threshold: flag.threshold,
      score,
      dimensions: defined,
      result,
      variant: match?.variant ?? null,
    };
  });
  const { uaVector, ...rest } = profile;
  return {
    profile: { ...rest, uaVector: uaVector ? 'present' : null },
    snapshot: { version: snapshot.version, source: snapshot.source, compiledAt: snapshot.compiledAt },
    flags,
    decision: {
      route: decision.route?.cluster ?? null,
      flags: decision.matches.map((m) => `${m.flag.name}=${m.value}`),
      respond: decision.respond ? { flag: decision.respond.flag, status: decision.respond.reply.status } : null,
      rewritePath: decision.rewritePath,
      responseHeaders: {
        set: Object.fromEntries(decision.responseSetHeaders),
        remove: decision.responseRemoveHeaders,
      },
      shadow: decision.shadow.map((m) => `${m.flag.name}=${m.value}`),
    },
    rejected: snapshot.rejected.map((r) => ({ key: r.key, reason: r.reason })),
  };
}
