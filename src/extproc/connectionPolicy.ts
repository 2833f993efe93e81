// What the gRPC edge does with each HTTP/2 connection, on its own clock: recycle it after a
// number of streams (the rapid-reset defence, below), close it when it carries no stream for a
// while, close it at a maximum age, ping it to find dead peers, and drop a TCP client that
// never completes the HTTP/2 handshake.
//
// Closing is graceful, in the order gRPC servers use (grpc-go): GOAWAY(NO_ERROR) with
// last-stream-id 2^31-1 and a PING; once the client answers the PING it has read the GOAWAY,
// so every stream it opened before reading it has arrived; then the final GOAWAY with the real
// last-stream-id and a normal close once the open streams finish. After the grace the socket
// is destroyed whatever the client does.
//
// Node's HTTP/2 server accepts no new stream after its first GOAWAY, whatever last-stream-id
// it carries (nghttp2 ignores streams after any GOAWAY but its "shutdown notice", which Node
// does not expose). A stream the client sent before it read the first GOAWAY is therefore not
// served here: it waits until the final GOAWAY tells the client it was not processed (safe to
// retry elsewhere, RFC 9113 §6.8). The PING makes that wait one round trip after the client
// read the first GOAWAY, not a fixed delay (it was 1 s, past Envoy's 200 ms message_timeout).
// One GOAWAY with the real last-stream-id at once would be worse: nghttp2 fills it in when it
// is queued, so the streams it accepts from the rest of the same read (a busy client's next
// requests) are above it and refused (0.7 % of a 16-lane flood's requests, measured).
//
// Why the socket itself is destroyed: after a graceful close Node only half-closes it and
// waits for the client to close its side; a client that has stopped reading never does, and
// the descriptor (and a pending shutdown) would wait forever. `session.destroy()` cannot help
// once the session has closed gracefully, and the session's `socket` refuses destroy().
//
// Why connections are recycled (ENVOY-EXTPROC §0): Envoy ends every ext_proc stream with
// END_STREAM and an immediate RST_STREAM. Node's nghttp2 counts RST_STREAM frames received
// per connection (a burst of ~1,000, refilling ~33/s) and answers an exhausted budget with
// GOAWAY(INTERNAL_ERROR), failing every stream in flight. Node 20 offers no knob for it, so
// proflag closes each connection gracefully after `streamsPerConnection` streams, well under
// the budget. Envoy and gRPC clients open a new connection. Every stream counts, not only
// those seen reset: a reset that arrives after proflag has closed the stream is invisible to
// Node but still spent by nghttp2, and under load many arrive that way (counting only the
// visible ones let the Envoy-like bench fail ~1 % of its streams).
import { constants as h2, type ServerHttp2Session } from 'node:http2';
import type { Socket } from 'node:net';
import type { GrpcLimits } from './limits.js';

const MAX_STREAM_ID = 2 ** 31 - 1;

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
  private forceTimer: NodeJS.Timeout | null = null;
  private pingOutstanding = false;

  constructor(
    private readonly session: ServerHttp2Session,
    /** The connection's own socket (the session's `socket` is a proxy that cannot be destroyed). */
    private readonly socket: Socket | null,
    private readonly limits: ConnectionLimits,
    private readonly onClose: (reason: CloseReason) => void,
  ) {
    session.on('error', () => {}); // reported by 'close'; must not become an uncaught error
    session.once('close', () => this.clearTimers());
    // The grace timer outlives the session on purpose: after a graceful close the session is
    // gone while its socket may still be half-open. Only the socket's end makes it moot.
    socket?.once('close', () => this.forceTimer !== null && clearTimeout(this.forceTimer));
    if (limits.handshakeTimeoutMs > 0) {
      this.handshakeTimer = setTimeout(() => {
        this.onClose('handshake_timeout');
        this.destroy();
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

  /**
   * GOAWAY(NO_ERROR, 2^31-1) and a PING; on its answer (or after `graceMs`) the final GOAWAY
   * and a normal close once the open streams finish; the socket destroyed `graceMs` later if
   * it is still there.
   */
  closeGracefully(reason: CloseReason, graceMs = this.limits.closeGraceMs): void {
    if (this.closing) return;
    this.closing = true;
    const session = this.session;
    if (session.destroyed && (this.socket === null || this.socket.destroyed)) return;
    this.onClose(reason);
    const armForce = () => {
      if (this.forceTimer !== null) clearTimeout(this.forceTimer);
      this.forceTimer = setTimeout(() => this.destroy(), graceMs);
      this.forceTimer.unref();
    };
    // Already closed when the client sent GOAWAY first (Node then closes by itself); the
    // grace still applies to its socket.
    if (session.closed || session.destroyed) {
      armForce();
      return;
    }
    let finalSent = false;
    const sendFinal = () => {
      if (finalSent) return;
      finalSent = true;
      if (!session.closed && !session.destroyed) {
        try {
          session.close(); // GOAWAY with the last stream id nghttp2 accepted
        } catch {
          this.destroy();
          return;
        }
      }
      armForce();
    };
    try {
      session.goaway(h2.NGHTTP2_NO_ERROR, MAX_STREAM_ID);
      if (!session.ping(sendFinal)) sendFinal(); // too many pings outstanding: no round trip to wait for
    } catch {
      sendFinal();
      return;
    }
    // A client that never answers the PING gets the final GOAWAY after the grace.
    this.forceTimer = setTimeout(sendFinal, graceMs);
    this.forceTimer.unref();
  }

  /** End the connection now: the session and its socket, whatever state either is in. */
  destroy(): void {
    if (!this.session.destroyed) this.session.destroy();
    this.socket?.destroy();
  }

  private armIdle(): void {
    if (this.limits.idleTimeoutMs <= 0 || this.closing) return;
    this.idleTimer = setTimeout(() => {
      this.idleTimer = null;
      if (this.open === 0) this.closeGracefully('idle');
    }, this.limits.idleTimeoutMs);
    this.idleTimer.unref();
  }

  /**
   * One keepalive PING at a time; unanswered after `keepaliveTimeoutMs`, the connection is
   * destroyed. (Node cancels a PING, with an error, when 10 are unanswered: pinging on every
   * interval turned that into a second, uncounted keepalive of 10 intervals.)
   */
  private ping(): void {
    const session = this.session;
    if (session.closed || session.destroyed || this.closing || this.pingOutstanding) return;
    const timeout = setTimeout(() => {
      if (this.session.destroyed) return; // gone meanwhile, for another reason
      this.onClose('keepalive_timeout');
      this.destroy();
    }, this.limits.keepaliveTimeoutMs);
    timeout.unref();
    const answered = () => {
      clearTimeout(timeout);
      this.pingOutstanding = false;
    };
    try {
      this.pingOutstanding = true;
      if (!session.ping(answered)) answered(); // not sent; the next interval tries again
    } catch {
      answered();
    }
  }

  private clearTimers(): void {
    for (const t of [this.handshakeTimer, this.idleTimer, this.ageTimer]) if (t !== null) clearTimeout(t);
    if (this.pingTimer !== null) clearInterval(this.pingTimer);
    if (this.socket === null && this.forceTimer !== null) clearTimeout(this.forceTimer);
  }
}
