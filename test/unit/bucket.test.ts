// Rollout buckets must never move: unitBucket hashes its three parts incrementally, and must
// give exactly the hash of the joined string it was defined as (users stay in their bucket).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { hashString32 } from '../../src/hash32.js';
import { unitBucket } from '../../src/matcher/bucket.js';

describe('unitBucket', () => {
  it('equals hashString32 of flag \\0 purpose \\0 unit, divided by 2^32', () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), fc.string({ unit: 'binary', maxLength: 80 }), (flag, purpose, unit) => {
        expect(unitBucket(flag, purpose, unit)).toBe(hashString32(`${flag}\u0000${purpose}\u0000${unit}`) / 2 ** 32);
      }),
      { numRuns: 5_000 },
    );
  });

  it('keeps known values (buckets of existing rollouts do not move)', () => {
    // Computed with the joined-string definition before the incremental one replaced it.
    expect(unitBucket('checkout-v2', 'rollout', 'user-42')).toBe(0.3953275664243847);
    expect(unitBucket('search', 'variant', 'c:9f2a')).toBe(0.4680986162275076);
  });
});
