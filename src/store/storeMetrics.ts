// What the stores report, as events. The store knows nothing of prom-client: the telemetry
// wiring implements this interface (counters, gauges and a histogram, names suggested
// below) and main.ts passes it in. Every hook must be cheap and must not throw.

/** How one reload ended. */
export type ReloadOutcome =
  /** A new snapshot was compiled and swapped in. */
  | 'applied'
  /** The source had the same version and documents: nothing compiled. */
  | 'unchanged'
  /** The source looked wiped (data loss suspected): the current snapshot was kept. */
  | 'held'
  /** Reading, validating or compiling failed: the current snapshot was kept. */
  | 'failed';

export const RELOAD_OUTCOMES: readonly ReloadOutcome[] = ['applied', 'unchanged', 'held', 'failed'];

/** Where an error happened (a bounded label set). */
export type StoreErrorKind =
  /** A Redis connection reported an error or closed unexpectedly. */
  | 'connection'
  /** Reading the flags or the version failed. */
  | 'load'
  /** compileSnapshot threw (a programming bug: the snapshot is kept). */
  | 'compile'
  /** Subscribing to the change channel failed. */
  | 'subscribe'
  /** Writing this replica's status key failed. */
  | 'status'
  /** Reading or writing the last-good snapshot file failed. */
  | 'snapshot_file'
  /** Reading the flag folder or watching it failed (file store). */
  | 'watch';

export const STORE_ERROR_KINDS: readonly StoreErrorKind[] = [
  'connection',
  'load',
  'compile',
  'subscribe',
  'status',
  'snapshot_file',
  'watch',
];

/**
 * Suggested Prometheus names, one line per hook (the wiring may choose others):
 *
 * | hook | type | name |
 * |---|---|---|
 * | reload | counter by outcome + histogram | `proflag_store_reloads_total{outcome}`, `proflag_store_reload_seconds` |
 * | compiled | histogram | `proflag_store_compile_seconds` |
 * | flagsRejected | counter | `proflag_store_flags_rejected_total` |
 * | rejectedFlags | gauge | `proflag_store_rejected_flags` |
 * | error | counter by kind | `proflag_store_errors_total{kind}` |
 * | version | gauge (-1 for none) | `proflag_store_version` |
 * | lastSync | gauge, seconds since epoch; age = `time() - x` | `proflag_store_last_sync_timestamp_seconds` |
 * | stale | gauge 0/1 | `proflag_store_stale` |
 * | feedConnected | gauge 0/1 | `proflag_store_feed_connected` |
 * | dataLossSuspected | gauge 0/1 | `proflag_store_data_loss_suspected` |
 */
export interface StoreMetrics {
  /** One reload ended, after `seconds` (reading + validating + compiling). */
  reload(outcome: ReloadOutcome, seconds: number): void;
  /** compileSnapshot took `seconds`. */
  compiled(seconds: number): void;
  /** `count` documents were rejected that were not rejected (for the same reason) before. */
  flagsRejected(count: number): void;
  /** Documents rejected in the snapshot now served. */
  rejectedFlags(count: number): void;
  error(kind: StoreErrorKind): void;
  /** The version now served (null: the source has none, e.g. the file store). */
  version(version: number | null): void;
  /** Epoch ms of the last successful sync with the source. */
  lastSync(atMs: number): void;
  stale(isStale: boolean): void;
  /** The change feed (Redis pub/sub, or the folder watch) is connected. */
  feedConnected(connected: boolean): void;
  dataLossSuspected(suspected: boolean): void;
}

const noop = (): void => {};

/** Metrics that go nowhere: the default, and for tests. */
export const noopStoreMetrics: StoreMetrics = Object.freeze({
  reload: noop,
  compiled: noop,
  flagsRejected: noop,
  rejectedFlags: noop,
  error: noop,
  version: noop,
  lastSync: noop,
  stale: noop,
  feedConnected: noop,
  dataLossSuspected: noop,
});
