// Wiring only: builds the sidecar from a validated Config. main.ts (signals, exit codes) and
// the end-to-end tests both start proflag through here, so the tests run the real thing.
import { performance } from 'node:perf_hooks';
import type { Config } from './config/config.js';
import { createProfileExtractor } from './features/extract.js';
import { createGeoResolver } from './features/geo.js';
import { embedUserAgent } from './features/userAgent.js';
import type { FlagDefinition } from './flags/schema.js';
import { compileSnapshotAsync } from './matcher/compile.js';
import type { Snapshot, SnapshotMeta } from './matcher/snapshot.js';
import { buildUaIndex } from './matcher/uaIndexImpl.js';
import { UaGraphBuilder } from './workers/uaGraphBuilder.js';
import { startAdminServer } from './admin/adminServer.js';
import { createRequestProcessor } from './extproc/requestProcessor.js';
import { startExtProcServer } from './extproc/server.js';
import { createStreamHandler } from './extproc/stream.js';
import { SnapshotHolder } from './store/snapshotHolder.js';
import { openFlagStore, type FlagStore } from './store/openFlagStore.js';
import type { Logger } from './telemetry/logger.js';
import { startLearning, type Learning, type LearningOverrides } from './learner/learning.js';
import { createMetrics, type Metrics } from './telemetry/metrics.js';
import { storeMetricsFrom } from './telemetry/storeMetricsAdapter.js';

export interface Sidecar {
  readonly grpcPort: number;
  readonly adminPort: number;
  readonly holder: SnapshotHolder;
  readonly store: FlagStore;
  readonly metrics: Metrics;
  /** The learner (PROFLAG_LEARN=on), or null. */
  readonly learning: Learning | null;
  /** Health NOT_SERVING, stop accepting, let streams finish (≤ graceMs), close the store. */
  stop(graceMs?: number): Promise<void>;
}

export interface SidecarOptions {
  readonly logger: Logger;
  /** Clock of the request path (tests pin the hour of day). */
  readonly now?: () => number;
  /** Process metrics (event loop, memory); off in tests that run several sidecars. */
  readonly defaultMetrics?: boolean;
  /** Learner option overrides (tests: a smaller baseline than production's). */
  readonly learner?: LearningOverrides;
}

export async function startSidecar(config: Config, options: SidecarOptions): Promise<Sidecar> {
  const { logger } = options;
  const metrics = createMetrics({ defaultMetrics: options.defaultMetrics ?? true });

  if (!config.uaHashKeyConfigured) {
    logger.warn(
      'PROFLAG_UA_HASH_KEY is not set: user-agent hashes use a random per-process key, so replicas ' +
        'disagree on hashes and `hashes` ranges in flags cannot match. Set the same key on every replica.',
    );
  }

  const geo = createGeoResolver({ trustedHops: config.xffTrustedHops, geoHeader: config.geoHeader });
  if (geo.database) logger.info({ geoDatabase: geo.database }, 'geo database loaded');
  const extract = createProfileExtractor({
    uaHashKey: config.uaHashKey,
    tz: config.tz,
    geo,
    hourBinWidth: config.hourBinWidth,
  });

  const holder = new SnapshotHolder(undefined, { staleAfterMs: config.staleAfterMs });
  const uaIndexBuilder = { embed: embedUserAgent, build: buildUaIndex };
  // Large user-agent graphs are built on a worker thread: requests keep flowing meanwhile.
  const graphBuilder = new UaGraphBuilder();
  const compile = async (flags: readonly FlagDefinition[], meta: SnapshotMeta): Promise<Snapshot> => {
    const started = performance.now();
    const snapshot = await compileSnapshotAsync(flags, meta, {
      uaIndexBuilder,
      buildUaIndexAsync: (inputs, params) => graphBuilder.build(inputs, params),
      uaIndexParams: config.uaIndex,
      previous: holder.current,
    });
    logger.debug({ flags: snapshot.flags.length, ms: performance.now() - started }, 'snapshot compiled');
    return snapshot;
  };

  const store = await openFlagStore(config, { holder, compile, logger, metrics: storeMetricsFrom(metrics) });

  const learning = config.learn
    ? startLearning(config, {
        logger,
        metrics,
        storeKind: store.kind,
        ...(options.now ? { now: options.now } : {}),
        ...(options.learner ? { overrides: options.learner } : {}),
      })
    : null;

  const processRequestHeaders = createRequestProcessor({
    snapshots: holder,
    extract,
    routing: {
      routeHeader: config.routeHeader,
      flagsHeader: config.flagsHeader,
      maxFlagsHeaderLength: 4096,
    },
    metrics,
    logger,
    sink: learning?.sink ?? null,
    ...(options.now ? { now: options.now } : {}),
  });
  const grpcServer = await startExtProcServer({
    address: config.grpcAddr,
    handleStream: createStreamHandler({ processRequestHeaders, metrics, logger, countBodies: config.countBodies }),
    logger,
    metrics,
    streamsPerConnection: config.streamsPerConnection,
    limits: config.grpc,
  });
  // Envoy may start sending before the first load: it gets CONTINUE (no flags) meanwhile,
  // while the health service and /readyz say NOT_SERVING until the store has loaded.
  const updateServing = () => grpcServer.setServing(holder.loaded);
  updateServing();
  const servingTimer = setInterval(updateServing, 1000);
  servingTimer.unref();
  holder.onSwap(updateServing);

  const admin = await startAdminServer(config.adminAddr, {
    registry: metrics.registry,
    snapshot: () => holder.current,
    extract,
    readiness: () => {
      const sync = holder.sync;
      return {
        ready: sync.loaded,
        stale: sync.stale,
        version: sync.version,
        syncAgeMs: sync.ageMs,
        source: sync.source,
        detail: {
          flags: sync.flagCount,
          rejected: sync.rejectedCount,
          feedConnected: sync.feedConnected,
          dataLossSuspected: sync.dataLossSuspected,
          lastError: sync.lastError,
        },
      };
    },
  });

  logger.info(
    { grpc: `${config.grpcAddr.replace(/:\d+$/, '')}:${grpcServer.port}`, admin: admin.port, store: store.description },
    'proflag started',
  );

  let stopping: Promise<void> | null = null;
  return {
    grpcPort: grpcServer.port,
    adminPort: admin.port,
    holder,
    store,
    metrics,
    learning,
    stop(graceMs = 5_000) {
      stopping ??= (async () => {
        clearInterval(servingTimer);
        grpcServer.setServing(false);
        await grpcServer.shutdown(graceMs);
        await Promise.allSettled([store.stop(), admin.close(), learning?.stop()]);
        await graphBuilder.close();
        logger.info('proflag stopped');
      })();
      return stopping;
    },
  };
}
