// The baseline of the throughput bench: an ext_proc server on the same gRPC edge (same
// connection recycling, same health service) that answers every message with
// `{request_headers: {}}` ("continue unchanged") and ends the call when the client does.
// Run as a child: `node --import tsx <this file>`.
import type { ExtProcCall } from '../../src/extproc/stream.js';
import { createMetrics } from '../../src/telemetry/metrics.js';
import { serveForBench } from './harness.js';

function handleStream(call: ExtProcCall): void {
  call.on('data', () => {
    try {
      call.write({ request_headers: {} });
    } catch {
      // The client has gone already.
    }
  });
  call.on('end', () => {
    try {
      call.end();
    } catch {
      // Already closed.
    }
  });
  call.on('error', () => {});
  call.on('cancelled', () => {});
}

await serveForBench(handleStream, createMetrics({ defaultMetrics: false }));
