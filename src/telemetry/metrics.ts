// Every metric proflag exports, declared in one place (as Envoy's ALL_EXT_PROC_FILTER_STATS).
// One registry per sidecar instance, so tests can run several in one process.
//
// With PROFLAG_WORKERS > 1 the primary's admin port combines the workers' registries
// (src/cluster/metricsAggregation.ts): counters and histograms are summed; a gauge says how
// with `aggregator` (prom-client's: sum by default, min, max, ...); the process metrics
// (proflag_process_*) are kept per process with a `worker` label.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { BucketHistogram } from './bucketHistogram.js';
import { FlagCounters } from './flagCounters.js';

export type Metrics = ReturnType<typeof createMetrics>;

/** Bounded caches by name, with their fill; read at each scrape. */
export type CacheFillSource = () => Readonly<Record<string, { readonly entries: number; readonly capacity: number }>>;

export function createMetrics(options: { defaultMetrics?: boolean } = {}) {
  const registry = new Registry();
  // prom-client's default names already start with process_ or nodejs_.
  if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry, prefix: 'proflag_' });
  const registers = [registry];
  const cacheSources: CacheFillSource[] = [];
  const eachCache = (
    read: (fill: { entries: number; capacity: number }) => number,
    set: (c: string, v: number) => void,
  ) => {
    for (const source of cacheSources) for (const [cache, fill] of Object.entries(source())) set(cache, read(fill));
  };
  // Per-flag counts live in plain arrays per snapshot; they become series on scrape.
  const flagCounters = new FlagCounters();
  return {
    registry,
    /** Export the fill of these caches as proflag_cache_entries / proflag_cache_capacity. */
    observeCaches(source: CacheFillSource): void {
      cacheSources.push(source);
    },
    cacheEntries: new Gauge({
      name: 'proflag_cache_entries',
      help: 'entries held by a bounded cache of the request path, by cache (ua_features, client_keys, geo_networks)',
      labelNames: ['cache'] as const,
      registers,
      collect() {
        eachCache(
          (f) => f.entries,
          (c, v) => this.labels(c).set(v),
        );
      },
    }),
    cacheCapacity: new Gauge({
      name: 'proflag_cache_capacity',
      help: 'entries a bounded cache of the request path may hold at most, by cache',
      labelNames: ['cache'] as const,
      registers,
      collect() {
        eachCache(
          (f) => f.capacity,
          (c, v) => this.labels(c).set(v),
        );
      },
    }),
    /** The request path calls flagCounters.countDecision(snapshot, decision) once per decision. */
    flagCounters,
    flagEvaluations: new Counter({
      name: 'proflag_flag_evaluations_total',
      help: 'per-flag evaluations by variant and result (match, shadow, respond_limited, rollout_excluded, below_threshold: scored candidates only)',
      labelNames: ['flag', 'variant', 'result'] as const,
      registers,
      collect() {
        flagCounters.collectEvaluations(this);
      },
    }),
    flagRespondLimited: new Counter({
      name: 'proflag_flag_respond_limited_total',
      help: 'requests a flag matched but did not answer because its respondLimit bucket was empty',
      labelNames: ['flag'] as const,
      registers,
      collect() {
        flagCounters.collectRespondLimited(this);
      },
    }),
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
    decisionSeconds: new BucketHistogram({
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
      help: 'gRPC calls refused by the edge, by reason (too_large, compressed, over_budget: the messages being assembled would pass PROFLAG_GRPC_MAX_ASSEMBLY_BYTES, content_type, method, unimplemented, deadline, stream_idle)',
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
      aggregator: 'max',
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
      aggregator: 'min',
      registers,
    }),
    storeLastSync: new Gauge({
      name: 'proflag_store_last_sync_timestamp_seconds',
      help: 'when the last successful sync with the flag store happened; age = time() - this',
      aggregator: 'min',
      registers,
    }),
    storeStale: new Gauge({
      name: 'proflag_store_stale',
      help: '1 when the change feed has been lost longer than PROFLAG_STALE_AFTER_MS',
      aggregator: 'max',
      registers,
    }),
    storeFeedConnected: new Gauge({
      name: 'proflag_store_feed_connected',
      help: '1 while the change feed (Redis pub/sub or folder watch) is connected',
      aggregator: 'min',
      registers,
    }),
    storeDataLoss: new Gauge({
      name: 'proflag_store_data_loss_suspected',
      help: '1 while Redis looks emptied (proflag:version gone) and the last snapshot is kept',
      aggregator: 'max',
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
    // Experiments (src/experiments/): outcome counts flushed to Redis, guardrail checks and changes.
    experimentFlushes: new Counter({
      name: 'proflag_experiment_flushes_total',
      help: 'experiment count flushes to Redis by outcome (ok, duplicate: a retry Redis had already applied, failed: kept for the next flush)',
      labelNames: ['outcome'] as const,
      registers,
    }),
    experimentOutcomes: new Counter({
      name: 'proflag_experiment_outcomes_total',
      help: 'responses of requests in experiments, by class (success, 4xx, 5xx, no_response, invalid_status), counted at flush',
      labelNames: ['class'] as const,
      registers,
    }),
    experimentPendingFlushes: new Gauge({
      name: 'proflag_experiment_pending_flushes',
      help: 'experiment flush calls waiting for a retry (new counts wait in the recorder meanwhile)',
      registers,
    }),
    experimentErrors: new Counter({
      name: 'proflag_experiment_errors_total',
      help: 'experiment edge failures by kind (flush, read, guardrail)',
      labelNames: ['kind'] as const,
      registers,
    }),
    guardrailChecks: new Counter({
      name: 'proflag_guardrail_checks_total',
      help: 'guardrail checks (one per guardrail and variant per run) by outcome (within_bound, insufficient_data, tripped)',
      labelNames: ['outcome'] as const,
      registers,
    }),
    guardrailChanges: new Counter({
      name: 'proflag_guardrail_changes_total',
      help: 'guardrail weight changes by outcome (applied by this replica, noop: already applied, failed)',
      labelNames: ['outcome'] as const,
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

export type ClusterMetrics = ReturnType<typeof createClusterMetrics>;

/** The primary's own metrics when PROFLAG_WORKERS > 1 (in the registry of its createMetrics). */
export function createClusterMetrics(registry: Registry) {
  const registers = [registry];
  return {
    workers: new Gauge({
      name: 'proflag_cluster_workers',
      help: 'worker processes configured (PROFLAG_WORKERS)',
      registers,
    }),
    workersUp: new Gauge({
      name: 'proflag_cluster_workers_up',
      help: 'worker processes running and started (serving gRPC)',
      registers,
    }),
    workerRestarts: new Counter({
      name: 'proflag_cluster_worker_restarts_total',
      help: 'workers that exited without being asked to and were started again',
      registers,
    }),
    workerDecisions: new Counter({
      name: 'proflag_cluster_worker_decisions_total',
      help: 'request-header decisions per worker (label worker: its slot, 1..N), to see how connections spread; restarts with its worker',
      labelNames: ['worker'] as const,
      registers,
    }),
  };
}
