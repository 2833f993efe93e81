// The sidecar end to end, as Envoy uses it: the real proflag (config → store → snapshot →
// gRPC edge) serving the shipped example flags, driven by the Envoy emulator, which applies
// the returned mutations and re-resolves the route as Envoy's router would.
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { startSidecar, type Sidecar } from '../../src/sidecar.js';
import { createLogger } from '../../src/telemetry/logger.js';
import { EnvoyEmulator, type EmulatedRequest } from '../helpers/envoyEmulator.js';

const EXAMPLES = fileURLToPath(new URL('../../examples/flags/', import.meta.url));
export const UA = {
  firefox: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0',
  chromeAndroid:
    'Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.6367.82 Mobile Safari/537.36',
  chromeAndroidOld:
    'Mozilla/5.0 (Linux; Android 11; Redmi Note 9 Pro) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/96.0.4664.104 Mobile Safari/537.36',
  chromeDesktop:
    'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36',
  curl: 'curl/7.88.1',
  pythonRequests: 'python-requests/2.28.1',
  goClient: 'Go-http-client/2.0',
};
export const IP = { DE: '81.169.145.1:40000', FR: '5.39.0.1:40001', US: '8.8.8.8:40002', private: '10.1.2.3:4' };

const at = (hour: number) => Date.UTC(2026, 10, 24, hour, 30);

export interface RoutingCase {
  name: string;
  hour?: number;
  req: EmulatedRequest;
  cluster: string;
  flags?: string[];
  headers?: Record<string, string | null>;
}

/** The routing table for examples/flags/*.json; shared with the Redis-backed variant. */
export const ROUTING_TABLE: RoutingCase[] = [
  { name: 'checkout from DE (geo by IP)', req: { path: '/checkout', sourceAddress: IP.DE, headers: { 'user-agent': UA.firefox } }, cluster: 'backend_canary', flags: ['checkout-v2=true', 'eu-banner=true'], headers: { 'x-checkout': 'v2', 'x-banner': 'eu' } },
  { name: 'checkout POST from FR with a small body', req: { method: 'POST', path: '/checkout/pay', sourceAddress: IP.FR, hasBody: true, headers: { 'user-agent': UA.firefox, 'content-length': '512' } }, cluster: 'backend_canary', flags: ['checkout-v2=true', 'eu-banner=true'] },
  { name: 'checkout from the US stays stable (score 0.67 < 0.75)', req: { path: '/checkout', sourceAddress: IP.US, headers: { 'user-agent': UA.firefox } }, cluster: 'backend_stable', flags: [] },
  { name: 'checkout with trailing slash and query, legacy header removed', req: { path: '/checkout/?step=2', sourceAddress: IP.DE, headers: { 'user-agent': UA.firefox, 'x-legacy-checkout': '1' } }, cluster: 'backend_canary', headers: { 'x-legacy-checkout': null, 'x-checkout': 'v2' } },
  { name: 'checkout DELETE misses the method (0.67)', req: { method: 'DELETE', path: '/checkout', sourceAddress: IP.DE, headers: { 'user-agent': UA.firefox } }, cluster: 'backend_stable', flags: ['eu-banner=true'] },
  { name: 'checkout with a huge body still scores 0.89', req: { method: 'POST', path: '/checkout', sourceAddress: IP.DE, hasBody: true, headers: { 'user-agent': UA.firefox, 'content-length': '100000' } }, cluster: 'backend_canary' },
  { name: 'country from the trusted geo header wins over the IP', req: { path: '/checkout', sourceAddress: IP.US, headers: { 'user-agent': UA.firefox, 'x-country': 'FR' } }, cluster: 'backend_canary' },
  { name: 'curl is quarantined whatever it asks', req: { path: '/anything', sourceAddress: IP.US, headers: { 'user-agent': UA.curl } }, cluster: 'backend_quarantine', flags: ['scraper-quarantine=true'], headers: { 'x-proflag-bot': '1' } },
  { name: 'python-requests on checkout: quarantine outranks checkout-v2', req: { path: '/checkout', sourceAddress: IP.DE, headers: { 'user-agent': UA.pythonRequests } }, cluster: 'backend_quarantine', flags: ['scraper-quarantine=true', 'checkout-v2=true', 'eu-banner=true'] },
  { name: 'Go http client is quarantined', req: { method: 'POST', path: '/api/login', sourceAddress: IP.US, headers: { 'user-agent': UA.goClient } }, cluster: 'backend_quarantine' },
  { name: 'Chrome on Android (another version) gets the beta API', req: { path: '/api/items', sourceAddress: IP.US, headers: { 'user-agent': UA.chromeAndroid } }, cluster: 'backend_beta', flags: ['mobile-api-beta=true'] },
  { name: 'an older Chrome on Android too', req: { path: '/api/v2/cart', sourceAddress: IP.US, headers: { 'user-agent': UA.chromeAndroidOld } }, cluster: 'backend_beta' },
  { name: 'Chrome on Android off the API stays stable', req: { path: '/home', sourceAddress: IP.US, headers: { 'user-agent': UA.chromeAndroid } }, cluster: 'backend_stable', flags: [] },
  { name: 'desktop Firefox on the API stays stable', req: { path: '/api/items', sourceAddress: IP.US, headers: { 'user-agent': UA.firefox } }, cluster: 'backend_stable', flags: [] },
  { name: 'desktop Chrome on the API stays stable', req: { path: '/api/items', sourceAddress: IP.US, headers: { 'user-agent': UA.chromeDesktop } }, cluster: 'backend_stable' },
  { name: 'batch import at 23:30 runs on canary', hour: 23, req: { method: 'POST', path: '/batch/import', sourceAddress: IP.US, headers: { 'user-agent': UA.firefox } }, cluster: 'backend_canary', flags: ['night-batch=true'] },
  { name: 'batch import at 03:30 (wrapped window)', hour: 3, req: { method: 'POST', path: '/batch/import/7', sourceAddress: IP.US, headers: { 'user-agent': UA.firefox } }, cluster: 'backend_canary' },
  { name: 'batch import at noon stays stable', hour: 12, req: { method: 'POST', path: '/batch/import', sourceAddress: IP.US, headers: { 'user-agent': UA.firefox } }, cluster: 'backend_stable' },
  { name: 'a 5 MB upload goes to beta with its tier header', req: { method: 'PUT', path: '/upload/file', sourceAddress: IP.US, hasBody: true, headers: { 'user-agent': UA.firefox, 'content-length': '5000000' } }, cluster: 'backend_beta', flags: ['big-uploads=large'], headers: { 'x-upload-tier': 'large' } },
  { name: 'a small upload stays stable', req: { method: 'PUT', path: '/upload/file', sourceAddress: IP.US, hasBody: true, headers: { 'user-agent': UA.firefox, 'content-length': '1000' } }, cluster: 'backend_stable' },
  { name: 'legacy API: explicit off, no routing', req: { path: '/legacy/orders', sourceAddress: IP.US, headers: { 'user-agent': UA.firefox } }, cluster: 'backend_stable', flags: ['legacy-off=false'] },
  { name: 'a client-sent route header is removed', req: { path: '/home', sourceAddress: IP.US, headers: { 'user-agent': UA.firefox, 'x-proflag-cluster': 'backend_canary' } }, cluster: 'backend_stable', headers: { 'x-proflag-cluster': null } },
  { name: 'a client-sent flags header is removed', req: { path: '/home', sourceAddress: IP.US, headers: { 'user-agent': UA.firefox, 'x-proflag-flags': 'checkout-v2=true' } }, cluster: 'backend_stable', headers: { 'x-proflag-flags': null } },
  { name: 'a client-sent route header is overwritten when a flag routes', req: { path: '/checkout', sourceAddress: IP.DE, headers: { 'user-agent': UA.firefox, 'x-proflag-cluster': 'backend_beta' } }, cluster: 'backend_canary' },
  { name: 'IDs in paths do not create new endpoints', req: { path: '/users/123/orders', sourceAddress: IP.private, headers: { 'user-agent': UA.firefox } }, cluster: 'backend_stable', flags: [] },
  { name: 'no user agent, private IP: nothing matches', req: { path: '/', sourceAddress: IP.private }, cluster: 'backend_stable', flags: [] },
];

export function flagsOf(headers: Map<string, string>): string[] {
  const v = headers.get('x-proflag-flags');
  return v ? v.split(',') : [];
}

export function e2eEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  return {
    PROFLAG_GRPC_ADDR: '127.0.0.1:0',
    PROFLAG_ADMIN_ADDR: '127.0.0.1:0',
    PROFLAG_UA_HASH_KEY: 'test-key-0123456789abcdef',
    PROFLAG_GEO_HEADER: 'x-country',
    LOG_LEVEL: 'error',
    ...extra,
  };
}

/** Run the routing table against a started sidecar; the clock is set per case. */
export async function runTable(sidecarPort: number, setHour: (h: number) => void): Promise<void> {
  const envoy = new EnvoyEmulator(`127.0.0.1:${sidecarPort}`, { messageTimeoutMs: 2_000 });
  try {
    for (const c of ROUTING_TABLE) {
      setHour(c.hour ?? 12);
      const out = await envoy.request(c.req);
      const where = `case "${c.name}"`;
      expect(out.error, where).toBeNull();
      expect(out.processorSkipped, where).toBe(false);
      expect(out.cluster, where).toBe(c.cluster);
      if (c.flags) expect(flagsOf(out.upstreamHeaders), where).toEqual(c.flags);
      for (const [name, value] of Object.entries(c.headers ?? {})) {
        expect(out.upstreamHeaders.get(name) ?? null, `${where}: header ${name}`).toBe(value);
      }
    }
  } finally {
    envoy.close();
  }
}

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
    const ns = (out.dynamicMetadata?.fields as Record<string, { structValue?: { fields?: Record<string, Record<string, unknown>> } }>)?.proflag;
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
      { path: '/checkout', headers: { 'x-forwarded-for': Array.from({ length: 1000 }, (_, i) => `1.2.3.${i % 256}`).join(', ') } },
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
