// Our trimmed protos (proto/) against Envoy's official ones (vendored by @grpc/grpc-js-xds):
// same schema (names, numbers, types), same bytes on the wire both ways, and a real gRPC
// conversation between a client and a server built from different sides.
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  EXT_PROC_SERVICE_PATH,
  PROTO_DIR,
  loadExtProcPackage,
  type ProcessingRequest,
  type ProcessingResponse,
} from '../../src/extproc/protocol.js';
import { loadOfficialRoot } from '../helpers/envoyConfigValidator.js';
import {
  EXT_PROC_PROTO_FILE as EP_FILE,
  EXT_PROC_SERVICE as SERVICE,
  NON_UTF8,
  officialExtProcDefinition,
  officialProcessMethod,
  raw,
} from '../helpers/officialExtProc.js';

// ---- the two sides -----------------------------------------------------------------------

function loadOurRoot(): protobuf.Root {
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => (path.isAbsolute(target) ? target : path.join(PROTO_DIR, target));
  root.loadSync(EP_FILE, { keepCase: true });
  root.resolveAll();
  return root;
}

const officialDefinition = officialExtProcDefinition();
const officialMethod = officialProcessMethod(officialDefinition);
const ourMethod = loadExtProcPackage().service['Process']!;

function officialGrpcService(): grpc.ServiceClientConstructor {
  const pkg = grpc.loadPackageDefinition(officialDefinition) as unknown as {
    envoy: { service: { ext_proc: { v3: { ExternalProcessor: grpc.ServiceClientConstructor } } } };
  };
  return pkg.envoy.service.ext_proc.v3.ExternalProcessor;
}

// ---- representative messages -------------------------------------------------------------

const REQUESTS: Record<string, ProcessingRequest> = {
  'request_headers as current Envoy sends them': {
    request_headers: {
      headers: {
        headers: [
          raw(':authority', 'shop.example'),
          raw(':path', '/checkout?step=2'),
          raw(':method', 'GET'),
          raw(':scheme', 'http'),
          raw('user-agent', 'Mozilla/5.0 (X11; Linux x86_64)'),
          raw('x-forwarded-proto', 'http'),
          raw('x-request-id', '5b1c7c0e-9d0a-4c37-9b7e-3c1d2a5e8f10'),
          raw('x-binary', NON_UTF8),
          raw('x-empty', ''),
        ],
      },
      end_of_stream: true,
    },
    attributes: {
      'envoy.filters.http.ext_proc': {
        fields: {
          'source.address': { stringValue: '10.0.0.7:51234' },
          'request.size': { numberValue: 0 },
          'connection.mtls': { boolValue: false },
        },
      },
    },
    metadata_context: { filter_metadata: { proflag: { fields: { tenant: { stringValue: 'eu' } } } } },
  },
  'request_headers from an older Envoy (value only)': {
    request_headers: { headers: { headers: [{ key: ':path', value: '/old' }] }, end_of_stream: false },
  },
  response_headers: {
    response_headers: {
      headers: {
        headers: [
          raw(':status', '200'),
          raw('content-type', 'application/json'),
          raw('x-envoy-upstream-service-time', '3'),
        ],
      },
      end_of_stream: false,
    },
  },
  request_body: { request_body: { body: Buffer.from('{"items":[1,2]}'), end_of_stream: true } },
  'response_body (empty, end of stream)': { response_body: { body: Buffer.alloc(0), end_of_stream: true } },
  request_trailers: { request_trailers: { trailers: { headers: [raw('x-checksum', 'abc')] } } },
  response_trailers: { response_trailers: { trailers: { headers: [raw('grpc-status', '0')] } } },
  'observability mode': { request_headers: { headers: { headers: [raw(':path', '/')] } }, observability_mode: true },
};

const RESPONSES: Record<string, ProcessingResponse> = {
  'request_headers CONTINUE with a route mutation': {
    request_headers: {
      response: {
        status: 'CONTINUE',
        header_mutation: {
          set_headers: [
            { header: raw('x-proflag-cluster', 'backend_canary'), append: { value: false } },
            { header: raw('x-proflag-flags', 'checkout-v2=true,search=treatment'), append: { value: false } },
            { header: raw('x-opaque', NON_UTF8), append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' },
          ],
          remove_headers: ['x-legacy-checkout', 'x-debug'],
        },
        clear_route_cache: true,
      },
    },
    dynamic_metadata: {
      fields: {
        proflag: {
          structValue: {
            fields: {
              flags: { stringValue: 'checkout-v2=true' },
              version: { numberValue: 42 },
              stale: { boolValue: false },
              nothing: { nullValue: 'NULL_VALUE' },
              list: { listValue: { values: [{ stringValue: 'a' }, { numberValue: 1.5 }] } },
            },
          },
        },
      },
    },
  },
  'request_headers continue unchanged': { request_headers: {} },
  immediate_response: {
    immediate_response: {
      status: { code: 'Forbidden' },
      headers: { set_headers: [{ header: raw('content-type', 'text/plain') }] },
      body: Buffer.from('denied\n'),
      grpc_status: { status: 7 },
      details: 'proflag_quarantine',
    },
  },
  'response_headers with a header': {
    response_headers: { response: { header_mutation: { set_headers: [{ header: raw('x-served-by', 'canary') }] } } },
  },
  'request_body replacing the body': {
    request_body: {
      response: {
        status: 'CONTINUE_AND_REPLACE',
        header_mutation: { set_headers: [{ header: raw(':method', 'POST') }] },
        body_mutation: { body: Buffer.from('replaced') },
      },
    },
  },
  'response_body clearing the body': { response_body: { response: { body_mutation: { clear_body: true } } } },
  request_trailers: { request_trailers: { header_mutation: { remove_headers: ['x-checksum'] } } },
  response_trailers: { response_trailers: {} },
  'mode_override and override_message_timeout': {
    request_headers: { response: {} },
    mode_override: { response_header_mode: 'SEND', response_body_mode: 'BUFFERED', response_trailer_mode: 'SKIP' },
    override_message_timeout: { seconds: '1', nanos: 500_000_000 },
  },
};

// ---- tests -------------------------------------------------------------------------------

describe('wire compatibility with the official protos', () => {
  it.each(Object.entries(REQUESTS))('ProcessingRequest: %s', (_name, message) => {
    const ours = ourMethod.requestSerialize(message);
    const official = officialMethod.requestSerialize(message);
    expect(ours.length).toBeGreaterThan(0);
    expect(ours.equals(official)).toBe(true);

    const byOfficial = officialMethod.requestDeserialize(ours);
    const byOurs = ourMethod.requestDeserialize(official) as ProcessingRequest;
    expect(byOurs).toEqual(byOfficial);
    expect(byOurs).toMatchObject(message); // nothing lost (decoding only adds oneof names)
    expect(byOurs.request).toBeDefined();
  });

  it.each(Object.entries(RESPONSES))('ProcessingResponse: %s', (_name, message) => {
    const ours = ourMethod.responseSerialize(message);
    const official = officialMethod.responseSerialize(message);
    expect(ours.equals(official)).toBe(true);

    const byOfficial = officialMethod.responseDeserialize(ours);
    const byOurs = ourMethod.responseDeserialize(official);
    expect(byOurs).toEqual(byOfficial);
    expect(byOurs).toMatchObject(message);
  });

  it('keeps non-UTF-8 header bytes intact', () => {
    const decoded = officialMethod.requestDeserialize(
      ourMethod.requestSerialize(REQUESTS['request_headers as current Envoy sends them']),
    ) as ProcessingRequest;
    const header = decoded.request_headers?.headers?.headers?.find((h) => h.key === 'x-binary');
    expect(Buffer.isBuffer(header?.raw_value)).toBe(true);
    expect(header?.raw_value?.equals(NON_UTF8)).toBe(true);
  });

  it('serves the same method path as Envoy calls', () => {
    expect(ourMethod.path).toBe(EXT_PROC_SERVICE_PATH);
    expect(officialMethod.path).toBe(EXT_PROC_SERVICE_PATH);
    expect([ourMethod.requestStream, ourMethod.responseStream]).toEqual([true, true]);
  });
});

describe('schema parity (protobufjs reflection)', () => {
  const ours = loadOurRoot();
  const official = loadOfficialRoot([EP_FILE]);

  function collect(ns: protobuf.NamespaceBase, out: protobuf.ReflectionObject[] = []) {
    for (const child of ns.nestedArray) {
      if (child.fullName.startsWith('.google.')) continue; // bundled by protobufjs on both sides
      if (child instanceof protobuf.Type || child instanceof protobuf.Enum || child instanceof protobuf.Service)
        out.push(child);
      if (child instanceof protobuf.Namespace) collect(child, out);
    }
    return out;
  }
  const describeField = (f: protobuf.Field) => ({
    id: f.id,
    type: f.resolvedType ? f.resolvedType.fullName : f.type,
    repeated: f.repeated,
    map: f instanceof protobuf.MapField ? f.keyType : null,
    oneof: f.partOf?.name ?? null,
  });
  const ourTypes = collect(ours);

  it('declares the expected messages', () => {
    const names = ourTypes.map((t) => t.fullName);
    for (const expected of [
      '.envoy.service.ext_proc.v3.ExternalProcessor',
      '.envoy.service.ext_proc.v3.ProcessingRequest',
      '.envoy.service.ext_proc.v3.ImmediateResponse',
      '.envoy.config.core.v3.HeaderValueOption',
      '.envoy.type.v3.HttpStatus',
      '.envoy.extensions.filters.http.ext_proc.v3.ProcessingMode',
    ]) {
      expect(names).toContain(expected);
    }
  });

  it.each(ourTypes.filter((t) => t instanceof protobuf.Type).map((t) => [t.fullName, t] as const))(
    '%s has the official fields',
    (name, type) => {
      const theirs = official.lookupType(name);
      const mine = type as protobuf.Type;
      for (const field of mine.fieldsArray) {
        const other = theirs.fields[field.name];
        expect(other, `${name}.${field.name} missing in the official proto`).toBeDefined();
        expect(describeField(field), `${name}.${field.name}`).toEqual(describeField(other!));
      }
      // Completeness: nothing the official message carries is missing from ours.
      expect(mine.fieldsArray.map((f) => f.name).sort()).toEqual(theirs.fieldsArray.map((f) => f.name).sort());
      expect(mine.reserved ?? []).toEqual(theirs.reserved ?? []);
    },
  );

  it.each(ourTypes.filter((t) => t instanceof protobuf.Enum).map((t) => [t.fullName, t] as const))(
    'enum %s matches the official values',
    (name, en) => {
      expect((en as protobuf.Enum).values).toEqual(official.lookupEnum(name).values);
    },
  );

  it('the service has the same streaming method', () => {
    const mine = ours.lookupService(SERVICE);
    const theirs = official.lookupService(SERVICE);
    const shape = (s: protobuf.Service) =>
      s.methodsArray.map((m) => ({
        name: m.name,
        request: m.resolvedRequestType?.fullName,
        response: m.resolvedResponseType?.fullName,
        streams: [m.requestStream, m.responseStream],
      }));
    expect(shape(mine)).toEqual(shape(theirs));
  });
});

describe('a real gRPC conversation across the two sides', () => {
  let server: grpc.Server;
  let ourServerPort = 0;
  let officialServerPort = 0;
  const received: ProcessingRequest[] = [];
  const reply = RESPONSES['request_headers CONTINUE with a route mutation']!;

  // Answers every message with `reply` and finishes with OK once the client is done.
  const handler = (call: grpc.ServerDuplexStream<ProcessingRequest, ProcessingResponse>) => {
    call.on('data', (req: ProcessingRequest) => {
      received.push(req);
      call.write(reply);
    });
    call.on('end', () => call.end());
    call.on('error', () => {});
  };

  async function bind(service: grpc.ServiceDefinition): Promise<[grpc.Server, number]> {
    const s = new grpc.Server();
    s.addService(service, { Process: handler as grpc.handleBidiStreamingCall<unknown, unknown> });
    const port = await new Promise<number>((resolve, reject) =>
      s.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
    );
    return [s, port];
  }
  let officialServer: grpc.Server;

  beforeAll(async () => {
    [server, ourServerPort] = await bind(loadExtProcPackage().service);
    [officialServer, officialServerPort] = await bind(officialGrpcService().service);
  });
  afterAll(() => {
    server?.forceShutdown();
    officialServer?.forceShutdown();
  });

  async function converse(Client: grpc.ServiceClientConstructor, port: number, message: ProcessingRequest) {
    const client = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    try {
      const call = (
        client as unknown as { Process(): grpc.ClientDuplexStream<ProcessingRequest, ProcessingResponse> }
      ).Process();
      const replies: ProcessingResponse[] = [];
      const status = new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
      call.on('data', (r: ProcessingResponse) => {
        replies.push(r);
        call.end(); // one reply expected, as Envoy does with response processing skipped
      });
      call.on('error', () => {});
      call.write(message);
      return { status: await status, replies };
    } finally {
      client.close();
    }
  }

  it('official client → our server', async () => {
    received.length = 0;
    const request = REQUESTS['request_headers as current Envoy sends them']!;
    const { status, replies } = await converse(officialGrpcService(), ourServerPort, request);

    expect(status.code).toBe(grpc.status.OK);
    expect(received).toHaveLength(1);
    expect(received[0]!.request).toBe('request_headers');
    expect(received[0]).toMatchObject(request);
    expect(replies).toHaveLength(1);
    expect(replies[0]).toMatchObject(reply);
    expect(replies[0]!.response).toBe('request_headers');
  });

  it('our client → official server', async () => {
    received.length = 0;
    const request = REQUESTS['request_headers as current Envoy sends them']!;
    const { status, replies } = await converse(
      loadExtProcPackage().ExternalProcessorClient,
      officialServerPort,
      request,
    );

    expect(status.code).toBe(grpc.status.OK);
    expect(received[0]).toMatchObject(request);
    expect(replies[0]).toMatchObject(reply);
  });
});
