// One gRPC call on one HTTP/2 stream (gRPC over HTTP/2, server side): response headers on the
// first message, length-prefixed messages both ways (framing.ts), the status in trailers (or
// a trailers-only response when nothing was sent), `grpc-timeout` deadlines, and the
// transport's endings turned into the three things a handler hears: a message, the client's
// half-close, an abort. Handlers (the ext_proc stream, the health service) never touch HTTP/2.
import { constants as h2, type ServerHttp2Stream } from 'node:http2';
import type { Logger } from '../telemetry/logger.js';
import { frameMessage, MessageReader, type AssemblyBudget, type FrameProblem, type FrameSink } from './framing.js';
import type { AbortReason, CallListener, ExtProcCall } from './stream.js';

export const GRPC_STATUS = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  RESOURCE_EXHAUSTED: 8,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
} as const;

/** Response headers of a call; gRPC needs no `date`, so none is sent (one header less per call). */
export const GRPC_RESPONSE_HEADERS = Object.freeze({
  [h2.HTTP2_HEADER_STATUS]: 200,
  [h2.HTTP2_HEADER_CONTENT_TYPE]: 'application/grpc',
});
/** Refusals also say that identity is the only message encoding accepted. */
const GRPC_REFUSAL_HEADERS = Object.freeze({ ...GRPC_RESPONSE_HEADERS, 'grpc-accept-encoding': 'identity' });
const RESPOND_WITH_TRAILERS = Object.freeze({ waitForTrailers: true, sendDate: false });
const RESPOND_AND_END = Object.freeze({ endStream: true, sendDate: false });

const OK_TRAILERS = Object.freeze({ 'grpc-status': '0' });

/** Percent-encoding of grpc-message (gRPC spec: printable ASCII except %, as is). */
export function encodeGrpcMessage(message: string): string {
  return encodeURIComponent(message).replace(/%20/g, ' ');
}

/** `grpc-timeout` (1-8 digits and a unit H M S m u n) in milliseconds; null when absent or invalid. */
export function parseGrpcTimeout(value: string | string[] | undefined): number | null {
  if (typeof value !== 'string') return null;
  const m = /^(\d{1,8})([HMSmun])$/.exec(value);
  if (!m) return null;
  const n = Number(m[1]);
  switch (m[2]) {
    case 'H':
      return n * 3_600_000;
    case 'M':
      return n * 60_000;
    case 'S':
      return n * 1_000;
    case 'm':
      return n;
    case 'u':
      return n / 1_000;
    default:
      return n / 1_000_000;
  }
}

/** Send a whole call's answer in one HEADERS frame: the status with no message. */
export function respondTrailersOnly(stream: ServerHttp2Stream, code: number, message: string | null): void {
  if (stream.destroyed || stream.closed || stream.headersSent) return;
  const headers: Record<string, string | number> = {
    ...(code === 0 ? GRPC_RESPONSE_HEADERS : GRPC_REFUSAL_HEADERS),
    'grpc-status': String(code),
  };
  if (message !== null) headers['grpc-message'] = encodeGrpcMessage(message);
  try {
    stream.respond(headers, RESPOND_AND_END);
  } catch {
    // The stream went away meanwhile; nothing to answer.
  }
}

const CALL = Symbol('proflag.grpcCall');
type CallStream = ServerHttp2Stream & { [CALL]: GrpcServerCall };

function onStreamData(this: CallStream, chunk: Buffer): void {
  this[CALL].data(chunk);
}
function onStreamEnd(this: CallStream): void {
  this[CALL].onClientEnd();
}
function onStreamWantTrailers(this: CallStream): void {
  this[CALL].wantTrailers();
}
function onStreamError(this: CallStream, err: Error): void {
  this[CALL].error(err);
}
function onStreamClose(this: CallStream): void {
  this[CALL].closed();
}

/** RST_STREAM(NO_ERROR) on the next turn, once what was submitted before has gone out. */
function resetSoon(stream: ServerHttp2Stream): void {
  setImmediate(() => {
    if (!stream.destroyed && !stream.closed) stream.close(h2.NGHTTP2_NO_ERROR);
  });
}

/** Replies are mostly the same few cached buffers: keep their framed copies. */
const framedReplies = new WeakMap<Buffer, Buffer>();
function framed(message: Buffer): Buffer {
  let f = framedReplies.get(message);
  if (f === undefined) framedReplies.set(message, (f = frameMessage(message)));
  return f;
}

export interface CallHooks {
  readonly maxMessageBytes: number;
  /** Shared by every call of the server: bodies being assembled across DATA frames. */
  readonly assemblyBudget?: AssemblyBudget;
  /** A coarse clock the server's sweeper advances; calls note the tick of their last message. */
  readonly clock: { tick: number };
  readonly logger: Logger;
  /** A call refused by the edge itself (oversize, compressed, deadline, idle), for metrics. */
  onRefused(reason: 'too_large' | 'compressed' | 'over_budget' | 'deadline' | 'stream_idle' | 'truncated'): void;
  /** The call's HTTP/2 stream closed (whatever the reason). */
  onStreamClosed(call: GrpcServerCall): void;
}

/**
 * The server side of one call. `listener` is attached by `start()`; until then nothing is read.
 * `lastActivity` (a tick of the server's coarse clock, no clock read per message) lets its sweeper end
 * streams that idle too long.
 */
export class GrpcServerCall implements ExtProcCall, FrameSink {
  private listener: CallListener | null = null;
  private readonly reader: MessageReader;
  private headersSent = false;
  /** Our status is sent (or the stream is gone): nothing more is written or delivered. */
  private done = false;
  private halfClosed = false;
  private headersSentBeforeFinish = false;
  /** Our status went out before the client half-closed: reset the stream after the trailers. */
  private resetAfterTrailers = false;
  private trailers: Record<string, string> = OK_TRAILERS;
  private deadline: NodeJS.Timeout | null = null;
  lastActivity = 0;

  constructor(
    readonly stream: ServerHttp2Stream,
    private readonly hooks: CallHooks,
    /** The connection's stream count (its policy). */
    private readonly connection: { streamClosed(resetByPeer: boolean): void },
  ) {
    this.reader = new MessageReader(hooks.maxMessageBytes, this, hooks.assemblyBudget);
    this.lastActivity = hooks.clock.tick;
  }

  start(listener: CallListener, timeoutMs: number | null): void {
    this.listener = listener;
    const stream = this.stream as CallStream;
    stream[CALL] = this;
    // Shared listener functions (`this` is the stream): no closures per call.
    stream.on('data', onStreamData);
    stream.on('end', onStreamEnd);
    stream.on('wantTrailers', onStreamWantTrailers);
    stream.on('error', onStreamError);
    stream.on('close', onStreamClose);
    if (timeoutMs !== null) {
      this.deadline = setTimeout(() => this.expire('deadline'), Math.max(0, timeoutMs));
      this.deadline.unref();
    }
  }

  /** @internal the stream closed (whatever the reason). */
  closed(): void {
    if (this.deadline !== null) clearTimeout(this.deadline);
    this.reader.dispose();
    const code = this.stream.rstCode;
    // We only ever reset with NO_ERROR (or REFUSED_STREAM before a call starts), so another
    // code means the client's RST_STREAM (Envoy's CANCEL after END_STREAM).
    this.connection.streamClosed(code !== undefined && code !== h2.NGHTTP2_NO_ERROR);
    this.hooks.onStreamClosed(this);
    if (!this.done) {
      this.done = true;
      // A reset by the client (Envoy's RST_STREAM after END_STREAM, or a cancel) is normal.
      const reason: AbortReason =
        code === undefined || code === h2.NGHTTP2_NO_ERROR || code === h2.NGHTTP2_CANCEL ? 'cancelled' : 'error';
      this.deliverAbort(reason);
    }
  }

  /** @internal */
  data(chunk: Buffer): void {
    if (!this.done) this.reader.push(chunk);
  }

  /** @internal */
  wantTrailers(): void {
    try {
      this.stream.sendTrailers(this.trailers);
    } catch {
      return; // reset meanwhile
    }
    if (this.resetAfterTrailers) resetSoon(this.stream);
  }

  /** @internal */
  error(err: Error): void {
    this.hooks.logger.debug({ err: err.message }, 'gRPC stream error');
  }

  /** Deadline or stream-idle timeout: tell the handler, then end the call. */
  expire(why: 'deadline' | 'stream_idle'): void {
    if (this.done) return;
    this.hooks.onRefused(why);
    this.deliverAbort('timeout');
    // A deadline is an error for the client; an idle stream ends with OK, which Envoy reads
    // as "continue without me".
    if (why === 'deadline') this.finishWith(GRPC_STATUS.DEADLINE_EXCEEDED, 'deadline exceeded');
    else this.finishWith(GRPC_STATUS.OK, null);
  }

  // ---- ExtProcCall --------------------------------------------------------------------------

  sendMessage(message: Buffer): boolean {
    if (this.done) return false;
    const stream = this.stream;
    if (stream.destroyed || stream.closed) return false;
    try {
      if (!this.headersSent) {
        this.headersSent = true;
        stream.respond(GRPC_RESPONSE_HEADERS, RESPOND_WITH_TRAILERS);
      }
      stream.write(framed(message));
    } catch {
      return false;
    }
    this.lastActivity = this.hooks.clock.tick;
    return true;
  }

  finish(): void {
    this.finishWith(GRPC_STATUS.OK, null);
  }

  /** End the call with a status; trailers after messages, else a trailers-only response. */
  finishWith(code: number, message: string | null): void {
    if (this.done) return;
    this.done = true;
    if (this.deadline !== null) clearTimeout(this.deadline);
    const stream = this.stream;
    if (stream.destroyed || stream.closed) return;
    this.headersSentBeforeFinish = this.headersSent;
    if (!this.headersSent) {
      this.headersSent = true;
      respondTrailersOnly(stream, code, message);
    } else {
      if (code !== GRPC_STATUS.OK || message !== null) {
        this.trailers = { 'grpc-status': String(code) };
        if (message !== null) this.trailers['grpc-message'] = encodeGrpcMessage(message);
      }
      try {
        stream.end();
      } catch {
        return;
      }
    }
    // The client may still be sending: ask it to stop (RFC 9113 §8.1), once our status is
    // out (for a trailers-only answer now, else right after the trailers).
    if (!this.halfClosed) {
      if (this.headersSentBeforeFinish) this.resetAfterTrailers = true;
      else resetSoon(stream);
    }
  }

  // ---- FrameSink ----------------------------------------------------------------------------

  onMessage(message: Buffer): void {
    if (this.done) return;
    this.lastActivity = this.hooks.clock.tick;
    try {
      this.listener!.onMessage(message);
    } catch (err) {
      // A handler bug must not take the connection down: end this call cleanly.
      this.hooks.logger.error({ code: 'PROFLAG_ERR_PROTOCOL', err: (err as Error).message }, 'handler failed');
      this.deliverAbort('error');
      this.finishWith(GRPC_STATUS.OK, null);
    }
  }

  onFrameProblem(problem: FrameProblem, detail: string): void {
    if (this.done) return;
    this.hooks.onRefused(
      problem === 'too-large' ? 'too_large' : problem === 'over-budget' ? 'over_budget' : 'compressed',
    );
    this.deliverAbort('error');
    this.finishWith(problem === 'compressed' ? GRPC_STATUS.INTERNAL : GRPC_STATUS.RESOURCE_EXHAUSTED, detail);
  }

  // ---- internals ----------------------------------------------------------------------------

  /** @internal the client half-closed. */
  onClientEnd(): void {
    this.halfClosed = true;
    if (this.done) return;
    if (this.reader.incomplete) {
      this.hooks.onRefused('truncated');
      this.deliverAbort('error');
      this.finishWith(GRPC_STATUS.INTERNAL, 'the request ended in the middle of a message');
      return;
    }
    try {
      this.listener!.onHalfClose();
    } catch (err) {
      this.hooks.logger.error({ code: 'PROFLAG_ERR_PROTOCOL', err: (err as Error).message }, 'handler failed');
      this.finishWith(GRPC_STATUS.OK, null);
    }
  }

  private deliverAbort(reason: AbortReason): void {
    const listener = this.listener;
    if (listener === null) return;
    try {
      listener.onAbort(reason);
    } catch (err) {
      this.hooks.logger.error({ err: (err as Error).message }, 'handler failed on abort');
    }
  }
}
