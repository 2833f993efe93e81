// QUALITY.md: "respond never exceeds its respondLimit". Over any window of T seconds a bucket
// grants at most max(1, perSecond) + perSecond × T, whatever the request times (out of order,
// repeated, NaN); and it does grant that much to steady traffic.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RespondLimiter } from '../../../src/matcher/respondLimiter.js';

describe('RespondLimiter', () => {
  it('never grants more than capacity + perSecond × window, for any request times (property)', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(0.2, 1, 3, 10, 250),
        fc.array(
          fc.oneof(
            { weight: 10, arbitrary: fc.double({ min: 0, max: 3000, noNaN: true }) },
            { weight: 1, arbitrary: fc.constantFrom(-500, NaN, Infinity) },
          ),
          { minLength: 1, maxLength: 400 },
        ),
        (perSecond, gaps) => {
          const limiter = new RespondLimiter([{ name: 'f', perSecond }]);
          const granted: number[] = [];
          let now = 1_000_000;
          for (const gap of gaps) {
            // A negative gap is a clock going back; NaN and Infinity are unusable times.
            const t = Number.isFinite(gap) ? (now = Math.max(0, now + gap)) : gap;
            if (limiter.take(0, t)) granted.push(t);
          }
          for (const t of granted) expect(Number.isFinite(t)).toBe(true);
          const sorted = [...granted].sort((a, b) => a - b);
          const capacity = Math.max(1, perSecond);
          for (let i = 0; i < sorted.length; i++) {
            for (let j = i; j < sorted.length; j++) {
              const windowSeconds = (sorted[j]! - sorted[i]!) / 1000;
              expect(j - i + 1).toBeLessThanOrEqual(capacity + perSecond * windowSeconds + 1e-9);
            }
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it('grants perSecond a second to steady traffic, after the first burst', () => {
    const limiter = new RespondLimiter([{ name: 'f', perSecond: 10 }]);
    let granted = 0;
    // 100 requests a second for 10 s.
    for (let i = 0; i < 1000; i++) if (limiter.take(0, i * 10)) granted++;
    // The burst of 10, then 10 a second for the 9.99 s after it.
    expect(granted).toBeGreaterThanOrEqual(108);
    expect(granted).toBeLessThanOrEqual(110);
  });

  it('a fraction per second is one reply every 1 / perSecond seconds', () => {
    const limiter = new RespondLimiter([{ name: 'f', perSecond: 0.5 }]);
    expect(limiter.take(0, 0)).toBe(true);
    expect(limiter.take(0, 1000)).toBe(false);
    expect(limiter.take(0, 1999)).toBe(false);
    expect(limiter.take(0, 2000)).toBe(true);
  });

  it('available() looks without taking', () => {
    const limiter = new RespondLimiter([{ name: 'f', perSecond: 1 }]);
    expect(limiter.available(0, 0)).toBe(true);
    expect(limiter.available(0, 0)).toBe(true);
    expect(limiter.take(0, 0)).toBe(true);
    expect(limiter.available(0, 0)).toBe(false);
    expect(limiter.available(0, 1000)).toBe(true);
  });

  it('keeps buckets apart and refuses unknown slots', () => {
    const limiter = new RespondLimiter([
      { name: 'a', perSecond: 1 },
      { name: 'b', perSecond: 1 },
    ]);
    expect(limiter.take(0, 0)).toBe(true);
    expect(limiter.take(0, 0)).toBe(false);
    expect(limiter.take(1, 0)).toBe(true);
    expect(limiter.take(2, 0)).toBe(false);
    expect(limiter.take(-1, 0)).toBe(false);
  });

  it('inherit() continues the buckets of flags with the same name, capped at the new capacity', () => {
    const old = new RespondLimiter([
      { name: 'a', perSecond: 5 },
      { name: 'gone', perSecond: 5 },
    ]);
    for (let i = 0; i < 5; i++) old.take(0, 0);
    const next = new RespondLimiter([
      { name: 'new', perSecond: 5 },
      { name: 'a', perSecond: 5 },
    ]);
    next.inherit(old);
    expect(next.take(1, 0)).toBe(false);
    expect(next.take(0, 0)).toBe(true);
  });
});
