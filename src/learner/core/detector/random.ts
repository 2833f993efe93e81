// A tiny seeded pseudo-random generator for the detector: a Weyl sequence (add the golden-ratio
// constant) passed through a 32-bit avalanche finaliser. Deterministic by seed, no allocation per
// draw, good enough for random tree splits, gate lottery and reservoir slots (not cryptographic).

const GOLDEN = 0x9e3779b9;

/** Avalanche a 32-bit integer (every input bit flips about half the output bits). */
export function mix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d);
  h ^= h >>> 15;
  h = Math.imul(h, 0x846ca68b);
  h ^= h >>> 16;
  return h >>> 0;
}

export class SeededRandom {
  private state: number;

  constructor(seed = 1) {
    // Spread small seeds (0, 1, 2...) over the whole state space.
    this.state = mix32((seed | 0) ^ 0x5bd1e995);
  }

  /** Uniform unsigned 32-bit integer. */
  nextUint32(): number {
    this.state = (this.state + GOLDEN) | 0;
    return mix32(this.state);
  }

  /** Uniform double in [0, 1) with 32 bits of resolution. */
  next(): number {
    return this.nextUint32() / 4294967296;
  }

  /** Uniform integer in [0, n) for 0 < n ≤ 2^32. */
  nextInt(n: number): number {
    return Math.floor(this.next() * n);
  }
}
