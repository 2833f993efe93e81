// The judged baseline of the h2load bench: a plain grpc-js no-op ext_proc server, in its own
// process, with no proflag code at all — only @grpc/grpc-js and @grpc/proto-loader on the
// ext_proc protos. Every message is answered with `{request_headers: {}}` ("continue
// unchanged"), and the call ends with OK when the client half-closes. Prints `PORT <n>`.
// Run as a child: `node --import tsx <this file>` (or plain node: it is valid JavaScript
// apart from its types).
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

const PROTO_DIR = fileURLToPath(new URL('../../proto/', import.meta.url));
const definition = protoLoader.loadSync('envoy/service/ext_proc/v3/external_processor.proto', {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: false,
  oneofs: true,
  includeDirs: [PROTO_DIR],
});
const service = definition['envoy.service.ext_proc.v3.ExternalProcessor'] as grpc.ServiceDefinition;

function process(call: grpc.ServerDuplexStream<unknown, unknown>): void {
  call.on('data', () => call.write({ request_headers: {} }));
  call.on('end', () => call.end());
  call.on('error', () => {});
}

const server = new grpc.Server();
server.addService(service, { Process: process });
const port = await new Promise<number>((resolve, reject) =>
  server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) =>
    err ? reject(err) : resolve(p),
  ),
);
const stop = () => server.tryShutdown(() => globalThis.process.exit(0));
globalThis.process.on('SIGTERM', stop);
globalThis.process.on('disconnect', stop);
globalThis.process.stdout.write(`PORT ${port}\n`);
