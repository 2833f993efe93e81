// One ext_proc stream = one HTTP request, driven by Envoy. An explicit little state machine:
// every message gets exactly one reply of its own phase; 'end' and 'cancelled' are the
// normal endings; a message we cannot answer in kind ends the stream with OK, which Envoy
// reads as "continue without me" whatever its failure mode (ENVOY-EXTPROC §1).
//
// The response phase: a request-headers outcome may carry a ResponsePhase (responsePhase.ts).
// The stream keeps it until Envoy's response_headers message, answers that with the phase's
// reply, and calls `observe` exactly once: with the :status then, or with null when the
// stream ends first.
//
// Transport-free: the stream sees an ExtProcCall (send bytes, finish OK) and is told about
// messages, half-close and aborts through the CallListener it returns (grpcCall.ts).
import { performance } from 'node:perf_hooks';
import type { Logger } from '../telemetry/logger.js';
import { batchedChild } from '../telemetry/batchedCounter.js';
import type { Metrics } from '../telemetry/metrics.js';
import type { RequestHeadersView } from './headerMap.js';
import { encodeProcessingResponse, UNCHANGED_REPLY } from './replyEncoder.js';
import { decodeProcessingRequest, REQUEST_KINDS, type RequestKind } from './requestDecoder.js';
import type { HeadersOutcome, RequestProcessor } from './requestProcessor.js';
import { statusOf, type ResponsePhase } from './responsePhase.js';

export { REQUEST_KINDS, type RequestKind };

/** What the stream may do to its gRPC call. */
export interface ExtProcCall {
  /** Send one message (an encoded ProcessingResponse); false when the call is already gone. */
  sendMessage(message: Buffer): boolean;
  /** Finish the call with status OK. */
  finish(): void;
}

/** Why a call ended without the stream finishing it. */
export type AbortReason = 'cancelled' | 'error' | 'timeout';

/** What the transport tells the stream about its call. */
export interface CallListener {
  onMessage(message: Buffer): void;
  /** The client half-closed (Envoy's END_STREAM). */
  onHalfClose(): void;
  /** Reset by the peer (cancelled), broken (error), or ended by a deadline or idle timeout. */
  onAbort(reason: AbortReason): void;
}

export type StreamHandler = (call: ExtProcCall) => CallListener;

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

type State = 'open' | 'finished' | 'closed';

/** Counters and settings shared by every stream of one handler. */
class StreamContext {
  readonly messageCounters: Map<RequestKind, { inc(): void }>;
  readonly unknownMessages: { inc(): void };
  readonly protocolFallbacks: { inc(): void };
  readonly outcomes: Record<'end' | AbortReason, { inc(): void }>;
  readonly phases: Record<'requested' | 'answered' | 'unrequested' | 'ended_first' | 'observe_error', { inc(): void }>;

  constructor(
    readonly options: StreamOptions,
    readonly logger: Logger,
  ) {
    const m = options.metrics;
    this.messageCounters = new Map(REQUEST_KINDS.map((k) => [k, batchedChild(m.messages, k)]));
    this.unknownMessages = batchedChild(m.messages, 'unknown');
    this.protocolFallbacks = m.fallbacks.labels('PROFLAG_ERR_PROTOCOL');
    this.outcomes = {
      end: batchedChild(m.streams, 'end'),
      cancelled: batchedChild(m.streams, 'cancelled'),
      error: batchedChild(m.streams, 'error'),
      timeout: batchedChild(m.streams, 'timeout'),
    };
    this.phases = {
      requested: batchedChild(m.responsePhase, 'requested'),
      answered: batchedChild(m.responsePhase, 'answered'),
      unrequested: batchedChild(m.responsePhase, 'unrequested'),
      ended_first: batchedChild(m.responsePhase, 'ended_first'),
      observe_error: batchedChild(m.responsePhase, 'observe_error'),
    };
  }
}

/** A decision made in the body phase is sent as a request_body reply. */
function bodyPhaseReply(outcome: HeadersOutcome): Buffer {
  if (outcome.immediate) return outcome.reply;
  const reply: Parameters<typeof encodeProcessingResponse>[0] = { request_body: { response: outcome.response } };
  if (outcome.dynamicMetadata) reply.dynamic_metadata = outcome.dynamicMetadata;
  return encodeProcessingResponse(reply);
}

class ExtProcStream implements CallListener {
  private state: State = 'open';
  private counted = false;
  /** The request headers held back while the body is counted (PROFLAG_BODY_SIZE). */
  private heldHeaders: RequestHeadersView | null = null;
  private bodyBytes = 0;
  private phase: ResponsePhase | null = null;
  private phaseSince = 0;

  constructor(
    private readonly call: ExtProcCall,
    private readonly ctx: StreamContext,
  ) {}

  onMessage(bytes: Buffer): void {
    if (this.state !== 'open') return;
    const ctx = this.ctx;
    const req = decodeProcessingRequest(bytes);
    const kind = req.kind;
    if (kind === null) {
      ctx.unknownMessages.inc();
      ctx.protocolFallbacks.inc();
      ctx.logger.warn(
        { code: 'PROFLAG_ERR_PROTOCOL', malformed: req.malformed },
        'ProcessingRequest of unknown kind or undecodable; ending the stream so Envoy continues',
      );
      this.finish();
      return;
    }
    ctx.messageCounters.get(kind)!.inc();
    // Observability mode: Envoy ignores every reply, so none is sent.
    if (req.observabilityMode) return;

    let reply: Buffer;
    switch (kind) {
      case 'request_headers': {
        const headers = req.headers!;
        if (ctx.options.countBodies && !headers.endOfStream && !headers.has('content-length')) {
          this.heldHeaders = headers;
          this.bodyBytes = 0;
          reply = UNCHANGED_REPLY.request_headers;
        } else {
          const outcome = ctx.options.processRequestHeaders(headers);
          if (outcome.responsePhase !== null) this.keepPhase(outcome.responsePhase);
          reply = outcome.reply;
        }
        break;
      }
      case 'request_body': {
        if (this.heldHeaders === null) {
          reply = UNCHANGED_REPLY.request_body;
          break;
        }
        this.bodyBytes = Math.min(MAX_COUNTED_BODY_BYTES, this.bodyBytes + req.bodyLength);
        if (!req.bodyEndOfStream) {
          reply = UNCHANGED_REPLY.request_body;
          break;
        }
        const outcome = ctx.options.processRequestHeaders(this.heldHeaders, this.bodyBytes);
        this.heldHeaders = null;
        // mode_override is honoured only in header replies; a phase decided here is still kept
        // and answers response headers when Envoy's configuration sends them anyway.
        if (outcome.responsePhase !== null) this.keepPhase(outcome.responsePhase);
        reply = bodyPhaseReply(outcome);
        break;
      }
      case 'response_headers':
        if (this.phase !== null) {
          reply = this.phase.reply;
          ctx.phases.answered.inc();
          this.settlePhase(statusOf(req.headers!.get(':status')));
        } else {
          ctx.phases.unrequested.inc();
          reply = UNCHANGED_REPLY.response_headers;
        }
        break;
      case 'request_trailers':
        // A body ended by trailers cannot change request headers any more: no decision.
        this.heldHeaders = null;
        reply = UNCHANGED_REPLY.request_trailers;
        break;
      default:
        reply = UNCHANGED_REPLY[kind];
        break;
    }
    if (!this.call.sendMessage(reply)) this.close();
  }

  onHalfClose(): void {
    this.countOutcome('end');
    this.finish();
  }

  // Envoy's normal close: END_STREAM then RST_STREAM. Stop writing, keep nothing.
  onAbort(reason: AbortReason): void {
    this.countOutcome(reason);
    if (reason === 'error') this.ctx.logger.debug('ext_proc stream error');
    this.close();
  }

  private keepPhase(phase: ResponsePhase): void {
    if (this.phase !== null) this.settlePhase(null); // a second request_headers: out of order
    this.phase = phase;
    this.phaseSince = performance.now();
    this.ctx.phases.requested.inc();
  }

  /** Exactly once per kept phase: with the status, or null when the stream ended first. */
  private settlePhase(status: number | null): void {
    const phase = this.phase;
    if (phase === null) return;
    this.phase = null;
    if (status === null) this.ctx.phases.ended_first.inc();
    if (phase.observe === null) return;
    try {
      phase.observe(status, performance.now() - this.phaseSince);
    } catch (err) {
      this.ctx.phases.observe_error.inc();
      this.ctx.logger.error({ code: 'PROFLAG_ERR_DECISION', err: (err as Error).message }, 'response observer threw');
    }
  }

  private countOutcome(o: 'end' | AbortReason): void {
    if (!this.counted) this.ctx.outcomes[o].inc();
    this.counted = true;
  }

  private finish(): void {
    if (this.state !== 'open') return;
    this.state = 'finished';
    this.heldHeaders = null;
    this.settlePhase(null);
    this.call.finish();
  }

  private close(): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.heldHeaders = null;
    this.settlePhase(null);
  }
}

export function createStreamHandler(options: StreamOptions): StreamHandler {
  const ctx = new StreamContext(options, options.logger);
  return (call) => new ExtProcStream(call, ctx);
}
