// Conformance of proflag's own gRPC server (src/extproc on node:http2) with real peers: a
// grpc-js client (health Check/Watch, bidi Process on Envoy's official protos, cancellation,
// oversize, unknown methods), raw HTTP/2 requests for what grpc-js would never send
// (grpc-timeout, a 2 GB length prefix, the compressed flag, a wrong content-type, gzip), and raw
// TCP for hostile connections (random bytes, no preface, pings never answered). Every limit is
// a PROFLAG_GRPC_* variable; here they are set small so that each fires within the test.
import http2 from 'node:http2';
import net from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { headersOutcome } from '../../../src/extproc/requestProcessor.js';
import { startExtProcServer, type ExtProcServer } from '../../../src/extproc/server.js';
import { createStreamHandler } from '../../../src/extproc/stream.js';
import type { GrpcLimits } from '../../../src/extproc/limits.js';
import type { ProcessingRequest } from '../../../src/extproc/protocol.js';
import { createLogger } from '../../../src/telemetry/logger.js';
import { createMetrics, type Metrics } from '../../../src/telemetry/metrics.js';
import { officialExtProcClient } from '../../helpers/envoyEmulator.js';

const PROCESS = '/envoy.service.ext_proc.v3.ExternalProcessor/Process';
const encodeRequest = officialExtProcClient().service.Process!.requestSerialize as (m: ProcessingRequest) => Buffer;
const decodeReply = officialExtProcClient().service.Process!.responseDeserialize as (b: Buffer) => {
  response?: string;
};
const REQUEST_HEADERS = encodeRequest({
  request_headers: { headers: { headers: [{ key: ':path', raw_value: Buffer.from('/') }] }, end_of_stream: true },
});

async function start(limits: Partial<GrpcLimits>): Promise<{ server: ExtProcServer; metrics: Metrics }> {
  const metrics = createMetrics({ defaultMetrics: false });
  const logger = createLogger('silent');
  const outcome = headersOutcome({ clear_route_cache: true }, null, null);
  const server = await startExtProcServer({
    address: '127.0.0.1:0',
    handleStream: createStreamHandler({ processRequestHeaders: () => outcome, metrics, logger }),
    logger,
    metrics,
    streamsPerConnection: 500,
    limits,
  });
  return { server, metrics };
}

const frame = (message: Buffer, flag = 0) => {
  const out = Buffer.alloc(5 + message.length);
  out[0] = flag;
  out.writeUInt32BE(message.length, 1);
  message.copy(out, 5);
  return out;
};

interface RawResult {
  status: number;
  headers: http2.IncomingHttpHeaders;
  trailers: http2.IncomingHttpHeaders;
  body: Buffer;
  ms: number;
}

/** One request over raw HTTP/2; resolves when the response (and trailers) are complete. */
function rawRequest(
  port: number,
  headers: http2.OutgoingHttpHeaders,
  body: Buffer | null,
  endStream = true,
): Promise<RawResult> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const client = http2.connect(`http://127.0.0.1:${port}`);
    client.on('error', reject);
    const req = client.request(
      { ':method': 'POST', ':path': PROCESS, 'content-type': 'application/grpc', te: 'trailers', ...headers },
      { endStream: false },
    );
    const chunks: Buffer[] = [];
    let responseHeaders: http2.IncomingHttpHeaders = {};
    let trailers: http2.IncomingHttpHeaders = {};
    req.on('response', (h) => (responseHeaders = h));
    req.on('trailers', (t) => (trailers = t));
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('error', () => {});
    req.on('close', () => {
      client.close();
      resolve({
        status: Number(responseHeaders[':status']),
        headers: responseHeaders,
        trailers,
        body: Buffer.concat(chunks),
        ms: Date.now() - started,
      });
    });
    if (body) req.write(body);
    if (endStream) req.end();
  });
}

/** grpc-status from trailers, or from the headers of a trailers-only response. */
const grpcStatus = (r: RawResult) => Number(r.trailers['grpc-status'] ?? r.headers['grpc-status']);

function healthCall(port: number, service: string): Promise<{ err: grpc.ServiceError | null; value: Buffer | null }> {
  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  const request =
    service === '' ? Buffer.alloc(0) : Buffer.concat([Buffer.from([0x0a, service.length]), Buffer.from(service)]);
  return new Promise((resolve) =>
    client.makeUnaryRequest(
      '/grpc.health.v1.Health/Check',
      (b: Buffer) => b,
      (b: Buffer) => b,
      request,
      (err, value) => {
        client.close();
        resolve({ err, value: value ?? null });
      },
    ),
  );
}

const count = async (
  metric: { get(): Promise<{ values: { labels: Record<string, string | number>; value: number }[] }> },
  label: string,
) =>
  (await metric.get()).values.filter((v) => Object.values(v.labels).includes(label)).reduce((n, v) => n + v.value, 0);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('gRPC conformance with a grpc-js peer', () => {
  let server: ExtProcServer;
  let metrics: Metrics;
  beforeAll(async () => {
    ({ server, metrics } = await start({ maxMessageBytes: 64 * 1024, streamIdleTimeoutMs: 0 }));
  });
  afterAll(() => server.shutdown(500));

  it('health Check answers per service: NOT_SERVING, then SERVING; unknown service is NOT_FOUND', async () => {
    expect((await healthCall(server.port, '')).value).toEqual(Buffer.from([0x08, 0x02]));
    server.setServing(true);
    expect((await healthCall(server.port, '')).value).toEqual(Buffer.from([0x08, 0x01]));
    expect((await healthCall(server.port, 'envoy.service.ext_proc.v3.ExternalProcessor')).value).toEqual(
      Buffer.from([0x08, 0x01]),
    );
    expect((await healthCall(server.port, 'nope')).err?.code).toBe(grpc.status.NOT_FOUND);
  });

  it('health Watch streams the status and every change', async () => {
    server.setServing(true);
    const client = new grpc.Client(`127.0.0.1:${server.port}`, grpc.credentials.createInsecure());
    const call = client.makeServerStreamRequest(
      '/grpc.health.v1.Health/Watch',
      (b: Buffer) => b,
      (b: Buffer) => b,
      Buffer.alloc(0),
    );
    const seen: number[] = [];
    call.on('data', (b: Buffer) => seen.push(b[1] ?? 0));
    call.on('error', () => {});
    await sleep(100);
    server.setServing(false);
    await sleep(100);
    server.setServing(true);
    await sleep(100);
    call.cancel();
    client.close();
    expect(seen).toEqual([1, 2, 1]);
  });

  it('serves Process to Envoy’s official client: one reply in kind, then OK', async () => {
    const Ctor = officialExtProcClient();
    const client = new Ctor(`127.0.0.1:${server.port}`, grpc.credentials.createInsecure());
    const call = (
      client as unknown as { Process(): grpc.ClientDuplexStream<unknown, { response?: string }> }
    ).Process();
    const replies: string[] = [];
    call.on('data', (r: { response?: string }) => {
      replies.push(String(r.response));
      call.end();
    });
    const status = await new Promise<grpc.StatusObject>((resolve) => {
      call.on('status', resolve);
      call.on('error', () => {});
      call.write({ request_headers: { headers: { headers: [] } } });
    });
    client.close();
    expect(replies).toEqual(['request_headers']);
    expect(status.code).toBe(grpc.status.OK);
  });

  it('sees a client cancel as a normal ending', async () => {
    // grpc-js cancels as Envoy closes: END_STREAM, then RST_STREAM(CANCEL); either ending is normal.
    const normal = async () => (await count(metrics.streams, 'end')) + (await count(metrics.streams, 'cancelled'));
    const before = await normal();
    const client = new grpc.Client(`127.0.0.1:${server.port}`, grpc.credentials.createInsecure());
    const call = client.makeBidiStreamRequest(
      PROCESS,
      (b: Buffer) => b,
      (b: Buffer) => b,
    );
    call.on('error', () => {});
    await new Promise<void>((resolve) => {
      call.on('data', () => resolve());
      call.write(REQUEST_HEADERS);
    });
    call.cancel();
    await sleep(100);
    client.close();
    expect(await normal()).toBe(before + 1);
    expect(await count(metrics.streams, 'error')).toBe(0);
  });

  it('refuses a message over PROFLAG_GRPC_MAX_MESSAGE_BYTES with RESOURCE_EXHAUSTED', async () => {
    const client = new grpc.Client(`127.0.0.1:${server.port}`, grpc.credentials.createInsecure());
    const call = client.makeBidiStreamRequest(
      PROCESS,
      (b: Buffer) => b,
      (b: Buffer) => b,
    );
    const status = await new Promise<grpc.StatusObject>((resolve) => {
      call.on('status', resolve);
      call.on('error', () => {});
      call.write(Buffer.alloc(64 * 1024 + 1));
    });
    client.close();
    expect(status.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
  });

  it('answers an unknown method with UNIMPLEMENTED, trailers-only', async () => {
    const client = new grpc.Client(`127.0.0.1:${server.port}`, grpc.credentials.createInsecure());
    const err = await new Promise<grpc.ServiceError | null>((resolve) =>
      client.makeUnaryRequest(
        '/some.Service/Method',
        (b: Buffer) => b,
        (b: Buffer) => b,
        Buffer.alloc(0),
        (e) => resolve(e),
      ),
    );
    client.close();
    expect(err?.code).toBe(grpc.status.UNIMPLEMENTED);
    const r = await rawRequest(server.port, { ':path': '/some.Service/Method' }, null);
    expect([r.status, r.headers['grpc-status'], r.body.length]).toEqual([200, '12', 0]);
  });
});

describe('gRPC conformance with raw HTTP/2 requests', () => {
  let server: ExtProcServer;
  let metrics: Metrics;
  beforeAll(async () => {
    ({ server, metrics } = await start({ maxMessageBytes: 4 * 1024 * 1024, streamIdleTimeoutMs: 300 }));
  });
  afterAll(() => server.shutdown(500));

  it('answers a request-headers message with a reply and OK', async () => {
    const r = await rawRequest(server.port, {}, frame(REQUEST_HEADERS));
    expect([r.status, r.headers['content-type'], grpcStatus(r)]).toEqual([200, 'application/grpc', 0]);
    expect(decodeReply(r.body.subarray(5)).response).toBe('request_headers');
  });

  it('ends a call at its grpc-timeout with DEADLINE_EXCEEDED', async () => {
    const r = await rawRequest(server.port, { 'grpc-timeout': '100m' }, frame(REQUEST_HEADERS), false);
    expect(grpcStatus(r)).toBe(4);
    expect(r.body.length).toBeGreaterThan(5); // the reply came first
    expect(await count(metrics.callsRefused, 'deadline')).toBe(1);
  });

  it('ends an idle stream (headers sent, never half-closed) with OK after PROFLAG_GRPC_STREAM_IDLE_TIMEOUT_MS', async () => {
    const r = await rawRequest(server.port, {}, frame(REQUEST_HEADERS), false);
    expect(grpcStatus(r)).toBe(0);
    expect(r.ms).toBeGreaterThanOrEqual(250);
    expect(await count(metrics.callsRefused, 'stream_idle')).toBeGreaterThanOrEqual(1);
  });

  it('refuses a 2 GB length prefix at once, without waiting for (or buffering) the body', async () => {
    const r = await rawRequest(server.port, {}, Buffer.from([0, 0x7f, 0xff, 0xff, 0xff]), false);
    expect(grpcStatus(r)).toBe(8);
    expect(r.ms).toBeLessThan(250); // long before the stream-idle timeout
  });

  it('refuses the compressed flag with INTERNAL, and a gzip grpc-encoding with UNIMPLEMENTED', async () => {
    expect(grpcStatus(await rawRequest(server.port, {}, frame(REQUEST_HEADERS, 1)))).toBe(13);
    const gz = await rawRequest(server.port, { 'grpc-encoding': 'gzip' }, frame(REQUEST_HEADERS, 1));
    expect([grpcStatus(gz), gz.headers['grpc-accept-encoding']]).toEqual([12, 'identity']);
  });

  it('answers a non-gRPC content-type with HTTP 415 and a non-POST with 405', async () => {
    const r = await rawRequest(server.port, { 'content-type': 'application/json' }, Buffer.from('{}'));
    expect(r.status).toBe(415);
    expect((await rawRequest(server.port, { ':method': 'GET' }, null)).status).toBe(405);
  });

  it('decides a 1 MB header value and 10,000 headers within bounds', async () => {
    const big = encodeRequest({
      request_headers: {
        headers: {
          headers: [
            { key: 'user-agent', raw_value: Buffer.alloc(1 << 20, 0x61) },
            ...Array.from({ length: 10_000 }, (_, i) => ({ key: `x-${i}`, raw_value: Buffer.from('v') })),
          ],
        },
      },
    });
    const r = await rawRequest(server.port, {}, frame(big));
    expect(grpcStatus(r)).toBe(0);
    expect(decodeReply(r.body.subarray(5)).response).toBe('request_headers');
  });

  it('ends with OK (Envoy continues) when a message does not decode', async () => {
    const r = await rawRequest(server.port, {}, frame(Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01])));
    expect([grpcStatus(r), r.body.length]).toEqual([0, 0]);
  });
});

describe('hostile connections and connection limits', () => {
  let server: ExtProcServer;
  let metrics: Metrics;
  beforeAll(async () => {
    ({ server, metrics } = await start({
      handshakeTimeoutMs: 300,
      idleTimeoutMs: 300,
      keepaliveMs: 200,
      keepaliveTimeoutMs: 200,
      closeGraceMs: 200,
    }));
  });
  afterAll(() => server.shutdown(500));

  const tcp = (port: number) =>
    new Promise<net.Socket>((resolve, reject) => {
      const s = net.connect(port, '127.0.0.1', () => resolve(s));
      s.on('error', reject);
    });
  const closed = (s: net.Socket) =>
    new Promise<number>((resolve) => {
      const started = Date.now();
      s.on('error', () => {});
      s.on('close', () => resolve(Date.now() - started));
      s.resume();
    });

  it('closes a connection that sends random bytes, and keeps serving the others', async () => {
    const s = await tcp(server.port);
    const done = closed(s);
    s.write(Buffer.from(Array.from({ length: 512 }, (_, i) => (i * 7919) % 256)));
    expect(await done).toBeLessThan(250);
    expect(grpcStatus(await rawRequest(server.port, {}, frame(REQUEST_HEADERS)))).toBe(0);
  });

  it('drops a TCP client that never sends the HTTP/2 preface (handshake timeout)', async () => {
    const s = await tcp(server.port);
    const ms = await closed(s);
    expect(ms).toBeGreaterThanOrEqual(250);
    expect(await count(metrics.connectionsClosed, 'handshake_timeout')).toBeGreaterThanOrEqual(1);
  });

  it('closes a peer that does not answer pings (keepalive timeout)', async () => {
    const quiet = await start({ keepaliveMs: 100, keepaliveTimeoutMs: 100, idleTimeoutMs: 0 });
    const s = await tcp(quiet.server.port);
    const done = closed(s);
    // The client preface and an empty SETTINGS frame; then silence (no SETTINGS ack, no PING ack).
    s.write(Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0])]));
    await done;
    expect(await count(quiet.metrics.connectionsClosed, 'keepalive_timeout')).toBe(1);
    await quiet.server.shutdown(200);
  });

  it('closes a connection without streams after the idle timeout, with GOAWAY', async () => {
    const client = http2.connect(`http://127.0.0.1:${server.port}`);
    client.on('error', () => {});
    const goaway = new Promise<number>((resolve) => client.on('goaway', (code) => resolve(code)));
    expect(await goaway).toBe(0);
    client.close();
    expect(await count(metrics.connectionsClosed, 'idle')).toBeGreaterThanOrEqual(1);
  });

  it('closes a connection at its maximum age, gracefully', async () => {
    const aged = await start({ maxConnectionAgeMs: 200, closeGraceMs: 200 });
    const client = http2.connect(`http://127.0.0.1:${aged.server.port}`);
    client.on('error', () => {});
    const goaway = new Promise<number>((resolve) => client.on('goaway', (code) => resolve(code)));
    expect(await goaway).toBe(0);
    client.close();
    expect(await count(aged.metrics.connectionsClosed, 'max_age')).toBe(1);
    await aged.server.shutdown(200);
  });
});

describe('graceful shutdown', () => {
  it('lets a call in flight finish, then refuses new connections', async () => {
    const { server } = await start({});
    const client = new grpc.Client(`127.0.0.1:${server.port}`, grpc.credentials.createInsecure());
    const call = client.makeBidiStreamRequest(
      PROCESS,
      (b: Buffer) => b,
      (b: Buffer) => b,
    );
    const status = new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
    call.on('error', () => {});
    await new Promise<void>((resolve) => {
      call.once('data', () => resolve());
      call.write(REQUEST_HEADERS);
    });
    const stopped = server.shutdown(2_000);
    await sleep(50);
    call.end();
    expect((await status).code).toBe(grpc.status.OK);
    await stopped;
    client.close();
    await expect(
      new Promise((resolve, reject) =>
        net.connect(server.port, '127.0.0.1', () => resolve('connected')).on('error', reject),
      ),
    ).rejects.toThrow(/ECONNREFUSED/);
  });
});

describe('messages being assembled share one budget (PROFLAG_GRPC_MAX_ASSEMBLY_BYTES)', () => {
  let server: ExtProcServer;
  let metrics: Metrics;
  const IDLE_MS = 2_000; // long enough that the holder still holds under a loaded CI machine
  beforeAll(async () => {
    ({ server, metrics } = await start({
      maxMessageBytes: 64 * 1024,
      maxAssemblyBytes: 100 * 1024,
      streamIdleTimeoutMs: IDLE_MS,
    }));
  });
  afterAll(() => server.shutdown(500));

  /** A length prefix announcing 60 KiB, then 1 KiB of it: the stream holds a 60 KiB body. */
  const unfinished = () => {
    const prefix = Buffer.alloc(5);
    prefix.writeUInt32BE(60 * 1024, 1);
    return Buffer.concat([prefix, Buffer.alloc(1024)]);
  };

  it('refuses a message past the budget with RESOURCE_EXHAUSTED, and serves again once the holder is gone', async () => {
    const holder = rawRequest(server.port, {}, unfinished(), false);
    await sleep(100);
    const refused = await rawRequest(server.port, {}, unfinished(), false);
    expect(grpcStatus(refused)).toBe(8);
    expect(refused.ms).toBeLessThan(IDLE_MS / 2); // at once, not at the idle timeout
    expect(await count(metrics.callsRefused, 'over_budget')).toBe(1);
    // The holder ends at the stream idle timeout; its reservation is given back.
    expect(grpcStatus(await holder)).toBe(0);
    const next = await rawRequest(server.port, {}, unfinished(), false);
    expect(grpcStatus(next)).toBe(0);
    expect(next.ms).toBeGreaterThanOrEqual(IDLE_MS * 0.8); // held (reserved), then idle-ended
    // A whole message in one DATA frame is decided as always.
    const whole = await rawRequest(server.port, {}, frame(REQUEST_HEADERS));
    expect(grpcStatus(whole)).toBe(0);
    expect(await count(metrics.callsRefused, 'over_budget')).toBe(1);
  });
});
