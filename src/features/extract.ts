// headers → RequestProfile: the one entry point of the feature extractors on the hot path.
// Pure apart from the clock value passed in; never throws: a broken input gives null fields.
import { createHmac, createSecretKey } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { normalizeEndpoint } from './endpoint.js';
import type { GeoResolution, GeoResolver } from './geo.js';
import { coarseNetwork } from './ip.js';
import type { HeaderLookup, RequestProfile } from './profile.js';
import { parseContentLength, sizeBin } from './size.js';
import { createHourClock } from './time.js';
import { createUaFeatureCache, DEFAULT_UA_CACHE_SIZE, type UaFeatures } from './userAgent.js';

export interface ProfileExtractorOptions {
  /** HMAC key of user-agent hashes and client keys (PROFLAG_UA_HASH_KEY). */
  readonly uaHashKey: Buffer | string;
  /** IANA time zone of the hour (PROFLAG_TZ). */
  readonly tz: string;
  readonly geo: GeoResolver;
  /** Width of the coarse hour bin, a divisor of 24 (PROFLAG_HOUR_BIN_WIDTH). */
  readonly hourBinWidth: number;
  /** User agents whose embedding is cached; default 10,000. */
  readonly uaCacheSize?: number;
}

export interface ExtractInput {
  readonly headers: HeaderLookup;
  /** Envoy's `source.address` attribute when it was sent. */
  readonly sourceAddress: string | null;
  /** Epoch ms of the request. */
  readonly nowMs: number;
}

export type ProfileExtractor = (input: ExtractInput) => RequestProfile;

const MAX_METHOD_LENGTH = 32;
/** RFC 9110 token characters. */
const METHOD_RE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const CLIENT_KEY_HEX = 32;

function methodOf(value: string | undefined): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_METHOD_LENGTH) return '';
  return METHOD_RE.test(value) ? value.toUpperCase() : '';
}

function safe<T>(f: () => T, fallback: T): T {
  try {
    return f();
  } catch {
    return fallback;
  }
}

const NO_GEO: GeoResolution = Object.freeze({ country: null, continent: null, clientIp: null });

function headerOf(headers: HeaderLookup | undefined, name: string): string | undefined {
  if (!headers) return undefined;
  try {
    const v = headers.get(name);
    return typeof v === 'string' ? v : undefined;
  } catch {
    return undefined;
  }
}

/** Client keys cached per (UA hash, coarse network): both already coarse or keyed. */
const CLIENT_KEY_CACHE = 10_000;

/**
 * Build the extractor once at startup (it owns the UA cache and the clock). The returned
 * function never throws.
 */
export function createProfileExtractor(opts: ProfileExtractorOptions): ProfileExtractor {
  const uaCache = createUaFeatureCache({ key: opts.uaHashKey, maxEntries: opts.uaCacheSize ?? DEFAULT_UA_CACHE_SIZE });
  const clock = createHourClock(opts.tz, opts.hourBinWidth);
  const geo = opts.geo;
  const secret = createSecretKey(
    typeof opts.uaHashKey === 'string' ? Buffer.from(opts.uaHashKey, 'utf8') : Buffer.from(opts.uaHashKey),
  );
  const clientKeys = new LRUCache<string, string>({ max: CLIENT_KEY_CACHE });

  // Domain-separated from the user-agent hash: HMAC(key, "client\0<ua hash>\0<network>").
  const clientKeyOf = (ua: UaFeatures | null, network: string | null): string => {
    const material = `client\0${ua === null ? '' : ua.hash}\0${network ?? ''}`;
    let key = clientKeys.get(material);
    if (key === undefined) {
      key = createHmac('sha256', secret).update(material, 'utf8').digest('hex').slice(0, CLIENT_KEY_HEX);
      clientKeys.set(material, key);
    }
    return key;
  };

  return (input: ExtractInput): RequestProfile => {
    const headers = input?.headers;
    const hour = safe(() => clock.hourOf(input.nowMs), 0);
    const payloadSize = safe(() => parseContentLength(headerOf(headers, 'content-length')), null);
    const ua = safe(() => uaCache.features(headerOf(headers, 'user-agent')), null);
    const g = headers ? safe(() => geo.resolve(headers, input.sourceAddress ?? null), NO_GEO) : NO_GEO;
    const clientIp = g.clientIp;
    const network = clientIp === null ? null : safe(() => coarseNetwork(clientIp), null);
    return {
      method: safe(() => methodOf(headerOf(headers, ':method')), ''),
      endpoint: safe(() => normalizeEndpoint(headerOf(headers, ':path') ?? ''), null),
      payloadSize,
      sizeBin: sizeBin(payloadSize),
      hour,
      hourBin: clock.binOf(hour),
      country: g.country,
      continent: g.continent,
      uaHash: ua === null ? null : ua.hash,
      uaVector: ua === null ? null : ua.vector,
      clientKey: safe(() => clientKeyOf(ua, network), ''),
    };
  };
}
