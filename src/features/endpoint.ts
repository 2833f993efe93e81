// Endpoint normalisation: the request path reduced to the shape that flags and the learner
// reason about. Pure and total: any string in, a bounded canonical path or null out.
//
// Rules, in order:
//   1. Query (`?...`) and fragment (`#...`) are dropped. An absolute-form target
//      (`http://host/p`) keeps only its path. `*` (OPTIONS) and an empty target give null.
//   2. The path is split at literal `/` *before* decoding, so an encoded slash (`%2F`) stays
//      inside its segment and can never create a new one.
//   3. Each segment is percent-decoded as UTF-8. Invalid escapes (`%zz`, a lone `%`) and bytes
//      that are not valid UTF-8 are kept literally (as `%25zz`, `%FF`).
//   4. `.` and `..` segments (also when written `%2e`) are resolved; `..` never climbs above
//      the root. Empty segments (`//`) are dropped, and so is a trailing slash (except `/`).
//   5. Segments that look like identifiers become `{id}`: numbers and number-like values
//      (`42`, `2024-01-15`), UUIDs, hex strings of 16+ characters, e-mail addresses, and long
//      random-looking tokens (20+ characters of base64/base64url with digits). A trailing
//      short extension is kept: `123.json` becomes `{id}.json`.
//   6. Case is kept: paths are case-sensitive on most servers (only escape hex is upper-cased).
//   7. The output is re-encoded canonically: `%`, `/`, `?`, `#`, spaces and control
//      characters inside a segment are written as `%XX`; everything else is literal.
//   8. Bounds: segments longer than 256 characters become `{id}`; at most 32 segments and
//      1,024 characters are kept (whole segments only, later ones are dropped).
// The result is a fixed point: normalizeEndpoint(normalizeEndpoint(p)) === normalizeEndpoint(p).

export const ENDPOINT_MAX_LENGTH = 1024;
export const ENDPOINT_MAX_SEGMENTS = 32;
export const ENDPOINT_MAX_SEGMENT_LENGTH = 256;
/** Characters of the raw target looked at; the rest cannot fit into the output anyway. */
export const ENDPOINT_MAX_INPUT = 16_384;
export const ID_PLACEHOLDER = '{id}';

const HEX = '0123456789ABCDEF';

function hexVal(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 65 && c <= 70) return c - 55;
  if (c >= 97 && c <= 102) return c - 87;
  return -1;
}

function escByte(b: number): string {
  return '%' + HEX[b >> 4]! + HEX[b & 15]!;
}

/** Characters that are written as escapes inside a segment. */
function needsEscape(cp: number): boolean {
  return cp <= 0x20 || cp === 0x25 || cp === 0x2f || cp === 0x3f || cp === 0x23 || (cp >= 0x7f && cp <= 0x9f);
}

function escCodePoint(cp: number): string {
  // Only called for code points below 0xA0: one or two UTF-8 bytes.
  if (cp < 0x80) return escByte(cp);
  return escByte(0xc0 | (cp >> 6)) + escByte(0x80 | (cp & 0x3f));
}

/**
 * Decode a run of escaped bytes as UTF-8; invalid bytes stay escaped. Valid characters that
 * must stay escaped (see needsEscape) are re-escaped.
 */
function decodeBytes(bytes: number[]): string {
  let out = '';
  let i = 0;
  const n = bytes.length;
  while (i < n) {
    const b0 = bytes[i]!;
    let need: number;
    let cp: number;
    let min: number;
    if (b0 < 0x80) {
      out += needsEscape(b0) ? escByte(b0) : String.fromCharCode(b0);
      i++;
      continue;
    } else if (b0 >= 0xc2 && b0 <= 0xdf) {
      need = 1;
      cp = b0 & 0x1f;
      min = 0x80;
    } else if (b0 >= 0xe0 && b0 <= 0xef) {
      need = 2;
      cp = b0 & 0x0f;
      min = 0x800;
    } else if (b0 >= 0xf0 && b0 <= 0xf4) {
      need = 3;
      cp = b0 & 0x07;
      min = 0x10000;
    } else {
      out += escByte(b0);
      i++;
      continue;
    }
    let ok = i + need < n;
    if (ok) {
      for (let k = 1; k <= need; k++) {
        const b = bytes[i + k];
        if (b === undefined || (b & 0xc0) !== 0x80) {
          ok = false;
          break;
        }
        cp = (cp << 6) | (b & 0x3f);
      }
    }
    if (ok && (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))) ok = false;
    if (!ok) {
      out += escByte(b0);
      i++;
      continue;
    }
    out += needsEscape(cp) ? escCodePoint(cp) : String.fromCodePoint(cp);
    i += need + 1;
  }
  return out;
}

/** True when a raw segment is already canonical: printable ASCII only, nothing to decode. */
function isPlainSegment(raw: string): boolean {
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f || c === 0x25) return false;
  }
  return true;
}

/** Percent-decode one raw segment into its canonical (re-encoded) form. */
function canonicalSegment(raw: string): string {
  if (isPlainSegment(raw)) return raw;
  let out = '';
  let bytes: number[] | null = null;
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if (c === 0x25 && i + 2 < raw.length && hexVal(raw.charCodeAt(i + 1)) >= 0 && hexVal(raw.charCodeAt(i + 2)) >= 0) {
      (bytes ??= []).push((hexVal(raw.charCodeAt(i + 1)) << 4) | hexVal(raw.charCodeAt(i + 2)));
      i += 2;
      continue;
    }
    if (bytes !== null && bytes.length > 0) {
      out += decodeBytes(bytes);
      bytes.length = 0;
    }
    if (c >= 0xd800 && c <= 0xdbff) {
      const d = raw.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        out += raw[i]! + raw[i + 1]!;
        i++;
      } else {
        out += '\ufffd'; // a lone surrogate: not representable, replace it
      }
      continue;
    }
    if (c >= 0xdc00 && c <= 0xdfff) {
      out += '\ufffd';
      continue;
    }
    out += needsEscape(c) ? escCodePoint(c) : raw[i]!;
  }
  if (bytes !== null && bytes.length > 0) out += decodeBytes(bytes);
  return out;
}

// --- identifier detection (on the canonical segment) ---------------------------------------

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const LONG_HEX_RE = /^[0-9a-f]{16,}$/i;
const NUMBERISH_RE = /^[0-9][0-9._:,+-]*$/;
const EMAIL_RE = /^[^@\s]{1,64}@[^@\s.]+(\.[^@\s.]+)+$/;
const TOKEN_CHARS_RE = /^[A-Za-z0-9_\-+=~.]+$/;
const EXT_RE = /^(.+)\.([A-Za-z][A-Za-z0-9]{0,4})$/;

function isNumberish(s: string): boolean {
  if (!NUMBERISH_RE.test(s)) return false;
  let digits = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 48 && c <= 57) digits++;
  }
  return digits * 2 >= s.length;
}

function isRandomToken(s: string): boolean {
  if (s.length < 20 || !TOKEN_CHARS_RE.test(s)) return false;
  let digits = 0;
  let upper = 0;
  let lower = 0;
  let seps = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 48 && c <= 57) digits++;
    else if (c >= 65 && c <= 90) upper++;
    else if (c >= 97 && c <= 122) lower++;
    else seps++;
  }
  if (seps * 10 > s.length) return false; // slugs: words joined by dashes
  if (digits < 2 || upper + lower === 0) return false;
  return (upper > 0 && lower > 0) || digits >= 4;
}

function isIdentifier(s: string): boolean {
  // Cheap guards first: most segments are short words and skip every regex.
  const c0 = s.charCodeAt(0);
  if (c0 >= 48 && c0 <= 57 && isNumberish(s)) return true;
  if (s.length === 36 && UUID_RE.test(s)) return true;
  if (s.length >= 16 && LONG_HEX_RE.test(s)) return true;
  if (s.indexOf('@') > 0 && EMAIL_RE.test(s)) return true;
  return s.length >= 20 && isRandomToken(s);
}

function collapseSegment(seg: string): string {
  if (seg.length > ENDPOINT_MAX_SEGMENT_LENGTH) return ID_PLACEHOLDER;
  if (isIdentifier(seg)) return ID_PLACEHOLDER;
  if (seg.indexOf('.') > 0) {
    const ext = EXT_RE.exec(seg);
    if (ext !== null && isIdentifier(ext[1]!)) return ID_PLACEHOLDER + '.' + ext[2]!;
  }
  return seg;
}

/** Strip query and fragment, and the scheme and authority of an absolute-form target. */
function pathPart(raw: string): string | null {
  let s = raw.length > ENDPOINT_MAX_INPUT ? raw.slice(0, ENDPOINT_MAX_INPUT) : raw;
  const q = s.indexOf('?');
  if (q >= 0) s = s.slice(0, q);
  const f = s.indexOf('#');
  if (f >= 0) s = s.slice(0, f);
  if (s.length === 0 || s === '*') return null;
  if (s.charCodeAt(0) !== 0x2f) {
    const scheme = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/]*/.exec(s);
    if (scheme !== null) s = s.slice(scheme[0].length);
    return '/' + (s.charCodeAt(0) === 0x2f ? s.slice(1) : s);
  }
  return s;
}

/**
 * The normalized endpoint of a request target (`:path`), or null when there is no usable
 * path. Never throws.
 */
export function normalizeEndpoint(rawPath: string): string | null {
  if (typeof rawPath !== 'string') return null;
  const path = pathPart(rawPath);
  if (path === null) return null;
  const stack: string[] = [];
  const rawSegments = path.split('/');
  for (let i = 0; i < rawSegments.length; i++) {
    const raw = rawSegments[i]!;
    if (raw.length === 0) continue;
    const seg = canonicalSegment(raw);
    if (seg === '.') continue;
    if (seg === '..') {
      stack.pop();
      continue;
    }
    stack.push(seg);
  }
  let out = '';
  let count = 0;
  for (const seg of stack) {
    if (count >= ENDPOINT_MAX_SEGMENTS) break;
    const collapsed = collapseSegment(seg);
    if (out.length + 1 + collapsed.length > ENDPOINT_MAX_LENGTH) break;
    out += '/' + collapsed;
    count++;
  }
  return out.length === 0 ? '/' : out;
}
