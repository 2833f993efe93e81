// Encoding of a detector input into fixed-size numbers: 32-bit hashes of the categorical fields
// (so that any number of distinct values costs nothing beyond the sketch), the size bin and the
// hour. Hashing is FNV-1a over UTF-16 code units, bounded in work for hostile lengths, then
// avalanched; combination keys mix a per-combination tag so that "endpoint×method" and
// "endpoint×country" never share a key.

import { mix32 } from './random.js';

/** What the detector reads of a request profile. */
export interface DetectorInput {
  method: string;
  endpoint: string | null;
  country: string | null;
  /** A UA family or cluster id, e.g. 'chrome-android', or the UA hash prefix. */
  uaFamily: string;
  /** Log-scale size bin (0 = empty, k = [2^(k-1), 2^k) bytes), null when unknown. */
  sizeBin: number | null;
  /** Hour of day 0-23. */
  hour: number;
}

/** Hashes and numbers of one input (mutable so that one scratch object can be reused). */
export interface EncodedProfile {
  method: number;
  endpoint: number;
  country: number;
  uaFamily: number;
  /** Integer size bin clamped to 0..63, -1 when unknown. */
  sizeBin: number;
  /** Integer hour 0..23 (out-of-range or non-finite input becomes 0). */
  hour: number;
}

/** Characters hashed from each end of a long string (work per field stays bounded). */
const HASH_SPAN = 256;
const NULL_HASH = 0x6b43a9b5;

/** 32-bit hash of a string (null has its own value); strings longer than 512 hash both ends and the length. */
export function hashString(s: string | null): number {
  if (s === null) return NULL_HASH;
  let h = 0x811c9dc5;
  const n = s.length;
  if (n <= 2 * HASH_SPAN) {
    for (let i = 0; i < n; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  } else {
    for (let i = 0; i < HASH_SPAN; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
    for (let i = n - HASH_SPAN; i < n; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
    h = Math.imul(h ^ n, 0x01000193);
  }
  return mix32(h >>> 0);
}

/** Key of one value under a tag (a marginal count). */
export function key1(tag: number, a: number): number {
  return mix32((Math.imul(tag, 0x9e3779b1) ^ a) >>> 0);
}

/** Key of an ordered pair of values under a tag (a combination count). */
export function key2(tag: number, a: number, b: number): number {
  return mix32((key1(tag, a) + Math.imul(b ^ 0x85ebca6b, 0xc2b2ae35)) >>> 0);
}

export function newEncodedProfile(): EncodedProfile {
  return { method: 0, endpoint: 0, country: 0, uaFamily: 0, sizeBin: -1, hour: 0 };
}

/** Encode p (into `into` when given, else a new object). Never throws on odd values. */
export function encodeProfile(p: DetectorInput, into: EncodedProfile = newEncodedProfile()): EncodedProfile {
  into.method = hashString(typeof p.method === 'string' ? p.method : null);
  into.endpoint = hashString(typeof p.endpoint === 'string' ? p.endpoint : null);
  into.country = hashString(typeof p.country === 'string' ? p.country : null);
  into.uaFamily = hashString(typeof p.uaFamily === 'string' ? p.uaFamily : null);
  const s = p.sizeBin;
  into.sizeBin = typeof s === 'number' && Number.isFinite(s) ? Math.min(63, Math.max(0, Math.round(s))) : -1;
  const h = p.hour;
  into.hour = typeof h === 'number' && Number.isFinite(h) && h >= 0 && h < 24 ? Math.floor(h) : 0;
  return into;
}
