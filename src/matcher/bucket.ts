// Stable bucketing of a rollout unit into [0, 1): the same flag, purpose and unit always land
// in the same place, on every replica and across restarts (no keys, no randomness).

/** FNV-1a over UTF-16 code units, finished with murmur3's fmix32 for a uniform spread. */
function hash32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

export function unitBucket(flagName: string, purpose: string, unit: string): number {
  return hash32(`${flagName}\u0000${purpose}\u0000${unit}`) / 0x1_0000_0000;
}
