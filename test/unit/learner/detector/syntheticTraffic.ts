// A small synthetic request stream for the detector's tests and measurements (the full scenario
// generator lives with the learner): a stationary mixture of endpoints, methods, countries,
// user-agent families, sizes and diurnal hours, with planted, labelled anomalies. Seeded.
import type { DetectorInput } from '../../../../src/learner/core/detector/profileDetector.js';
import { SeededRandom } from '../../../../src/learner/core/detector/random.js';

export type Planted =
  | 'credentialStuffing' // a burst: POST /api/login from a new client family in one country, fixed size
  | 'scanner' // unique paths (GET) from a scanner family, spread over the stream
  | 'methodMismatch' // DELETE/PUT/PATCH on read-only endpoints by ordinary clients
  | 'hugePayload' // ordinary POSTs with bodies 2^16..2^24 bytes
  | 'newMobileApp' // a new app version family on the app endpoints, 1% of traffic from its onset
  | 'regionalCampaign'; // a country rarely seen before, on the shop endpoints at night (for it)

export const PLANTED: readonly Planted[] = [
  'credentialStuffing',
  'scanner',
  'methodMismatch',
  'hugePayload',
  'newMobileApp',
  'regionalCampaign',
];

export interface SyntheticEvent {
  readonly input: DetectorInput;
  readonly nowMs: number;
  /** null for normal traffic. */
  readonly planted: Planted | null;
}

interface Endpoint {
  readonly path: string;
  readonly weight: number;
  readonly methods: readonly [string, number][];
  /** Typical body size bin of requests with a body, and its spread. */
  readonly sizeBin: number;
  readonly app: boolean;
}

const ENDPOINTS: readonly Endpoint[] = [
  {
    path: '/',
    weight: 30,
    methods: [
      ['GET', 0.97],
      ['HEAD', 0.03],
    ],
    sizeBin: 0,
    app: false,
  },
  { path: '/products', weight: 18, methods: [['GET', 1]], sizeBin: 0, app: false },
  { path: '/products/:id', weight: 40, methods: [['GET', 1]], sizeBin: 0, app: false },
  { path: '/api/products/:id', weight: 25, methods: [['GET', 1]], sizeBin: 0, app: true },
  {
    path: '/api/search',
    weight: 20,
    methods: [
      ['GET', 0.8],
      ['POST', 0.2],
    ],
    sizeBin: 8,
    app: true,
  },
  {
    path: '/api/cart',
    weight: 12,
    methods: [
      ['GET', 0.55],
      ['POST', 0.35],
      ['DELETE', 0.1],
    ],
    sizeBin: 9,
    app: true,
  },
  { path: '/api/login', weight: 6, methods: [['POST', 1]], sizeBin: 7, app: true },
  {
    path: '/api/orders',
    weight: 4,
    methods: [
      ['GET', 0.6],
      ['POST', 0.4],
    ],
    sizeBin: 11,
    app: true,
  },
  {
    path: '/api/profile',
    weight: 5,
    methods: [
      ['GET', 0.8],
      ['PUT', 0.2],
    ],
    sizeBin: 10,
    app: true,
  },
  { path: '/static/:asset', weight: 35, methods: [['GET', 1]], sizeBin: 0, app: false },
  { path: '/api/upload', weight: 1, methods: [['POST', 1]], sizeBin: 17, app: true },
  { path: '/help/:topic', weight: 3, methods: [['GET', 1]], sizeBin: 0, app: false },
  {
    path: '/api/reviews',
    weight: 3,
    methods: [
      ['GET', 0.85],
      ['POST', 0.15],
    ],
    sizeBin: 9,
    app: true,
  },
  { path: '/health', weight: 2, methods: [['GET', 1]], sizeBin: 0, app: false },
];

// Country, weight, UTC offset in hours.
const COUNTRIES: readonly [string, number, number][] = [
  ['US', 30, -5],
  ['DE', 12, 1],
  ['GB', 10, 0],
  ['FR', 8, 1],
  ['IN', 8, 5],
  ['BR', 6, -3],
  ['JP', 5, 9],
  ['CA', 4, -5],
  ['ES', 4, 1],
  ['IT', 4, 1],
  ['NL', 3, 1],
  ['PL', 3, 1],
  ['AU', 2, 10],
  ['MX', 2, -6],
  ['SE', 1.5, 1],
  ['KR', 1.5, 9],
  ['TR', 1, 3],
  ['ZA', 0.8, 2],
  ['AR', 0.7, -3],
  ['SG', 0.5, 8],
];

// Family, weight, web (true) or app (false), bot.
const WEB_FAMILIES: readonly [string, number][] = [
  ['chrome-windows', 30],
  ['chrome-android', 22],
  ['safari-ios', 18],
  ['safari-mac', 7],
  ['edge-windows', 7],
  ['firefox-windows', 4],
  ['chrome-mac', 5],
  ['samsung-android', 3],
  ['firefox-linux', 1],
  ['opera-windows', 1],
];
const APP_FAMILIES: readonly [string, number][] = [
  ['shopapp-ios-4', 50],
  ['shopapp-android-4', 50],
];
const BOT_FAMILIES: readonly [string, number][] = [
  ['googlebot', 60],
  ['bingbot', 30],
  ['uptime-monitor', 10],
];

/** Relative traffic by local hour: low at night, peaks in the evening. */
const DIURNAL = Array.from(
  { length: 24 },
  (_, h) => 0.15 + Math.max(0, Math.sin(((h - 6) / 24) * 2 * Math.PI)) + (h >= 18 && h <= 22 ? 0.4 : 0),
);

function pick<T>(rng: SeededRandom, items: readonly (readonly [T, number])[], total?: number): T {
  const sum = total ?? items.reduce((a, [, w]) => a + w, 0);
  let r = rng.next() * sum;
  for (const [v, w] of items) {
    r -= w;
    if (r < 0) return v;
  }
  return items[items.length - 1]![0];
}

function normal(rng: SeededRandom): number {
  // Box–Muller (one of the pair).
  const u = 1 - rng.next();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng.next());
}

export interface SyntheticOptions {
  readonly events: number;
  readonly seed?: number;
  /** Which anomalies to plant (default all). */
  readonly planted?: readonly Planted[];
  /** Milliseconds between events (default 1,000: 86,400 events a day). */
  readonly stepMs?: number;
}

export function generateTraffic(options: SyntheticOptions): SyntheticEvent[] {
  const rng = new SeededRandom(options.seed ?? 1);
  const n = options.events;
  const planted = new Set(options.planted ?? PLANTED);
  const stepMs = options.stepMs ?? 1_000;
  const epWeights = ENDPOINTS.map((e) => [e, e.weight] as const);
  const appEps = ENDPOINTS.filter((e) => e.app).map((e) => [e, e.weight] as const);
  const shopEps = ENDPOINTS.filter((e) => e.path.startsWith('/products')).map((e) => [e, e.weight] as const);
  const readOnly = ENDPOINTS.filter((e) => e.methods.length === 1 && e.methods[0]![0] === 'GET').map(
    (e) => [e, e.weight] as const,
  );
  const countries = COUNTRIES.map(([c, w]) => [c, w] as const);
  const offsets = new Map(COUNTRIES.map(([c, , o]) => [c, o]));
  const start = Date.UTC(2025, 0, 6, 0, 0, 0);

  // Planted windows, as shares of the stream (all after a clean first third: with the default
  // step and 300,000 events, the first 28 hours, so every hour of the day was seen once).
  const stuffing = { from: Math.floor(n * 0.45), to: Math.floor(n * 0.45) + Math.min(2_000, Math.floor(n * 0.02)) * 5 };
  const appOnset = Math.floor(n * 0.6);
  const campaign = { from: Math.floor(n * 0.75), to: Math.floor(n * 0.85) };
  const spreadFrom = Math.floor(n * 0.35);

  const out: SyntheticEvent[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const nowMs = start + i * stepMs;
    const utcHour = Math.floor(nowMs / 3_600_000) % 24;
    let kind: Planted | null = null;
    const r = rng.next();
    if (planted.has('credentialStuffing') && i >= stuffing.from && i < stuffing.to && r < 0.2)
      kind = 'credentialStuffing';
    else if (i >= spreadFrom && planted.has('scanner') && r < 0.0025) kind = 'scanner';
    else if (i >= spreadFrom && planted.has('methodMismatch') && r < 0.0035) kind = 'methodMismatch';
    else if (i >= spreadFrom && planted.has('hugePayload') && r < 0.0045) kind = 'hugePayload';
    else if (i >= appOnset && planted.has('newMobileApp') && r < 0.0145) kind = 'newMobileApp';
    else if (i >= campaign.from && i < campaign.to && planted.has('regionalCampaign') && r < 0.0245)
      kind = 'regionalCampaign';

    let input: DetectorInput;
    switch (kind) {
      case 'credentialStuffing':
        input = {
          method: 'POST',
          endpoint: '/api/login',
          country: rng.next() < 0.8 ? 'VN' : 'ID',
          uaFamily: 'python-requests',
          sizeBin: 7,
          hour: utcHour,
        };
        break;
      case 'scanner': {
        const probe = ['/.env', '/wp-login.php', '/admin/config', '/phpmyadmin/', '/.git/config', '/server-status'];
        const path = rng.next() < 0.5 ? probe[rng.nextInt(probe.length)]! : `/x${rng.nextUint32().toString(36)}`;
        input = {
          method: 'GET',
          endpoint: path,
          country: pick(rng, countries),
          uaFamily: 'zgrab',
          sizeBin: 0,
          hour: utcHour,
        };
        break;
      }
      case 'methodMismatch': {
        const ep = pick(rng, readOnly);
        const c = pick(rng, countries);
        input = {
          method: ['DELETE', 'PUT', 'PATCH'][rng.nextInt(3)]!,
          endpoint: ep.path,
          country: c,
          uaFamily: pick(rng, WEB_FAMILIES),
          sizeBin: 6,
          hour: utcHour,
        };
        break;
      }
      case 'hugePayload': {
        const ep = pick(
          rng,
          appEps.filter(([e]) => e.methods.some(([m]) => m === 'POST')),
        );
        input = {
          method: 'POST',
          endpoint: ep.path,
          country: pick(rng, countries),
          uaFamily: pick(rng, APP_FAMILIES),
          sizeBin: 17 + rng.nextInt(8),
          hour: utcHour,
        };
        break;
      }
      case 'newMobileApp': {
        const ep = pick(rng, appEps);
        const [m] = [pick(rng, ep.methods)];
        input = {
          method: m,
          endpoint: ep.path,
          country: pick(rng, countries),
          uaFamily: rng.next() < 0.5 ? 'shopapp-ios-5' : 'shopapp-android-5',
          sizeBin: m === 'GET' ? null : bodyBin(rng, ep),
          hour: utcHour,
        };
        break;
      }
      case 'regionalCampaign': {
        const ep = pick(rng, shopEps);
        input = {
          method: 'GET',
          endpoint: ep.path,
          country: 'NG',
          uaFamily: rng.next() < 0.7 ? 'chrome-android' : 'opera-mini',
          sizeBin: null,
          hour: utcHour,
        };
        break;
      }
      default:
        input = normalEvent(rng, nowMs, epWeights, countries, offsets);
    }
    out[i] = { input, nowMs, planted: kind };
  }
  return out;
}

function bodyBin(rng: SeededRandom, ep: Endpoint): number {
  return Math.max(1, Math.round(ep.sizeBin + 1.2 * normal(rng)));
}

function normalEvent(
  rng: SeededRandom,
  nowMs: number,
  epWeights: readonly (readonly [Endpoint, number])[],
  countries: readonly (readonly [string, number])[],
  offsets: Map<string, number>,
): DetectorInput {
  const utcHour = Math.floor(nowMs / 3_600_000) % 24;
  // Countries weighted by how awake they are at this UTC hour.
  let total = 0;
  const weights = countries.map(([c, w]) => {
    const local = (((utcHour + offsets.get(c)!) % 24) + 24) % 24;
    const v = w * DIURNAL[local]!;
    total += v;
    return [c, v] as const;
  });
  const country = pick(rng, weights, total);
  const ep = pick(rng, epWeights);
  const bot = !ep.app && rng.next() < 0.06;
  const uaFamily = bot
    ? pick(rng, BOT_FAMILIES)
    : ep.app && rng.next() < 0.5
      ? pick(rng, APP_FAMILIES)
      : pick(rng, WEB_FAMILIES);
  const method = bot ? 'GET' : pick(rng, ep.methods);
  const sizeBin =
    method === 'GET' || method === 'HEAD' || method === 'DELETE' ? (rng.next() < 0.7 ? null : 0) : bodyBin(rng, ep);
  return { method, endpoint: ep.path, country, uaFamily, sizeBin, hour: utcHour };
}
