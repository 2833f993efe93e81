// Wiring only: builds the sidecar from a validated Config. main.ts (signals, exit codes) and
// the end-to-end tests both start proflag through here, so the tests run the real thing.
import type { Config } from './config/config.js';
import { createProfileExtractor } from './features/extract.js';
import { createGeoResolver } from './features/geo.js';
import type { FlagDefinition } from './flags/schema.js';
import type { Snapshot, SnapshotMeta } from './matcher/snapshot.js';
import { createSnapshotCompiler } from './workers/snapshotCompiler.js';
import { startAdminServer } from './admin/adminServer.js';
import { openConsole, type ConsoleDeps } from './admin/api.js';
import { FlagCatalog } from './admin/apiCatalog.js';
import { RecentProfiles } from './admin/apiPreview.js';
import { summaryOf } from './admin/apiServed.js';
import { localServing, readinessOf, type ServingState } from './admin/servingTopics.js';
import { createRequestProcessor } from './extproc/requestProcessor.js';
import { startExtProcServer } from './extproc/server.js';
import { createStreamHandler } from './extproc/stream.js';
import { SnapshotHolder } from './store/snapshotHolder.js';
import { openFlagStore, type FlagStore } from './store/openFlagStore.js';
import type { Logger } from './telemetry/logger.js';
import { startLearning, type Learning, type LearningDeps, type LearningOverrides } from './learner/learning.js';
import type { ExperimentsRuntime } from './experiments/runtime.js';
import { startSidecarExperiments, type SidecarExperiments } from './experiments/sidecarExperiments.js';
import { createMetrics, type Metrics } from './telemetry/metrics.js';
import { storeMetricsFrom } from './telemetry/storeMetricsAdapter.js';

export interface Sidecar {
  readonly grpcPort: number;
  /** The admin port; 0 when this sidecar serves none (a cluster worker: the primary does). */
  readonly adminPort: number;
  readonly holder: SnapshotHolder;
  readonly store: FlagStore;
  readonly metrics: Metrics;
  /** The learner (PROFLAG_LEARN=on), or null. */
  readonly learning: Learning | null;
  /** What the admin topics read (servingTopics.ts): a cluster worker answers the primary with it. */
  readonly serving: ServingState;
  /** A/B outcomes, their flusher and the guardrail runner (Redis store only), or null. */
  readonly experiments: ExperimentsRuntime | null;
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
  /** Console overrides (tests: faster traffic sampling and proposal polling). */
  readonly console?: Pick<ConsoleDeps, 'trafficIntervalMs' | 'proposalPollMs' | 'uiDir'>;
  /** Serve the admin port (default true; a cluster worker leaves it to the primary). */
  readonly admin?: boolean;
  /**
   * Starts the learner instead of startLearning (PROFLAG_LEARN=on only): a cluster worker
   * forwards its samples to the primary's one learner.
   */
  readonly startLearning?: (deps: LearningDeps) => Learning | null;
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
  metrics.observeCaches(extract.caches);

  const holder = new SnapshotHolder(undefined, { staleAfterMs: config.staleAfterMs });
  // The console shows disabled flags too: it keeps the definitions behind each snapshot.
  const catalog = new FlagCatalog();
  const compiler = createSnapshotCompiler({ uaIndexParams: config.uaIndex, logger, previous: () => holder.current });
  const compile = async (flags: readonly FlagDefinition[], meta: SnapshotMeta): Promise<Snapshot> => {
    const snapshot = await compiler.compile(flags, meta);
    catalog.record(snapshot, flags);
    return snapshot;
  };

  const store = await openFlagStore(config, { holder, compile, logger, metrics: storeMetricsFrom(metrics) });

  const learningDeps: LearningDeps = {
    logger,
    metrics,
    storeKind: store.kind,
    ...(options.now ? { now: options.now } : {}),
    ...(options.learner ? { overrides: options.learner } : {}),
  };
  const learning = !config.learn
    ? null
    : options.startLearning
      ? options.startLearning(learningDeps)
      : startLearning(config, learningDeps);

  // A/B outcomes need Redis to merge replicas' counts: with the file store there are none.
  const experiments: SidecarExperiments | null =
    store.kind === 'redis' ? startSidecarExperiments(config, { logger, metrics }) : null;
  if (experiments) {
    experiments.bind(holder.current);
    holder.onSwap(() => experiments.bind(holder.current));
  }

  // Recent sampled profiles (derived fields only) for the console's proposal preview.
  const recent = learning ? new RecentProfiles() : null;
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
    sink: recent && learning ? recent.tap(learning.sink) : null,
    experiments: experiments?.runtime.recorder ?? null,
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

  const serving: ServingState = {
    holder,
    extract,
    registry: metrics.registry,
    experiments: experiments?.runtime ?? null,
    catalog,
    storeKind: store.kind,
  };
  const servingHere = localServing(serving);
  // The console lives where the admin port is served by this process (a cluster worker leaves
  // the admin port to the primary, whose console asks the workers: cluster/primary.ts).
  const operatorConsole =
    options.admin === false
      ? null
      : openConsole(config, {
          serving: servingHere,
          logger,
          storeKind: store.kind,
          recent,
          watch: {
            current: () => summaryOf(holder.current),
            onSwap: (listener) => holder.onSwap((next) => listener(summaryOf(next))),
          },
          ...options.console,
        });
  const admin =
    options.admin === false
      ? null
      : await startAdminServer(config.adminAddr, {
          routes: operatorConsole?.routes ?? [],
          ...(operatorConsole ? { guard: operatorConsole.guard } : {}),
          registry: metrics.registry,
          readiness: () => readinessOf(holder),
          serving: servingHere,
          learnerState: () => learning?.report() ?? null,
        }).catch(async (err: unknown) => {
          await operatorConsole?.close(); // its timers and Redis connection
          throw err;
        });

  logger.info(
    {
      grpc: `${config.grpcAddr.replace(/:\d+$/, '')}:${grpcServer.port}`,
      admin: admin?.port,
      store: store.description,
    },
    admin ? 'proflag started' : 'proflag worker serving',
  );

  let stopping: Promise<void> | null = null;
  return {
    grpcPort: grpcServer.port,
    adminPort: admin?.port ?? 0,
    holder,
    store,
    metrics,
    learning,
    serving,
    experiments: experiments?.runtime ?? null,
    stop(graceMs = 5_000) {
      stopping ??= (async () => {
        clearInterval(servingTimer);
        grpcServer.setServing(false);
        await grpcServer.shutdown(graceMs);
        await operatorConsole?.close();
        recent?.close();
        await Promise.allSettled([store.stop(), admin?.close(), learning?.stop(), experiments?.stop()]);
        await compiler.close();
        logger.info('proflag stopped');
      })();
      return stopping;
    },
  };
}
