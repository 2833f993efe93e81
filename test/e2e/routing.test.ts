// The sidecar end to end, as Envoy uses it: the real proflag (config → store → snapshot →
// gRPC edge) serving the shipped example flags, driven by the Envoy emulator, which applies
// the returned mutations and re-resolves the route as Envoy's router would.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { startSidecar, type Sidecar } from '../../src/sidecar.js';
import { createLogger } from '../../src/telemetry/logger.js';
import { EnvoyEmulator, type EmulatedRequest } from '../helpers/envoyEmulator.js';
import { at, e2eEnv, EXAMPLES, flagsOf, IP, ROUTING_TABLE, runTable } from './routingTable.js';

describe('routing the example flags (file store)', () => {
  let sidecar: Sidecar;
  let now = at(12);

  beforeAll(async () => {
    const config = loadConfig(e2eEnv({ PROFLAG_STORE: 'file', PROFLAG_FLAGS_DIR: EXAMPLES }));
    sidecar = await startSidecar(config, { logger: createLogger('error'), now: () => now, defaultMetrics: false });
  });
  afterAll(async () => {
    await sidecar?.stop(1000);
  });

  it(`routes a table of ${ROUTING_TABLE.length} requests across the example flags`, async () => {
    const flagsUsed = new Set(ROUTING_TABLE.flatMap((c) => (c.flags ?? []).map((f) => f.split('=')[0])));
    expect(ROUTING_TABLE.length).toBeGreaterThanOrEqual(20);
    expect(flagsUsed.size).toBeGreaterThanOrEqual(5);
    await runTable(sidecar.grpcPort, (h) => (now = at(h)));
  });

  it('search experiment: half the users, stable per user, treatment on canary', async () => {
    now = at(12);
    const envoy = new EnvoyEmulator(`127.0.0.1:${sidecar.grpcPort}`, { messageTimeoutMs: 2_000 });
    const seen = new Map<string, string>();
    let inRollout = 0;
    let treatment = 0;
    for (let i = 0; i < 300; i++) {
      const user = `user-${i}`;
      const out = await envoy.request({ path: '/search', sourceAddress: IP.US, headers: { 'x-user-id': user } });
      const flag = flagsOf(out.upstreamHeaders).find((f) => f.startsWith('search-experiment='));
      if (flag) inRollout++;
      if (flag === 'search-experiment=treatment') {
        treatment++;
        expect(out.cluster).toBe('backend_canary');
      } else expect(out.cluster).toBe('backend_stable');
      seen.set(user, `${flag}|${out.cluster}`);
    }
    // Stickiness: the same users get the same answers.
    for (const user of ['user-1', 'user-42', 'user-299']) {
      const out = await envoy.request({ path: '/search', sourceAddress: IP.DE, headers: { 'x-user-id': user } });
      const flag = flagsOf(out.upstreamHeaders).find((f) => f.startsWith('search-experiment='));
      expect(`${flag}|${out.cluster}`).toBe(seen.get(user));
    }
    envoy.close();
    expect(inRollout / 300).toBeGreaterThan(0.4);
    expect(inRollout / 300).toBeLessThan(0.6);
    expect(treatment / inRollout).toBeGreaterThan(0.35);
    expect(treatment / inRollout).toBeLessThan(0.65);
  });

  it('tells Envoy the decision in dynamic metadata', async () => {
    const envoy = new EnvoyEmulator(`127.0.0.1:${sidecar.grpcPort}`);
    const out = await envoy.request({ path: '/checkout', sourceAddress: IP.DE });
    envoy.close();
    const ns = (
      out.dynamicMetadata?.fields as Record<
        string,
        { structValue?: { fields?: Record<string, Record<string, unknown>> } }
      >
    )?.proflag;
    expect(ns?.structValue?.fields?.cluster?.stringValue).toBe('backend_canary');
    expect(ns?.structValue?.fields?.flags?.stringValue).toBe('checkout-v2=true,eu-banner=true');
  });

  it('works when Envoy also sends response headers (response_header_mode SEND)', async () => {
    const envoy = new EnvoyEmulator(`127.0.0.1:${sidecar.grpcPort}`, { sendResponseHeaders: true });
    const out = await envoy.request({ path: '/checkout', sourceAddress: IP.DE });
    envoy.close();
    expect(out.error).toBeNull();
    expect(out.cluster).toBe('backend_canary');
  });

  it('answers hostile requests with CONTINUE and keeps serving', async () => {
    const envoy = new EnvoyEmulator(`127.0.0.1:${sidecar.grpcPort}`);
    const hostile: EmulatedRequest[] = [
      { path: '/checkout', headers: { 'user-agent': 'A'.repeat(100_000) } },
      { path: '/checkout', headers: { 'user-agent': Buffer.from([0xc3, 0x28, 0xff, 0xfe, 0x00, 0x41]) } },
      { path: '/%zz/%00/../../etc/passwd', headers: { 'content-length': '99999999999999999999999' } },
      {
        path: '/checkout',
        headers: { 'x-forwarded-for': Array.from({ length: 1000 }, (_, i) => `1.2.3.${i % 256}`).join(', ') },
      },
      { path: '/x', method: 'NOT A METHOD', sourceAddress: 'not-an-ip' },
      { path: '/x', headers: Object.fromEntries(Array.from({ length: 2000 }, (_, i) => [`x-h-${i}`, 'v'])) },
      { path: '' },
    ];
    for (const req of hostile) {
      const out = await envoy.request(req);
      expect(out.error).toBeNull();
      expect(out.status).toBe(200);
    }
    const ok = await envoy.request({ path: '/checkout', sourceAddress: IP.DE });
    envoy.close();
    expect(ok.cluster).toBe('backend_canary');
  });

  it('reports readiness, metrics and explanations on the admin port', async () => {
    const base = `http://127.0.0.1:${sidecar.adminPort}`;
    const ready = await fetch(`${base}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ ready: true, stale: false });
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toMatch(/proflag_decisions_total\{result="match"\} \d+/);
    const explained = await fetch(`${base}/explain`, {
      method: 'POST',
      body: JSON.stringify({ headers: { ':method': 'GET', ':path': '/checkout', 'x-country': 'DE' } }),
    });
    const body = (await explained.json()) as { decision: { route: string }; flags: { name: string; score: number }[] };
    expect(body.decision.route).toBe('backend_canary');
    expect(body.flags.find((f) => f.name === 'checkout-v2')?.score).toBeCloseTo(4 / 4.5);
  });
});

describe('payload size counted in the body phase (PROFLAG_BODY_SIZE=on)', () => {
  let sidecar: Sidecar;
  beforeAll(async () => {
    const config = loadConfig(e2eEnv({ PROFLAG_STORE: 'file', PROFLAG_FLAGS_DIR: EXAMPLES, PROFLAG_BODY_SIZE: 'on' }));
    sidecar = await startSidecar(config, { logger: createLogger('error'), now: () => at(12), defaultMetrics: false });
  });
  afterAll(async () => {
    await sidecar?.stop(1000);
  });

  const chunk = Buffer.alloc(512 * 1024, 0x61);
  const upload = (chunks: number, headers: Record<string, string> = {}): EmulatedRequest => ({
    method: 'PUT',
    path: '/upload/file',
    sourceAddress: IP.US,
    headers: { 'user-agent': 'Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0', ...headers },
    body: Array.from({ length: chunks }, () => chunk),
  });

  it.each(['BUFFERED', 'STREAMED'] as const)(
    '%s: a chunked 2 MiB upload is routed after its body is counted',
    async (mode) => {
      const envoy = new EnvoyEmulator(`127.0.0.1:${sidecar.grpcPort}`, {
        requestBodyMode: mode,
        messageTimeoutMs: 2_000,
      });
      const big = await envoy.request(upload(4));
      const small = await envoy.request(upload(1));
      envoy.close();
      expect(big.error).toBeNull();
      expect(big.cluster).toBe('backend_beta');
      expect(flagsOf(big.upstreamHeaders)).toEqual(['big-uploads=large']);
      expect(small.cluster).toBe('backend_stable');
    },
  );

  it('requests with content-length are still decided on their headers', async () => {
    const envoy = new EnvoyEmulator(`127.0.0.1:${sidecar.grpcPort}`, { requestBodyMode: 'BUFFERED' });
    const out = await envoy.request({ ...upload(1), headers: { 'content-length': '5000000' } });
    envoy.close();
    expect(out.cluster).toBe('backend_beta');
  });
});
