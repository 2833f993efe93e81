// The routing table for examples/flags/*.json and the helpers that run it against a sidecar;
// shared by the file-store and Redis-store end-to-end tests.
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Redis } from 'ioredis';
import { expect } from 'vitest';
import { EnvoyEmulator, type EmulatedRequest } from '../helpers/envoyEmulator.js';

export const EXAMPLES = fileURLToPath(new URL('../../examples/flags/', import.meta.url));
/** The example flags' names (file name = flag name), sorted: tests follow the folder as it grows. */
export const EXAMPLE_FLAG_NAMES: readonly string[] = readdirSync(EXAMPLES)
  .filter((f) => f.endsWith('.json'))
  .map((f) => f.slice(0, -'.json'.length))
  .sort();

/** The example flag documents, in the folder's order. */
export function exampleFlagDocs(): { name: string }[] {
  return readdirSync(EXAMPLES)
    .filter((f) => f.endsWith('.json'))
    .map((f) => JSON.parse(readFileSync(`${EXAMPLES}${f}`, 'utf8')) as { name: string });
}

/** Every example flag written under `prefix` with a plain SET each (no version bump, no publish). */
export async function setExampleFlags(client: Redis, prefix: string): Promise<void> {
  for (const doc of exampleFlagDocs()) await client.set(`${prefix}flag:${doc.name}`, JSON.stringify(doc));
}
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

export const at = (hour: number) => Date.UTC(2026, 10, 24, hour, 30);

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
  {
    name: 'checkout from DE (geo by IP)',
    req: { path: '/checkout', sourceAddress: IP.DE, headers: { 'user-agent': UA.firefox } },
    cluster: 'backend_canary',
    flags: ['checkout-v2=true', 'eu-banner=true'],
    headers: { 'x-checkout': 'v2', 'x-banner': 'eu' },
  },
  {
    name: 'checkout POST from FR with a small body',
    req: {
      method: 'POST',
      path: '/checkout/pay',
      sourceAddress: IP.FR,
      hasBody: true,
      headers: { 'user-agent': UA.firefox, 'content-length': '512' },
    },
    cluster: 'backend_canary',
    flags: ['checkout-v2=true', 'eu-banner=true'],
  },
  {
    name: 'checkout from the US stays stable (score 0.67 < 0.75)',
    req: { path: '/checkout', sourceAddress: IP.US, headers: { 'user-agent': UA.firefox } },
    cluster: 'backend_stable',
    flags: [],
  },
  {
    name: 'checkout with trailing slash and query, legacy header removed',
    req: {
      path: '/checkout/?step=2',
      sourceAddress: IP.DE,
      headers: { 'user-agent': UA.firefox, 'x-legacy-checkout': '1' },
    },
    cluster: 'backend_canary',
    headers: { 'x-legacy-checkout': null, 'x-checkout': 'v2' },
  },
  {
    name: 'checkout DELETE misses the method (0.67)',
    req: { method: 'DELETE', path: '/checkout', sourceAddress: IP.DE, headers: { 'user-agent': UA.firefox } },
    cluster: 'backend_stable',
    flags: ['eu-banner=true'],
  },
  {
    name: 'checkout with a huge body still scores 0.89',
    req: {
      method: 'POST',
      path: '/checkout',
      sourceAddress: IP.DE,
      hasBody: true,
      headers: { 'user-agent': UA.firefox, 'content-length': '100000' },
    },
    cluster: 'backend_canary',
  },
  {
    name: 'country from the trusted geo header wins over the IP',
    req: { path: '/checkout', sourceAddress: IP.US, headers: { 'user-agent': UA.firefox, 'x-country': 'FR' } },
    cluster: 'backend_canary',
  },
  {
    name: 'curl is quarantined whatever it asks',
    req: { path: '/anything', sourceAddress: IP.US, headers: { 'user-agent': UA.curl } },
    cluster: 'backend_quarantine',
    flags: ['scraper-quarantine=true'],
    headers: { 'x-proflag-bot': '1' },
  },
  {
    name: 'python-requests on checkout: quarantine outranks checkout-v2',
    req: { path: '/checkout', sourceAddress: IP.DE, headers: { 'user-agent': UA.pythonRequests } },
    cluster: 'backend_quarantine',
    flags: ['scraper-quarantine=true', 'checkout-v2=true', 'eu-banner=true'],
  },
  {
    name: 'Go http client is quarantined',
    req: { method: 'POST', path: '/api/login', sourceAddress: IP.US, headers: { 'user-agent': UA.goClient } },
    cluster: 'backend_quarantine',
  },
  {
    name: 'a scripted login meets the shadow-mode 429: nothing changes, not listed',
    req: { method: 'POST', path: '/api/login', sourceAddress: IP.US, headers: { 'user-agent': UA.pythonRequests } },
    cluster: 'backend_quarantine',
    flags: ['scraper-quarantine=true'],
    headers: { 'x-proflag-bot': '1' },
  },
  {
    name: 'the retired /api/v1/ matches its sunset flag',
    req: { path: '/api/v1/orders?page=2', sourceAddress: IP.US, headers: { 'user-agent': UA.firefox } },
    cluster: 'backend_stable',
    flags: ['api-v1-sunset=true'],
  },
  {
    name: 'Chrome on Android (another version) gets the beta API',
    req: { path: '/api/items', sourceAddress: IP.US, headers: { 'user-agent': UA.chromeAndroid } },
    cluster: 'backend_beta',
    flags: ['mobile-api-beta=true'],
  },
  {
    name: 'an older Chrome on Android too',
    req: { path: '/api/v2/cart', sourceAddress: IP.US, headers: { 'user-agent': UA.chromeAndroidOld } },
    cluster: 'backend_beta',
  },
  {
    name: 'Chrome on Android off the API stays stable',
    req: { path: '/home', sourceAddress: IP.US, headers: { 'user-agent': UA.chromeAndroid } },
    cluster: 'backend_stable',
    flags: [],
  },
  {
    name: 'desktop Firefox on the API stays stable',
    req: { path: '/api/items', sourceAddress: IP.US, headers: { 'user-agent': UA.firefox } },
    cluster: 'backend_stable',
    flags: [],
  },
  {
    name: 'desktop Chrome on the API stays stable',
    req: { path: '/api/items', sourceAddress: IP.US, headers: { 'user-agent': UA.chromeDesktop } },
    cluster: 'backend_stable',
  },
  {
    name: 'batch import at 23:30 runs on canary',
    hour: 23,
    req: { method: 'POST', path: '/batch/import', sourceAddress: IP.US, headers: { 'user-agent': UA.firefox } },
    cluster: 'backend_canary',
    flags: ['night-batch=true'],
  },
  {
    name: 'batch import at 03:30 (wrapped window)',
    hour: 3,
    req: { method: 'POST', path: '/batch/import/7', sourceAddress: IP.US, headers: { 'user-agent': UA.firefox } },
    cluster: 'backend_canary',
  },
  {
    name: 'batch import at noon stays stable',
    hour: 12,
    req: { method: 'POST', path: '/batch/import', sourceAddress: IP.US, headers: { 'user-agent': UA.firefox } },
    cluster: 'backend_stable',
  },
  {
    name: 'a 5 MB upload goes to beta with its tier header',
    req: {
      method: 'PUT',
      path: '/upload/file',
      sourceAddress: IP.US,
      hasBody: true,
      headers: { 'user-agent': UA.firefox, 'content-length': '5000000' },
    },
    cluster: 'backend_beta',
    flags: ['big-uploads=large'],
    headers: { 'x-upload-tier': 'large' },
  },
  {
    name: 'a small upload stays stable',
    req: {
      method: 'PUT',
      path: '/upload/file',
      sourceAddress: IP.US,
      hasBody: true,
      headers: { 'user-agent': UA.firefox, 'content-length': '1000' },
    },
    cluster: 'backend_stable',
  },
  {
    name: 'legacy API: explicit off, no routing',
    req: { path: '/legacy/orders', sourceAddress: IP.US, headers: { 'user-agent': UA.firefox } },
    cluster: 'backend_stable',
    flags: ['legacy-off=false'],
  },
  {
    name: 'a client-sent route header is removed',
    req: {
      path: '/home',
      sourceAddress: IP.US,
      headers: { 'user-agent': UA.firefox, 'x-proflag-cluster': 'backend_canary' },
    },
    cluster: 'backend_stable',
    headers: { 'x-proflag-cluster': null },
  },
  {
    name: 'a client-sent flags header is removed',
    req: {
      path: '/home',
      sourceAddress: IP.US,
      headers: { 'user-agent': UA.firefox, 'x-proflag-flags': 'checkout-v2=true' },
    },
    cluster: 'backend_stable',
    headers: { 'x-proflag-flags': null },
  },
  {
    name: 'a client-sent route header is overwritten when a flag routes',
    req: {
      path: '/checkout',
      sourceAddress: IP.DE,
      headers: { 'user-agent': UA.firefox, 'x-proflag-cluster': 'backend_beta' },
    },
    cluster: 'backend_canary',
  },
  {
    name: 'IDs in paths do not create new endpoints',
    req: { path: '/users/123/orders', sourceAddress: IP.private, headers: { 'user-agent': UA.firefox } },
    cluster: 'backend_stable',
    flags: [],
  },
  {
    name: 'no user agent, private IP: nothing matches',
    req: { path: '/', sourceAddress: IP.private },
    cluster: 'backend_stable',
    flags: [],
  },
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
