// A seeded pseudo-random generator for the learner (reservoir slots, tie-breaks): a Weyl
// sequence through a 32-bit avalanche. Deterministic by seed, no allocation per draw.
import { avalanche32 } from './hashing.js';

export class LearnerRandom {
  private state: number;

  constructor(seed = 1) {
    this.state = avalanche32((seed | 0) ^ 0x2545f491);
  }

  /** Uniform unsigned 32-bit integer. */
  uint32(): number {
    this.state = (this.state + 0x9e3779b9) | 0;
    return avalanche32(this.state);
  }

  /** Uniform double in [0, 1). */
  next(): number {
    return this.uint32() / 4294967296;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
}
