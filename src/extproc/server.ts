// The gRPC edge: ExternalProcessor/Process plus the standard health service, on one port,
// written directly on node:http2 (docs/benchmarks.md has the measurements that chose it over
// grpc-js and connect-node). This file listens, dispatches each stream by path, checks what
// gRPC requires of a request (POST, content-type application/grpc, identity encoding), ends
// idle streams, and shuts down gracefully. Per-connection rules live in connectionPolicy.ts,
// one call's framing and status in grpcCall.ts.
import http2, { constants as h2, type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import type { Socket } from 'node:net';
import type { Logger } from '../telemetry/logger.js';
import type { Metrics } from '../telemetry/metrics.js';
import { ConnectionPolicy, type CloseReason } from './connectionPolicy.js';
import { AssemblyBudget } from './framing.js';
import { DEFAULT_GRPC_LIMITS, type GrpcLimits } from './limits.js';
import {
  encodeGrpcMessage,
  GRPC_STATUS,
  GrpcServerCall,
  parseGrpcTimeout,
  respondTrailersOnly,
  type CallHooks,
} from './grpcCall.js';
import { HEALTH_CHECK_PATH, HEALTH_WATCH_PATH, HealthService } from './health.js';
import { EXT_PROC_SERVICE_PATH } from './requestDecoder.js';
import type { StreamHandler } from './stream.js';

export { DEFAULT_GRPC_LIMITS, type GrpcLimits };

export const EXT_PROC_SERVICE_NAME = 'envoy.service.ext_proc.v3.ExternalProcessor';

export interface ExtProcServerOptions {
  readonly address: string;
  readonly handleStream: StreamHandler;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** Streams per HTTP/2 connection before a graceful close; 0 disables recycling. */
  readonly streamsPerConnection: number;
  /** How long a recycled connection may keep its streams in flight. */
  readonly recycleGraceMs?: number;
  /** Everything else; defaults from DEFAULT_GRPC_LIMITS. */
  readonly limits?: Partial<GrpcLimits>;
}

export interface ExtProcServer {
  readonly port: number;
  readonly health: HealthService;
  /** Connection recycling is part of the edge itself (always true; kept for callers). */
  readonly recyclingActive: boolean;
  setServing(serving: boolean): void;
  /** Stop accepting, let open streams finish (up to graceMs), then force. */
  shutdown(graceMs: number): Promise<void>;
}

/** 'host:port', '[v6]:port' → listen arguments. */
export function parseListenAddress(address: string): { host: string; port: number } {
  const i = address.lastIndexOf(':');
  if (i < 0) throw new Error(`listen address ${JSON.stringify(address)}: HOST:PORT expected`);
  const host = address.slice(0, i).replace(/^\[(.*)\]$/, '$1');
  const port = Number(address.slice(i + 1));
  if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new Error(`listen address ${address}: bad port`);
  return { host, port };
}

const POLICY = Symbol('proflag.connectionPolicy');
/** `sendDate` is a real option of respond() that @types/node does not declare. */
const REFUSE_OPTIONS = Object.freeze({ endStream: true, sendDate: false });
type PolicySession = http2.ServerHttp2Session & { [POLICY]?: ConnectionPolicy };

export async function startExtProcServer(options: ExtProcServerOptions): Promise<ExtProcServer> {
  const { logger, metrics } = options;
  const limits: GrpcLimits = {
    ...DEFAULT_GRPC_LIMITS,
    ...options.limits,
    streamsPerConnection: options.streamsPerConnection,
    ...(options.recycleGraceMs !== undefined ? { closeGraceMs: options.recycleGraceMs } : {}),
  };
  const health = new HealthService({ '': 'NOT_SERVING', [EXT_PROC_SERVICE_NAME]: 'NOT_SERVING' });
  const refused = {
    too_large: metrics.callsRefused.labels('too_large'),
    compressed: metrics.callsRefused.labels('compressed'),
    over_budget: metrics.callsRefused.labels('over_budget'),
    deadline: metrics.callsRefused.labels('deadline'),
    stream_idle: metrics.callsRefused.labels('stream_idle'),
    truncated: metrics.callsRefused.labels('truncated'),
    content_type: metrics.callsRefused.labels('content_type'),
    method: metrics.callsRefused.labels('method'),
    unimplemented: metrics.callsRefused.labels('unimplemented'),
  };
  const onConnectionClose = (reason: CloseReason) =>
    reason === 'recycled' ? metrics.connectionsRecycled.inc() : metrics.connectionsClosed.labels(reason).inc();

  const server = http2.createServer({
    settings: { maxConcurrentStreams: limits.maxConcurrentStreams },
    // Streams refused past maxConcurrentStreams are normal under load; don't end the session.
    maxSessionRejectedStreams: 1_000_000,
  });
  const sessions = new Set<PolicySession>();
  /** Calls whose stream is open, for the stream-idle sweeper. */
  const calls = new Set<GrpcServerCall>();

  /** Answer a call the edge will not serve, with an HTTP status (non-200) or a gRPC status. */
  function refuse(
    stream: ServerHttp2Stream,
    policy: ConnectionPolicy,
    status: number,
    grpcStatus: number,
    message: string,
    reason: keyof typeof refused,
  ): void {
    refused[reason].inc();
    stream.on('error', () => {});
    stream.once('close', () =>
      policy.streamClosed(stream.rstCode !== undefined && stream.rstCode !== h2.NGHTTP2_NO_ERROR),
    );
    if (status === 200) respondTrailersOnly(stream, grpcStatus, message);
    else {
      try {
        stream.respond(
          { ':status': status, 'grpc-status': String(grpcStatus), 'grpc-message': encodeGrpcMessage(message) },
          REFUSE_OPTIONS,
        );
      } catch {
        // gone already
      }
    }
    // Whatever the client still sends is not wanted.
    setImmediate(() => stream.destroyed || stream.closed || stream.close(h2.NGHTTP2_NO_ERROR));
  }

  const clock = { tick: 0 };
  const callHooks: CallHooks = {
    maxMessageBytes: limits.maxMessageBytes,
    assemblyBudget: new AssemblyBudget(limits.maxAssemblyBytes),
    clock,
    logger,
    onRefused: (reason) => refused[reason].inc(),
    onStreamClosed: (call) => calls.delete(call),
  };

  // The policy needs each connection's own socket (see connectionPolicy.ts). Node creates the
  // session in its own 'connection' listener and emits 'session' from there, synchronously:
  // a listener put before Node's hands the socket over.
  let arriving: Socket | null = null;
  server.prependListener('connection', (socket: Socket) => {
    arriving = socket;
  });
  server.on('session', (session: PolicySession) => {
    const socket = arriving;
    arriving = null;
    sessions.add(session);
    session[POLICY] = new ConnectionPolicy(session, socket, limits, onConnectionClose);
    // Until the socket is gone: a gracefully closed session may still hold it half-open.
    if (socket !== null) socket.once('close', () => sessions.delete(session));
    else session.once('close', () => sessions.delete(session));
  });
  // Random bytes, a bad preface, a protocol error: that connection ends, nothing else.
  server.on('sessionError', (err: Error) => logger.debug({ err: err.message }, 'HTTP/2 connection error'));
  server.on('error', (err: Error) => logger.error({ err: err.message }, 'gRPC listener error'));
  server.setTimeout(0);

  server.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => {
    const policy = (stream.session as PolicySession | undefined)?.[POLICY];
    if (policy === undefined) {
      stream.close(h2.NGHTTP2_REFUSED_STREAM);
      return;
    }
    policy.streamOpened();
    const path = headers[h2.HTTP2_HEADER_PATH];
    if (headers[h2.HTTP2_HEADER_METHOD] !== 'POST') {
      refuse(stream, policy, 405, GRPC_STATUS.UNIMPLEMENTED, 'gRPC requires POST', 'method');
      return;
    }
    const contentType = headers[h2.HTTP2_HEADER_CONTENT_TYPE];
    if (typeof contentType !== 'string' || !/^application\/grpc(\+proto)?(;|$)/.test(contentType)) {
      refuse(stream, policy, 415, GRPC_STATUS.INTERNAL, 'content-type must be application/grpc', 'content_type');
      return;
    }
    const encoding = headers['grpc-encoding'];
    if (encoding !== undefined && encoding !== 'identity') {
      refuse(
        stream,
        policy,
        200,
        GRPC_STATUS.UNIMPLEMENTED,
        `grpc-encoding ${String(encoding)} is not supported`,
        'compressed',
      );
      return;
    }
    const isProcess = path === EXT_PROC_SERVICE_PATH;
    if (!isProcess && path !== HEALTH_CHECK_PATH && path !== HEALTH_WATCH_PATH) {
      refuse(stream, policy, 200, GRPC_STATUS.UNIMPLEMENTED, `unknown method ${String(path)}`, 'unimplemented');
      return;
    }
    const call = new GrpcServerCall(stream, callHooks, policy);
    calls.add(call);
    const timeoutMs = parseGrpcTimeout(headers['grpc-timeout']);
    if (isProcess) call.start(options.handleStream(call), timeoutMs);
    else call.start(path === HEALTH_CHECK_PATH ? health.check(call) : health.watch(call), timeoutMs);
  });

  // One sweeper for every call's stream-idle timeout instead of a timer per stream: it ticks
  // four times per timeout; a call silent for more than four ticks (1 to 1.25 timeouts) is ended.
  let sweeper: NodeJS.Timeout | null = null;
  if (limits.streamIdleTimeoutMs > 0) {
    const ticksPerTimeout = 4;
    sweeper = setInterval(
      () => {
        const tick = ++clock.tick;
        for (const call of calls) if (tick - call.lastActivity > ticksPerTimeout) call.expire('stream_idle');
      },
      Math.max(5, limits.streamIdleTimeoutMs / ticksPerTimeout),
    );
    sweeper.unref();
  }

  const { host, port: wantedPort } = parseListenAddress(options.address);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(wantedPort, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const bound = server.address();
  const port = typeof bound === 'object' && bound !== null ? bound.port : wantedPort;

  let stopping: Promise<void> | null = null;
  return {
    port,
    health,
    recyclingActive: true,
    setServing(serving: boolean) {
      const status = serving ? 'SERVING' : 'NOT_SERVING';
      health.setStatus('', status);
      health.setStatus(EXT_PROC_SERVICE_NAME, status);
    },
    shutdown(graceMs: number) {
      stopping ??= new Promise<void>((resolve) => {
        if (sweeper !== null) clearInterval(sweeper);
        health.endWatches();
        server.close(() => resolve());
        // Each connection: GOAWAY, its streams finish, and its socket is destroyed after
        // graceMs at the latest (also one already closing for another reason).
        for (const s of sessions) {
          const policy = s[POLICY]!;
          policy.closeGracefully('shutdown', graceMs);
          const force = setTimeout(() => policy.destroy(), graceMs);
          force.unref();
        }
      });
      return stopping;
    },
  };
}
