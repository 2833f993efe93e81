// Ranges that can never match a request, found at validation time (issue 11, part 3).
//
// A flag is refused, with a reason that says what to write instead, rather than accepted and
// left silently dead:
//   - an endpoint pattern the path normalizer would rewrite. Requests are matched on their
//     normalized endpoint (src/features/endpoint.ts), so `/orders/12345` can only ever meet
//     `/orders/{id}`. We refuse it instead of widening it to every order behind the user's
//     back; the reason names the pattern to write (`/orders/{id}`, which matches every
//     normalized `/orders/<id>` path: `{id}` is matched literally). The check runs the very
//     normalizer the requests go through, so the two cannot drift. A trailing slash is fine
//     (patterns and paths both drop it); `*` and `**` are wildcards the normalizer keeps.
//   - a country code no request carries: the profile's country is an assigned ISO 3166-1
//     alpha-2 code (the geo table, src/features/continents.ts) or unknown (null, never `XX`).
//   - a user-agent exemplar in which the embedding finds nothing (src/features/userAgent.ts):
//     all such strings share one fixed vector, so the exemplar names no family.
// Empty `in` lists, `min > max` sizes and the like are refused by the schema itself.
import { COUNTRY_CODES } from '../features/continents.js';
import { ID_PLACEHOLDER, normalizeEndpoint } from '../features/endpoint.js';
import { embedsToNothing } from '../features/userAgent.js';

const COUNTRIES: ReadonlySet<string> = new Set(COUNTRY_CODES);

/** Codes people write for a country whose ISO code is another one. */
const COUNTRY_HINTS: Readonly<Record<string, string>> = { UK: 'GB', EL: 'GR', EN: 'GB' };

function withoutTrailingSlash(pattern: string): string {
  return pattern.length > 1 && pattern.endsWith('/') ? pattern.slice(0, -1) : pattern;
}

/** What a segment that the normalizer changed was turned into, in words. */
function segmentChange(from: string, to: string): string {
  if (to === ID_PLACEHOLDER || to.startsWith(`${ID_PLACEHOLDER}.`)) {
    return `segment "${from}" looks like an identifier (a number, date, UUID, hash, e-mail or token), which request paths carry as ${ID_PLACEHOLDER}`;
  }
  return `segment "${from}" is written "${to}" in a normalized path`;
}

/**
 * Why an endpoint pattern can never match a normalized request path, with the pattern to
 * write instead; null when it can match. `pattern` already starts with '/'.
 */
export function endpointPatternProblem(pattern: string): string | null {
  if (!pattern.startsWith('/')) return null; // the pattern's own syntax check says why
  const wanted = withoutTrailingSlash(pattern);
  const normalized = normalizeEndpoint(wanted);
  if (normalized === null || normalized === wanted) return null;
  const before = wanted.split('/');
  const after = normalized.split('/');
  let why =
    'request paths are normalized before matching (identifiers become {id}, escapes are decoded, ' +
    "'.', '..' and empty segments are resolved)";
  if (before.length === after.length) {
    const i = before.findIndex((seg, k) => seg !== after[k]);
    if (i > 0) why = segmentChange(before[i]!, after[i]!);
  }
  return `can never match: ${why}; write "${normalized}" instead`;
}

/** Why a country code can never match a request's country; null when it can. */
export function countryCodeProblem(code: string): string | null {
  if (COUNTRIES.has(code) || !/^[A-Z]{2}$/.test(code)) return null; // syntax: the schema's regex
  if (code === 'XX') {
    return 'XX never matches: a request whose country is unknown has no country, and a missing feature scores 0';
  }
  const hint = COUNTRY_HINTS[code];
  return hint !== undefined
    ? `not an ISO 3166-1 alpha-2 code: write ${hint}`
    : 'not an assigned ISO 3166-1 alpha-2 country code, so no request carries it';
}

/** Why a user-agent exemplar is no use for similarity; null when it is. */
export function userAgentExemplarProblem(exemplar: string): string | null {
  return embedsToNothing(exemplar)
    ? 'the user-agent embedding finds nothing in this exemplar (no product token, too short): it names no user-agent family'
    : null;
}
