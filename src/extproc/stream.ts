// One ext_proc stream = one HTTP request, driven by Envoy. An explicit little state machine:
// every message gets exactly one reply of its own phase; 'end' and 'cancelled' are the
// normal endings; a message we cannot answer in kind ends the stream with OK, which Envoy
// reads as "continue without me" whatever its failure mode (ENVOY-EXTPROC §1).
import type * as grpc from '@grpc/grpc-js';
import type { Logger } from '../telemetry/logger.js';
import type { Metrics } from '../telemetry/metrics.js';
import { preEncoded } from './protocol.js';
import type { HttpHeaders, ProcessingRequest, ProcessingResponse } from './protocol.js';
import type { RequestProcessor } from './requestProcessor.js';

export type ExtProcCall = grpc.ServerDuplexStream<ProcessingRequest, ProcessingResponse>;

export const REQUEST_KINDS = [
  'request_headers',
  'response_headers',
  'request_body',
  'response_body',
  'request_trailers',
  'response_trailers',
] as const;
export type RequestKind = (typeof REQUEST_KINDS)[number];

export interface StreamOptions {
  readonly processRequestHeaders: RequestProcessor;
  readonly metrics: Metrics;
  readonly logger: Logger;
  /**
   * PROFLAG_BODY_SIZE: for a request with a body but no content-length, answer its headers
   * unchanged, count the body (Envoy must send it: request_body_mode BUFFERED or STREAMED) and
   * decide in the reply to the last body message, whose header mutation Envoy still applies.
   */
  readonly countBodies?: boolean;
}

/** Bodies are counted up to here; the size feature only needs to know "at least this big". */
const MAX_COUNTED_BODY_BYTES = 2 ** 40;

function hasContentLength(msg: HttpHeaders | undefined): boolean {
  for (const h of msg?.headers?.headers ?? []) if (h.key === 'content-length') return true;
  return false;
}

type State = 'open' | 'finished' | 'closed';

function kindOf(req: ProcessingRequest): RequestKind | null {
  const k = req.request;
  if (k && (REQUEST_KINDS as readonly string[]).includes(k) && req[k] != null) return k;
  // Without the oneofs discriminator (or with a newer Envoy's unknown kind), look at fields.
  for (const kind of REQUEST_KINDS) if (req[kind] != null) return kind;
  return null;
}

/** The reply of the same phase that leaves everything unchanged. */
function passThrough(kind: Exclude<RequestKind, 'request_headers'>): ProcessingResponse {
  switch (kind) {
    case 'response_headers':
      return { response_headers: {} };
    case 'request_body':
      return { request_body: {} };
    case 'response_body':
      return { response_body: {} };
    case 'request_trailers':
      return { request_trailers: {} };
    case 'response_trailers':
      return { response_trailers: {} };
  }
}

export function createStreamHandler(options: StreamOptions) {
  const { metrics, logger, processRequestHeaders } = options;
  const messageCounters = new Map(REQUEST_KINDS.map((k) => [k, metrics.messages.labels(k)]));
  const unknownCounter = metrics.messages.labels('unknown');
  const protocolFallback = metrics.fallbacks.labels('PROFLAG_ERR_PROTOCOL');
  const outcomes = {
    end: metrics.streams.labels('end'),
    cancelled: metrics.streams.labels('cancelled'),
    error: metrics.streams.labels('error'),
  };

  return function handleStream(call: ExtProcCall): void {
    let state: State = 'open';
    let counted = false;
    // The request headers held back while the body is counted (PROFLAG_BODY_SIZE).
    let heldHeaders: ProcessingRequest | null = null;
    let bodyBytes = 0;
    const countOutcome = (o: keyof typeof outcomes) => {
      if (!counted) outcomes[o].inc();
      counted = true;
    };

    const finish = () => {
      if (state !== 'open') return;
      state = 'finished';
      try {
        call.end();
      } catch {
        // The transport is already gone; 'cancelled' or 'error' follows.
      }
    };

    call.on('data', (req: ProcessingRequest) => {
      if (state !== 'open') return;
      const kind = req && typeof req === 'object' ? kindOf(req) : null;
      if (kind === null) {
        unknownCounter.inc();
        protocolFallback.inc();
        logger.warn(
          { code: 'PROFLAG_ERR_PROTOCOL' },
          'ProcessingRequest of unknown kind; ending the stream so Envoy continues',
        );
        finish();
        return;
      }
      messageCounters.get(kind)!.inc();
      // Observability mode: Envoy ignores every reply, so none is sent.
      if (req.observability_mode === true) return;

      let reply: ProcessingResponse;
      if (kind === 'request_headers') {
        const msg = req.request_headers!;
        if (options.countBodies && msg.end_of_stream === false && !hasContentLength(msg)) {
          heldHeaders = req;
          bodyBytes = 0;
          reply = { request_headers: {} };
        } else {
          reply = preEncoded(processRequestHeaders(req, msg).encoded);
        }
      } else if (kind === 'request_body' && heldHeaders) {
        const body = req.request_body!;
        bodyBytes = Math.min(MAX_COUNTED_BODY_BYTES, bodyBytes + (body.body?.length ?? 0));
        if (body.end_of_stream === true) {
          const outcome = processRequestHeaders(heldHeaders, heldHeaders.request_headers!, bodyBytes);
          heldHeaders = null;
          reply = { request_body: { response: outcome.response } };
          if (outcome.dynamicMetadata) reply.dynamic_metadata = outcome.dynamicMetadata;
        } else {
          reply = { request_body: {} };
        }
      } else {
        // A body ended by trailers cannot change request headers any more: no decision.
        if (kind === 'request_trailers') heldHeaders = null;
        reply = passThrough(kind);
      }
      try {
        call.write(reply);
      } catch (err) {
        logger.debug({ err: (err as Error).message }, 'write after the stream closed');
        state = 'closed';
      }
    });

    call.on('end', () => {
      countOutcome('end');
      finish();
    });
    // Envoy's normal close: END_STREAM then RST_STREAM. Stop writing, keep nothing.
    call.on('cancelled', () => {
      countOutcome('cancelled');
      state = 'closed';
    });
    call.on('error', (err: Error) => {
      countOutcome('error');
      state = 'closed';
      logger.debug({ err: err.message }, 'ext_proc stream error');
    });
  };
}
