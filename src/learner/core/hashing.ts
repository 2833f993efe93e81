// Small, fast, non-cryptographic hashes for the learner's sketches: 32-bit FNV-1a of strings
// (endpoints, methods, client keys) with a final avalanche, and cheap conversions of values that
// are already keyed hashes (hex user-agent hashes) into 32-bit integers. Collisions only ever
// merge two values in a sketch, which makes counts larger and distinct counts smaller: the
// privacy floor errs on the safe side.

import { avalanche32, hashString32 } from '../../hash32.js';

export { avalanche32, hashString32 };

function hexDigit(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/**
 * The first 32 bits of a hex digest (a keyed user-agent hash or client key) as an unsigned
 * integer; falls back to hashString32 when the text is not hex. Already uniform: no re-hashing.
 */
export function hexPrefix32(hex: string): number {
  if (hex.length < 8) return hashString32(hex);
  let v = 0;
  for (let i = 0; i < 8; i++) {
    const d = hexDigit(hex.charCodeAt(i));
    if (d < 0) return hashString32(hex);
    v = (v << 4) | d;
  }
  return v >>> 0;
}

/** A two-letter country code packed into 16 bits (0 for unknown). */
export function packCountry(code: string | null): number {
  if (code === null || code.length !== 2) return 0;
  return (code.charCodeAt(0) << 8) | code.charCodeAt(1);
}
