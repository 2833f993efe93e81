// The Envoy emulator itself, against a scripted ext_proc server on Envoy's official protos:
// each reply shape is applied the way ENVOY-EXTPROC.md says Envoy applies it (§3 mutation
// rules, §4 route re-resolution, §5 mode_override and immediate_response, §1 local replies
// are not sent to the processor). The e2e tests rely on these rules, so they are pinned here.
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EnvoyEmulator, officialExtProcClient } from '../helpers/envoyEmulator.js';

type Reply = Record<string, unknown>;
type Script = (kind: string, message: Record<string, unknown>) => Reply | 'close' | 'silence';

const raw = (s: string) => Buffer.from(s, 'latin1');
const set = (key: string, value: string) => ({ header: { key, raw_value: raw(value) }, append: { value: false } });

describe('Envoy emulator', () => {
  let server: grpc.Server;
  let port = 0;
  let script: Script = () => ({ request_headers: {} });
  const seen: string[] = [];

  beforeAll(async () => {
    const Ctor = officialExtProcClient();
    server = new grpc.Server();
    server.addService(Ctor.service, {
      Process: (call: grpc.ServerDuplexStream<Record<string, unknown>, Reply>) => {
        call.on('data', (msg: Record<string, unknown>) => {
          const kind = String(msg.request);
          seen.push(kind);
          const r = script(kind, msg);
          if (r === 'close') call.end();
          else if (r !== 'silence') call.write(r);
        });
        call.on('end', () => call.end());
        call.on('error', () => {});
      },
    });
    port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
    );
  });
  afterAll(() => server.forceShutdown());

  // A generous message timeout (the first call also connects): these tests are about how
  // replies are applied, not about timing, and the machines are shared.
  const emulator = (options: ConstructorParameters<typeof EnvoyEmulator>[1] = {}) =>
    new EnvoyEmulator(`127.0.0.1:${port}`, { messageTimeoutMs: 5_000, ...options });

  it('answers an immediate_response as a local reply: status, headers, body, details, no upstream', async () => {
    script = () => ({
      immediate_response: {
        status: { code: 'TooManyRequests' },
        headers: { set_headers: [set('retry-after', '30'), set('x-envoy-foo', 'dropped'), set(':path', '/x')] },
        body: raw('slow down'),
        details: 'proflag blocked',
      },
    });
    let upstreamCalls = 0;
    const envoy = emulator({ upstream: () => (upstreamCalls++, { status: 200 }), sendResponseHeaders: true });
    seen.length = 0;
    const out = await envoy.request({ path: '/login' });
    envoy.close();
    expect(out.localReply).toBe(true);
    expect(out.status).toBe(429);
    expect(out.responseHeaders.get('retry-after')).toBe('30');
    expect(out.responseHeaders.has('x-envoy-foo')).toBe(false);
    expect(out.rejectedMutations).toBe(2);
    expect(out.body.toString()).toBe('slow down');
    expect(out.details).toBe('proflag_blocked');
    expect(upstreamCalls).toBe(0);
    // A local reply is not sent to the processor (Envoy ≥ 1.34), even with response SEND.
    expect(seen).toEqual(['request_headers']);
    expect(out.responsePhaseSent).toBe(false);
  });

  it('an immediate status below 200 becomes 200', async () => {
    script = () => ({ immediate_response: { status: { code: 'Continue' } } });
    const envoy = emulator();
    const out = await envoy.request({ path: '/' });
    envoy.close();
    expect(out.status).toBe(200);
  });

  it('rewrites :path and re-routes on it only with clear_route_cache', async () => {
    const routes = [{ prefix: '/api/v2/', cluster: 'backend_v2' }];
    const rewrite =
      (clear: boolean): Script =>
      () => ({
        request_headers: {
          response: { header_mutation: { set_headers: [set(':path', '/api/v2/items?q=1')] }, clear_route_cache: clear },
        },
      });
    script = rewrite(true);
    let envoy = emulator({ pathRoutes: routes });
    let out = await envoy.request({ path: '/api/v1/items?q=1' });
    envoy.close();
    expect(out.path).toBe('/api/v2/items?q=1');
    expect(out.cluster).toBe('backend_v2');

    script = rewrite(false);
    envoy = emulator({ pathRoutes: routes });
    out = await envoy.request({ path: '/api/v1/items?q=1' });
    envoy.close();
    expect(out.path).toBe('/api/v2/items?q=1');
    expect(out.cluster).toBe('backend_stable');
  });

  it('ignores :method, :authority and x-envoy-* mutations without allow_all_routing', async () => {
    script = () => ({
      request_headers: {
        response: {
          header_mutation: { set_headers: [set(':method', 'POST'), set(':authority', 'evil'), set('x-envoy-x', '1')] },
        },
      },
    });
    const envoy = emulator();
    const out = await envoy.request({ path: '/' });
    envoy.close();
    expect(out.rejectedMutations).toBe(3);
    expect(out.upstreamHeaders.get(':method')).toBe('GET');
    expect(out.upstreamHeaders.get(':authority')).toBe('shop.example.com');
  });

  it('sends response headers only when mode_override asks and allow_mode_override is on', async () => {
    script = (kind) =>
      kind === 'request_headers'
        ? { request_headers: {}, mode_override: { response_header_mode: 'SEND' } }
        : {
            response_headers: {
              response: {
                header_mutation: { set_headers: [set('x-served-by', 'canary')], remove_headers: ['server'] },
              },
            },
          };
    const upstream = () => ({ status: 503, headers: { server: 'nginx', 'x-a': 'b' } });
    let envoy = emulator({ allowModeOverride: true, upstream });
    seen.length = 0;
    let out = await envoy.request({ path: '/' });
    envoy.close();
    expect(seen).toEqual(['request_headers', 'response_headers']);
    expect(out.status).toBe(503);
    expect(out.responseHeaders.get('x-served-by')).toBe('canary');
    expect(out.responseHeaders.has('server')).toBe(false);
    expect(out.responseHeaders.get('x-a')).toBe('b');
    expect(out.messagesSent).toBe(2);

    envoy = emulator({ allowModeOverride: false, upstream });
    seen.length = 0;
    out = await envoy.request({ path: '/' });
    envoy.close();
    expect(seen).toEqual(['request_headers']);
    expect(out.responseHeaders.get('server')).toBe('nginx');
    expect(out.messagesSent).toBe(1);
  });

  it('a :status mutation in the response applies; one below 200 is ignored', async () => {
    script = (kind) =>
      kind === 'request_headers'
        ? { request_headers: {} }
        : { response_headers: { response: { header_mutation: { set_headers: [set(':status', '201')] } } } };
    let envoy = emulator({ sendResponseHeaders: true });
    let out = await envoy.request({ path: '/' });
    envoy.close();
    expect(out.status).toBe(201);
    script = (kind) =>
      kind === 'request_headers'
        ? { request_headers: {} }
        : { response_headers: { response: { header_mutation: { set_headers: [set(':status', '100')] } } } };
    envoy = emulator({ sendResponseHeaders: true });
    out = await envoy.request({ path: '/' });
    envoy.close();
    expect(out.status).toBe(200);
    expect(out.rejectedMutations).toBe(1);
  });

  it('an upstream reset gives 503 and no response phase', async () => {
    script = () => ({ request_headers: {}, mode_override: { response_header_mode: 'SEND' } });
    const envoy = emulator({ allowModeOverride: true, upstream: () => 'reset' });
    seen.length = 0;
    const out = await envoy.request({ path: '/' });
    envoy.close();
    expect(out.status).toBe(503);
    expect(out.responsePhaseSent).toBe(false);
    expect(seen).toEqual(['request_headers']);
  });

  it('a slow upstream (an answer later) sends the response phase only once it has answered', async () => {
    const sentAt: number[] = [];
    script = (kind) => {
      sentAt.push(performance.now());
      return kind === 'request_headers'
        ? { request_headers: {}, mode_override: { response_header_mode: 'SEND' } }
        : { response_headers: {} };
    };
    const envoy = emulator({
      allowModeOverride: true,
      upstream: () => new Promise((resolve) => setTimeout(() => resolve({ status: 502 }), 60)),
    });
    seen.length = 0;
    const out = await envoy.request({ path: '/' });
    envoy.close();
    expect(seen).toEqual(['request_headers', 'response_headers']);
    expect(out.status).toBe(502);
    // Timers may fire a little early on a busy machine; 60 ms is far above the exchange itself.
    expect(sentAt[1]! - sentAt[0]!).toBeGreaterThanOrEqual(55);
  });

  it('a silent processor: 504 fail-closed, the upstream answer fail-open', async () => {
    script = () => 'silence';
    let envoy = emulator({ failureModeAllow: false, messageTimeoutMs: 50 });
    let out = await envoy.request({ path: '/' });
    envoy.close();
    expect(out.status).toBe(504);
    envoy = emulator({ failureModeAllow: true, messageTimeoutMs: 50, upstream: () => ({ status: 204 }) });
    out = await envoy.request({ path: '/' });
    envoy.close();
    expect(out.processorSkipped).toBe(true);
    expect(out.status).toBe(204);
  });
});
