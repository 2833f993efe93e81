// The tests' seeded random stream (simulated traffic, backends that fail a given share): the
// same seed gives the same draws in every run and process, so an outcome can be reproduced.

/** mulberry32: a small seeded generator of numbers in [0, 1) (not cryptographic). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
