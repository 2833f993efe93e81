// Protocol-buffers wire format, the two halves proflag needs by hand: a bounds-checked reader
// that walks fields without building objects (the request decoder reads only what it uses),
// and a small growable writer for the few reply shapes (encoding with proto-loader cost
// 3-10 µs per reply, more than the decision itself).
//
// Wire types: 0 varint, 1 fixed64, 2 length-delimited, 5 fixed32 (3/4, groups, are refused).

/** Thrown by the reader on malformed input; the decoder turns it into "no kind". */
export class WireError extends Error {}

export const WIRE_VARINT = 0;
export const WIRE_FIXED64 = 1;
export const WIRE_LEN = 2;
export const WIRE_FIXED32 = 5;

/**
 * A cursor over `buf[pos, end)`. Field values are read by the caller according to the wire
 * type that `tag()` returned; `skip()` steps over anything not wanted.
 */
export class WireReader {
  buf: Buffer;
  pos: number;
  end: number;
  constructor(buf: Buffer, start = 0, end = buf.length) {
    this.buf = buf;
    this.pos = start;
    this.end = end;
  }

  /** Point the reader at other bytes (one reader can serve many walks). */
  reset(buf: Buffer, start: number, end: number): void {
    this.buf = buf;
    this.pos = start;
    this.end = end;
  }

  get done(): boolean {
    return this.pos >= this.end;
  }

  /** A varint of at most 32 significant bits (tags, lengths, enums, bools). */
  uint32(): number {
    const buf = this.buf;
    if (this.pos < this.end) {
      const first = buf[this.pos]!;
      if (first < 0x80) {
        this.pos++;
        return first;
      }
    }
    let result = 0;
    let shift = 0;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new WireError('truncated varint');
      const b = buf[this.pos++]!;
      // Bits past 32 are dropped, as protobuf does for uint32; lengths that large fail the
      // bounds checks anyway.
      if (shift < 32) result += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return result > 0xffffffff ? result % 2 ** 32 : result;
      shift += 7;
    }
    throw new WireError('varint longer than 10 bytes');
  }

  /** The next field's tag: field number `t >>> 3`, wire type `t & 7`. */
  tag(): number {
    const t = this.uint32();
    if (t < 8) throw new WireError('field number 0');
    return t;
  }

  /** The [start, end) of a length-delimited value, checked against the enclosing bounds. */
  lengthDelimited(): number {
    const len = this.uint32();
    const start = this.pos;
    if (len > this.end - start) throw new WireError('length past the end of the message');
    this.pos = start + len;
    return start;
  }

  skip(wireType: number): void {
    switch (wireType) {
      case WIRE_VARINT:
        this.uint32();
        return;
      case WIRE_FIXED64:
        this.advance(8);
        return;
      case WIRE_LEN:
        this.lengthDelimited();
        return;
      case WIRE_FIXED32:
        this.advance(4);
        return;
      default:
        throw new WireError(`unsupported wire type ${wireType}`);
    }
  }

  private advance(n: number): void {
    if (this.end - this.pos < n) throw new WireError('truncated fixed-width value');
    this.pos += n;
  }
}

/**
 * A growable byte writer. Nested messages are written by `beginLen()` … `endLen(mark)`: one
 * byte is reserved for the length, which fits messages under 128 bytes (nearly all of ours);
 * a longer body is moved up to make room for its longer varint.
 */
export class WireWriter {
  private buf: Buffer;
  pos = 0;

  constructor(initial = 256) {
    this.buf = Buffer.allocUnsafe(initial);
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  varint(value: number): void {
    this.ensure(10);
    const buf = this.buf;
    let v = value;
    while (v > 0x7f) {
      buf[this.pos++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    buf[this.pos++] = v;
  }

  tag(field: number, wireType: number): void {
    this.varint(field * 8 + wireType);
  }

  bytes(field: number, value: Buffer | Uint8Array): void {
    this.tag(field, WIRE_LEN);
    const n = value.length;
    this.varint(n);
    this.ensure(n);
    const buf = this.buf;
    if (n < 64) for (let i = 0; i < n; i++) buf[this.pos + i] = value[i]!;
    else buf.set(value, this.pos);
    this.pos += n;
  }

  /** A string field; `latin1` keeps header bytes one-to-one (see the request decoder). */
  string(field: number, value: string, encoding: 'utf8' | 'latin1' = 'utf8'): void {
    this.tag(field, WIRE_LEN);
    const n = value.length;
    // Short strings of one-byte characters (header names, most values) are copied directly.
    if (n < 128) {
      this.ensure(n + 1);
      const buf = this.buf;
      const start = this.pos + 1;
      let i = 0;
      const limit = encoding === 'latin1' ? 0xff : 0x7f;
      for (; i < n; i++) {
        const c = value.charCodeAt(i);
        if (c > limit) break;
        buf[start + i] = c;
      }
      if (i === n) {
        buf[this.pos] = n;
        this.pos = start + n;
        return;
      }
    }
    const len = encoding === 'latin1' ? n : Buffer.byteLength(value, 'utf8');
    this.varint(len);
    this.ensure(len);
    this.pos += this.buf.write(value, this.pos, len, encoding);
  }

  /** A varint field; proto3 leaves a zero out, so callers skip zeros themselves. */
  uint(field: number, value: number): void {
    this.tag(field, WIRE_VARINT);
    this.varint(value);
  }

  double(field: number, value: number): void {
    this.tag(field, WIRE_FIXED64);
    this.ensure(8);
    this.buf.writeDoubleLE(value, this.pos);
    this.pos += 8;
  }

  raw(bytes: Buffer): void {
    this.ensure(bytes.length);
    this.buf.set(bytes, this.pos);
    this.pos += bytes.length;
  }

  /** Start a length-delimited field; returns the mark to pass to endLen(). */
  beginLen(field: number): number {
    this.tag(field, WIRE_LEN);
    this.ensure(1);
    const mark = this.pos;
    this.pos += 1;
    return mark;
  }

  endLen(mark: number): void {
    const bodyStart = mark + 1;
    const len = this.pos - bodyStart;
    if (len < 0x80) {
      this.buf[mark] = len;
      return;
    }
    let lenBytes = 1;
    while (len >= 2 ** (7 * lenBytes)) lenBytes++;
    this.ensure(lenBytes - 1);
    this.buf.copyWithin(mark + lenBytes, bodyStart, this.pos);
    let v = len;
    for (let i = 0; i < lenBytes; i++) {
      this.buf[mark + i] = i === lenBytes - 1 ? v : (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.pos = mark + lenBytes + len;
  }

  /** A copy of what was written (the writer may be reused). */
  finish(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.pos));
  }
}
