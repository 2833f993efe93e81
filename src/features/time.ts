// Time of day in the configured IANA time zone (PROFLAG_TZ), cheap enough for every request.
//
// Intl.DateTimeFormat#formatToParts costs a few microseconds, so it is not called per request:
// the zone's UTC offset is computed once per wall-clock minute (offsets only ever change on
// whole minutes) and the hour follows from plain arithmetic. A request in the same minute as
// the previous one pays one comparison and a few divisions.

const MINUTE_MS = 60_000;
const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;

export interface HourClock {
  /** The time zone the clock was built for. */
  readonly timeZone: string;
  /** Width of the coarse hour bins (a divisor of 24). */
  readonly binWidth: number;
  /** Hour of day 0-23 at nowMs (epoch ms) in the clock's zone; 0 for a non-finite time. */
  hourOf(nowMs: number): number;
  /** First hour of the bin that holds the hour, e.g. width 4: 13 → 12. */
  binOf(hour: number): number;
}

/** The first hour of an hour's bin; a width outside 1..24 counts as 1. */
export function hourBin(hour: number, width: number): number {
  const w = Number.isInteger(width) && width >= 1 && width <= 24 ? width : 1;
  const h = Number.isInteger(hour) && hour >= 0 && hour <= 23 ? hour : 0;
  return h - (h % w);
}

/**
 * A clock for one time zone. Throws a RangeError at construction for an unknown zone (the
 * configuration validates it first); never throws afterwards.
 */
export function createHourClock(timeZone: string, binWidth = 1): HourClock {
  const format = new Intl.DateTimeFormat('en-US', {
    timeZone,
    hourCycle: 'h23',
    year: 'numeric',
    month: 'numeric',
    day: 'numeric',
    hour: 'numeric',
    minute: 'numeric',
    second: 'numeric',
  });
  const fixedUtc = /^(utc|etc\/utc|etc\/gmt|gmt|etc\/universal|universal|etc\/zulu|zulu)$/i.test(timeZone);
  let cachedMinute = NaN;
  let cachedOffset = 0;

  const offsetAt = (ms: number): number => {
    // Wall-clock fields of the zone, read back as if they were UTC, minus the instant.
    let y = 1970;
    let mo = 1;
    let d = 1;
    let h = 0;
    let mi = 0;
    let s = 0;
    for (const p of format.formatToParts(ms)) {
      switch (p.type) {
        case 'year':
          y = Number(p.value);
          break;
        case 'month':
          mo = Number(p.value);
          break;
        case 'day':
          d = Number(p.value);
          break;
        case 'hour':
          h = Number(p.value);
          break;
        case 'minute':
          mi = Number(p.value);
          break;
        case 'second':
          s = Number(p.value);
          break;
        default:
          break;
      }
    }
    const wall = Date.UTC(y, mo - 1, d, h, mi, s);
    const offset = wall - (ms - (((ms % 1000) + 1000) % 1000));
    return Number.isFinite(offset) ? offset : 0;
  };

  const width = Number.isInteger(binWidth) && binWidth >= 1 && binWidth <= 24 ? binWidth : 1;

  return {
    timeZone,
    binWidth: width,
    hourOf(nowMs: number): number {
      // Date's range is ±8.64e15 ms; beyond it the formatter would throw.
      if (!Number.isFinite(nowMs) || Math.abs(nowMs) > 8.64e15) return 0;
      let offset = 0;
      if (!fixedUtc) {
        const minute = Math.floor(nowMs / MINUTE_MS);
        if (minute !== cachedMinute) {
          cachedOffset = offsetAt(minute * MINUTE_MS);
          cachedMinute = minute;
        }
        offset = cachedOffset;
      }
      const local = (((nowMs + offset) % DAY_MS) + DAY_MS) % DAY_MS;
      const hour = Math.floor(local / HOUR_MS);
      return hour >= 0 && hour <= 23 ? hour : 0;
    },
    binOf(hour: number): number {
      return hourBin(hour, width);
    },
  };
}
