// The store's metric hooks, implemented on the one metric list.
import type { StoreMetrics } from '../store/storeMetrics.js';
import type { Metrics } from './metrics.js';

export function storeMetricsFrom(m: Metrics): StoreMetrics {
  return {
    reload(outcome, seconds) {
      m.storeReloads.labels(outcome).inc();
      m.storeReloadSeconds.observe(seconds);
    },
    compiled: (seconds) => m.storeCompileSeconds.observe(seconds),
    flagsRejected: (count) => m.storeFlagsRejected.inc(count),
    rejectedFlags: (count) => m.storeRejectedFlags.set(count),
    error: (kind) => m.storeErrors.labels(kind).inc(),
    version: (version) => m.storeVersion.set(version ?? -1),
    lastSync: (atMs) => m.storeLastSync.set(atMs / 1000),
    stale: (isStale) => m.storeStale.set(isStale ? 1 : 0),
    feedConnected: (connected) => m.storeFeedConnected.set(connected ? 1 : 0),
    dataLossSuspected: (suspected) => m.storeDataLoss.set(suspected ? 1 : 0),
  };
}
