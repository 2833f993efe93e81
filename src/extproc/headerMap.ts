// Envoy's HeaderMap → a bounded, read-only lookup. Current Envoy fills only raw_value (bytes),
// older Envoy only value; both are read. Bytes are decoded as latin1 so that every byte
// survives (non-UTF-8 user agents still hash to something stable).
import type { HeaderLookup } from '../features/profile.js';
import type { HeaderValue } from './protocol.js';

/** Headers read per request; Envoy's own default limit is 100. */
export const MAX_HEADERS = 512;
/** Longest value kept per header; the feature extractors bound their own work further. */
export const MAX_HEADER_VALUE_CHARS = 65_536;

export class RequestHeaders implements HeaderLookup {
  private readonly values = new Map<string, string>();

  constructor(headers: readonly HeaderValue[] | undefined) {
    if (!headers) return;
    const n = Math.min(headers.length, MAX_HEADERS);
    for (let i = 0; i < n; i++) {
      const h = headers[i];
      if (!h || typeof h.key !== 'string' || h.key.length === 0) continue;
      const key = h.key.toLowerCase();
      let value: string;
      if (h.raw_value && h.raw_value.length > 0) {
        const bytes =
          h.raw_value.length > MAX_HEADER_VALUE_CHARS ? h.raw_value.subarray(0, MAX_HEADER_VALUE_CHARS) : h.raw_value;
        value = bytes.toString('latin1');
      } else {
        value = typeof h.value === 'string' ? h.value.slice(0, MAX_HEADER_VALUE_CHARS) : '';
      }
      const previous = this.values.get(key);
      // Repeated headers are one list (RFC 9110 §5.3); cookies use their own separator.
      this.values.set(
        key,
        previous === undefined
          ? value
          : `${previous}${key === 'cookie' ? '; ' : ', '}${value}`.slice(0, MAX_HEADER_VALUE_CHARS),
      );
    }
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
