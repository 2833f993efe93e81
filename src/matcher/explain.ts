// Why a request did or did not match: every flag's per-dimension scores (for /explain).
import type { HeaderLookup, RequestProfile } from '../features/profile.js';
import { decide, evaluateFlag, scoreFlag, type DimensionScores } from './match.js';
import type { Snapshot } from './snapshot.js';

export interface FlagExplanation {
  readonly name: string;
  readonly priority: number;
  readonly threshold: number;
  readonly score: number;
  /** Match of each dimension the flag defines (absent dimensions are left out). */
  readonly dimensions: Partial<DimensionScores>;
  /** matched, below-threshold, or outside-rollout. */
  readonly result: 'matched' | 'below-threshold' | 'outside-rollout';
  readonly variant: string | null;
}

export interface Explanation {
  /** The profile without its embedding (privacy: the hash, never the raw user agent). */
  readonly profile: Omit<RequestProfile, 'uaVector'> & { uaVector: 'present' | null };
  readonly snapshot: { readonly version: number | null; readonly source: string; readonly compiledAt: number };
  readonly flags: readonly FlagExplanation[];
  readonly decision: { readonly route: string | null; readonly flags: readonly string[] };
}

export function explain(snapshot: Snapshot, profile: RequestProfile, headers: HeaderLookup): Explanation {
  const uaDistances = snapshot.uaIndex ? snapshot.uaIndex.nearestDistances(profile.uaVector, profile.uaHash) : null;
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
    return {
      name: flag.name,
      priority: flag.priority,
      threshold: flag.threshold,
      score,
      dimensions: defined,
      result: match ? 'matched' : score >= flag.threshold ? 'outside-rollout' : 'below-threshold',
      variant: match?.variant ?? null,
    };
  });
  const decision = decide(snapshot, profile, headers);
  const { uaVector, ...rest } = profile;
  return {
    profile: { ...rest, uaVector: uaVector ? 'present' : null },
    snapshot: { version: snapshot.version, source: snapshot.source, compiledAt: snapshot.compiledAt },
    flags,
    decision: {
      route: decision.route?.cluster ?? null,
      flags: decision.matches.map((m) => `${m.flag.name}=${m.value}`),
    },
  };
}
