// headers → RequestProfile: the one entry point of the feature extractors on the hot path.
// Pure apart from the clock value passed in; never throws: a broken input gives null fields.
import { createHmac, createSecretKey } from 'node:crypto';
import { normalizeEndpoint } from './endpoint.js';
import { GEO_CACHE_MAX, type GeoResolution, type GeoResolver } from './geo.js';
import { coarseNetwork, type IpAddress } from './ip.js';
import type { HeaderLookup, RequestProfile } from './profile.js';
import { parseContentLength, sizeBin } from './size.js';
import { createHourClock } from './time.js';
import { createUaFeatureCache, DEFAULT_UA_CACHE_SIZE, RecentCache, type UaFeatures } from './userAgent.js';

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

/** How full one bounded cache is. */
export interface CacheFill {
  readonly entries: number;
  readonly capacity: number;
}

/** The extractor, plus the fill of its bounded caches (for metrics: they must stay at their caps). */
export type ObservedProfileExtractor = ProfileExtractor & {
  readonly caches: () => Readonly<Record<string, CacheFill>>;
};

const MAX_METHOD_LENGTH = 32;
/** RFC 9110 token characters. */
const METHOD_RE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const CLIENT_KEY_HEX = 32;

function methodOf(value: string | undefined): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_METHOD_LENGTH) return '';
  return METHOD_RE.test(value) ? value.toUpperCase() : '';
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

/**
 * User agents whose client keys are cached, and networks per user agent (cleared when full):
 * at most ~65,000 keys, a few MB.
 */
const CLIENT_KEY_AGENTS = 2_048;
const CLIENT_KEY_NETWORKS_PER_AGENT = 32;

/**
 * The coarse network of an address as a cheap map key: the /24 of an IPv4 address as a
 * number, the /48 of an IPv6 address as a 3-character string (coarseNetwork's text is built
 * only when a client key is computed); -1 without an address.
 */
function networkKey(ip: IpAddress | null): number | string {
  if (ip === null) return -1;
  const b = ip.bytes;
  if (ip.version === 4) return (b[0]! << 16) | (b[1]! << 8) | b[2]!;
  return String.fromCharCode((b[0]! << 8) | b[1]!, (b[2]! << 8) | b[3]!, (b[4]! << 8) | b[5]!);
}

const NO_USER_AGENT = Object.freeze({});

/**
 * Build the extractor once at startup (it owns the UA cache and the clock). The returned
 * function never throws.
 *
 * Per request it reads only the headers a dimension needs (:method, :path, content-length,
 * user-agent and what the geo resolver reads). A repeated user agent is found by its text in
 * the UA cache, without computing its keyed hash again, and a repeated (user agent, network)
 * pair finds its client key without building any string.
 */
export function createProfileExtractor(opts: ProfileExtractorOptions): ObservedProfileExtractor {
  const uaCache = createUaFeatureCache({ key: opts.uaHashKey, maxEntries: opts.uaCacheSize ?? DEFAULT_UA_CACHE_SIZE });
  const clock = createHourClock(opts.tz, opts.hourBinWidth);
  const geo = opts.geo;
  const secret = createSecretKey(
    typeof opts.uaHashKey === 'string' ? Buffer.from(opts.uaHashKey, 'utf8') : Buffer.from(opts.uaHashKey),
  );
  // Per user agent (its cache entry, or NO_USER_AGENT), the client keys by network.
  const clientKeys = new RecentCache<object, Map<number | string, string>>(CLIENT_KEY_AGENTS);

  // Domain-separated from the user-agent hash: HMAC(key, "client\0<ua hash>\0<network>").
  const clientKeyOf = (ua: UaFeatures | null, clientIp: IpAddress | null): string => {
    try {
      const agent = ua ?? NO_USER_AGENT;
      const net = networkKey(clientIp);
      let byNetwork = clientKeys.get(agent);
      let key = byNetwork?.get(net);
      if (key !== undefined) return key;
      const network = clientIp === null ? '' : coarseNetwork(clientIp);
      const material = `client\0${ua === null ? '' : ua.hash}\0${network}`;
      key = createHmac('sha256', secret).update(material, 'utf8').digest('hex').slice(0, CLIENT_KEY_HEX);
      if (byNetwork === undefined) clientKeys.set(agent, (byNetwork = new Map()));
      else if (byNetwork.size >= CLIENT_KEY_NETWORKS_PER_AGENT) byNetwork.clear();
      byNetwork.set(net, key);
      return key;
    } catch {
      return '';
    }
  };

  const caches = (): Record<string, CacheFill> => {
    const fill: Record<string, CacheFill> = {
      ua_features: { entries: uaCache.size, capacity: uaCache.capacity },
      client_keys: { entries: clientKeys.size, capacity: CLIENT_KEY_AGENTS },
    };
    if (geo.cachedNetworks) fill.geo_networks = { entries: geo.cachedNetworks(), capacity: GEO_CACHE_MAX };
    return fill;
  };

  const extract = (input: ExtractInput): RequestProfile => {
    const headers = input?.headers;
    let hour = 0;
    try {
      hour = clock.hourOf(input.nowMs);
    } catch {
      // hour 0
    }
    let payloadSize: number | null = null;
    let ua: UaFeatures | null = null;
    let g = NO_GEO;
    let method = '';
    let endpoint: string | null = null;
    if (headers) {
      try {
        payloadSize = parseContentLength(headerOf(headers, 'content-length'));
      } catch {
        // unknown size
      }
      try {
        ua = uaCache.features(headerOf(headers, 'user-agent'));
      } catch {
        // no user agent
      }
      try {
        g = geo.resolve(headers, input.sourceAddress ?? null);
      } catch {
        // unknown place
      }
      try {
        method = methodOf(headerOf(headers, ':method'));
      } catch {
        // no method
      }
      try {
        endpoint = normalizeEndpoint(headerOf(headers, ':path') ?? '');
      } catch {
        // no endpoint
      }
    }
    return {
      method,
      endpoint,
      payloadSize,
      sizeBin: sizeBin(payloadSize),
      hour,
      hourBin: clock.binOf(hour),
      country: g.country,
      continent: g.continent,
      uaHash: ua === null ? null : ua.hash,
      uaVector: ua === null ? null : ua.vector,
      // Computed here, not on first read: a getter would make every profile a slow object
      // (measured: ~0.6 µs to build one), and a spread copy (`{ ...profile }`) must keep it.
      clientKey: clientKeyOf(ua, g.clientIp),
    };
  };
  return Object.assign(extract, { caches });
}
