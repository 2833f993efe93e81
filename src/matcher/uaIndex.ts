// Interface of the user-agent nearest-exemplar index (implementation: issue 3, features helper).
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
   * Infinity for this slot whenever its nearest exemplar is beyond the reach (found by bounds,
   * without computing every distance); without it every distance is computed exactly.
   */
  readonly maxDistance?: number;
}

export interface UaIndex {
  /** Number of slots (flags with a userAgent range). */
  readonly slots: number;
  /**
   * Cosine distance from the request's user agent to each slot's nearest exemplar
   * (0 for an exact hash match, Infinity when none is within reach). One query per call.
   * The returned array may be shared with later calls (results are cached per UA hash):
   * read it, never write it.
   */
  nearestDistances(vector: Float32Array | null, uaHash: string | null): Float64Array;
}
