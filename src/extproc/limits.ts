// The gRPC edge's limits and their defaults, in one place: config.ts reads them from the
// PROFLAG_GRPC_* variables with these defaults (README, docs/extproc.md), tests and benches
// start the server with them. No imports, so that config.ts can use it.

export interface GrpcLimits {
  /** SETTINGS_MAX_CONCURRENT_STREAMS advertised per connection. */
  readonly maxConcurrentStreams: number;
  /** Largest gRPC message accepted; a bigger length prefix is refused before buffering. */
  readonly maxMessageBytes: number;
  /**
   * Bytes of messages being assembled across DATA frames, every call together; a message that
   * would go over it is refused with RESOURCE_EXHAUSTED (Envoy then applies failure_mode_allow).
   */
  readonly maxAssemblyBytes: number;
  /** Streams per connection before a graceful close (the rapid-reset defence); 0 = never. */
  readonly streamsPerConnection: number;
  /** Close a connection that has had no open stream this long; 0 = never. */
  readonly idleTimeoutMs: number;
  /** Drop a connection whose client has not sent the HTTP/2 preface and SETTINGS by then. */
  readonly handshakeTimeoutMs: number;
  /** Close a connection gracefully at this age (±10 % jitter); 0 = never. */
  readonly maxConnectionAgeMs: number;
  /** How long a closing connection may keep its streams in flight before it is destroyed. */
  readonly closeGraceMs: number;
  /** Ping the client this often; 0 = never. */
  readonly keepaliveMs: number;
  /** Destroy the connection when a ping is not acknowledged within this. */
  readonly keepaliveTimeoutMs: number;
  /** End a stream with OK when it has neither sent nor received a message for this long; 0 = never. */
  readonly streamIdleTimeoutMs: number;
}

export const DEFAULT_GRPC_LIMITS: GrpcLimits = Object.freeze({
  maxConcurrentStreams: 1_000,
  maxMessageBytes: 4 * 1024 * 1024,
  maxAssemblyBytes: 64 * 1024 * 1024,
  streamsPerConnection: 500,
  idleTimeoutMs: 300_000,
  handshakeTimeoutMs: 10_000,
  maxConnectionAgeMs: 0,
  closeGraceMs: 5_000,
  keepaliveMs: 60_000,
  keepaliveTimeoutMs: 20_000,
  streamIdleTimeoutMs: 60_000,
});
