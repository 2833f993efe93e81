import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { backoffDelay, DEFAULT_BACKOFF } from '../../../src/store/backoff.js';

describe('backoffDelay', () => {
  it('doubles from the base and stops at the cap', () => {
    const noJitter = () => 1; // the top of each range
    const opts = { baseMs: 100, maxMs: 1000 };
    expect([1, 2, 3, 4, 5, 6].map((n) => backoffDelay(n, opts, noJitter))).toEqual([100, 200, 400, 800, 1000, 1000]);
  });

  it('keeps at least half of each step (equal jitter)', () => {
    const opts = { baseMs: 100, maxMs: 1000 };
    expect(backoffDelay(1, opts, () => 0)).toBe(50);
    expect(backoffDelay(10, opts, () => 0)).toBe(500);
  });

  it('stays within [step / 2, step] for any attempt and any random value', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: -5, max: 10_000 }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        (attempt, u) => {
          const d = backoffDelay(attempt, DEFAULT_BACKOFF, () => u);
          const n = Math.max(1, attempt);
          const step = Math.min(DEFAULT_BACKOFF.maxMs, DEFAULT_BACKOFF.baseMs * 2 ** Math.min(n - 1, 30));
          return Number.isFinite(d) && d >= Math.floor(step / 2) && d <= step;
        },
      ),
    );
  });
});
