// Every metric proflag exports, declared in one place (as Envoy's ALL_EXT_PROC_FILTER_STATS).
// One registry per sidecar instance, so tests can run several in one process.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export type Metrics = ReturnType<typeof createMetrics>;

export function createMetrics(options: { defaultMetrics?: boolean } = {}) {
  const registry = new Registry();
  if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry, prefix: 'proflag_process_' });
  const registers = [registry];
  return {
    registry,
    streams: new Counter({
      name: 'proflag_extproc_streams_total',
      help: 'ext_proc streams by how they ended (end, cancelled, error)',
      labelNames: ['outcome'] as const,
      registers,
    }),
    messages: new Counter({
      name: 'proflag_extproc_messages_total',
      help: 'ProcessingRequest messages by kind',
      labelNames: ['kind'] as const,
      registers,
    }),
    decisions: new Counter({
      name: 'proflag_decisions_total',
      help: 'request-header decisions by result (match, nomatch, fallback)',
      labelNames: ['result'] as const,
      registers,
    }),
    fallbacks: new Counter({
      name: 'proflag_fallbacks_total',
      help: 'requests answered CONTINUE without mutation because of a problem, by error code',
      labelNames: ['code'] as const,
      registers,
    }),
    decisionSeconds: new Histogram({
      name: 'proflag_decision_duration_seconds',
      help: 'features + match + response build for one request',
      buckets: [5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 5e-3, 2.5e-2],
      registers,
    }),
    routed: new Counter({
      name: 'proflag_routed_total',
      help: 'requests given an upstream cluster override, by cluster',
      labelNames: ['cluster'] as const,
      registers,
    }),
    connectionsRecycled: new Counter({
      name: 'proflag_connections_recycled_total',
      help: 'HTTP/2 connections closed gracefully after PROFLAG_STREAMS_PER_CONNECTION streams',
      registers,
    }),
    snapshotVersion: new Gauge({
      name: 'proflag_snapshot_version',
      help: 'proflag:version of the snapshot being served (-1 when the source has none)',
      registers,
    }),
    snapshotFlags: new Gauge({
      name: 'proflag_snapshot_flags',
      help: 'enabled flags in the snapshot being served',
      registers,
    }),
    snapshotRejected: new Gauge({
      name: 'proflag_snapshot_rejected_flags',
      help: 'flags rejected when the served snapshot was compiled',
      registers,
    }),
    snapshotAgeSeconds: new Gauge({
      name: 'proflag_snapshot_sync_age_seconds',
      help: 'seconds since the last successful sync with the flag store',
      registers,
    }),
    snapshotStale: new Gauge({
      name: 'proflag_snapshot_stale',
      help: '1 when the change feed has been lost longer than PROFLAG_STALE_AFTER_MS',
      registers,
    }),
    storeReloads: new Counter({
      name: 'proflag_store_reloads_total',
      help: 'snapshot compiles by trigger (start, change, resync) and result',
      labelNames: ['trigger', 'result'] as const,
      registers,
    }),
    storeErrors: new Counter({
      name: 'proflag_store_errors_total',
      help: 'flag store errors by error code',
      labelNames: ['code'] as const,
      registers,
    }),
    storeDataLoss: new Gauge({
      name: 'proflag_store_data_loss_suspected',
      help: '1 while Redis looks emptied (proflag:version gone) and the last snapshot is kept',
      registers,
    }),
  };
}
