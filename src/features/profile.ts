// The request profile: the six dimensions of the design, extracted once per request by the
// pure feature extractors and read by the matcher and the learner. Raw user agents and IPs
// never appear here: only their keyed hash and derived, coarse values.

export interface RequestProfile {
  /** Upper-case method, '' when Envoy sent none. */
  readonly method: string;
  /** Normalized path (no query, IDs collapsed), null when there is no usable path. */
  readonly endpoint: string | null;
  /** Request body size in bytes (content-length), null when unknown. */
  readonly payloadSize: number | null;
  /**
   * Log-scale bin of payloadSize (0 = empty, k = [2^(k-1), 2^k) bytes), null when unknown.
   * Always set by the extractor; optional only so that hand-made profiles in tests may omit it.
   */
  readonly sizeBin?: number | null;
  /** Hour of day 0-23 in PROFLAG_TZ. */
  readonly hour: number;
  /** First hour of the coarse hour bin (PROFLAG_HOUR_BIN_WIDTH), e.g. width 4: 13 → 12. Always set by the extractor. */
  readonly hourBin?: number;
  /** ISO 3166-1 alpha-2 country, null when unknown. */
  readonly country: string | null;
  /** Two-letter continent code (EU, NA, ...), null when unknown. */
  readonly continent: string | null;
  /** Keyed HMAC-SHA256 of the user agent (hex, truncated), null when there is none. */
  readonly uaHash: string | null;
  /** L2-normalised user-agent embedding, null when there is no user agent. */
  readonly uaVector: Float32Array | null;
  /** Keyed hash of the user agent with the coarse client network: the default rollout unit. */
  readonly clientKey: string;
}

/** Read-only view of the request headers, names lower-case. */
export interface HeaderLookup {
  get(name: string): string | undefined;
}
