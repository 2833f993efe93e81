import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  MAX_CONTENT_LENGTH,
  SIZE_BIN_COUNT,
  parseContentLength,
  sizeBin,
  sizeBinLowerBound,
} from '../../../src/features/size.js';

describe('parseContentLength', () => {
  const cases: [string | undefined, number | null][] = [
    ['0', 0],
    ['42', 42],
    [' 42 ', 42],
    ['0042', 42],
    ['42, 42', 42],
    ['42,43', null],
    ['', null],
    [undefined, null],
    ['-1', null],
    ['+1', null],
    ['1.5', null],
    ['0x10', null],
    ['1e3', null],
    ['12 34', null],
    ['999999999999999', MAX_CONTENT_LENGTH],
    ['1000000000000000', null],
    ['1'.repeat(300), null],
    ['４２', null], // full-width digits are not digits here
  ];
  it.each(cases)('%j → %j', (value, expected) => {
    expect(parseContentLength(value)).toBe(expected);
  });

  it('accepts exactly the decimal numbers (property)', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 40, unit: 'binary' }), (s) => {
        const v = parseContentLength(s);
        if (v !== null) {
          expect(Number.isSafeInteger(v)).toBe(true);
          expect(v).toBeGreaterThanOrEqual(0);
          expect(v).toBeLessThanOrEqual(MAX_CONTENT_LENGTH);
        }
      }),
    );
    fc.assert(
      fc.property(fc.integer({ min: 0, max: MAX_CONTENT_LENGTH }), (n) => {
        expect(parseContentLength(String(n))).toBe(n);
      }),
    );
  });
});

describe('sizeBin', () => {
  it('is a log2 scale', () => {
    expect(sizeBin(null)).toBeNull();
    expect(sizeBin(0)).toBe(0);
    expect(sizeBin(1)).toBe(1);
    expect(sizeBin(2)).toBe(2);
    expect(sizeBin(3)).toBe(2);
    expect(sizeBin(1023)).toBe(10);
    expect(sizeBin(1024)).toBe(11);
    expect(sizeBin(2 ** 31)).toBe(32);
    expect(sizeBin(MAX_CONTENT_LENGTH)).toBe(50);
    expect(sizeBin(Number.MAX_VALUE)).toBe(SIZE_BIN_COUNT - 1);
    expect(sizeBin(-1)).toBeNull();
    expect(sizeBin(NaN)).toBeNull();
  });

  it('bins contain their lower bound and sizes fall in their bin (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: MAX_CONTENT_LENGTH }), (n) => {
        const b = sizeBin(n)!;
        expect(b).toBeGreaterThanOrEqual(0);
        expect(b).toBeLessThan(SIZE_BIN_COUNT);
        expect(sizeBinLowerBound(b)).toBeLessThanOrEqual(n);
        expect(sizeBin(sizeBinLowerBound(b))).toBe(b);
        if (b + 1 < SIZE_BIN_COUNT) expect(sizeBinLowerBound(b + 1)).toBeGreaterThan(n);
      }),
    );
  });
});
