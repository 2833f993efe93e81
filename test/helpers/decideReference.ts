// The decision by scoring every flag of a snapshot with given UA distances: no pruning, no
// lazy distances. What decide() must equal (the property test and the decision bench check it).
import type { HeaderLookup, RequestProfile } from '../../src/features/profile.js';
import { evaluateFlag, type Decision, type FlagMatch } from '../../src/matcher/match.js';
import type { Snapshot } from '../../src/matcher/snapshot.js';

export function decideByScoringEveryFlag(
  snapshot: Snapshot,
  profile: RequestProfile,
  headers: HeaderLookup,
  distances: Float64Array | null,
): Decision {
  const matches: FlagMatch[] = [];
  for (const flag of snapshot.flags) {
    const m = evaluateFlag(flag, profile, headers, distances);
    if (m) matches.push(m);
  }
  matches.sort(
    (a, b) =>
      b.flag.priority - a.flag.priority ||
      b.score - a.score ||
      (a.flag.name < b.flag.name ? -1 : a.flag.name > b.flag.name ? 1 : 0),
  );
  let route: Decision['route'] = null;
  const setHeaders = new Map<string, string>();
  const removed: string[] = [];
  for (const m of matches) {
    if (route === null && m.actions.route !== null) route = { cluster: m.actions.route, flag: m.flag.name };
    for (const [name, value] of m.actions.setHeaders) {
      if (!setHeaders.has(name) && !removed.includes(name)) setHeaders.set(name, value);
    }
    for (const name of m.actions.removeHeaders) {
      if (!setHeaders.has(name) && !removed.includes(name)) removed.push(name);
    }
  }
  return { matches, route, setHeaders, removeHeaders: removed };
}
