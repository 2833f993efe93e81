// `--since` and `?since=` durations: one or more <integer><unit> parts, units d, h, m, s, each
// unit at most once and in that order ("1h30m"). null for anything else, or beyond 400 days.
const UNIT_MS: Record<string, number> = { d: 86_400_000, h: 3_600_000, m: 60_000, s: 1000 };
const PATTERN = /^(?:(\d{1,6})d)?(?:(\d{1,7})h)?(?:(\d{1,9})m)?(?:(\d{1,11})s)?$/;
const MAX_MS = 400 * 86_400_000;

export function parseDuration(text: string): number | null {
  const m = PATTERN.exec(text);
  if (!m || text === '') return null;
  const ms =
    Number(m[1] ?? 0) * UNIT_MS.d! +
    Number(m[2] ?? 0) * UNIT_MS.h! +
    Number(m[3] ?? 0) * UNIT_MS.m! +
    Number(m[4] ?? 0) * UNIT_MS.s!;
  return ms > 0 && ms <= MAX_MS ? ms : null;
}
