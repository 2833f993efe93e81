// The response phase (TEAM.md interface 1): what a request-headers decision may ask of the
// response. When the request processor's outcome carries a ResponsePhase, the request-headers
// reply also carries `mode_override { response_header_mode: SEND }` (Envoy needs
// `allow_mode_override: true`), and the stream keeps the phase until Envoy's response_headers
// message arrives: the phase's pre-encoded reply answers it and `observe` learns the status.
// When the stream ends first, `observe(null, …)`. Exactly once per stream, either way.
import { encodeProcessingResponse, UNCHANGED_REPLY } from './replyEncoder.js';
import type { HeaderMutation } from './protocol.js';

export interface ResponsePhase {
  /** Pre-encoded reply to Envoy's response_headers message (mutation or unchanged). */
  readonly reply: Buffer;
  /**
   * Experiments: called exactly once per stream, with the response's :status (NaN when it is
   * not a number) when response headers arrive, or null when the stream ends before them;
   * elapsedMs = time since proflag received the request headers.
   */
  readonly observe: ((status: number | null, elapsedMs: number) => void) | null;
}

/** A response_headers reply that applies `mutation` (values in raw_value, as Envoy wants). */
export function encodeResponseHeadersReply(mutation: HeaderMutation | null): Buffer {
  if (mutation === null) return UNCHANGED_REPLY.response_headers;
  return encodeProcessingResponse({ response_headers: { response: { header_mutation: mutation } } });
}

/** The :status of a response-headers message as a number (NaN when absent or not a number). */
export function statusOf(value: string | undefined): number {
  if (value === undefined || !/^\d{3}$/.test(value)) return Number.NaN;
  return Number(value);
}
