// The request-headers view over the message's own bytes: the decoder records where each
// header's key and value lie; a value becomes a string only when somebody asks for it (the
// features read 7-9 of 12-40 headers). Same semantics as RequestHeaders: names compared
// lower-case, at most MAX_HEADERS headers, values bounded, repeated headers joined (cookies
// with "; ", others with ", "), raw_value (latin1, every byte kept) before value (UTF-8).
import { MAX_HEADER_VALUE_CHARS, MAX_HEADERS, type RequestHeadersView } from './headerMap.js';

/** Per header: key start, key end, value start, value end, 1 when the value is raw_value. */
const STRIDE = 5;

export class WireHeaders implements RequestHeadersView {
  /** Offsets into `buf`, STRIDE numbers per header. */
  private readonly spans: number[] = [];
  private count = 0;
  /** Values asked for already (a lookup may repeat: has() then get()). */
  private lastName: string | null = null;
  private lastValue: string | undefined = undefined;
  sourceAddress: string | null = null;
  endOfStream = false;

  constructor(private readonly buf: Buffer) {}

  /** False once MAX_HEADERS headers were recorded: the rest of the list is not kept. */
  get accepting(): boolean {
    return this.count < MAX_HEADERS;
  }

  record(keyStart: number, keyEnd: number, valueStart: number, valueEnd: number, raw: boolean): void {
    if (this.count >= MAX_HEADERS) return;
    this.count++;
    this.spans.push(keyStart, keyEnd, valueStart, valueEnd, raw ? 1 : 0);
  }

  get size(): number {
    const seen = new Set<string>();
    for (let i = 0; i < this.spans.length; i += STRIDE) {
      if (this.spans[i + 1]! > this.spans[i]!) seen.add(this.keyAt(i));
    }
    return seen.size;
  }

  has(name: string): boolean {
    return this.get(name) !== undefined;
  }

  get(name: string): string | undefined {
    if (name === this.lastName) return this.lastValue;
    const spans = this.spans;
    const buf = this.buf;
    const len = name.length;
    let out: string | undefined;
    for (let i = 0; i < spans.length; i += STRIDE) {
      const ks = spans[i]!;
      if (spans[i + 1]! - ks !== len || !sameName(buf, ks, name)) continue;
      const value = this.valueAt(i);
      out =
        out === undefined ? value : `${out}${name === 'cookie' ? '; ' : ', '}${value}`.slice(0, MAX_HEADER_VALUE_CHARS);
    }
    this.lastName = name;
    this.lastValue = out;
    return out;
  }

  private keyAt(i: number): string {
    return this.buf.toString('latin1', this.spans[i]!, this.spans[i + 1]).toLowerCase();
  }

  private valueAt(i: number): string {
    const s = this.spans[i + 2]!;
    const e = this.spans[i + 3]!;
    if (this.spans[i + 4] === 1) return this.buf.toString('latin1', s, Math.min(e, s + MAX_HEADER_VALUE_CHARS));
    const value = this.buf.toString('utf8', s, Math.min(e, s + 4 * MAX_HEADER_VALUE_CHARS));
    return value.length > MAX_HEADER_VALUE_CHARS ? value.slice(0, MAX_HEADER_VALUE_CHARS) : value;
  }
}

/** buf[start, start + name.length) equals `name` (lower-case ASCII), ignoring ASCII case. */
function sameName(buf: Buffer, start: number, name: string): boolean {
  for (let j = 0; j < name.length; j++) {
    let b = buf[start + j]!;
    if (b >= 0x41 && b <= 0x5a) b |= 0x20;
    if (b !== name.charCodeAt(j)) return false;
  }
  return true;
}
