// Interface of the user-agent nearest-exemplar index (implementation: uaIndexImpl.ts).
export interface UaIndexParams {
  readonly m: number;
  readonly efConstruction: number;
  readonly ef: number;
}

export const DEFAULT_UA_INDEX_PARAMS: UaIndexParams = { m: 16, efConstruction: 100, ef: 32 };

/** The user-agent range of one flag, by its slot in the snapshot's UA-flag list. */
export interface UaRangeInput {
  readonly slot: number;
  /** Embeddings of the flag's `similarTo` exemplars. */
  readonly exemplars: readonly Float32Array[];
  /** Exact user-agent hashes (distance 0). */
  readonly hashes: readonly string[];
  /**
   * The range's reach (its flag's `maxDistance`). Optional: when given, the index answers
   * Infinity for this slot whenever its nearest exemplar is beyond the reach (found by a
   * bound, often without comparing every exemplar).
   */
  readonly maxDistance?: number;
}

/**
 * One request's user agent against the index. Distances are computed per slot, on the first
 * ask, and kept: a request pays only for the slots of the flags it actually scores. The
 * object may be shared by every request with the same UA hash (it is cached per hash), so it
 * must answer the same number for the same slot whoever asks first.
 */
export interface UaQuery {
  /**
   * Cosine distance from the user agent to the slot's nearest exemplar: 0 for an exact hash
   * match, Infinity when nothing is within the slot's reach, the slot is unknown or the
   * request has no usable user agent.
   */
  distance(slot: number): number;
}

export interface UaIndex {
  /** Number of slots (flags with a userAgent range). */
  readonly slots: number;
  /** The lazy per-slot view for one request (cheap: nothing is computed until asked). */
  query(vector: Float32Array | null, uaHash: string | null): UaQuery;
  /**
   * Every slot's distance at once: exactly `query(vector, uaHash).distance(s)` for each slot
   * s (explain, benchmarks). The returned array may be shared with later calls (results are
   * cached per UA hash): read it, never write it.
   */
  nearestDistances(vector: Float32Array | null, uaHash: string | null): Float64Array;
}
