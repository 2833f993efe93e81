// A gRPC server option of docs/benchmarks.md: proflag's decision (the same request processor
// and 1,000-flag snapshot as proflagServer.ts) served by connect-node (@connectrpc/connect-node,
// speaking the gRPC protocol on node:http2). The service descriptor is built from proflag's
// protos with `buf build` (the binary ships in the @bufbuild/buf npm package), so no generated
// code is kept. connect decodes each ProcessingRequest into a protobuf-es message; the headers
// view is built from it, and the reply bytes are decoded once per distinct reply into the
// message connect wants (it encodes them again per call, as every connect service does).
// Run as a child: `node --import tsx <this file>`; prints `PORT <n>`.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http2 from 'node:http2';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createFileRegistry, fromBinary, type DescMessage, type DescService, type Message } from '@bufbuild/protobuf';
import { FileDescriptorSetSchema } from '@bufbuild/protobuf/wkt';
import { ConnectRouter } from '@connectrpc/connect';
import { connectNodeAdapter } from '@connectrpc/connect-node';
import { RequestHeaders } from '../../src/extproc/headerMap.js';
import { UNCHANGED_REPLY } from '../../src/extproc/replyEncoder.js';
import { createMetrics } from '../../src/telemetry/metrics.js';
import { buildRequestProcessor, buildSnapshot, loadFixtures } from '../lib/fixtures.js';

process.setSourceMapsEnabled(false);
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const tmp = mkdtempSync(path.join(tmpdir(), 'proflag-connect-'));
const descriptorFile = path.join(tmp, 'extproc.binpb');
execFileSync(path.join(ROOT, 'node_modules/.bin/buf'), ['build', '.', '--exclude-source-info', '-o', descriptorFile], {
  cwd: path.join(ROOT, 'proto'),
});
const registry = createFileRegistry(fromBinary(FileDescriptorSetSchema, readFileSync(descriptorFile)));
rmSync(tmp, { recursive: true, force: true });
const service = registry.getService('envoy.service.ext_proc.v3.ExternalProcessor') as DescService;
const responseSchema = registry.getMessage('envoy.service.ext_proc.v3.ProcessingResponse') as DescMessage;

const fx = loadFixtures();
const { snapshot } = buildSnapshot(fx.flags);
const processor = buildRequestProcessor(snapshot, fx.geo, createMetrics({ defaultMetrics: false }));

interface HeaderValueMessage {
  key: string;
  value: string;
  rawValue: Uint8Array;
}
interface RequestMessage {
  request: { case: string | undefined; value?: { headers?: { headers: HeaderValueMessage[] }; endOfStream?: boolean } };
}

const replies = new WeakMap<Buffer, Message>();
function asMessage(bytes: Buffer): Message {
  let m = replies.get(bytes);
  if (m === undefined) replies.set(bytes, (m = fromBinary(responseSchema, bytes)));
  return m;
}

function replyFor(req: RequestMessage): Message {
  if (req.request.case !== 'requestHeaders') return asMessage(UNCHANGED_REPLY.request_headers);
  const list = req.request.value?.headers?.headers ?? [];
  const view = new RequestHeaders(
    list.map((h) => ({
      key: h.key,
      value: h.value,
      raw_value: Buffer.from(h.rawValue.buffer, h.rawValue.byteOffset, h.rawValue.byteLength),
    })),
  );
  view.endOfStream = req.request.value?.endOfStream === true;
  return asMessage(processor(view).reply);
}

const routes = (router: ConnectRouter) =>
  router.service(
    service as never,
    {
      async *process(requests: AsyncIterable<RequestMessage>) {
        for await (const req of requests) yield replyFor(req);
      },
    } as never,
  );

const server = http2.createServer(connectNodeAdapter({ routes, grpc: true, grpcWeb: false, connect: false }));
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  process.stdout.write(`PORT ${typeof address === 'object' && address ? address.port : 0}\n`);
});
const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('disconnect', stop);
