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
      help: 'ext_proc streams by how they ended (end, cancelled, error, timeout)',
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
    responsePhase: new Counter({
      name: 'proflag_extproc_response_phase_total',
      help: 'response phases: requested (mode_override sent), answered, ended_first (stream ended before the response headers), unrequested (response headers nobody asked for), observe_error',
      labelNames: ['outcome'] as const,
      registers,
    }),
    connectionsClosed: new Counter({
      name: 'proflag_extproc_connections_closed_total',
      help: 'HTTP/2 connections the gRPC edge closed itself, by reason (idle, max_age, handshake_timeout, keepalive_timeout, shutdown)',
      labelNames: ['reason'] as const,
      registers,
    }),
    callsRefused: new Counter({
      name: 'proflag_extproc_calls_refused_total',
      help: 'gRPC calls refused by the edge, by reason (too_large, compressed, content_type, method, unimplemented, deadline, stream_idle)',
      labelNames: ['reason'] as const,
      registers,
    }),
    storeReloads: new Counter({
      name: 'proflag_store_reloads_total',
      help: 'flag store reloads by outcome (applied, unchanged, held, failed)',
      labelNames: ['outcome'] as const,
      registers,
    }),
    storeReloadSeconds: new Histogram({
      name: 'proflag_store_reload_seconds',
      help: 'one reload: read, validate and compile',
      buckets: [0.001, 0.005, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 5],
      registers,
    }),
    storeCompileSeconds: new Histogram({
      name: 'proflag_store_compile_seconds',
      help: 'compiling one snapshot',
      buckets: [0.0005, 0.002, 0.01, 0.05, 0.1, 0.2, 0.5, 1, 5],
      registers,
    }),
    storeFlagsRejected: new Counter({
      name: 'proflag_store_flags_rejected_total',
      help: 'flag documents newly rejected (invalid JSON, schema or compile errors)',
      registers,
    }),
    storeRejectedFlags: new Gauge({
      name: 'proflag_store_rejected_flags',
      help: 'flag documents rejected in the snapshot being served',
      registers,
    }),
    storeErrors: new Counter({
      name: 'proflag_store_errors_total',
      help: 'flag store errors by kind',
      labelNames: ['kind'] as const,
      registers,
    }),
    storeVersion: new Gauge({
      name: 'proflag_store_version',
      help: 'proflag:version of the snapshot being served (-1 when the source has none)',
      registers,
    }),
    storeLastSync: new Gauge({
      name: 'proflag_store_last_sync_timestamp_seconds',
      help: 'when the last successful sync with the flag store happened; age = time() - this',
      registers,
    }),
    storeStale: new Gauge({
      name: 'proflag_store_stale',
      help: '1 when the change feed has been lost longer than PROFLAG_STALE_AFTER_MS',
      registers,
    }),
    storeFeedConnected: new Gauge({
      name: 'proflag_store_feed_connected',
      help: '1 while the change feed (Redis pub/sub or folder watch) is connected',
      registers,
    }),
    storeDataLoss: new Gauge({
      name: 'proflag_store_data_loss_suspected',
      help: '1 while Redis looks emptied (proflag:version gone) and the last snapshot is kept',
      registers,
    }),
    // The Request Profile Learner (src/learner/): samples in, anomalies and clusters, proposals out.
    learnerQueued: new Counter({
      name: 'proflag_learner_samples_queued_total',
      help: 'profiles handed to the learner queue (after sampling and the per-second cap)',
      registers,
    }),
    learnerDropped: new Counter({
      name: 'proflag_learner_samples_dropped_total',
      help: 'samples dropped, by reason (rate: over PROFLAG_LEARN_MAX_PER_SECOND, full: queue full, publish: stream write failed, decode: malformed stream entry)',
      labelNames: ['reason'] as const,
      registers,
    }),
    learnerObserved: new Counter({
      name: 'proflag_learner_observed_total',
      help: 'samples the learner (or, in publish mode, the samples stream) took',
      registers,
    }),
    learnerAnomalies: new Counter({
      name: 'proflag_learner_anomalies_total',
      help: 'samples the detector scored as anomalous',
      registers,
    }),
    learnerClusters: new Gauge({
      name: 'proflag_learner_clusters',
      help: 'clusters the learner currently keeps',
      registers,
    }),
    learnerMemoryBytes: new Gauge({
      name: 'proflag_learner_memory_bytes',
      help: "the learner's own estimate of the memory it holds (bounded by construction)",
      registers,
    }),
    learnerProposals: new Counter({
      name: 'proflag_learner_proposals_written_total',
      help: 'proposal writes by outcome (created, updated, retired, evicted, failed, logged)',
      labelNames: ['outcome'] as const,
      registers,
    }),
  };
}
