// An immutable, compiled view of every flag. Built off the hot path by compileSnapshot and
// swapped in with one reference assignment (store/snapshotHolder); a request reads exactly
// one snapshot from start to end.
import type { CompiledFlag } from './compiledFlag.js';
import type { CandidateIndex } from './prefilter.js';
import type { RespondLimiter } from './respondLimiter.js';
import type { UaIndex } from './uaIndex.js';

export interface RejectedFlag {
  /** The flag's key name (what follows `flag:` in Redis, or the file name). */
  readonly key: string;
  readonly reason: string;
}

export interface SnapshotMeta {
  /** `proflag:version` when the source has one; null for the file store or before any change. */
  readonly version: number | null;
  /** Where the flags came from: 'redis', 'file:/path', 'empty'. */
  readonly source: string;
  /** Flags that failed validation or compilation, with the reason. */
  readonly rejected: readonly RejectedFlag[];
}

export interface Snapshot extends SnapshotMeta {
  /** Epoch ms when it was compiled. */
  readonly compiledAt: number;
  /** Enabled flags, in evaluation order (priority desc, then name). */
  readonly flags: readonly CompiledFlag[];
  /** Every flag known by name, enabled or not (for explain and metrics). */
  readonly flagCount: number;
  /** Nearest-exemplar lookup for flags with userAgent ranges; null when none has one. */
  readonly uaIndex: UaIndex | null;
  /**
   * Which flags a request needs to score (bitsets per dimension value); absent in hand-made
   * snapshots, which then score every flag. Built for exactly `flags` and `uaIndex`.
   */
  readonly prefilter?: CandidateIndex;
  /**
   * The `respondLimit` token buckets (flag.respondLimit.slot). Absent in hand-made snapshots,
   * where every `respond` counts as over its limit (fail safe: no reply is ever sent).
   */
  readonly respondLimiter?: RespondLimiter;
}
