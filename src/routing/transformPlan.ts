// Decision → everything Envoy gets for one request (CONTRACT §4, §6), as plain data for the
// gRPC edge's encoders: either an immediate reply that ends the request, or the request-side
// mutation plus, when some flag changes response headers, the response-side mutation (the
// edge then asks Envoy for the response headers with mode_override).
//
// Flags are validated at load; everything is checked again here, where it leaves proflag,
// because Envoy fails the whole request (500) on a header it cannot accept: names must be
// lower-case tokens and not Envoy's own, values lose control characters and are bounded,
// bodies are bounded at a character boundary, details become printable tokens.
import { FRAMING_HEADER_NAMES, HEADER_NAME_PATTERN, isProtectedHeaderName } from '../flags/schema.js';
import type { Decision } from '../matcher/match.js';
import {
  MAX_HEADER_MUTATIONS,
  planMutation,
  sanitizeHeaderValue,
  type MutationPlan,
  type RequestFacts,
  type RoutingOptions,
} from './mutationPlan.js';

/** An ext_proc immediate_response, as data. */
export interface ImmediateResponsePlan {
  /** The flag whose reply this is (for logs, metadata and counters). */
  readonly flag: string;
  /** HTTP status, 200-599 (`status.code` of the HttpStatus). */
  readonly status: number;
  /** Reply headers (`headers.set_headers`, raw_value), sanitized. */
  readonly headers: readonly (readonly [string, string])[];
  /** The body as text; send it as UTF-8 bytes ('' for none). At most MAX_REPLY_BODY_BYTES. */
  readonly body: string;
  /** `details` (Envoy's %RESPONSE_CODE_DETAILS%), null for none. */
  readonly details: string | null;
}

/** The response_headers reply's header_mutation, as data. */
export interface ResponseHeadersPlan {
  readonly set: readonly (readonly [string, string])[];
  readonly remove: readonly string[];
}

export type RequestPlan =
  /** Answer the request-headers message with immediate_response; nothing else is sent. */
  | { readonly kind: 'respond'; readonly reply: ImmediateResponsePlan }
  /**
   * Answer with the request mutation (as today). When `response` is non-null, the reply also
   * carries mode_override (response_header_mode SEND) and the response_headers message that
   * follows is answered with `response`.
   */
  | { readonly kind: 'continue'; readonly request: MutationPlan; readonly response: ResponseHeadersPlan | null };

export const MAX_REPLY_BODY_BYTES = 4096;
export const MAX_REPLY_DETAILS_LENGTH = 128;

function sendableName(name: string, framingAllowed: boolean): boolean {
  return (
    HEADER_NAME_PATTERN.test(name) &&
    !isProtectedHeaderName(name) &&
    (framingAllowed || !FRAMING_HEADER_NAMES.has(name))
  );
}

/** At most `maxBytes` of UTF-8, cut at a character boundary; NUL characters dropped. */
export function boundedBody(body: string, maxBytes = MAX_REPLY_BODY_BYTES): string {
  const clean = body.includes('\0') ? body.replace(/\0/g, '') : body;
  if (Buffer.byteLength(clean, 'utf8') <= maxBytes) return clean;
  let bytes = 0;
  let end = 0;
  for (const ch of clean) {
    const size = Buffer.byteLength(ch, 'utf8');
    if (bytes + size > maxBytes) break;
    bytes += size;
    end += ch.length;
  }
  return clean.slice(0, end);
}

/** Printable ASCII without spaces (Envoy would turn spaces into '_' anyway), bounded. */
export function sanitizeDetails(details: string | null): string | null {
  if (details === null) return null;
  const clean = details.replace(/[^\x21-\x7e]/g, '_').slice(0, MAX_REPLY_DETAILS_LENGTH);
  return clean.length > 0 ? clean : null;
}

/** The immediate reply of a decision, null when it has none (or an unsendable status). */
export function planImmediateResponse(decision: Decision): ImmediateResponsePlan | null {
  const respond = decision.respond;
  if (respond === null) return null;
  const { status } = respond.reply;
  if (!Number.isInteger(status) || status < 200 || status > 599) return null;
  const headers: (readonly [string, string])[] = [];
  for (const [name, value] of respond.reply.headers) {
    if (headers.length >= MAX_HEADER_MUTATIONS) break;
    if (sendableName(name, false)) headers.push([name, sanitizeHeaderValue(value)]);
  }
  return {
    flag: respond.flag,
    status,
    headers,
    body: boundedBody(respond.reply.body),
    details: sanitizeDetails(respond.reply.details),
  };
}

/** The response-header mutation of a decision, null when no flag changes response headers. */
export function planResponseHeaders(decision: Decision): ResponseHeadersPlan | null {
  if (decision.respond !== null) return null;
  if (decision.responseSetHeaders.size === 0 && decision.responseRemoveHeaders.length === 0) return null;
  const set: (readonly [string, string])[] = [];
  const remove: string[] = [];
  for (const [name, value] of decision.responseSetHeaders) {
    if (set.length >= MAX_HEADER_MUTATIONS) break;
    if (sendableName(name, false)) set.push([name, sanitizeHeaderValue(value)]);
  }
  for (const name of decision.responseRemoveHeaders) {
    if (set.length + remove.length >= MAX_HEADER_MUTATIONS) break;
    if (sendableName(name, false)) remove.push(name);
  }
  return set.length + remove.length > 0 ? { set, remove } : null;
}

/** Everything Envoy gets for this decision (see RequestPlan). */
export function planRequest(decision: Decision, facts: RequestFacts, options: RoutingOptions): RequestPlan {
  const reply = planImmediateResponse(decision);
  if (reply !== null) return { kind: 'respond', reply };
  return {
    kind: 'continue',
    request: planMutation(decision, facts, options),
    response: planResponseHeaders(decision),
  };
}
