// Experiment keys in Redis (docs/redis-layout.md). All start with the proflag prefix, so on
// Redis Cluster the prefix's hash tag (`{proflag}:`) puts them in one slot with the flags, and
// the flush script may touch several of them at once.
//
//   <prefix>exp:<flag>:m:<minute>   hash, TTL: counts of one epoch minute, fields
//                                   `<generation>:<variant>:<counter>` (counts.ts)
//   <prefix>exp:<flag>:gens         hash, TTL: per generation `<gen>` → spec JSON (control,
//                                   variants and shares, guardrails), `<gen>:since` and
//                                   `<gen>:last` (epoch minutes), `<gen>:sinceMs` (epoch ms of
//                                   the flush that set since: orders generations of one minute)
//   <prefix>exp:<flag>:trips        list, capped, TTL: guardrail changes (TripRecord JSON)
//   <prefix>expw:<writer>           string, TTL 1 day: the last flush sequence number applied for
//                                   one writer (one process incarnation), which makes retries
//                                   of a flush idempotent
export interface ExperimentKeys {
  bucket(flag: string, minute: number): string;
  generations(flag: string): string;
  trips(flag: string): string;
  writer(writerId: string): string;
}

export function experimentKeys(prefix: string): ExperimentKeys {
  return Object.freeze({
    bucket: (flag: string, minute: number) => `${prefix}exp:${flag}:m:${minute}`,
    generations: (flag: string) => `${prefix}exp:${flag}:gens`,
    trips: (flag: string) => `${prefix}exp:${flag}:trips`,
    writer: (writerId: string) => `${prefix}expw:${writerId}`,
  });
}

/** Epoch minute of a time in ms. */
export function minuteOf(ms: number): number {
  return Math.floor(ms / 60_000);
}
