// PROTOTYPE (bench only): what the per-request floor below the matcher could cost. Not used by
// the sidecar; the decision bench checks that it yields the very profiles (and decisions) of
// src/features/extract.ts and src/extproc/headerMap.ts.
//
// Two changes, measured against the real code in the decision bench:
//   1. LazyHeaders: keep Envoy's header list and decode only the headers somebody asks for
//      (7-9 of ~14), instead of decoding all of them into a Map up front.
//   2. The user-agent cache keyed by the header value itself, so that a repeated user agent
//      costs one map lookup instead of one HMAC-SHA256 (~2 µs) to find its cache entry. The
//      raw string lives only in process memory, bounded like the current cache; the keyed
//      hash is still what leaves the process. The client key is computed only when a flag
//      reads it (rollouts and variants bucketing by client).
import { createHmac, createSecretKey } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { HeaderValue } from '../../src/extproc/protocol.js';
import { normalizeEndpoint } from '../../src/features/endpoint.js';
import type { GeoResolver } from '../../src/features/geo.js';
import { coarseNetwork } from '../../src/features/ip.js';
import type { HeaderLookup, RequestProfile } from '../../src/features/profile.js';
import { parseContentLength, sizeBin } from '../../src/features/size.js';
import { createHourClock } from '../../src/features/time.js';
import { createUaHasher, embedUserAgent, UA_HASH_MAX_CHARS } from '../../src/features/userAgent.js';

const MAX_HEADERS = 512;
const MAX_VALUE = 65_536;

/** RequestHeaders' semantics (lower-case keys, repeated headers joined), decoded on demand. */
export class LazyHeaders implements HeaderLookup {
  private readonly list: readonly HeaderValue[];
  private readonly cache = new Map<string, string | undefined>();

  constructor(list: readonly HeaderValue[] | undefined) {
    this.list = list ?? [];
  }

  get(name: string): string | undefined {
    if (this.cache.has(name)) return this.cache.get(name);
    let out: string | undefined;
    const n = Math.min(this.list.length, MAX_HEADERS);
    for (let i = 0; i < n; i++) {
      const h = this.list[i];
      if (!h || typeof h.key !== 'string' || h.key.length !== name.length || h.key.toLowerCase() !== name) continue;
      let value: string;
      if (h.raw_value && h.raw_value.length > 0) {
        const bytes = h.raw_value.length > MAX_VALUE ? h.raw_value.subarray(0, MAX_VALUE) : h.raw_value;
        value = bytes.toString('latin1');
      } else value = typeof h.value === 'string' ? h.value.slice(0, MAX_VALUE) : '';
      out = out === undefined ? value : `${out}${name === 'cookie' ? '; ' : ', '}${value}`.slice(0, MAX_VALUE);
    }
    this.cache.set(name, out);
    return out;
  }

  has(name: string): boolean {
    return this.get(name) !== undefined;
  }
}

const METHOD_RE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

export interface FastExtractorOptions {
  readonly uaHashKey: string;
  readonly tz: string;
  readonly hourBinWidth: number;
  readonly geo: GeoResolver;
}

export type FastExtractor = (headers: HeaderLookup, sourceAddress: string | null, nowMs: number) => RequestProfile;

export function createFastExtractor(opts: FastExtractorOptions): FastExtractor {
  const hasher = createUaHasher(opts.uaHashKey);
  const secret = createSecretKey(Buffer.from(opts.uaHashKey, 'utf8'));
  const clock = createHourClock(opts.tz, opts.hourBinWidth);
  const byRawUa = new LRUCache<string, { hash: string; vector: Float32Array }>({ max: 10_000 });
  const clientKeys = new LRUCache<string, string>({ max: 10_000 });

  const uaFeatures = (ua: string | undefined) => {
    if (typeof ua !== 'string' || ua.trim().length === 0) return null;
    // Only the part that is hashed identifies the user agent (same as the keyed hash).
    const key = ua.length > UA_HASH_MAX_CHARS ? ua.slice(0, UA_HASH_MAX_CHARS) : ua;
    let hit = byRawUa.get(key);
    if (hit === undefined) {
      hit = { hash: hasher(ua), vector: embedUserAgent(ua) };
      byRawUa.set(key, hit);
    }
    return hit;
  };
  const clientKeyOf = (uaHash: string | null, network: string | null): string => {
    const material = `client\0${uaHash ?? ''}\0${network ?? ''}`;
    let key = clientKeys.get(material);
    if (key === undefined) {
      key = createHmac('sha256', secret).update(material, 'utf8').digest('hex').slice(0, 32);
      clientKeys.set(material, key);
    }
    return key;
  };

  return (headers, sourceAddress, nowMs) => {
    const method = headers.get(':method');
    const payloadSize = parseContentLength(headers.get('content-length'));
    const ua = uaFeatures(headers.get('user-agent'));
    const g = opts.geo.resolve(headers, sourceAddress);
    const hour = clock.hourOf(nowMs);
    let clientKey: string | null = null;
    return {
      method: typeof method === 'string' && method.length <= 32 && METHOD_RE.test(method) ? method.toUpperCase() : '',
      endpoint: normalizeEndpoint(headers.get(':path') ?? ''),
      payloadSize,
      sizeBin: sizeBin(payloadSize),
      hour,
      hourBin: clock.binOf(hour),
      country: g.country,
      continent: g.continent,
      uaHash: ua === null ? null : ua.hash,
      uaVector: ua === null ? null : ua.vector,
      // Computed on first read: most requests match no flag that buckets by client.
      get clientKey(): string {
        clientKey ??= clientKeyOf(ua === null ? null : ua.hash, g.clientIp === null ? null : coarseNetwork(g.clientIp));
        return clientKey;
      },
    };
  };
}
