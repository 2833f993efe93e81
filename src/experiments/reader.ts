// Reads experiment counts back from Redis and merges them exactly: the sum over every replica
// and every minute in the window, per generation and variant. Used by the results (CLI and
// admin route) and, incrementally, by the guardrail runner.
import {
  addToCounts,
  addVariantCounts,
  emptyVariantCounts,
  parseCounterField,
  type VariantCounts,
} from './core/counts.js';
import type { TripRecord } from './core/report.js';
import type { ExperimentSpec, Guardrail, VariantShare } from './core/spec.js';
import type { RedisClient } from './flusher.js';
import { experimentKeys, type ExperimentKeys } from './keys.js';

/** HGETALLs per pipeline. */
const READ_BATCH = 500;

export interface GenerationInfo {
  readonly spec: ExperimentSpec;
  /** Epoch minute the generation (last) came into force, and the last minute with counts. */
  readonly since: number;
  readonly last: number;
  /**
   * Epoch ms of the flush that set `since`: orders generations that came into force in the same
   * minute (a guardrail can stop a variant seconds after the experiment started). 0 when absent
   * (written by an older proflag).
   */
  readonly sinceEpochMs: number;
}

/** generation → variant → counts */
export type GenerationCounts = Map<string, Map<string, VariantCounts>>;

export interface WindowCounts {
  readonly counts: GenerationCounts;
  /** Hash fields that were not ours or had impossible values (counted, never added). */
  readonly ignoredFields: number;
}

function isGuardrail(g: unknown): g is Guardrail {
  if (!g || typeof g !== 'object') return false;
  const o = g as Record<string, unknown>;
  return (
    (o.metric === 'errorRate' || o.metric === 'latencyP95') &&
    typeof o.maxRelativeIncrease === 'number' &&
    typeof o.minRequests === 'number' &&
    typeof o.pValue === 'number'
  );
}

/** A stored spec, validated; null when it is not one (written by something else, or damaged). */
export function parseSpec(generation: string, json: string): ExperimentSpec | null {
  let o: unknown;
  try {
    o = JSON.parse(json);
  } catch {
    return null;
  }
  if (!o || typeof o !== 'object') return null;
  const r = o as Record<string, unknown>;
  if (typeof r.flag !== 'string' || typeof r.control !== 'string' || !Array.isArray(r.variants)) return null;
  const variants: VariantShare[] = [];
  for (const v of r.variants as unknown[]) {
    const x = v as Record<string, unknown> | null;
    if (!x || typeof x.name !== 'string' || typeof x.share !== 'number' || !(x.share >= 0)) return null;
    variants.push({ name: x.name, share: x.share });
  }
  const guardrails = Array.isArray(r.guardrails) ? (r.guardrails as unknown[]).filter(isGuardrail) : [];
  return { flag: r.flag, generation, control: r.control, variants, guardrails };
}

/** Every generation recorded for a flag (spec, since, last). */
export async function readGenerations(
  redis: RedisClient,
  keys: ExperimentKeys,
  flag: string,
): Promise<Map<string, GenerationInfo>> {
  const raw = await redis.hgetall(keys.generations(flag));
  const out = new Map<string, GenerationInfo>();
  for (const [field, value] of Object.entries(raw)) {
    if (field.includes(':')) continue;
    const spec = parseSpec(field, value);
    if (!spec) continue;
    const since = Number(raw[`${field}:since`]);
    const last = Number(raw[`${field}:last`]);
    const sinceMs = Number(raw[`${field}:sinceMs`]);
    out.set(field, {
      spec,
      since: Number.isFinite(since) ? since : 0,
      last: Number.isFinite(last) ? last : since,
      sinceEpochMs: Number.isFinite(sinceMs) ? sinceMs : 0,
    });
  }
  return out;
}

function mergeHash(into: GenerationCounts, hash: Record<string, string>, only: string | null): number {
  let ignored = 0;
  for (const [field, value] of Object.entries(hash)) {
    const parsed = parseCounterField(field);
    if (!parsed) {
      ignored++;
      continue;
    }
    if (only !== null && parsed.generation !== only) continue;
    const delta = Number(value);
    if (!(Number.isSafeInteger(delta) && delta >= 0)) {
      ignored++;
      continue;
    }
    let byVariant = into.get(parsed.generation);
    if (!byVariant) into.set(parsed.generation, (byVariant = new Map()));
    let counts = byVariant.get(parsed.variant);
    if (!counts) byVariant.set(parsed.variant, (counts = emptyVariantCounts()));
    addToCounts(counts, parsed.slot, delta);
  }
  return ignored;
}

/**
 * The merged counts of minutes [fromMinute, toMinute] (inclusive), all generations or only
 * `generation`: pipelined HGETALLs, READ_BATCH keys at a time.
 */
export async function readWindow(
  redis: RedisClient,
  keys: ExperimentKeys,
  flag: string,
  fromMinute: number,
  toMinute: number,
  generation: string | null = null,
  into: GenerationCounts = new Map(),
): Promise<WindowCounts> {
  let ignoredFields = 0;
  for (let start = fromMinute; start <= toMinute; start += READ_BATCH) {
    const end = Math.min(toMinute, start + READ_BATCH - 1);
    const pipeline = redis.pipeline();
    for (let m = start; m <= end; m++) pipeline.hgetall(keys.bucket(flag, m));
    const replies = (await pipeline.exec()) ?? [];
    for (const [err, hash] of replies) {
      if (err) throw err;
      ignoredFields += mergeHash(into, hash as Record<string, string>, generation);
    }
  }
  return { counts: into, ignoredFields };
}

/** Guardrail changes recorded for a flag, most recent first. */
export async function readTrips(
  redis: RedisClient,
  keys: ExperimentKeys,
  flag: string,
  max = 20,
): Promise<TripRecord[]> {
  const raw = await redis.lrange(keys.trips(flag), 0, max - 1);
  const trips: TripRecord[] = [];
  for (const item of raw) {
    try {
      const t = JSON.parse(item) as TripRecord;
      if (t && typeof t.at === 'string' && typeof t.variant === 'string' && typeof t.detail === 'string') trips.push(t);
    } catch {
      // A damaged entry is skipped, never shown half-read.
    }
  }
  return trips;
}

/** Appends a trip (capped at 50, same TTL as the counts). */
export async function recordTrip(
  redis: RedisClient,
  keys: ExperimentKeys,
  trip: TripRecord,
  ttlSeconds: number,
): Promise<void> {
  const key = keys.trips(trip.flag);
  await redis.multi().lpush(key, JSON.stringify(trip)).ltrim(key, 0, 49).expire(key, ttlSeconds).exec();
}

/** Minutes behind "now" after which a minute can no longer receive counts (clock skew margin). */
export const FINAL_AFTER_MINUTES = 3;

interface CachedGeneration {
  /** The generation's `since` the entry was built for (a restart of the generation rebuilds it). */
  readonly since: number;
  readonly from: number;
  /** Minutes ≤ this are summed into `final`. */
  finalUpTo: number;
  readonly final: Map<string, VariantCounts>;
}

/**
 * The guardrail runner's view: the merged counts of one generation since it came into force,
 * read incrementally. Minutes older than FINAL_AFTER_MINUTES are read once and kept as a sum;
 * each call reads only the minutes after that. Cache entries of generations no longer asked
 * for are dropped by `retain`.
 */
export class GenerationCountsCache {
  readonly #redis: RedisClient;
  readonly #keys: ExperimentKeys;
  readonly #maxAgeMinutes: number;
  readonly #cache = new Map<string, CachedGeneration>();

  constructor(redis: RedisClient, prefix: string, ttlDays: number) {
    this.#redis = redis;
    this.#keys = experimentKeys(prefix);
    this.#maxAgeMinutes = Math.ceil(ttlDays * 1440);
  }

  get keys(): ExperimentKeys {
    return this.#keys;
  }

  /** Keep only these `flag:generation` entries. */
  retain(specs: readonly ExperimentSpec[]): void {
    const wanted = new Set(specs.map((s) => `${s.flag}:${s.generation}`));
    for (const key of this.#cache.keys()) if (!wanted.has(key)) this.#cache.delete(key);
  }

  /** The counts of `spec`'s generation, from its `since` (bounded by the TTL) to `nowMinute`. */
  async counts(
    spec: ExperimentSpec,
    nowMinute: number,
  ): Promise<{ counts: Map<string, VariantCounts>; fromMinute: number; toMinute: number }> {
    const generations = await readGenerations(this.#redis, this.#keys, spec.flag);
    const info = generations.get(spec.generation);
    // Not recorded yet: nothing was flushed for this generation, so there is nothing to read.
    if (!info) return { counts: new Map(), fromMinute: nowMinute, toMinute: nowMinute };
    const key = `${spec.flag}:${spec.generation}`;
    let cached = this.#cache.get(key);
    if (!cached || cached.since !== info.since) {
      // Minutes older than the TTL are gone from Redis; don't ask for them.
      const from = Math.max(info.since, nowMinute - this.#maxAgeMinutes);
      cached = { since: info.since, from, finalUpTo: from - 1, final: new Map() };
      this.#cache.set(key, cached);
    }
    const finalUpTo = nowMinute - FINAL_AFTER_MINUTES;
    if (finalUpTo > cached.finalUpTo) {
      const finalPart = await readWindow(
        this.#redis,
        this.#keys,
        spec.flag,
        cached.finalUpTo + 1,
        finalUpTo,
        spec.generation,
      );
      mergeInto(cached.final, finalPart.counts.get(spec.generation));
      cached.finalUpTo = finalUpTo;
    }
    const fresh = await readWindow(
      this.#redis,
      this.#keys,
      spec.flag,
      cached.finalUpTo + 1,
      nowMinute,
      spec.generation,
    );
    const merged = new Map<string, VariantCounts>();
    mergeInto(merged, cached.final);
    mergeInto(merged, fresh.counts.get(spec.generation));
    return { counts: merged, fromMinute: cached.from, toMinute: nowMinute };
  }
}

function mergeInto(into: Map<string, VariantCounts>, from: ReadonlyMap<string, VariantCounts> | undefined): void {
  if (!from) return;
  for (const [variant, c] of from) {
    let target = into.get(variant);
    if (!target) into.set(variant, (target = emptyVariantCounts()));
    addVariantCounts(target, c);
  }
}

/** The runner's trip log in Redis (`exp:<flag>:trips`). */
export class RedisTripLog {
  readonly #keys: ExperimentKeys;
  constructor(
    private readonly redis: RedisClient,
    prefix: string,
    private readonly ttlDays: number,
  ) {
    this.#keys = experimentKeys(prefix);
  }

  record(trip: TripRecord): Promise<void> {
    return recordTrip(this.redis, this.#keys, trip, Math.round(this.ttlDays * 86_400));
  }
}
