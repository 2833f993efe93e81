// Decision → the request-header mutations Envoy must apply (CONTRACT §4, §6 rewritePath),
// still free of Envoy's message types (the gRPC edge turns a plan into a ProcessingResponse).
// The reply and response-header plans of §6 are in transformPlan.ts.
import type { Decision } from '../matcher/match.js';
import { rewrittenPath } from './pathRewrite.js';

export interface RoutingOptions {
  readonly routeHeader: string;
  readonly flagsHeader: string;
  /** Longest flags header we send; further flags are left out whole, never cut in half. */
  readonly maxFlagsHeaderLength: number;
}

export interface MutationPlan {
  readonly set: readonly (readonly [string, string])[];
  readonly remove: readonly string[];
  /** True whenever the route header was set, changed or removed, or the path rewritten. */
  readonly clearRouteCache: boolean;
  /** What the flags header says, '' when no flag matched (for metadata and logs). */
  readonly flags: string;
  readonly cluster: string | null;
  /**
   * The rewritten `:path` (rewritePath), null when the path stays. It goes to Envoy as one
   * more set_headers entry with key `:path` (raw_value), in the same reply as
   * clear_route_cache so that Envoy routes on the new path. It depends on the request's raw
   * path, so a reply that carries it must not be reused for another request.
   */
  readonly path: string | null;
}

export const NO_MUTATION: MutationPlan = Object.freeze({
  set: Object.freeze([]) as readonly (readonly [string, string])[],
  remove: Object.freeze([]) as readonly string[],
  clearRouteCache: false,
  flags: '',
  cluster: null,
  path: null,
});

/**
 * Set and remove entries a plan carries at most, per direction: Envoy answers 500 to a
 * mutation with more entries than its max_headers_count (100 by default). proflag's own
 * headers come first and are never the ones left out.
 */
export const MAX_HEADER_MUTATIONS = 64;

export const MAX_HEADER_VALUE_BYTES = 4096;

/** Envoy fails the whole request on CR, LF or NUL; drop every control character and bound it. */
export function sanitizeHeaderValue(value: string): string {
  const clean = value.replace(/[\u0000-\u001f\u007f]/g, '');
  return clean.length > MAX_HEADER_VALUE_BYTES ? clean.slice(0, MAX_HEADER_VALUE_BYTES) : clean;
}

/** `name=value` pairs; commas and '=' inside values would break parsing, so they are escaped. */
function flagsHeaderValue(decision: Decision, maxLength: number): string {
  let out = '';
  for (const m of decision.matches) {
    const item = `${m.flag.name}=${encodeURIComponent(m.value)}`;
    const next = out === '' ? item : `${out},${item}`;
    if (next.length > maxLength) break;
    out = next;
  }
  return out;
}

/** Which of proflag's own headers the client sent (they are always overwritten or removed). */
export interface ClientOwnedHeaders {
  readonly routeHeaderSent: boolean;
  readonly flagsHeaderSent: boolean;
}

/** What the plan needs to know of the request besides the decision. */
export interface RequestFacts extends ClientOwnedHeaders {
  /** The raw `:path` as Envoy sent it (query included); needed only for rewritePath. */
  readonly rawPath?: string | null;
}

/**
 * The request-side mutation. For a decision with a `respond`, the request does not go on:
 * use planRequest (transformPlan.ts), which answers with the immediate reply instead.
 */
export function planMutation(decision: Decision, client: RequestFacts, options: RoutingOptions): MutationPlan {
  const path = decision.rewritePath === null ? null : rewrittenPath(client.rawPath, decision.rewritePath);
  if (decision.matches.length === 0 && !client.routeHeaderSent && !client.flagsHeaderSent && path === null) {
    return NO_MUTATION;
  }
  const set: (readonly [string, string])[] = [];
  const remove: string[] = [];
  let clearRouteCache = false;

  const cluster = decision.route?.cluster ?? null;
  if (cluster !== null) {
    set.push([options.routeHeader, cluster]);
    clearRouteCache = true;
  } else if (client.routeHeaderSent) {
    remove.push(options.routeHeader);
    clearRouteCache = true;
  }

  const flags = flagsHeaderValue(decision, options.maxFlagsHeaderLength);
  if (flags !== '') set.push([options.flagsHeader, flags]);
  else if (client.flagsHeaderSent) remove.push(options.flagsHeader);

  if (path !== null) clearRouteCache = true;

  for (const [name, value] of decision.setHeaders) {
    if (name === options.routeHeader || name === options.flagsHeader) continue;
    if (set.length + remove.length >= MAX_HEADER_MUTATIONS) break;
    set.push([name, sanitizeHeaderValue(value)]);
  }
  for (const name of decision.removeHeaders) {
    if (name === options.routeHeader || name === options.flagsHeader) continue;
    if (set.length + remove.length >= MAX_HEADER_MUTATIONS) break;
    remove.push(name);
  }
  return { set, remove, clearRouteCache, flags, cluster, path };
}
