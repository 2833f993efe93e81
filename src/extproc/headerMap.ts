// The decoded view of one request-headers message that the request processor reads: a
// bounded, read-only header lookup plus the two other facts it needs (the client address from
// Envoy's attributes, and whether a body follows). Filled straight from the wire bytes by
// requestDecoder.ts, or from a HeaderValue list (tests, benches). Current Envoy fills only
// raw_value (bytes), older Envoy only value; both are read. Bytes are decoded as latin1 so
// that every byte survives (non-UTF-8 user agents still hash to something stable).
import type { HeaderLookup } from '../features/profile.js';
import type { HeaderValue } from './protocol.js';

/** Headers read per request; Envoy's own default limit is 100. */
export const MAX_HEADERS = 512;
/** Longest value kept per header; the feature extractors bound their own work further. */
export const MAX_HEADER_VALUE_CHARS = 65_536;

/** What the request processor gets for one request-headers message. */
export interface RequestHeadersView extends HeaderLookup {
  has(name: string): boolean;
  /** `source.address` from the request attributes ("ip:port"), when Envoy sends it. */
  readonly sourceAddress: string | null;
  /** True when the headers ended the request (no body follows). */
  readonly endOfStream: boolean;
  readonly size: number;
}

export class RequestHeaders implements RequestHeadersView {
  private readonly values = new Map<string, string>();
  /** Headers offered so far, counted against MAX_HEADERS (kept or not). */
  private offered = 0;
  sourceAddress: string | null = null;
  endOfStream = false;

  constructor(headers?: readonly HeaderValue[]) {
    if (!headers) return;
    const n = Math.min(headers.length, MAX_HEADERS);
    for (let i = 0; i < n; i++) {
      const h = headers[i];
      if (!h || typeof h.key !== 'string') continue;
      if (h.raw_value && h.raw_value.length > 0) {
        const bytes =
          h.raw_value.length > MAX_HEADER_VALUE_CHARS ? h.raw_value.subarray(0, MAX_HEADER_VALUE_CHARS) : h.raw_value;
        this.add(h.key, bytes.toString('latin1'));
      } else {
        this.add(h.key, typeof h.value === 'string' ? h.value : '');
      }
    }
  }

  /** False once MAX_HEADERS headers were offered: the rest of the list is not read. */
  get accepting(): boolean {
    return this.offered < MAX_HEADERS;
  }

  /** Add one header; keys are lower-cased, nameless ones dropped, repeats joined. */
  add(rawKey: string, rawValue: string): void {
    if (this.offered >= MAX_HEADERS) return;
    this.offered++;
    if (rawKey.length === 0) return;
    const key = rawKey.toLowerCase();
    const value = rawValue.length > MAX_HEADER_VALUE_CHARS ? rawValue.slice(0, MAX_HEADER_VALUE_CHARS) : rawValue;
    const previous = this.values.get(key);
    // Repeated headers are one list (RFC 9110 §5.3); cookies use their own separator.
    this.values.set(
      key,
      previous === undefined
        ? value
        : `${previous}${key === 'cookie' ? '; ' : ', '}${value}`.slice(0, MAX_HEADER_VALUE_CHARS),
    );
  }

  get(name: string): string | undefined {
    return this.values.get(name);
  }

  has(name: string): boolean {
    return this.values.has(name);
  }

  get size(): number {
    return this.values.size;
  }
}
