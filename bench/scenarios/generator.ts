// Seeded traffic scenarios for the learner: a stationary, realistic background mixture with
// planted patterns at chosen shares and onsets, and ground-truth labels.
//
// Background: a pool of clients (skewed activity: the client of a request is drawn with
// density ∝ 1/√rank, so a few clients are busy and most are seen a handful of times). Each
// client has one real user agent, drawn by weight from the `user-agents` package (a
// devDependency: this generator lives in bench/, never in src/), a country from a weighted list
// with a long tail of small countries (rare but stationary: a learner must not propose them),
// and its own /24 network. Each request picks an endpoint template from a weighted catalog
// (IDs, hashes and slugs filled in, so normalisation has work to do), a body size for methods
// with a body, and a timestamp from a diurnal arrival process.
//
// Planted patterns are scheduled exactly at their share: after the onset, each block of
// 1 / share requests holds one planted request at a random position (so "1 % after 5,000
// requests" means exactly 50 planted requests). Each pattern rotates through its own client pool
// (distinct clients first), user agents, countries and endpoints.
//
// Every event carries the raw request (for end-to-end runs through the Envoy emulator) and the
// RequestProfile produced by the real feature extractor (createProfileExtractor).
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { createProfileExtractor } from '../../src/features/extract.js';
import { createGeoResolver } from '../../src/features/geo.js';
import type { HeaderLookup, RequestProfile } from '../../src/features/profile.js';

export const SCENARIO_UA_HASH_KEY = 'scenario-key-0123456789abcdef';

export interface RawRequest {
  readonly method: string;
  /** Raw path with IDs and query, as a client sends it. */
  readonly path: string;
  readonly userAgent: string | null;
  /** Sent in the trusted geo header (x-country). */
  readonly country: string | null;
  /** "ip:port", Envoy's source.address. */
  readonly sourceAddress: string;
  readonly contentLength: number | null;
}

export interface ScenarioEvent {
  readonly index: number;
  readonly timeMs: number;
  readonly request: RawRequest;
  readonly profile: RequestProfile;
  /** The planted pattern's name, "flood", or null for background traffic. */
  readonly label: string | null;
}

export interface EndpointSpec {
  readonly method: string;
  /** Template: {n} a number, {hex} 16 hex digits, {slug} one of the slugs (Zipf), {word} a random word. */
  readonly path: string;
  readonly weight: number;
  /** Body size range in bytes (log-uniform), or absent for no body. */
  readonly size?: readonly [number, number];
  readonly slugs?: readonly string[];
}

export interface PlantedPattern {
  readonly name: string;
  /** Share of all requests after the onset (0..1). */
  readonly share: number;
  /** Index of the first request of the planted period. */
  readonly onset: number;
  /** Index after the last one (default: the end of the scenario). */
  readonly end?: number;
  /** Size of the pattern's client pool, used in rotation. */
  readonly clients: number;
  /** The pattern's own user agents, or 'background' (each client gets a real one by weight). */
  readonly userAgents: readonly string[] | 'background';
  readonly countries: readonly (readonly [string, number])[] | 'background';
  readonly requests: readonly EndpointSpec[];
}

export interface FloodSpec {
  readonly share: number;
  readonly onset: number;
  /** Every flood request has a new, random user agent. */
  readonly uniqueUserAgents: boolean;
  /** Every flood request has a new, random path (not ID-like: real new endpoints). */
  readonly uniquePaths: boolean;
}

export interface ScenarioSpec {
  readonly name: string;
  readonly seed: number;
  readonly requests: number;
  /** Epoch ms of the first request (default 2026-03-02T00:00Z). */
  readonly startMs?: number;
  /** Mean requests per second of the diurnal arrival process (default 10). */
  readonly ratePerSecond?: number;
  readonly backgroundClients?: number;
  readonly planted?: readonly PlantedPattern[];
  readonly flood?: FloodSpec;
}

// ---------------------------------------------------------------------------------------------
// Seeded randomness

class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = (seed ^ 0x9e3779b9) >>> 0 || 1;
  }
  next(): number {
    // mulberry32
    let t = (this.s = (this.s + 0x6d2b79f5) | 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  between(lo: number, hi: number): number {
    return lo + this.next() * (hi - lo);
  }
  /** Log-uniform integer in [lo, hi]. */
  logUniform(lo: number, hi: number): number {
    return Math.round(Math.exp(this.between(Math.log(Math.max(1, lo)), Math.log(Math.max(1, hi)))));
  }
  word(len: number): string {
    let s = '';
    for (let i = 0; i < len; i++) s += String.fromCharCode(97 + this.int(26));
    return s;
  }
  hex(len: number): string {
    let s = '';
    for (let i = 0; i < len; i++) s += '0123456789abcdef'[this.int(16)];
    return s;
  }
}

class Weighted<T> {
  private readonly cumulative: Float64Array;
  constructor(
    readonly items: readonly T[],
    weights: readonly number[],
  ) {
    this.cumulative = new Float64Array(items.length);
    let sum = 0;
    for (let i = 0; i < items.length; i++) this.cumulative[i] = sum += weights[i]!;
  }
  pick(rng: Rng): T {
    const x = rng.next() * this.cumulative[this.cumulative.length - 1]!;
    let lo = 0;
    let hi = this.cumulative.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.cumulative[mid]! > x) hi = mid;
      else lo = mid + 1;
    }
    return this.items[lo]!;
  }
}

// ---------------------------------------------------------------------------------------------
// The background mixture

/** Countries with weights (percent-ish); the tail below 0.1 is rare but stationary. */
export const BACKGROUND_COUNTRIES: readonly (readonly [string, number])[] = [
  ['US', 28],
  ['DE', 9],
  ['GB', 7],
  ['FR', 6],
  ['IN', 6],
  ['BR', 5],
  ['JP', 4],
  ['CA', 4],
  ['ES', 3],
  ['IT', 3],
  ['MX', 2.5],
  ['NL', 2],
  ['AU', 2],
  ['PL', 1.5],
  ['KR', 1.5],
  ['ID', 1.5],
  ['SE', 1],
  ['TR', 1],
  ['AR', 0.8],
  ['CH', 0.8],
  ['VN', 0.8],
  ['BE', 0.7],
  ['AT', 0.6],
  ['PH', 0.6],
  ['PT', 0.5],
  ['ZA', 0.5],
  ['TH', 0.5],
  ['NG', 0.4],
  ['CZ', 0.4],
  ['RO', 0.4],
  ['CO', 0.4],
  ['EG', 0.3],
  ['HU', 0.3],
  ['GR', 0.3],
  ['IE', 0.3],
  ['IL', 0.3],
  ['SG', 0.3],
  ['CL', 0.3],
  ['RU', 0.3],
  ['NZ', 0.2],
  ['PE', 0.2],
  ['KE', 0.05],
  ['EE', 0.05],
  ['LU', 0.04],
  ['IS', 0.03],
  ['CY', 0.03],
  ['MT', 0.02],
];

const BLOG_SLUGS = Array.from(
  { length: 120 },
  (_, i) =>
    `post-${['spring', 'guide', 'howto', 'review', 'news', 'tips'][i % 6]}-${String.fromCharCode(97 + (i % 26))}${String.fromCharCode(97 + ((i * 7) % 26))}`,
);
const CATEGORY_SLUGS = [
  'shoes',
  'shirts',
  'jackets',
  'bags',
  'watches',
  'kitchen',
  'garden',
  'toys',
  'books',
  'sports',
  'beauty',
  'audio',
  'phones',
  'laptops',
  'cameras',
  'games',
  'music',
  'office',
  'pets',
  'tools',
];

export const BACKGROUND_ENDPOINTS: readonly EndpointSpec[] = [
  { method: 'GET', path: '/', weight: 8 },
  { method: 'GET', path: '/products/{n}', weight: 20 },
  { method: 'GET', path: '/products/{n}/reviews', weight: 4 },
  { method: 'GET', path: '/search?q={word}', weight: 8 },
  { method: 'GET', path: '/category/{slug}', weight: 8, slugs: CATEGORY_SLUGS },
  { method: 'GET', path: '/blog/{slug}', weight: 3, slugs: BLOG_SLUGS },
  { method: 'GET', path: '/api/items/{n}', weight: 10 },
  { method: 'GET', path: '/api/cart', weight: 5 },
  { method: 'POST', path: '/api/cart', weight: 3, size: [80, 300] },
  { method: 'POST', path: '/api/login', weight: 2, size: [150, 260] },
  { method: 'POST', path: '/api/orders', weight: 1.5, size: [500, 3000] },
  { method: 'PUT', path: '/api/profile', weight: 0.5, size: [200, 1200] },
  { method: 'DELETE', path: '/api/cart/{n}', weight: 0.5 },
  { method: 'GET', path: '/static/app.{hex}.js', weight: 6 },
  { method: 'GET', path: '/account', weight: 2 },
  { method: 'POST', path: '/api/events', weight: 4, size: [300, 2000] },
  { method: 'GET', path: '/api/recommendations', weight: 3 },
  { method: 'OPTIONS', path: '/api/items', weight: 0.3 },
];

interface UaEntry {
  readonly userAgent: string;
  readonly weight: number;
}

let uaEntries: readonly UaEntry[] | null = null;

/** The `user-agents` package's weighted entries (10,000 rows, ~950 distinct strings). */
export function backgroundUserAgents(): readonly UaEntry[] {
  if (uaEntries) return uaEntries;
  const require = createRequire(import.meta.url);
  const file = join(dirname(require.resolve('user-agents')), 'user-agents.json');
  const rows = JSON.parse(readFileSync(file, 'utf8')) as { userAgent: string; weight: number }[];
  uaEntries = rows
    .filter((r) => typeof r.userAgent === 'string' && r.weight > 0)
    .map((r) => ({ userAgent: r.userAgent, weight: r.weight }));
  return uaEntries;
}

function fillPath(spec: EndpointSpec, rng: Rng): string {
  return spec.path.replace(/\{(n|hex|slug|word)\}/g, (_, kind: string) => {
    switch (kind) {
      case 'n':
        return String(1 + rng.logUniform(1, 99_999));
      case 'hex':
        return rng.hex(16);
      case 'slug': {
        const slugs = spec.slugs ?? ['item'];
        // Zipf-like: log-uniform rank.
        const rank = Math.min(slugs.length - 1, Math.floor(Math.exp(rng.next() * Math.log(slugs.length + 1))) - 1);
        return slugs[Math.max(0, rank)]!;
      }
      default:
        return rng.word(3 + rng.int(6));
    }
  });
}

/** A header lookup over one raw request, reused (no allocation per request). */
class RequestHeaders implements HeaderLookup {
  r: RawRequest | null = null;
  get(name: string): string | undefined {
    const r = this.r;
    if (r === null) return undefined;
    switch (name) {
      case ':method':
        return r.method;
      case ':path':
        return r.path;
      case 'user-agent':
        return r.userAgent ?? undefined;
      case 'x-country':
        return r.country ?? undefined;
      case 'content-length':
        return r.contentLength === null ? undefined : String(r.contentLength);
      default:
        return undefined;
    }
  }
}

/** The real feature extractor, configured as a sidecar with PROFLAG_GEO_HEADER=x-country. */
export function scenarioExtractor(): (request: RawRequest, timeMs: number) => RequestProfile {
  const extract = createProfileExtractor({
    uaHashKey: SCENARIO_UA_HASH_KEY,
    tz: 'UTC',
    geo: createGeoResolver({ trustedHops: 0, geoHeader: 'x-country', dbPath: null }),
    hourBinWidth: 4,
    uaCacheSize: 20_000,
  });
  const headers = new RequestHeaders();
  return (request, timeMs) => {
    headers.r = request;
    return extract({ headers, sourceAddress: request.sourceAddress, nowMs: timeMs });
  };
}

function ipOf(block: number, i: number, host: number): string {
  return `${block + (i >>> 16)}.${(i >>> 8) & 255}.${i & 255}.${1 + (host % 250)}`;
}

const HOUR_MS = 3_600_000;

/** The scenario's events, lazily (a 1,000,000-request run never holds them all). */
export function* generateScenario(spec: ScenarioSpec): Generator<ScenarioEvent> {
  const rng = new Rng(spec.seed);
  const extract = scenarioExtractor();
  const uas = backgroundUserAgents();
  const uaPick = new Weighted(
    uas.map((u) => u.userAgent),
    uas.map((u) => u.weight),
  );
  const countryPick = new Weighted(
    BACKGROUND_COUNTRIES.map((c) => c[0]),
    BACKGROUND_COUNTRIES.map((c) => c[1]),
  );
  const endpointPick = new Weighted(
    BACKGROUND_ENDPOINTS,
    BACKGROUND_ENDPOINTS.map((e) => e.weight),
  );

  const nClients = spec.backgroundClients ?? 40_000;
  const clientUa: string[] = [];
  const clientCountry: string[] = [];
  for (let i = 0; i < nClients; i++) {
    clientUa.push(uaPick.pick(rng));
    clientCountry.push(countryPick.pick(rng));
  }

  const planted = (spec.planted ?? []).map((p, pi) => {
    const ua = p.userAgents === 'background' ? null : p.userAgents;
    const countries =
      p.countries === 'background'
        ? null
        : new Weighted(
            p.countries.map((c) => c[0]),
            p.countries.map((c) => c[1]),
          );
    const pool = Array.from({ length: p.clients }, (_, j) => ({
      ua: ua ? ua[j % ua.length]! : uaPick.pick(rng),
      country: countries ? countries.pick(rng) : countryPick.pick(rng),
      ip: ipOf(60 + pi * 8, j, j),
    }));
    const blockLength = 1 / p.share;
    let block = 0;
    const positionOf = (b: number): number => {
      const start = p.onset + Math.floor(b * blockLength);
      const end = p.onset + Math.floor((b + 1) * blockLength);
      return start + Math.floor(rng.next() * Math.max(1, end - start));
    };
    return {
      p,
      pool,
      next: positionOf(0),
      advance() {
        block++;
        this.next = positionOf(block);
      },
      used: 0,
      endpoints: new Weighted(
        p.requests,
        p.requests.map((r) => r.weight),
      ),
    };
  });

  const start = spec.startMs ?? Date.UTC(2026, 2, 2, 0, 0, 0);
  const meanRate = spec.ratePerSecond ?? 10;
  let t = start;
  let floodSerial = 0;

  for (let index = 0; index < spec.requests; index++) {
    // Diurnal arrivals: peak at 15:00 UTC, trough at 03:00 (rate 0.4x..1.6x the mean).
    const hour = (((t / HOUR_MS) % 24) + 24) % 24;
    const rate = meanRate * (1 + 0.6 * Math.cos((2 * Math.PI * (hour - 15)) / 24));
    t += (-Math.log(1 - rng.next()) / rate) * 1000;
    const timeMs = Math.floor(t);

    let request: RawRequest | null = null;
    let label: string | null = null;
    for (const pl of planted) {
      const end = pl.p.end ?? spec.requests;
      if (index >= end || pl.next > index) continue;
      const client = pl.pool[pl.used++ % pl.pool.length]!;
      const ep = pl.endpoints.pick(rng);
      request = {
        method: ep.method,
        path: fillPath(ep, rng),
        userAgent: client.ua,
        country: client.country,
        sourceAddress: `${client.ip}:${1024 + rng.int(60_000)}`,
        contentLength: ep.size ? rng.logUniform(ep.size[0], ep.size[1]) : null,
      };
      label = pl.p.name;
      pl.advance();
      break;
    }
    const flood = spec.flood;
    if (request === null && flood && index >= flood.onset && rng.next() < flood.share) {
      const serial = floodSerial++;
      const ep = endpointPick.pick(rng);
      request = {
        method: flood.uniquePaths ? 'GET' : ep.method,
        path: flood.uniquePaths ? `/${rng.word(8)}/${rng.word(6)}` : fillPath(ep, rng),
        userAgent: flood.uniqueUserAgents
          ? `${rng.word(6)}/${rng.int(10)}.${rng.int(10)} (${rng.word(5)}; ${rng.word(7)}) ${rng.word(4)}`
          : clientUa[rng.int(nClients)]!,
        country: countryPick.pick(rng),
        sourceAddress: `${ipOf(120, serial % 1_000_000, serial)}:${1024 + rng.int(60_000)}`,
        contentLength: null,
      };
      label = 'flood';
    }
    if (request === null) {
      // Activity density ∝ 1/√rank: a few busy clients, a long tail seen a few times.
      const u = rng.next();
      const c = Math.min(nClients - 1, Math.floor(nClients * u * u));
      const ep = endpointPick.pick(rng);
      request = {
        method: ep.method,
        path: fillPath(ep, rng),
        userAgent: clientUa[c]!,
        country: clientCountry[c]!,
        sourceAddress: `${ipOf(20, c, c)}:${1024 + rng.int(60_000)}`,
        contentLength: ep.size ? rng.logUniform(ep.size[0], ep.size[1]) : null,
      };
    }
    yield { index, timeMs, request, profile: extract(request, timeMs), label };
  }
}
