// A gRPC server option of docs/benchmarks.md: proflag's decision (the same request processor
// and 1,000-flag snapshot as proflagServer.ts) served by grpc-js.
//   default             grpc-js as proflag configured it before the node:http2 edge: the
//                       proto-loader codec (ProcessingRequest decoded into objects), replies
//                       sent as pre-encoded bytes, default server options.
//   BENCH_GRPCJS_TUNED=1 what grpc-js's options allow: raw-bytes (de)serializers with proflag's
//                       wire decoder (no object tree), channelz off, more HTTP/2 session memory.
// Connection recycling is left out: h2load closes its streams cleanly, so it is never needed.
// Run as a child: `node --import tsx <this file>`; prints `PORT <n>`.
import * as grpc from '@grpc/grpc-js';
import { loadExtProcPackage, type ProcessingRequest } from '../../src/extproc/protocol.js';
import { UNCHANGED_REPLY } from '../../src/extproc/replyEncoder.js';
import { decodeProcessingRequest } from '../../src/extproc/requestDecoder.js';
import { headersViewOf } from '../../src/extproc/requestProcessor.js';
import { createMetrics } from '../../src/telemetry/metrics.js';
import { buildRequestProcessor, buildSnapshot, loadFixtures } from '../lib/fixtures.js';

process.setSourceMapsEnabled(false);
const tuned = process.env.BENCH_GRPCJS_TUNED === '1';
const fx = loadFixtures();
const { snapshot } = buildSnapshot(fx.flags);
const processor = buildRequestProcessor(snapshot, fx.geo, createMetrics({ defaultMetrics: false }));

const method = loadExtProcPackage().service.Process!;
type Input = ProcessingRequest | Buffer;

/** One reply per message: the decision for request headers, unchanged for anything else. */
function replyFor(input: Input): Buffer {
  if (Buffer.isBuffer(input)) {
    const req = decodeProcessingRequest(input);
    if (req.kind === 'request_headers') return processor(req.headers!).reply;
    return UNCHANGED_REPLY.request_headers;
  }
  if (input.request_headers) return processor(headersViewOf(input, input.request_headers)).reply;
  return UNCHANGED_REPLY.request_headers;
}

const service: grpc.ServiceDefinition = {
  Process: {
    ...method,
    requestDeserialize: tuned ? (b: Buffer) => b : method.requestDeserialize,
    responseSerialize: (b: Buffer) => b,
  },
};

function handle(call: grpc.ServerDuplexStream<Input, Buffer>): void {
  call.on('data', (input: Input) => call.write(replyFor(input)));
  call.on('end', () => call.end());
  call.on('error', () => {});
}

const server = new grpc.Server(
  tuned
    ? {
        'grpc.enable_channelz': 0,
        'grpc-node.max_session_memory': 64,
      }
    : {},
);
server.addService(service, { Process: handle as grpc.handleBidiStreamingCall<unknown, unknown> });
const port = await new Promise<number>((resolve, reject) =>
  server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) =>
    err ? reject(err) : resolve(p),
  ),
);
const stop = () => server.tryShutdown(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('disconnect', stop);
process.stdout.write(`PORT ${port}\n`);
