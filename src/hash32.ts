// One small, fast, non-cryptographic 32-bit hash for the whole code base: FNV-1a over UTF-16
// code units with murmur3's fmix32 avalanche. Used where a stable spread is needed and secrecy
// is not (rollout buckets, embedding feature hashing, learner sketches); keyed hashes of user
// agents and clients use HMAC instead.

export const FNV_OFFSET = 0x811c9dc5;
export const FNV_PRIME = 0x01000193;

/** One FNV-1a step. */
export function fnvStep(h: number, code: number): number {
  return Math.imul(h ^ code, FNV_PRIME);
}

/** Avalanche a 32-bit value so that nearby inputs spread over all bits (fmix32). */
export function avalanche32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** FNV-1a steps over every UTF-16 code unit of `s`, continuing from `h` (not avalanched). */
export function fnvString(h: number, s: string): number {
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), FNV_PRIME);
  return h;
}

/** 32-bit FNV-1a of a string, avalanched; `seed` gives independent hashes. */
export function hashString32(s: string, seed = 0): number {
  let h = (FNV_OFFSET ^ seed) >>> 0;
  for (let i = 0; i < s.length; i++) h = fnvStep(h, s.charCodeAt(i));
  return avalanche32(h);
}
