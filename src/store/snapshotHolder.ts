// The one place the served snapshot lives. The request path reads `holder.current` once per
// request and keeps that reference; the stores build a new snapshot off the hot path and
// `swap` it in with one assignment. Next to it, the sync state that /readyz, the metrics and
// the decision metadata report: which version is served, how old it is, whether the change
// feed is alive, and whether the source looks wiped.
import type { Snapshot } from '../matcher/snapshot.js';

export type SwapListener = (next: Snapshot, previous: Snapshot) => void;

/** A snapshot with no flags, served before the first load (or when there is no source). */
export function emptySnapshot(source: string, now: number = Date.now()): Snapshot {
  return Object.freeze({
    version: null,
    source,
    rejected: Object.freeze([]),
    compiledAt: now,
    flags: Object.freeze([]),
    flagCount: 0,
    uaIndex: null,
  });
}

/** A copy of the sync state at one moment (for /readyz, metrics and `ffr status`). */
export interface SyncState {
  /** Where the served snapshot came from (the snapshot's `source`). */
  readonly source: string;
  /** The version served (null when the source has none). */
  readonly version: number | null;
  /** The store has loaded from its source at least once (readiness). */
  readonly loaded: boolean;
  /** Epoch ms of the last successful sync with the source (changed or not); null before. */
  readonly lastSyncAt: number | null;
  /** ms since lastSyncAt (null before the first sync). */
  readonly ageMs: number | null;
  /** The change feed is connected (Redis subscription or folder watch). */
  readonly feedConnected: boolean;
  /** The change feed has been down, or no sync succeeded, for longer than staleAfterMs. */
  readonly stale: boolean;
  /** The source came back empty after having served a version: the snapshot is held. */
  readonly dataLossSuspected: boolean;
  /** The last error seen (cleared by the next successful sync). */
  readonly lastError: string | null;
  readonly lastErrorAt: number | null;
  /** Documents rejected in the served snapshot. */
  readonly rejectedCount: number;
  readonly flagCount: number;
}

export interface SnapshotHolderOptions {
  /** Report stale past this many ms without a sync or a change feed. Default: never. */
  readonly staleAfterMs?: number;
  /** Clock, for tests. */
  readonly now?: () => number;
}

export class SnapshotHolder {
  #current: Snapshot;
  readonly #listeners: SwapListener[] = [];
  readonly #now: () => number;
  #staleAfterMs: number;
  #loaded = false;
  #lastSyncAt: number | null = null;
  /** When the feed went down; null while connected. Starts as "down since creation". */
  #feedDownSince: number | null;
  #dataLossSuspected = false;
  #lastError: string | null = null;
  #lastErrorAt: number | null = null;
  readonly #createdAt: number;

  constructor(initial?: Snapshot, options: SnapshotHolderOptions = {}) {
    this.#now = options.now ?? Date.now;
    this.#current = initial ?? emptySnapshot('empty', this.#now());
    this.#staleAfterMs = options.staleAfterMs ?? Number.POSITIVE_INFINITY;
    this.#createdAt = this.#now();
    this.#feedDownSince = this.#createdAt;
  }

  /** The snapshot to use for one whole request. */
  get current(): Snapshot {
    return this.#current;
  }

  /** Serve `next` from now on. Listeners run after the swap; a throwing listener is ignored. */
  swap(next: Snapshot): void {
    const previous = this.#current;
    this.#current = next;
    for (const listener of this.#listeners) {
      try {
        listener(next, previous);
      } catch {
        // A listener (metrics, logging) must never undo or block a swap.
      }
    }
  }

  /** Call `listener` after every swap; returns the function that removes it. */
  onSwap(listener: SwapListener): () => void {
    this.#listeners.push(listener);
    return () => {
      const i = this.#listeners.indexOf(listener);
      if (i >= 0) this.#listeners.splice(i, 1);
    };
  }

  configureStaleness(staleAfterMs: number): void {
    if (!(staleAfterMs > 0)) throw new RangeError(`staleAfterMs must be > 0, got ${staleAfterMs}`);
    this.#staleAfterMs = staleAfterMs;
  }

  /** A successful sync with the source (whether or not the snapshot changed). */
  recordSync(at: number = this.#now()): void {
    this.#loaded = true;
    this.#lastSyncAt = at;
    this.#lastError = null;
    this.#lastErrorAt = null;
  }

  /** Ready without a sync: serving a held snapshot (suspected data loss at the source). */
  recordLoaded(): void {
    this.#loaded = true;
  }

  recordError(message: string, at: number = this.#now()): void {
    this.#lastError = message;
    this.#lastErrorAt = at;
  }

  setFeedConnected(connected: boolean, at: number = this.#now()): void {
    if (connected) this.#feedDownSince = null;
    else if (this.#feedDownSince === null) this.#feedDownSince = at;
  }

  setDataLossSuspected(suspected: boolean): void {
    this.#dataLossSuspected = suspected;
  }

  get loaded(): boolean {
    return this.#loaded;
  }

  get dataLossSuspected(): boolean {
    return this.#dataLossSuspected;
  }

  /** Cheap enough for the request path (one clock read). */
  get stale(): boolean {
    return this.#isStale(this.#now());
  }

  #isStale(now: number): boolean {
    const limit = this.#staleAfterMs;
    if (limit === Number.POSITIVE_INFINITY) return false;
    if (this.#feedDownSince !== null && now - this.#feedDownSince > limit) return true;
    const lastSync = this.#lastSyncAt ?? this.#createdAt;
    return now - lastSync > limit;
  }

  get sync(): SyncState {
    const now = this.#now();
    const snap = this.#current;
    return {
      source: snap.source,
      version: snap.version,
      loaded: this.#loaded,
      lastSyncAt: this.#lastSyncAt,
      ageMs: this.#lastSyncAt === null ? null : Math.max(0, now - this.#lastSyncAt),
      feedConnected: this.#feedDownSince === null,
      stale: this.#isStale(now),
      dataLossSuspected: this.#dataLossSuspected,
      lastError: this.#lastError,
      lastErrorAt: this.#lastErrorAt,
      rejectedCount: snap.rejected.length,
      flagCount: snap.flagCount,
    };
  }
}
