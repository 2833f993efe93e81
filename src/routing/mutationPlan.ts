// Decision → the header mutations Envoy must apply (CONTRACT §4), still free of Envoy's
// message types (the gRPC edge turns a plan into a ProcessingResponse).
import type { Decision } from '../matcher/match.js';

export interface RoutingOptions {
  readonly routeHeader: string;
  readonly flagsHeader: string;
  /** Longest flags header we send; further flags are left out whole, never cut in half. */
  readonly maxFlagsHeaderLength: number;
}

export interface MutationPlan {
  readonly set: readonly (readonly [string, string])[];
  readonly remove: readonly string[];
  /** True whenever the route header was set, changed or removed. */
  readonly clearRouteCache: boolean;
  /** What the flags header says, '' when no flag matched (for metadata and logs). */
  readonly flags: string;
  readonly cluster: string | null;
}

export const NO_MUTATION: MutationPlan = Object.freeze({
  set: Object.freeze([]) as readonly (readonly [string, string])[],
  remove: Object.freeze([]) as readonly string[],
  clearRouteCache: false,
  flags: '',
  cluster: null,
});

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

export function planMutation(decision: Decision, client: ClientOwnedHeaders, options: RoutingOptions): MutationPlan {
  if (decision.matches.length === 0 && !client.routeHeaderSent && !client.flagsHeaderSent) {
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

  for (const [name, value] of decision.setHeaders) {
    if (name === options.routeHeader || name === options.flagsHeader) continue;
    set.push([name, sanitizeHeaderValue(value)]);
  }
  for (const name of decision.removeHeaders) {
    if (name === options.routeHeader || name === options.flagsHeader) continue;
    remove.push(name);
  }
  return { set, remove, clearRouteCache, flags, cluster };
}
