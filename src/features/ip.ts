// IP address parsing for the client address: strict, bounded, allocation-light. Pure.
// Accepts dotted-quad IPv4 (no leading zeros, which some parsers read as octal) and RFC 4291
// IPv6 text (with `::`, an embedded IPv4 tail and an optional `%zone`, which is ignored).
// IPv4-mapped IPv6 (::ffff:a.b.c.d) is treated as the IPv4 address it carries.

export interface IpAddress {
  readonly version: 4 | 6;
  /** 4 or 16 bytes, network order. */
  readonly bytes: Uint8Array;
}

/** Longest textual address accepted (an IPv6 with embedded IPv4 is 45; zones add a little). */
const MAX_IP_TEXT = 64;

function parseIpv4Into(s: string, start: number, end: number, out: Uint8Array, at: number): boolean {
  let part = 0;
  let value = 0;
  let digits = 0;
  for (let i = start; i <= end; i++) {
    const c = i < end ? s.charCodeAt(i) : 0x2e;
    if (c === 0x2e) {
      if (digits === 0 || part > 3) return false;
      out[at + part] = value;
      part++;
      value = 0;
      digits = 0;
    } else if (c >= 48 && c <= 57) {
      if (digits > 0 && value === 0) return false; // leading zero
      value = value * 10 + (c - 48);
      digits++;
      if (value > 255) return false;
    } else {
      return false;
    }
  }
  return part === 4;
}

function hexDigit(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

function parseIpv6(s: string): Uint8Array | null {
  let end = s.indexOf('%');
  if (end < 0) end = s.length;
  if (end === 0) return null;
  const out = new Uint8Array(16);
  const groups: number[] = [];
  let gap = -1; // index in groups where '::' stands
  let i = 0;
  if (s.charCodeAt(0) === 0x3a) {
    if (s.charCodeAt(1) !== 0x3a) return null;
    gap = 0;
    i = 2;
    if (i === end) return out; // '::'
  }
  let embedded4 = false;
  while (i < end) {
    // One group: up to 4 hex digits, or an IPv4 tail.
    let j = i;
    let value = 0;
    while (j < end && j - i < 5) {
      const h = hexDigit(s.charCodeAt(j));
      if (h < 0) break;
      value = (value << 4) | h;
      j++;
    }
    if (j < end && s.charCodeAt(j) === 0x2e) {
      // IPv4 tail: must be last and leave room for two groups.
      if (groups.length > 6) return null;
      const tail = new Uint8Array(4);
      if (!parseIpv4Into(s, i, end, tail, 0)) return null;
      groups.push((tail[0]! << 8) | tail[1]!, (tail[2]! << 8) | tail[3]!);
      embedded4 = true;
      i = end;
      break;
    }
    if (j === i || j - i > 4) return null;
    groups.push(value);
    if (groups.length > 8) return null;
    if (j === end) {
      i = j;
      break;
    }
    if (s.charCodeAt(j) !== 0x3a) return null;
    if (s.charCodeAt(j + 1) === 0x3a) {
      if (gap >= 0) return null;
      gap = groups.length;
      i = j + 2;
      if (i === end) break;
    } else {
      i = j + 1;
      if (i === end) return null; // trailing single ':'
    }
  }
  if (embedded4 && i !== end) return null;
  if (gap < 0) {
    if (groups.length !== 8) return null;
  } else if (groups.length > 7) {
    return null;
  }
  const tailCount = gap < 0 ? 0 : groups.length - gap;
  const head = gap < 0 ? groups.length : gap;
  for (let g = 0; g < head; g++) {
    out[g * 2] = groups[g]! >> 8;
    out[g * 2 + 1] = groups[g]! & 0xff;
  }
  for (let g = 0; g < tailCount; g++) {
    const pos = 8 - tailCount + g;
    out[pos * 2] = groups[head + g]! >> 8;
    out[pos * 2 + 1] = groups[head + g]! & 0xff;
  }
  return out;
}

/** Parse a bare address (no port). Null when it is not a valid IPv4 or IPv6 address. */
export function parseIp(text: string): IpAddress | null {
  if (typeof text !== 'string' || text.length === 0 || text.length > MAX_IP_TEXT) return null;
  if (text.indexOf(':') < 0) {
    const b = new Uint8Array(4);
    return parseIpv4Into(text, 0, text.length, b, 0) ? { version: 4, bytes: b } : null;
  }
  const b6 = parseIpv6(text);
  if (b6 === null) return null;
  // IPv4-mapped (::ffff:0:0/96): the client is the IPv4 address it carries.
  let mapped = b6[10] === 0xff && b6[11] === 0xff;
  for (let k = 0; mapped && k < 10; k++) if (b6[k] !== 0) mapped = false;
  if (mapped) return { version: 4, bytes: b6.slice(12) };
  return { version: 6, bytes: b6 };
}

/**
 * Parse an address that may carry a port: `1.2.3.4`, `1.2.3.4:5678`, `::1`, `[::1]`,
 * `[::1]:5000`. Surrounding spaces and quotes (RFC 7239 style) are ignored.
 */
export function parseIpWithPort(text: string): IpAddress | null {
  if (typeof text !== 'string') return null;
  let s = text.length > MAX_IP_TEXT + 16 ? '' : text.trim();
  if (s.length >= 2 && s.charCodeAt(0) === 0x22 && s.charCodeAt(s.length - 1) === 0x22) s = s.slice(1, -1);
  if (s.length === 0) return null;
  if (s.charCodeAt(0) === 0x5b) {
    const close = s.indexOf(']');
    if (close < 0) return null;
    const rest = s.slice(close + 1);
    if (rest.length > 0 && !/^:\d{1,5}$/.test(rest)) return null;
    return parseIp(s.slice(1, close));
  }
  const firstColon = s.indexOf(':');
  if (firstColon >= 0 && firstColon === s.lastIndexOf(':')) {
    // Exactly one colon: IPv4 with a port.
    if (!/^\d{1,5}$/.test(s.slice(firstColon + 1))) return null;
    const ip = parseIp(s.slice(0, firstColon));
    return ip !== null && ip.version === 4 ? ip : null;
  }
  return parseIp(s);
}

/** Canonical text: dotted quad, or eight uncompressed hex groups (what the MMDB reader takes). */
export function formatIp(ip: IpAddress): string {
  const b = ip.bytes;
  if (ip.version === 4) return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
  let out = '';
  for (let g = 0; g < 8; g++) {
    if (g > 0) out += ':';
    out += ((b[g * 2]! << 8) | b[g * 2 + 1]!).toString(16);
  }
  return out;
}

/**
 * The coarse network of an address as text: the /24 of an IPv4 address (`203.0.113.0/24`),
 * the /48 of an IPv6 address (`2001:db8:1::/48`). Used only as hash input, never stored.
 */
export function coarseNetwork(ip: IpAddress): string {
  const b = ip.bytes;
  if (ip.version === 4) return `${b[0]}.${b[1]}.${b[2]}.0/24`;
  const g = (k: number): string => ((b[k * 2]! << 8) | b[k * 2 + 1]!).toString(16);
  return `${g(0)}:${g(1)}:${g(2)}::/48`;
}

function inV4(b: Uint8Array, a0: number, a1: number, a2: number, bits: number): boolean {
  const addr = ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0;
  const net = ((a0 << 24) | (a1 << 16) | (a2 << 8)) >>> 0;
  const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
  return (addr & mask) >>> 0 === (net & mask) >>> 0;
}

// IPv4 ranges that never locate a client (RFC 6890 special-purpose, multicast, reserved).
const V4_SPECIAL: readonly (readonly [number, number, number, number])[] = [
  [0, 0, 0, 8], // "this network"
  [10, 0, 0, 8], // private
  [100, 64, 0, 10], // carrier-grade NAT
  [127, 0, 0, 8], // loopback
  [169, 254, 0, 16], // link-local
  [172, 16, 0, 12], // private
  [192, 0, 0, 24], // IETF protocol assignments
  [192, 0, 2, 24], // documentation (TEST-NET-1)
  [192, 88, 99, 24], // 6to4 relay anycast (deprecated)
  [192, 168, 0, 16], // private
  [198, 18, 0, 15], // benchmarking
  [198, 51, 100, 24], // documentation (TEST-NET-2)
  [203, 0, 113, 24], // documentation (TEST-NET-3)
  [224, 0, 0, 4], // multicast
  [240, 0, 0, 4], // reserved, broadcast
];

/**
 * True for a globally routable unicast address: the only kind that a country database can
 * place. Private, loopback, link-local, CGNAT, documentation, multicast and reserved ranges
 * are false, and so is every IPv6 address outside 2000::/3 (global unicast) or inside
 * 2001:db8::/32 (documentation).
 */
export function isPublicIp(ip: IpAddress): boolean {
  const b = ip.bytes;
  if (ip.version === 4) {
    for (const [a0, a1, a2, bits] of V4_SPECIAL) if (inV4(b, a0, a1, a2, bits)) return false;
    return true;
  }
  if ((b[0]! & 0xe0) !== 0x20) return false;
  if (b[0] === 0x20 && b[1] === 0x01 && b[2] === 0x0d && b[3] === 0xb8) return false;
  return true;
}
