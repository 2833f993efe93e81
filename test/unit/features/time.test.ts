import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createHourClock, hourBin } from '../../../src/features/time.js';

/** The reference: Intl's own hour, per call (slow but obviously right). */
function referenceHour(tz: string, ms: number): number {
  const h = new Intl.DateTimeFormat('en-US', { timeZone: tz, hour: 'numeric', hourCycle: 'h23' }).format(ms);
  return Number(h);
}

describe('createHourClock', () => {
  it('gives the hour in UTC and in zones with DST', () => {
    const t = Date.UTC(2025, 6, 1, 10, 30); // 1 July 2025 10:30 UTC
    expect(createHourClock('UTC').hourOf(t)).toBe(10);
    expect(createHourClock('Europe/Berlin').hourOf(t)).toBe(12); // CEST
    expect(createHourClock('America/New_York').hourOf(t)).toBe(6); // EDT
    expect(createHourClock('Asia/Kolkata').hourOf(t)).toBe(16); // +05:30
    expect(createHourClock('Asia/Kathmandu').hourOf(Date.UTC(2025, 0, 1, 23, 10))).toBe(4); // +05:45
    const w = Date.UTC(2025, 0, 15, 10, 30);
    expect(createHourClock('Europe/Berlin').hourOf(w)).toBe(11); // CET
  });

  it('follows DST transitions to the minute', () => {
    const clock = createHourClock('Europe/Berlin');
    // 30 March 2025: 01:00 UTC jumps 02:00 → 03:00 local.
    expect(clock.hourOf(Date.UTC(2025, 2, 30, 0, 59, 59))).toBe(1);
    expect(clock.hourOf(Date.UTC(2025, 2, 30, 1, 0, 0))).toBe(3);
    // 26 October 2025: 01:00 UTC falls back 03:00 → 02:00 local.
    expect(clock.hourOf(Date.UTC(2025, 9, 26, 0, 59, 59))).toBe(2);
    expect(clock.hourOf(Date.UTC(2025, 9, 26, 1, 0, 0))).toBe(2);
    expect(clock.hourOf(Date.UTC(2025, 9, 26, 2, 0, 0))).toBe(3);
  });

  it('agrees with Intl for any instant and zone (property)', () => {
    const zones = [
      'UTC',
      'Europe/Berlin',
      'America/New_York',
      'Australia/Lord_Howe',
      'Asia/Kathmandu',
      'Pacific/Chatham',
      'America/St_Johns',
    ];
    const clocks = new Map(zones.map((z) => [z, createHourClock(z)]));
    fc.assert(
      fc.property(fc.constantFrom(...zones), fc.integer({ min: 0, max: 4_102_444_800_000 }), (tz, ms) => {
        expect(clocks.get(tz)!.hourOf(ms)).toBe(referenceHour(tz, ms));
      }),
      { numRuns: 1500 },
    );
  });

  it('returns 0 for non-finite or out-of-range times and rejects unknown zones', () => {
    const clock = createHourClock('Europe/Berlin');
    for (const bad of [NaN, Infinity, -Infinity, 9e15]) expect(clock.hourOf(bad)).toBe(0);
    expect(clock.hourOf(-3_600_001)).toBe(23); // 1969-12-31 22:59:59.999 UTC is 23:59 in Berlin
    expect(() => createHourClock('Mars/Olympus_Mons')).toThrow(RangeError);
  });

  it('bins hours', () => {
    expect(hourBin(13, 4)).toBe(12);
    expect(hourBin(23, 6)).toBe(18);
    expect(hourBin(5, 1)).toBe(5);
    expect(hourBin(5, 24)).toBe(0);
    expect(hourBin(5, 0)).toBe(5); // an invalid width counts as 1
    expect(createHourClock('UTC', 8).binOf(17)).toBe(16);
  });
});
