// ProcessingRequest bytes → what the stream needs, read straight from the wire without building
// the message's object tree: the oneof kind, observability_mode, for headers messages a
// WireHeaders view (offsets into the bytes; values become strings only when read) with
// end_of_stream and `source.address` from the attributes, for body messages the body length
// and end_of_stream. Everything else (metadata, other attributes, unknown fields of newer
// Envoys) is skipped. Malformed bytes give kind null and `malformed`.
//
// Field numbers (envoy/service/ext_proc/v3/external_processor.proto, config/core/v3/base.proto):
//   ProcessingRequest: request_headers 2, response_headers 3, request_body 4, response_body 5,
//     request_trailers 6, response_trailers 7, metadata_context 8,
//     attributes 9 (map<string, Struct>), observability_mode 10
//   HttpHeaders: headers 1 (HeaderMap), end_of_stream 3;  HeaderMap: headers 1 (HeaderValue)
//   HeaderValue: key 1, value 2, raw_value 3;  HttpBody: body 1, end_of_stream 2
//   Struct: fields 1 (map<string, Value>);  Value: string_value 3;  map entry: key 1, value 2
import { WIRE_LEN, WIRE_VARINT, WireError, WireReader } from './protoWire.js';
import { WireHeaders } from './wireHeaders.js';

export const REQUEST_KINDS = [
  'request_headers',
  'response_headers',
  'request_body',
  'response_body',
  'request_trailers',
  'response_trailers',
] as const;
export type RequestKind = (typeof REQUEST_KINDS)[number];

export const ATTRIBUTES_KEY = 'envoy.filters.http.ext_proc';
/** The method Envoy calls. */
export const EXT_PROC_SERVICE_PATH = '/envoy.service.ext_proc.v3.ExternalProcessor/Process';

export class DecodedRequest {
  /** null: no kind we know, or malformed bytes (see `malformed`). */
  kind: RequestKind | null = null;
  malformed = false;
  observabilityMode = false;
  /** request_headers / response_headers: the headers, source address and end_of_stream. */
  headers: WireHeaders | null = null;
  /** request_body / response_body. */
  bodyLength = 0;
  bodyEndOfStream = false;
}

const KIND_BY_FIELD: readonly (RequestKind | null)[] = [null, null, ...REQUEST_KINDS];
const TAG_LEN_1 = (1 << 3) | WIRE_LEN;
const TAG_LEN_2 = (2 << 3) | WIRE_LEN;
const TAG_LEN_3 = (3 << 3) | WIRE_LEN;
const TAG_VARINT_2 = (2 << 3) | WIRE_VARINT;
const TAG_VARINT_3 = (3 << 3) | WIRE_VARINT;

/** One reader for every walk (the decoder is synchronous); nested messages save and restore its end. */
const r = new WireReader(Buffer.alloc(0));

export function decodeProcessingRequest(bytes: Buffer): DecodedRequest {
  const out = new DecodedRequest();
  let kindStart = 0;
  let kindEnd = 0;
  let sourceAddress: string | null = null;
  try {
    r.reset(bytes, 0, bytes.length);
    while (r.pos < r.end) {
      const tag = r.tag();
      const field = tag >>> 3;
      const wire = tag & 7;
      if (field >= 2 && field <= 7 && wire === WIRE_LEN) {
        // A oneof: the last one on the wire wins, as in every protobuf decoder.
        kindStart = r.lengthDelimited();
        kindEnd = r.pos;
        out.kind = KIND_BY_FIELD[field]!;
      } else if (field === 9 && wire === WIRE_LEN) {
        const start = r.lengthDelimited();
        const found = sourceAddressFromAttributesEntry(bytes, start, r.pos);
        if (found !== null) sourceAddress = found;
      } else if (field === 10 && wire === WIRE_VARINT) {
        out.observabilityMode = r.uint32() !== 0;
      } else if ((field >= 2 && field <= 7) || field === 9 || field === 10) {
        throw new WireError(`field ${field} with wire type ${wire}`);
      } else {
        r.skip(wire);
      }
    }
    switch (out.kind) {
      case 'request_headers':
      case 'response_headers':
        out.headers = decodeHttpHeaders(bytes, kindStart, kindEnd);
        out.headers.sourceAddress = sourceAddress;
        break;
      case 'request_body':
      case 'response_body':
        decodeHttpBody(kindStart, kindEnd, out);
        break;
      default:
        // Trailers are answered unchanged; nothing in them is read.
        break;
    }
  } catch (err) {
    if (!(err instanceof WireError)) throw err;
    out.kind = null;
    out.malformed = true;
    out.headers = null;
  }
  return out;
}

function decodeHttpHeaders(buf: Buffer, start: number, end: number): WireHeaders {
  const headers = new WireHeaders(buf);
  r.reset(buf, start, end);
  while (r.pos < end) {
    const tag = r.tag();
    if (tag === TAG_LEN_1) {
      const mapStart = r.lengthDelimited();
      const mapEnd = r.pos;
      decodeHeaderMap(mapStart, mapEnd, headers);
      r.pos = mapEnd;
      r.end = end;
    } else if (tag === TAG_VARINT_3) {
      headers.endOfStream = r.uint32() !== 0;
    } else {
      r.skip(tag & 7);
    }
  }
  return headers;
}

function decodeHeaderMap(start: number, end: number, into: WireHeaders): void {
  // The common shape first, walked with local variables: every tag and length one byte
  // (header entries and their fields under 128 bytes). Anything else — longer values, other
  // fields, malformed bytes — goes through the general reader from the entry it stopped at.
  const pos = fastHeaderMap(r.buf, start, end, into);
  if (pos === end) return;
  r.pos = pos;
  r.end = end;
  while (r.pos < end) {
    const tag = r.tag();
    if (tag !== TAG_LEN_1) {
      r.skip(tag & 7);
      continue;
    }
    const hvStart = r.lengthDelimited();
    const hvEnd = r.pos;
    // Past MAX_HEADERS the rest is still walked (to validate the framing) but not kept.
    if (into.accepting) {
      decodeHeaderValue(hvStart, hvEnd, into);
      r.pos = hvEnd;
      r.end = end;
    }
  }
}

/**
 * Records HeaderValue entries of `buf[start, end)` while each is in the one-byte shape
 * (`0a len` entry holding `0a len key` then `12|1a len value`); returns where it stopped: `end`
 * when all were, else the start of the first entry it left to the general walk.
 */
function fastHeaderMap(buf: Buffer, start: number, end: number, into: WireHeaders): number {
  let pos = start;
  while (pos < end) {
    if (!into.accepting || end - pos < 2 || buf[pos] !== TAG_LEN_1) return pos;
    const len = buf[pos + 1]!;
    const hvStart = pos + 2;
    const hvEnd = hvStart + len;
    if (len >= 0x80 || hvEnd > end) return pos;
    let p = hvStart;
    let keyStart = hvStart;
    let keyEnd = hvStart;
    let valueStart = -1;
    let valueEnd = -1;
    let rawStart = -1;
    let rawEnd = -1;
    while (p < hvEnd) {
      if (hvEnd - p < 2) return pos;
      const tag = buf[p]!;
      const flen = buf[p + 1]!;
      const fs = p + 2;
      const fe = fs + flen;
      if (flen >= 0x80 || fe > hvEnd) return pos;
      if (tag === TAG_LEN_1) {
        keyStart = fs;
        keyEnd = fe;
      } else if (tag === TAG_LEN_2) {
        valueStart = fs;
        valueEnd = fe;
      } else if (tag === TAG_LEN_3) {
        rawStart = fs;
        rawEnd = fe;
      } else {
        return pos;
      }
      p = fe;
    }
    // As decodeHeaderValue: raw_value when it has bytes, else value, else empty.
    if (rawEnd > rawStart) into.record(keyStart, keyEnd, rawStart, rawEnd, true);
    else if (valueStart >= 0) into.record(keyStart, keyEnd, valueStart, valueEnd, false);
    else into.record(keyStart, keyEnd, hvEnd, hvEnd, true);
    pos = hvEnd;
  }
  return pos;
}

function decodeHeaderValue(start: number, end: number, into: WireHeaders): void {
  r.pos = start;
  r.end = end;
  let keyStart = start;
  let keyEnd = start;
  let valueStart = -1;
  let valueEnd = -1;
  let rawStart = -1;
  let rawEnd = -1;
  while (r.pos < end) {
    const tag = r.tag();
    if (tag === TAG_LEN_1) {
      keyStart = r.lengthDelimited();
      keyEnd = r.pos;
    } else if (tag === TAG_LEN_2) {
      valueStart = r.lengthDelimited();
      valueEnd = r.pos;
    } else if (tag === TAG_LEN_3) {
      rawStart = r.lengthDelimited();
      rawEnd = r.pos;
    } else {
      r.skip(tag & 7);
    }
  }
  // raw_value when it has bytes (current Envoy), else value (Envoy before 1.27), else empty.
  if (rawEnd > rawStart) into.record(keyStart, keyEnd, rawStart, rawEnd, true);
  else if (valueStart >= 0) into.record(keyStart, keyEnd, valueStart, valueEnd, false);
  else into.record(keyStart, keyEnd, end, end, true);
}

function decodeHttpBody(start: number, end: number, out: DecodedRequest): void {
  r.pos = start;
  r.end = end;
  while (r.pos < end) {
    const tag = r.tag();
    if (tag === TAG_LEN_1) {
      const s = r.lengthDelimited();
      out.bodyLength = r.pos - s;
    } else if (tag === TAG_VARINT_2) {
      out.bodyEndOfStream = r.uint32() !== 0;
    } else {
      r.skip(tag & 7);
    }
  }
}

const ATTRIBUTES_KEY_BYTES = Buffer.from(ATTRIBUTES_KEY, 'latin1');
const SOURCE_ADDRESS_BYTES = Buffer.from('source.address', 'latin1');

function equalBytes(buf: Buffer, start: number, end: number, want: Buffer): boolean {
  return end - start === want.length && buf.compare(want, 0, want.length, start, end) === 0;
}

/** One attributes map entry: when its key is ext_proc's, the `source.address` string in it. */
function sourceAddressFromAttributesEntry(buf: Buffer, start: number, end: number): string | null {
  const outerPos = r.pos;
  const outerEnd = r.end;
  try {
    const entry = mapEntry(buf, start, end);
    if (!entry || !equalBytes(buf, entry.keyStart, entry.keyEnd, ATTRIBUTES_KEY_BYTES)) return null;
    // Struct.fields entries, looking for source.address → Value.string_value.
    const structEnd = entry.valueEnd;
    let pos = entry.valueStart;
    while (pos < structEnd) {
      r.pos = pos;
      r.end = structEnd;
      const tag = r.tag();
      if (tag !== TAG_LEN_1) {
        r.skip(tag & 7);
        pos = r.pos;
        continue;
      }
      const s = r.lengthDelimited();
      pos = r.pos;
      const field = mapEntry(buf, s, pos);
      if (!field || !equalBytes(buf, field.keyStart, field.keyEnd, SOURCE_ADDRESS_BYTES)) continue;
      r.pos = field.valueStart;
      r.end = field.valueEnd;
      let found: string | null = null;
      while (r.pos < r.end) {
        const vt = r.tag();
        if (vt === TAG_LEN_3) {
          const vs = r.lengthDelimited();
          found = buf.toString('utf8', vs, r.pos);
        } else {
          r.skip(vt & 7);
        }
      }
      return found;
    }
    return null;
  } finally {
    r.pos = outerPos;
    r.end = outerEnd;
  }
}

interface MapEntry {
  keyStart: number;
  keyEnd: number;
  valueStart: number;
  valueEnd: number;
}

/** A map entry message (key 1, value 2, both length-delimited here); null without a key. */
function mapEntry(buf: Buffer, start: number, end: number): MapEntry | null {
  r.reset(buf, start, end);
  let keyStart = -1;
  let keyEnd = -1;
  let valueStart = end;
  let valueEnd = end;
  while (r.pos < end) {
    const tag = r.tag();
    if (tag === TAG_LEN_1) {
      keyStart = r.lengthDelimited();
      keyEnd = r.pos;
    } else if (tag === TAG_LEN_2) {
      valueStart = r.lengthDelimited();
      valueEnd = r.pos;
    } else {
      r.skip(tag & 7);
    }
  }
  return keyStart < 0 ? null : { keyStart, keyEnd, valueStart, valueEnd };
}
