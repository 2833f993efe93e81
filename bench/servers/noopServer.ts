// A no-op ext_proc server on proflag's own gRPC edge (same connection recycling, same health
// service): every message is answered with `{request_headers: {}}` ("continue unchanged") and
// the call ends when the client's does. It shows what the edge alone costs; the judged
// baseline is the plain grpc-js server in grpcNoopServer.ts.
// Run as a child: `node --import tsx <this file>`.
import { UNCHANGED_REPLY } from '../../src/extproc/replyEncoder.js';
import type { StreamHandler } from '../../src/extproc/stream.js';
import { createMetrics } from '../../src/telemetry/metrics.js';
import { serveForBench } from './harness.js';

const handleStream: StreamHandler = (call) => ({
  onMessage: () => {
    call.sendMessage(UNCHANGED_REPLY.request_headers);
  },
  onHalfClose: () => call.finish(),
  onAbort: () => {},
});

await serveForBench(handleStream, createMetrics({ defaultMetrics: false }));
