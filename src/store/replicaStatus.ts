// What one sidecar tells the operators through `<prefix>status:<replica>` (read by
// `scripts/ffr status`): the version it serves, how fresh it is, and what it rejected.
// Reasons only, never documents.
import { hostname } from 'node:os';
import type { Snapshot } from '../matcher/snapshot.js';
import type { SyncState } from './snapshotHolder.js';

/** At most this many rejections are listed (the count is always exact in flagCount/rejectedCount). */
export const MAX_STATUS_REJECTIONS = 200;

export interface ReplicaStatus {
  readonly replica: string;
  readonly host: string;
  readonly pid: number;
  readonly source: string;
  readonly version: number | null;
  readonly loaded: boolean;
  readonly lastSyncAt: number | null;
  readonly updatedAt: number;
  readonly stale: boolean;
  readonly feedConnected: boolean;
  readonly dataLossSuspected: boolean;
  readonly lastError: string | null;
  readonly flagCount: number;
  readonly rejectedCount: number;
  readonly rejected: ReadonlyArray<{ key: string; reason: string }>;
}

export function replicaStatus(replica: string, sync: SyncState, snapshot: Snapshot, now: number): ReplicaStatus {
  return {
    replica,
    host: hostname(),
    pid: process.pid,
    source: sync.source,
    version: sync.version,
    loaded: sync.loaded,
    lastSyncAt: sync.lastSyncAt,
    updatedAt: now,
    stale: sync.stale,
    feedConnected: sync.feedConnected,
    dataLossSuspected: sync.dataLossSuspected,
    lastError: sync.lastError,
    flagCount: sync.flagCount,
    rejectedCount: snapshot.rejected.length,
    rejected: snapshot.rejected.slice(0, MAX_STATUS_REJECTIONS).map((r) => ({ key: r.key, reason: r.reason })),
  };
}
