// Deterministic fixtures of the benches: 1,000 realistic flags, Envoy-like request-header
// messages and the pieces of a sidecar (extractor, snapshot, processor). Seeded, so that the
// throughput server in its child process builds exactly the snapshot the parent describes.
import { randomUUID } from 'node:crypto';
import { pino } from 'pino';
import { createProfileExtractor } from '../../src/features/extract.js';
import { createGeoResolver, type GeoResolver } from '../../src/features/geo.js';
import { parseIp } from '../../src/features/ip.js';
import { embedUserAgent } from '../../src/features/userAgent.js';
import { parseFlagValue, type FlagDefinition } from '../../src/flags/schema.js';
import { compileSnapshot } from '../../src/matcher/compile.js';
import type { Snapshot } from '../../src/matcher/snapshot.js';
import { buildUaIndex } from '../../src/matcher/uaIndexImpl.js';
import { DEFAULT_UA_INDEX_PARAMS } from '../../src/matcher/uaIndex.js';
import type { HeaderValue, HttpHeaders, ProcessingRequest } from '../../src/extproc/protocol.js';
import {
  createRequestProcessor,
  headersViewOf,
  type HeadersOutcome,
  type RequestProcessor,
} from '../../src/extproc/requestProcessor.js';
import type { RoutingOptions } from '../../src/routing/mutationPlan.js';
import { createMetrics, type Metrics } from '../../src/telemetry/metrics.js';
import { loadUaCorpus, syntheticUserAgents } from '../../test/helpers/uaCorpus.js';
import { createRng, intBetween, pick, sample } from './stats.js';

export const FLAG_COUNT = 1_000;
/** Flags with a userAgent range, and exemplars each: 100 × 100 = 10,000 exemplars. */
export const UA_FLAG_COUNT = 100;
export const EXEMPLARS_PER_UA_FLAG = 100;
export const FIXTURE_SEED = 0x5eed_f1a9;

export const ROUTING: RoutingOptions = {
  routeHeader: 'x-proflag-cluster',
  flagsHeader: 'x-proflag-flags',
  maxFlagsHeaderLength: 1024,
};

const RESOURCES = [
  'products',
  'orders',
  'users',
  'carts',
  'payments',
  'reviews',
  'wishlists',
  'coupons',
  'shipments',
  'returns',
  'invoices',
  'subscriptions',
  'notifications',
  'addresses',
  'inventory',
  'categories',
  'stores',
  'gift-cards',
];

/**
 * [method, endpoint template] of a mid-sized shop API: per resource and version a list, an item
 * and a sub-collection, plus some pages and assets; `{id}` becomes a number or a UUID.
 */
const ENDPOINTS: readonly (readonly [string, string])[] = [
  ...['v1', 'v2'].flatMap((v) =>
    RESOURCES.flatMap((r): [string, string][] => [
      ['GET', `/api/${v}/${r}`],
      ['POST', `/api/${v}/${r}`],
      ['GET', `/api/${v}/${r}/{id}`],
      ['PUT', `/api/${v}/${r}/{id}`],
      ['GET', `/api/${v}/${r}/{id}/history`],
    ]),
  ),
  ['POST', '/graphql'],
  ['GET', '/checkout'],
  ['POST', '/checkout/confirm'],
  ['GET', '/static/js/app.js'],
  ['GET', '/static/css/site.css'],
  ['GET', '/images/{id}.jpg'],
  ['POST', '/login'],
  ['POST', '/logout'],
  ['GET', '/health'],
  ['GET', '/admin/reports'],
  ['GET', '/admin/users/{id}'],
];

const PREFIX_PATTERNS = [
  '/api/**',
  '/api/v1/**',
  '/api/v2/**',
  ...RESOURCES.map((r) => `/api/v1/${r}/**`),
  '/checkout/**',
  '/static/**',
  '/admin/**',
];
const METHOD_SETS = [['GET'], ['POST'], ['GET', 'HEAD'], ['POST', 'PUT'], ['POST', 'PUT', 'PATCH'], ['DELETE']];
const CLUSTERS = ['backend_canary', 'backend_beta', 'backend_eu', 'backend_next'];
const ACCEPT_LANGUAGES = ['en-US,en;q=0.9', 'de-DE,de;q=0.9,en;q=0.8', 'fr-FR,fr;q=0.8', 'ja-JP', 'pt-BR,pt;q=0.9'];

export interface Fixtures {
  readonly flags: readonly FlagDefinition[];
  readonly geo: GeoResolver;
  /** Public client IPs whose country the database knows, and those countries. */
  readonly clientIps: readonly string[];
  readonly countries: readonly string[];
  /** Real user agents (the `user-agents` package's distinct ones). */
  readonly userAgents: readonly string[];
  readonly exemplarCount: number;
}

let cached: Fixtures | null = null;

function patternOf(template: string): string {
  return template.replace(/\{id\}/g, '*');
}

function concretePath(template: string, rng: () => number): string {
  let path = template.replace(/\{id\}/g, () => (rng() < 0.7 ? String(intBetween(rng, 1, 9_999_999)) : randomUuid(rng)));
  if (rng() < 0.3) path += `?page=${intBetween(rng, 1, 20)}&sort=${pick(rng, ['asc', 'desc'])}`;
  return path;
}

function randomUuid(rng: () => number): string {
  const hex = () => Math.floor(rng() * 16).toString(16);
  const part = (n: number) => Array.from({ length: n }, hex).join('');
  return `${part(8)}-${part(4)}-4${part(3)}-a${part(3)}-${part(12)}`;
}

function publicIpPool(geo: GeoResolver, rng: () => number, wanted: number): { ips: string[]; countries: string[] } {
  const ips: string[] = [];
  const countries = new Map<string, number>();
  for (let tries = 0; ips.length < wanted && tries < wanted * 20; tries++) {
    const text = `${intBetween(rng, 1, 223)}.${intBetween(rng, 0, 255)}.${intBetween(rng, 0, 255)}.${intBetween(rng, 1, 254)}`;
    const ip = parseIp(text);
    if (!ip) continue;
    const country = geo.lookup(ip).country;
    if (country === null) continue;
    ips.push(text);
    countries.set(country, (countries.get(country) ?? 0) + 1);
  }
  // Most frequent first: flags target the countries that traffic actually comes from.
  return { ips, countries: [...countries].sort((a, b) => b[1] - a[1]).map(([c]) => c) };
}

/**
 * The exemplars of the i-th user-agent flag: 100 user agents of one family (variants of one
 * real user agent with distinct embeddings), as a learned range around a family looks. Drawing
 * them from the real corpus instead would collapse 10,000 exemplars into ~70 distinct vectors
 * (the embedding masks version digits), which would make the index look cheaper than it is.
 */
function familyExemplars(slot: number, rng: () => number, corpus: readonly string[]): string[] {
  const base = pick(rng, corpus);
  return syntheticUserAgents([{ ua: base }], EXEMPLARS_PER_UA_FLAG, embedUserAgent, 1_000 + slot).uas;
}

function makeFlag(i: number, rng: () => number, countries: readonly string[], corpus: readonly string[]): unknown {
  const uaFlag = i % (FLAG_COUNT / UA_FLAG_COUNT) === 0;
  const profile: Record<string, unknown> = {};
  const weight = () => (rng() < 0.8 ? 1 : Math.round((0.5 + rng() * 1.5) * 10) / 10);
  // Most flags target a narrow segment: a specific endpoint plus one or two more dimensions.
  let dims = 0;
  if (rng() < 0.9 || uaFlag) {
    const patterns =
      rng() < 0.15
        ? [pick(rng, PREFIX_PATTERNS)]
        : sample(rng, ENDPOINTS, intBetween(rng, 1, 3)).map(([, t]) => patternOf(t));
    profile.endpoint = { in: patterns, weight: weight() };
    dims++;
  }
  if (rng() < 0.6) {
    profile.method = { in: pick(rng, METHOD_SETS), weight: weight() };
    dims++;
  }
  if (rng() < 0.5 || dims < 2) {
    profile.geo = { in: sample(rng, countries.slice(0, 60), intBetween(rng, 1, 4)), weight: weight() };
    dims++;
  }
  if (rng() < 0.2) {
    const lo = Math.round(10 ** (1 + rng() * 3));
    profile.payloadSize =
      rng() < 0.5 ? { min: lo, weight: weight() } : { min: lo, max: lo * intBetween(rng, 2, 100), weight: weight() };
    dims++;
  }
  if (rng() < 0.2) {
    profile.timeOfDay = { min: intBetween(rng, 0, 23), max: intBetween(rng, 0, 23), weight: weight() };
    dims++;
  }
  if (uaFlag) {
    profile.userAgent = {
      similarTo: familyExemplars(i, rng, corpus),
      maxDistance: Math.round((0.05 + rng() * 0.15) * 100) / 100,
      weight: weight(),
    };
    dims++;
  }
  const flag: Record<string, unknown> = {
    name: `bench-${String(i).padStart(4, '0')}`,
    enabled: true,
    value: rng() < 0.8 ? true : pick(rng, ['blue', 'green', 'v2']),
    priority: intBetween(rng, -5, 5),
    // Partial matches (a threshold below 1) only for flags with three or more dimensions.
    threshold: dims >= 3 && rng() < 0.2 ? Math.round((0.7 + rng() * 0.2) * 100) / 100 : 1,
    profile,
  };
  const actions: Record<string, unknown> = {};
  if (rng() < 0.2) actions.route = { cluster: `${pick(rng, CLUSTERS)}_${i % 8}` };
  if (rng() < 0.4)
    actions.requestHeaders = { set: { [`x-exp-${i % 50}`]: 'on' }, remove: rng() < 0.2 ? ['x-debug'] : [] };
  flag.actions = actions;
  if (rng() < 0.15)
    flag.rollout = { percent: intBetween(rng, 1, 99), stickiness: rng() < 0.5 ? 'client' : 'cookie:session' };
  if (rng() < 0.1) {
    flag.variants = [
      { name: 'control', weight: 50 },
      { name: 'treatment', weight: 50, actions: { requestHeaders: { set: { 'x-variant': 'treatment' } } } },
    ];
  }
  return flag;
}

/** The shared fixtures, built once per process. */
export function loadFixtures(): Fixtures {
  if (cached) return cached;
  const rng = createRng(FIXTURE_SEED);
  const geo = createGeoResolver({ trustedHops: 0 });
  const { ips, countries } = publicIpPool(geo, rng, 4_000);
  const userAgents = loadUaCorpus().map((c) => c.ua);
  const flags: FlagDefinition[] = [];
  let exemplarCount = 0;
  for (let i = 0; i < FLAG_COUNT; i++) {
    const parsed = parseFlagValue(makeFlag(i, rng, countries, userAgents));
    if (!parsed.ok) throw new Error(`fixture flag ${i} invalid: ${JSON.stringify(parsed.issues)}`);
    exemplarCount += parsed.flag.profile.userAgent?.similarTo.length ?? 0;
    flags.push(parsed.flag);
  }
  cached = { flags, geo, clientIps: ips, countries, userAgents, exemplarCount };
  return cached;
}

export interface BuiltSnapshot {
  readonly snapshot: Snapshot;
  readonly compileMs: number;
}

/** Compile the flags as the store does, with the HNSW user-agent index. */
export function buildSnapshot(flags: readonly FlagDefinition[]): BuiltSnapshot {
  const started = performance.now();
  const snapshot = compileSnapshot(
    flags,
    { version: 1, source: 'bench', rejected: [] },
    { uaIndexBuilder: { embed: embedUserAgent, build: buildUaIndex }, uaIndexParams: DEFAULT_UA_INDEX_PARAMS },
  );
  return { snapshot, compileMs: performance.now() - started };
}

export const UA_HASH_KEY = 'bench-ua-hash-key-0123456789abcdef';

/** The sidecar's hot path with the real extractor, silent logs and a private metric registry. */
/** The sidecar's request processor on `snapshot` (reads a decoded RequestHeadersView). */
export function buildRequestProcessor(
  snapshot: Snapshot,
  geo: GeoResolver,
  metrics: Metrics = createMetrics({ defaultMetrics: false }),
): RequestProcessor {
  const extract = createProfileExtractor({ uaHashKey: UA_HASH_KEY, tz: 'UTC', geo, hourBinWidth: 4 });
  return createRequestProcessor({
    snapshots: { current: snapshot, stale: false },
    extract,
    routing: ROUTING,
    metrics,
    logger: pino({ level: 'silent' }),
  });
}

/** The processor for message objects: the headers view is built from the object, then decided. */
export type MessageProcessor = (req: ProcessingRequest, headers: HttpHeaders) => HeadersOutcome;

export function buildProcessor(
  snapshot: Snapshot,
  geo: GeoResolver,
  metrics: Metrics = createMetrics({ defaultMetrics: false }),
): MessageProcessor {
  const processor = buildRequestProcessor(snapshot, geo, metrics);
  return (req, headers) => processor(headersViewOf(req, headers));
}

/** A user agent nobody has sent before: a real one with a new product token and build number. */
export function unseenUserAgent(base: string, serial: number, rng: () => number): string {
  const letters = 'abcdefghijklmnopqrstuvwxyz';
  let token = '';
  for (let i = 0; i < 6; i++) token += letters[Math.floor(rng() * 26)];
  return `${base} ${token}/${serial}.${intBetween(rng, 0, 999)}`;
}

export interface RequestSpec {
  readonly method: string;
  readonly path: string;
  readonly userAgent: string;
  readonly clientIp: string;
  readonly bodyBytes: number | null;
}

/** A plausible request: an endpoint of the catalogue, a client, a body for writes. */
export function randomRequest(rng: () => number, fx: Fixtures, userAgents: readonly string[]): RequestSpec {
  const [method, template] = pick(rng, ENDPOINTS);
  const hasBody = method === 'POST' || method === 'PUT';
  return {
    method,
    path: concretePath(template, rng),
    userAgent: pick(rng, userAgents),
    clientIp: pick(rng, fx.clientIps),
    bodyBytes: hasBody ? Math.round(10 ** (1 + rng() * 5)) : null,
  };
}

/** The header list Envoy sends for a request: raw_value only, ~12-14 headers. */
export function envoyHeaderList(spec: RequestSpec, rng: () => number): HeaderValue[] {
  const h = (key: string, value: string): HeaderValue => ({ key, raw_value: Buffer.from(value, 'latin1') });
  const list: HeaderValue[] = [
    h(':authority', 'shop.example.com'),
    h(':path', spec.path),
    h(':method', spec.method),
    h(':scheme', 'https'),
    h('user-agent', spec.userAgent),
    h('accept', spec.path.startsWith('/api') ? 'application/json' : 'text/html,application/xhtml+xml,*/*;q=0.8'),
    h('accept-language', pick(rng, ACCEPT_LANGUAGES)),
    h('accept-encoding', 'gzip, deflate, br'),
    h(
      'cookie',
      `session=${randomUUID()}; _ga=GA1.2.${intBetween(rng, 1e8, 9e8)}.${intBetween(rng, 1e9, 2e9)}; theme=dark`,
    ),
    h('x-forwarded-for', `10.0.${intBetween(rng, 0, 255)}.${intBetween(rng, 1, 254)}, ${spec.clientIp}`),
    h('x-forwarded-proto', 'https'),
    h('x-request-id', randomUUID()),
  ];
  if (spec.bodyBytes !== null) {
    list.push(h('content-type', 'application/json'), h('content-length', String(spec.bodyBytes)));
  }
  return list;
}

export function requestHeadersMessage(spec: RequestSpec, rng: () => number): ProcessingRequest {
  return {
    request: 'request_headers',
    request_headers: { headers: { headers: envoyHeaderList(spec, rng) }, end_of_stream: spec.bodyBytes === null },
  };
}
