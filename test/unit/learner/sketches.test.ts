// The learner's bounded sketches: distinct counting, top values, sizes, hour windows.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ClientCounter, HyperLogLog, SaturatingSet } from '../../../src/learner/core/distinct.js';
import { hashString32 } from '../../../src/learner/core/hashing.js';
import { HourHistogram, hourInWindow } from '../../../src/learner/core/hourWindow.js';
import { LearnerRandom } from '../../../src/learner/core/random.js';
import { SizeSketch, snapDown, snapUp } from '../../../src/learner/core/sizeSketch.js';
import { TopValues } from '../../../src/learner/core/topValues.js';

describe('SaturatingSet', () => {
  it('counts exactly up to its cap, then saturates', () => {
    const s = new SaturatingSet(50);
    for (let i = 0; i < 49; i++) s.add(hashString32(`c${i}`));
    for (let i = 0; i < 49; i++) s.add(hashString32(`c${i}`)); // repeats change nothing
    expect(s.count).toBe(49);
    expect(s.saturated).toBe(false);
    s.add(hashString32('c49'));
    expect(s.saturated).toBe(true);
    s.add(hashString32('c50'));
    expect(s.count).toBe(50);
  });
});

describe('HyperLogLog', () => {
  it.each([100, 1_000, 20_000, 200_000])('estimates %i distinct values within 3 standard errors', (n) => {
    const h = new HyperLogLog(10);
    for (let i = 0; i < n; i++) h.add(hashString32(`client-${i}`));
    for (let i = 0; i < n; i += 3) h.add(hashString32(`client-${i}`)); // duplicates
    const error = Math.abs(h.estimate() - n) / n;
    expect(error).toBeLessThan(3 * (1.04 / Math.sqrt(1024)));
  });

  it('merges as a union', () => {
    const a = new HyperLogLog(10);
    const b = new HyperLogLog(10);
    for (let i = 0; i < 5_000; i++) a.add(hashString32(`x${i}`));
    for (let i = 2_500; i < 7_500; i++) b.add(hashString32(`x${i}`));
    a.merge(b);
    expect(Math.abs(a.estimate() - 7_500) / 7_500).toBeLessThan(0.1);
    expect(() => a.merge(new HyperLogLog(8))).toThrow(RangeError);
  });
});

describe('ClientCounter', () => {
  it('is exact below the floor and never reports less than the floor above it', () => {
    const c = new ClientCounter(50);
    for (let i = 0; i < 49; i++) c.add(hashString32(`k${i}`));
    expect(c.count).toBe(49);
    expect(c.reachedFloor).toBe(false);
    for (let i = 49; i < 400; i++) c.add(hashString32(`k${i}`));
    expect(c.reachedFloor).toBe(true);
    expect(c.count).toBeGreaterThanOrEqual(50);
    expect(Math.abs(c.count - 400) / 400).toBeLessThan(0.15);
  });
});

describe('TopValues (Space-Saving)', () => {
  it('keeps heavy hitters with lower-bound counts and exact client counts up to the floor', () => {
    const t = new TopValues(8, 50);
    const rng = new LearnerRandom(3);
    for (let i = 0; i < 10_000; i++) {
      const v = rng.next() < 0.5 ? 'BR' : rng.next() < 0.5 ? 'AR' : `noise-${rng.int(5_000)}`;
      t.add(v, hashString32(`client-${rng.int(100_000)}`));
    }
    const e = t.entries();
    expect(e[0]!.value).toBe('BR');
    expect(e[1]!.value).toBe('AR');
    expect(e[0]!.count).toBeLessThanOrEqual(5_000 + 300);
    expect(e[0]!.count).toBeGreaterThan(4_500);
    expect(e[0]!.clients).toBe(50);
    expect(t.total).toBe(10_000);
    expect(t.size).toBe(8);
    // Noise values that took a slot have a lower bound near zero: never publishable by count.
    for (const x of e.filter((x) => x.value.startsWith('noise'))) expect(x.count).toBeLessThan(50);
  });

  it('counts the first client of a value (allocated lazily on the second event)', () => {
    const t = new TopValues(4, 50);
    t.add('a', 1);
    expect(t.entries()[0]).toEqual({ value: 'a', count: 1, clients: 1 });
    t.add('a', 2);
    t.add('a', 2);
    expect(t.entries()[0]).toEqual({ value: 'a', count: 3, clients: 2 });
    expect(t.share('a')).toBe(1);
    expect(t.share('b')).toBe(0);
  });

  it('guaranteed counts are lower bounds of true counts (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 30 }), { maxLength: 400 }), (values) => {
        const t = new TopValues(6, 10);
        const truth = new Map<string, number>();
        for (const v of values) {
          t.add(`v${v}`, v);
          truth.set(`v${v}`, (truth.get(`v${v}`) ?? 0) + 1);
        }
        for (const e of t.entries()) expect(e.count).toBeLessThanOrEqual(truth.get(e.value)!);
      }),
    );
  });
});

describe('SizeSketch', () => {
  it('gives robust quantiles from its reservoir and the share of known sizes', () => {
    const s = new SizeSketch(128, new LearnerRandom(1));
    for (let i = 0; i < 1_000; i++) s.add(200 + (i % 200), 8);
    for (let i = 0; i < 10; i++) s.add(null, null);
    const [lo, hi] = s.quantiles([0.01, 0.99])!;
    expect(lo).toBeGreaterThanOrEqual(200);
    expect(hi).toBeLessThan(400);
    expect(s.knownShare).toBeCloseTo(1000 / 1010, 6);
    expect(s.affinity(8)).toBeGreaterThan(0.9);
    expect(s.affinity(20)).toBe(0);
  });

  it('snaps bounds outward to the 1-2-5 grid', () => {
    expect([snapDown(237), snapUp(391)]).toEqual([200, 500]);
    expect([snapDown(1), snapUp(1)]).toEqual([1, 1]);
    expect([snapDown(999), snapUp(1001)]).toEqual([500, 2000]);
    expect([snapDown(0), snapUp(0)]).toEqual([0, 0]);
    expect([snapDown(1000), snapUp(1000), snapDown(1e6), snapUp(5e5)]).toEqual([1000, 1000, 1e6, 5e5]);
    fc.assert(
      fc.property(fc.double({ min: 0.5, max: 1e12, noNaN: true }), (x) => {
        expect(snapDown(x)).toBeLessThanOrEqual(x);
        expect(snapUp(x)).toBeGreaterThanOrEqual(x);
      }),
    );
  });
});

describe('HourHistogram', () => {
  it('finds the smallest window, wrapping past midnight', () => {
    const h = new HourHistogram();
    for (const hour of [22, 23, 23, 0, 0, 0, 1, 1, 2]) h.add(hour);
    const w = h.smallestWindow(1)!;
    expect(w).toMatchObject({ start: 22, end: 2, length: 5, covered: 1 });
    expect(hourInWindow(23, 22, 2)).toBe(true);
    expect(hourInWindow(12, 22, 2)).toBe(false);
    expect(h.smallestWindow(0.5)).toMatchObject({ length: 2 });
  });

  it('covers the whole day for uniform hours and ignores invalid ones', () => {
    const h = new HourHistogram();
    for (let i = 0; i < 240; i++) h.add(i % 24);
    h.add(24);
    h.add(-1);
    expect(h.count).toBe(240);
    expect(h.smallestWindow(0.99)!.length).toBe(24);
    expect(new HourHistogram().smallestWindow(0.9)).toBeNull();
  });
});
