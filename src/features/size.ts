// Payload size from `content-length`, and log-scale size bins for the learner.
//
// Only a strict decimal value is accepted (RFC 9110: 1*DIGIT), optionally as a list of
// identical values ("42, 42", which some intermediaries produce). Anything else (signs,
// decimals, hex, differing list values, more than 15 digits) is "unknown" (null): the body
// size is then not a feature of the request. Requests without the header but with a body
// (chunked uploads) also stay null unless an optional body phase counts bytes; see the
// README's Envoy processing-mode notes.

/** Largest size accepted (15 digits: under Number.MAX_SAFE_INTEGER). */
export const MAX_CONTENT_LENGTH = 999_999_999_999_999;
/** Header values longer than this are not parsed at all. */
const MAX_HEADER_CHARS = 256;
/** Number of bins: 0 for an empty body, then one per power of two up to 2^50. */
export const SIZE_BIN_COUNT = 52;

function parseOne(s: string): number | null {
  let start = 0;
  let end = s.length;
  while (start < end && (s.charCodeAt(start) === 0x20 || s.charCodeAt(start) === 0x09)) start++;
  while (end > start && (s.charCodeAt(end - 1) === 0x20 || s.charCodeAt(end - 1) === 0x09)) end--;
  const len = end - start;
  if (len === 0 || len > 15) return null;
  let v = 0;
  for (let i = start; i < end; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return null;
    v = v * 10 + (c - 48);
  }
  return v;
}

/** Body size in bytes from a `content-length` value, null when absent or not strictly valid. */
export function parseContentLength(value: string | undefined | null): number | null {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_HEADER_CHARS) return null;
  if (value.indexOf(',') < 0) return parseOne(value);
  let result: number | null = null;
  for (const part of value.split(',')) {
    const v = parseOne(part);
    if (v === null || (result !== null && v !== result)) return null;
    result = v;
  }
  return result;
}

/**
 * Log-scale bin of a size: 0 for 0 bytes, k ≥ 1 for [2^(k-1), 2^k) (1 byte → 1, 2-3 → 2,
 * 1,024-2,047 → 11, ...), capped at SIZE_BIN_COUNT - 1. Null stays null.
 */
export function sizeBin(bytes: number | null): number | null {
  if (bytes === null || !Number.isFinite(bytes) || bytes < 0) return null;
  if (bytes < 1) return 0;
  const k = bytes < 2 ** 31 ? 32 - Math.clz32(Math.floor(bytes)) : Math.floor(Math.log2(bytes)) + 1;
  return k < SIZE_BIN_COUNT - 1 ? k : SIZE_BIN_COUNT - 1;
}

/** Smallest size in a bin (inverse of sizeBin for the lower edge). */
export function sizeBinLowerBound(bin: number): number {
  if (!Number.isInteger(bin) || bin <= 0) return 0;
  return 2 ** (Math.min(bin, SIZE_BIN_COUNT - 1) - 1);
}
