// What the gRPC edge does with each HTTP/2 connection, on its own clock: recycle it after a
// number of streams (the rapid-reset defence, below), close it when it carries no stream for a
// while, close it at a maximum age, ping it to find dead peers, and drop a TCP client that
// never completes the HTTP/2 handshake. Closing is always graceful first: GOAWAY that still
// accepts streams in flight (last-stream-id 2^31-1, as grpc-js does for max_connection_age),
// then a normal close one round trip later, then a hard destroy after a grace period.
//
// Why connections are recycled (ENVOY-EXTPROC §0): Envoy ends every ext_proc stream with
// END_STREAM and an immediate RST_STREAM. Node's nghttp2 counts RST_STREAM frames received
// per connection (a burst of ~1,000, refilling ~33/s) and answers an exhausted budget with
// GOAWAY(INTERNAL_ERROR), failing every stream in flight. Node 20 offers no knob for it, so
// proflag closes each connection gracefully after `streamsPerConnection` streams, well under
// the budget. Envoy and gRPC clients open a new connection and nothing fails. Every stream
// counts, not only those seen reset: a reset that arrives after proflag has closed the stream
// is invisible to Node but still spent by nghttp2, and under load many arrive that way
// (counting only the visible ones let the Envoy-like bench fail ~1 % of its streams).
import { constants as h2, type ServerHttp2Session } from 'node:http2';
import type { GrpcLimits } from './limits.js';

export const MAX_STREAM_ID = 2 ** 31 - 1;
const SECOND_GOAWAY_DELAY_MS = 1_000;

export type ConnectionLimits = Pick<
  GrpcLimits,
  | 'streamsPerConnection'
  | 'idleTimeoutMs'
  | 'handshakeTimeoutMs'
  | 'maxConnectionAgeMs'
  | 'closeGraceMs'
  | 'keepaliveMs'
  | 'keepaliveTimeoutMs'
>;

export type CloseReason = 'recycled' | 'idle' | 'max_age' | 'handshake_timeout' | 'keepalive_timeout' | 'shutdown';

export class ConnectionPolicy {
  private streams = 0;
  /** Streams the client reset; kept for debugging (see below why they cannot be the trigger). */
  resets = 0;
  private open = 0;
  private closing = false;
  private handshakeTimer: NodeJS.Timeout | null = null;
  private idleTimer: NodeJS.Timeout | null = null;
  private ageTimer: NodeJS.Timeout | null = null;
  private pingTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly session: ServerHttp2Session,
    private readonly limits: ConnectionLimits,
    private readonly onClose: (reason: CloseReason) => void,
  ) {
    session.on('error', () => {}); // reported by 'close'; must not become an uncaught error
    session.once('close', () => this.clearTimers());
    if (limits.handshakeTimeoutMs > 0) {
      this.handshakeTimer = setTimeout(() => {
        this.onClose('handshake_timeout');
        session.destroy();
      }, limits.handshakeTimeoutMs);
      this.handshakeTimer.unref();
      session.once('remoteSettings', () => {
        if (this.handshakeTimer !== null) clearTimeout(this.handshakeTimer);
        this.handshakeTimer = null;
      });
    }
    if (limits.maxConnectionAgeMs > 0) {
      const jitter = 1 + (Math.random() * 0.2 - 0.1);
      this.ageTimer = setTimeout(() => this.closeGracefully('max_age'), limits.maxConnectionAgeMs * jitter);
      this.ageTimer.unref();
    }
    if (limits.keepaliveMs > 0) {
      this.pingTimer = setInterval(() => this.ping(), limits.keepaliveMs);
      this.pingTimer.unref();
    }
    this.armIdle();
  }

  /** A new stream on this connection; past `streamsPerConnection` the connection is recycled. */
  streamOpened(): void {
    this.streams++;
    if (this.open++ === 0 && this.idleTimer !== null) {
      clearTimeout(this.idleTimer);
      this.idleTimer = null;
    }
    const limit = this.limits.streamsPerConnection;
    if (limit > 0 && this.streams >= limit && !this.closing) this.closeGracefully('recycled');
  }

  /** A stream closed (`resetByPeer` when the client sent RST_STREAM for it, for the record). */
  streamClosed(resetByPeer: boolean): void {
    if (resetByPeer) this.resets++;
    if (--this.open === 0) this.armIdle();
  }

  /** GOAWAY(NO_ERROR) accepting streams in flight, a normal close, then destroy after grace. */
  closeGracefully(reason: CloseReason): void {
    if (this.closing) return;
    this.closing = true;
    const session = this.session;
    if (session.closed || session.destroyed) return;
    this.onClose(reason);
    try {
      // Phase 1: "no new streams please", still accepting those already sent.
      session.goaway(h2.NGHTTP2_NO_ERROR, MAX_STREAM_ID);
    } catch {
      return; // already closing
    }
    // Phase 2, a second later: a normal close that waits for open streams. Not sooner: a client
    // whose event loop is busy may not have read the first GOAWAY yet, and streams it opens
    // after the final GOAWAY are dropped by nghttp2 and only retried once it reads that one
    // (with 100 ms, one request in ~1,000 missed Envoy's 200 ms timeout on a loaded machine).
    const timer = setTimeout(() => {
      if (!session.closed && !session.destroyed) session.close();
      const force = setTimeout(() => session.destroyed || session.destroy(), this.limits.closeGraceMs);
      force.unref();
    }, SECOND_GOAWAY_DELAY_MS);
    timer.unref();
  }

  private armIdle(): void {
    if (this.limits.idleTimeoutMs <= 0 || this.closing) return;
    this.idleTimer = setTimeout(() => {
      this.idleTimer = null;
      if (this.open === 0) this.closeGracefully('idle');
    }, this.limits.idleTimeoutMs);
    this.idleTimer.unref();
  }

  private ping(): void {
    const session = this.session;
    if (session.closed || session.destroyed || this.closing) return;
    const timeout = setTimeout(() => {
      this.onClose('keepalive_timeout');
      session.destroy();
    }, this.limits.keepaliveTimeoutMs);
    timeout.unref();
    try {
      const sent = session.ping((err) => {
        clearTimeout(timeout);
        if (err && !session.destroyed && !session.closed && !this.closing) session.destroy();
      });
      if (!sent) clearTimeout(timeout); // too many pings outstanding: try next interval
    } catch {
      clearTimeout(timeout);
    }
  }

  private clearTimers(): void {
    for (const t of [this.handshakeTimer, this.idleTimer, this.ageTimer]) if (t !== null) clearTimeout(t);
    if (this.pingTimer !== null) clearInterval(this.pingTimer);
  }
}
