import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createNearestScanner, nearestReference } from '../../../src/matcher/nearestKernel.js';

function unit(raw: readonly number[]): number[] {
  const s = Math.sqrt(raw.reduce((acc, x) => acc + x * x, 0));
  return s > 0 ? raw.map((x) => x / s) : raw.map((_, i) => (i === 0 ? 1 : 0));
}

describe('nearest-exemplar scanner', () => {
  it('runs in WebAssembly for even dimensions, in JavaScript otherwise', () => {
    const lists = [Int32Array.from([0])];
    expect(createNearestScanner(new Float64Array(64), 64, lists).accelerated).toBe(true);
    expect(createNearestScanner(new Float64Array(63), 63, lists).accelerated).toBe(false);
    expect(createNearestScanner(new Float64Array(64), 64, lists, false).accelerated).toBe(false);
  });

  it('gives the reference distances bit for bit, on both paths (property)', () => {
    const dimAndData = fc.integer({ min: 1, max: 70 }).chain((dim) =>
      fc.record({
        dim: fc.constant(dim),
        points: fc.array(fc.array(fc.double({ min: -1, max: 1, noNaN: true }), { minLength: dim, maxLength: dim }), {
          minLength: 1,
          maxLength: 23,
        }),
        queries: fc.array(fc.array(fc.double({ min: -1, max: 1, noNaN: true }), { minLength: dim, maxLength: dim }), {
          minLength: 1,
          maxLength: 4,
        }),
        // Slots as lists of point indexes (scaled to the point count below), repeats allowed.
        lists: fc.array(fc.array(fc.nat(1000), { maxLength: 13 }), { minLength: 1, maxLength: 5 }),
      }),
    );
    fc.assert(
      fc.property(dimAndData, ({ dim, points, queries, lists }) => {
        const flat = Float64Array.from(points.flatMap(unit));
        const ids = lists.map((l) => Int32Array.from(l, (x) => x % points.length));
        const fast = createNearestScanner(flat, dim, ids);
        const slow = createNearestScanner(flat, dim, ids, false);
        expect(Array.from(fast.points)).toEqual(Array.from(flat));
        for (const raw of queries) {
          const q = Float64Array.from(unit(raw));
          fast.query.set(q);
          slow.query.set(q);
          ids.forEach((list, s) => {
            const want = nearestReference(q, flat, list, 0, list.length, dim);
            expect(fast.nearest(s)).toBe(want);
            expect(slow.nearest(s)).toBe(want);
          });
        }
      }),
      { numRuns: 300 },
    );
  });
});
