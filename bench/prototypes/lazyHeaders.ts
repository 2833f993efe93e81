// PROTOTYPE (bench only), a proposal for src/extproc/headerMap.ts: keep Envoy's header list and
// decode only the headers somebody asks for (7-9 of ~14 per request), instead of decoding all
// of them into a Map up front as RequestHeaders does. Not used by the sidecar; the decision
// bench checks that it gives the very profiles and decisions of RequestHeaders.
//
// Same semantics as RequestHeaders: names compared lower-case, at most MAX_HEADERS entries
// looked at, values bounded, repeated headers joined (cookies with "; ", others with ", ").
import { MAX_HEADER_VALUE_CHARS, MAX_HEADERS } from '../../src/extproc/headerMap.js';
import type { HeaderValue } from '../../src/extproc/protocol.js';
import type { HeaderLookup } from '../../src/features/profile.js';

export class LazyHeaders implements HeaderLookup {
  private readonly list: readonly HeaderValue[];
  private readonly decoded = new Map<string, string | undefined>();

  constructor(list: readonly HeaderValue[] | undefined) {
    this.list = list ?? [];
  }

  get(name: string): string | undefined {
    if (this.decoded.has(name)) return this.decoded.get(name);
    let out: string | undefined;
    const n = Math.min(this.list.length, MAX_HEADERS);
    for (let i = 0; i < n; i++) {
      const h = this.list[i];
      if (!h || typeof h.key !== 'string' || h.key.length !== name.length || h.key.toLowerCase() !== name) continue;
      let value: string;
      if (h.raw_value && h.raw_value.length > 0) {
        const bytes =
          h.raw_value.length > MAX_HEADER_VALUE_CHARS ? h.raw_value.subarray(0, MAX_HEADER_VALUE_CHARS) : h.raw_value;
        value = bytes.toString('latin1');
      } else value = typeof h.value === 'string' ? h.value.slice(0, MAX_HEADER_VALUE_CHARS) : '';
      out =
        out === undefined ? value : `${out}${name === 'cookie' ? '; ' : ', '}${value}`.slice(0, MAX_HEADER_VALUE_CHARS);
    }
    this.decoded.set(name, out);
    return out;
  }

  has(name: string): boolean {
    return this.get(name) !== undefined;
  }
}
