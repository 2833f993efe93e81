// The gRPC edge: ExternalProcessor/Process plus the standard health service, on one port.
//
// Why connections are recycled (ENVOY-EXTPROC §0): Envoy ends every ext_proc stream with
// END_STREAM and an immediate RST_STREAM. Node's nghttp2 counts RST_STREAM frames received
// per connection (a burst of ~1,000, refilling ~33/s) and answers an exhausted budget with
// GOAWAY(INTERNAL_ERROR), failing every stream in flight. Node 20 offers no knob for it, so
// proflag closes each HTTP/2 connection gracefully after `streamsPerConnection` streams,
// well under the budget: first a GOAWAY that still accepts streams in flight
// (last-stream-id 2^31-1, as grpc-js does for max_connection_age), then a normal close.
// Envoy and gRPC clients open a new connection and nothing fails.
import type * as http2 from 'node:http2';
import { constants as h2 } from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import type { Logger } from '../telemetry/logger.js';
import type { Metrics } from '../telemetry/metrics.js';
import { loadExtProcPackage, passThroughSerializer } from './protocol.js';
import type { ProcessingRequest, ProcessingResponse } from './protocol.js';
import type { ExtProcCall } from './stream.js';

export interface ExtProcServerOptions {
  readonly address: string;
  readonly handleStream: (call: ExtProcCall) => void;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** Streams per HTTP/2 connection before a graceful close; 0 disables recycling. */
  readonly streamsPerConnection: number;
  /** How long a recycled connection may keep its streams in flight. */
  readonly recycleGraceMs?: number;
}

export interface ExtProcServer {
  readonly port: number;
  readonly health: HealthImplementation;
  /** Whether recycling could be attached to grpc-js's HTTP/2 servers. */
  readonly recyclingActive: boolean;
  setServing(serving: boolean): void;
  /** Stop accepting, let open streams finish (up to graceMs), then force. */
  shutdown(graceMs: number): Promise<void>;
}

const MAX_STREAM_ID = 2 ** 31 - 1;

/** Count streams per session and close the session gracefully past the limit. */
export function attachRecycling(
  server: http2.Http2Server | http2.Http2SecureServer,
  limit: number,
  graceMs: number,
  onRecycle: () => void,
): void {
  server.on('session', (session: http2.ServerHttp2Session) => {
    let streams = 0;
    let recycling = false;
    session.on('stream', () => {
      streams++;
      if (recycling || streams < limit) return;
      recycling = true;
      onRecycle();
      try {
        // Phase 1: "no new streams please", still accepting those already sent.
        session.goaway(h2.NGHTTP2_NO_ERROR, MAX_STREAM_ID);
      } catch {
        return; // already closing
      }
      // Phase 2, one round trip later: a normal close that waits for open streams.
      const timer = setTimeout(() => {
        if (!session.closed && !session.destroyed) session.close();
        const force = setTimeout(() => session.destroyed || session.destroy(), graceMs);
        force.unref();
      }, 100);
      timer.unref();
    });
  });
}

/** A deserializer that never throws: a malformed message becomes one with no kind. */
function safeDeserializer(inner: (b: Buffer) => ProcessingRequest, metrics: Metrics, logger: Logger) {
  const counter = metrics.fallbacks.labels('PROFLAG_ERR_PROTOCOL');
  return (bytes: Buffer): ProcessingRequest => {
    try {
      return inner(bytes);
    } catch (err) {
      counter.inc();
      logger.warn({ code: 'PROFLAG_ERR_PROTOCOL', err: (err as Error).message }, 'undecodable ProcessingRequest');
      return {} as ProcessingRequest;
    }
  };
}

export async function startExtProcServer(options: ExtProcServerOptions): Promise<ExtProcServer> {
  const { logger, metrics } = options;
  const server = new grpc.Server({
    // Envoy keeps a few long-lived connections; keepalive pings detect dead ones.
    'grpc.keepalive_time_ms': 60_000,
    'grpc.keepalive_timeout_ms': 20_000,
    'grpc.max_receive_message_length': 4 * 1024 * 1024,
  });

  let recyclingActive = false;
  if (options.streamsPerConnection > 0) {
    // grpc-js creates its HTTP/2 servers in createHttp2Server (not public API); wrap it to
    // see each session. If a grpc-js release renames it, recycling is off and we say so.
    const internal = server as unknown as { createHttp2Server?: (creds: unknown) => http2.Http2Server };
    const original = internal.createHttp2Server;
    if (typeof original === 'function') {
      internal.createHttp2Server = function (this: unknown, creds: unknown) {
        const h2server = original.call(this, creds);
        attachRecycling(h2server, options.streamsPerConnection, options.recycleGraceMs ?? 5_000, () =>
          metrics.connectionsRecycled.inc(),
        );
        return h2server;
      };
      recyclingActive = true;
    } else {
      logger.warn('grpc-js internals changed: HTTP/2 connection recycling is unavailable');
    }
  }

  const { service } = loadExtProcPackage();
  const process = service.Process!;
  const safeService: grpc.ServiceDefinition = {
    Process: {
      ...process,
      requestDeserialize: safeDeserializer(
        process.requestDeserialize as (b: Buffer) => ProcessingRequest,
        metrics,
        logger,
      ),
      responseSerialize: passThroughSerializer(process.responseSerialize as (v: ProcessingResponse) => Buffer),
    },
  };
  server.addService(safeService, { Process: options.handleStream as grpc.handleBidiStreamingCall<unknown, unknown> });

  const health = new HealthImplementation({
    '': 'NOT_SERVING',
    'envoy.service.ext_proc.v3.ExternalProcessor': 'NOT_SERVING',
  });
  health.addToServer(server as never);

  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(options.address, grpc.ServerCredentials.createInsecure(), (err, boundPort) =>
      err ? reject(err) : resolve(boundPort),
    );
  });

  return {
    port,
    health,
    recyclingActive,
    setServing(serving: boolean) {
      const status = serving ? 'SERVING' : 'NOT_SERVING';
      health.setStatus('', status);
      health.setStatus('envoy.service.ext_proc.v3.ExternalProcessor', status);
    },
    shutdown(graceMs: number) {
      return new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, graceMs);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    },
  };
}
