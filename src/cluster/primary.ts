// The primary process of PROFLAG_WORKERS > 1: it serves no gRPC itself. It forks and
// supervises the workers (supervisor.ts), runs the admin port for all of them and the one
// learner (samples.ts).
//
// Admin routes reach the workers through the same `serving` interface a single sidecar
// gives them (servingTopics.ts), here answered over IPC:
//   /metrics  every worker's registry, combined (metricsAggregation.ts)
//   /readyz   ready only when every worker slot has a running worker that is ready
//   /explain  answered by one worker in turn (header x-proflag-worker): the primary holds no
//             snapshot, store connection or UA index of its own (that would cost a whole
//             sidecar's memory and Redis connections for a debugging route), and the answer
//             comes from the code and snapshot that actually serve traffic
//   /healthz  the primary itself
//   /ui, /api the operator console (admin/api.ts): its snapshot reads go to the workers through
//             the same topics, its Redis reads and changes through a connection of its own, and
//             its live events come from asking the workers what they serve while a page listens
import { randomBytes } from 'node:crypto';
import cluster from 'node:cluster';
import type { Config } from '../config/config.js';
import { startAdminServer, type MetricsSource } from '../admin/adminServer.js';
import { openConsole } from '../admin/api.js';
import { RecentProfiles } from '../admin/apiPreview.js';
import type { ReadinessState, ServingAnswer, ServingProcesses, ServingTopic } from '../admin/servingTopics.js';
import type { RunningProcess } from '../processRunner.js';
import type { Logger } from '../telemetry/logger.js';
import { createClusterMetrics, createMetrics } from '../telemetry/metrics.js';
import type { AskChannel } from './ipc.js';
import { aggregateMetrics, counterTotal, retire, type MetricJson, type WorkerMetrics } from './metricsAggregation.js';
import { combineReadiness, type SlotReadiness } from './readiness.js';
import { SampleIntake } from './samples.js';
import { Supervisor } from './supervisor.js';

/** How long an admin route waits for a worker's answer. */
const ASK_TIMEOUT_MS = 3_000;

export async function startPrimary(config: Config, logger: Logger): Promise<RunningProcess> {
  // Structured clone over IPC: the samples' embeddings travel as Float32Arrays.
  cluster.setupPrimary({ serialization: 'advanced' });
  const metrics = createMetrics({ defaultMetrics: true });
  const clusterMetrics = createClusterMetrics(metrics.registry);
  clusterMetrics.workers.set(config.workers);

  const env: Record<string, string> = {};
  if (!config.uaHashKeyConfigured) {
    logger.warn(
      'PROFLAG_UA_HASH_KEY is not set: user-agent hashes use a random key of this process group, so replicas ' +
        'disagree on hashes and `hashes` ranges in flags cannot match. Set the same key on every replica.',
    );
    // One random key for all workers, so they agree with each other.
    env.PROFLAG_UA_HASH_KEY = randomBytes(32).toString('hex');
  }

  const intake = new SampleIntake(config, { logger, metrics });
  // The console's proposal preview: the samples the workers forward to the one learner.
  const recent = config.learn ? new RecentProfiles() : null;
  const lastMetrics = new WeakMap<AskChannel, MetricJson[]>();
  let retired: MetricJson[] = [];
  let retiring: Promise<void> = Promise.resolve();
  let grpcPort = 0;

  const supervisor = new Supervisor({
    workers: config.workers,
    env,
    logger,
    onMessage(_slot, msg) {
      if (msg.proflag === 'learning') intake.onLearning(msg.storeKind);
      else if (msg.proflag === 'samples') {
        if (recent) for (const profile of msg.profiles) recent.add(profile);
        intake.onSamples(msg.profiles);
      }
    },
    onUp(_slot, port) {
      grpcPort = port;
      clusterMetrics.workersUp.set(supervisor.running().length);
    },
    onExit(_slot, channel) {
      clusterMetrics.workersUp.set(supervisor.running().length);
      const last = lastMetrics.get(channel);
      if (last) retiring = retiring.then(async () => void (retired = await retire(retired, last)));
    },
    onRestart: () => clusterMetrics.workerRestarts.inc(),
  });

  const serving = workerServing(supervisor, config.workers);

  const registry: MetricsSource = {
    contentType: metrics.registry.contentType,
    async metrics() {
      const running = supervisor.running();
      const answers = await Promise.all(
        running.map(async (s): Promise<WorkerMetrics | null> => {
          try {
            const json = (await s.channel!.ask('metrics', null, ASK_TIMEOUT_MS)) as MetricJson[];
            lastMetrics.set(s.channel!, json);
            return { worker: String(s.slot), metrics: json };
          } catch {
            return null; // gone or too slow: its figures are missing from this scrape
          }
        }),
      );
      const workers = answers.filter((a): a is WorkerMetrics => a !== null);
      clusterMetrics.workerDecisions.reset();
      for (const w of workers)
        clusterMetrics.workerDecisions.inc({ worker: w.worker }, counterTotal(w.metrics, 'proflag_decisions_total'));
      clusterMetrics.workersUp.set(running.length);
      await retiring;
      const own = (await metrics.registry.getMetricsAsJSON()) as MetricJson[];
      return aggregateMetrics(own, workers, retired).metrics();
    },
  };

  const readiness = async (): Promise<ReadinessState> => {
    const slots = await Promise.all(
      supervisor.slots().map(async (s): Promise<SlotReadiness> => {
        const base = { slot: s.slot, pid: s.pid, state: s.state };
        if (s.state !== 'running' || s.channel === null)
          return { ...base, answer: null, error: s.state === 'restarting' ? 'exited; restarting' : null };
        try {
          return {
            ...base,
            answer: (await s.channel.ask('readiness', null, ASK_TIMEOUT_MS)) as ReadinessState,
            error: null,
          };
        } catch (err) {
          return { ...base, answer: null, error: (err as Error).message };
        }
      }),
    );
    return combineReadiness(slots, supervisor.restarts);
  };

  // The store kind is the workers' (asked once one serves): storeKind null.
  const operatorConsole = openConsole(config, { serving, logger, storeKind: null, recent });
  const closeConsole = async () => {
    await operatorConsole.close();
    recent?.close();
  };

  // The admin port first: if it cannot listen, no worker has been forked for nothing. Routes
  // that need a worker's state ask through `serving`; data the primary keeps itself (the one
  // learner: intake.learner) is handed to routes here, as sidecar.ts hands its own.
  const admin = await startAdminServer(config.adminAddr, {
    registry,
    readiness,
    serving,
    learnerState: () => intake.learning?.report() ?? null,
    routes: operatorConsole.routes,
    guard: operatorConsole.guard,
  }).catch(async (err: unknown) => {
    await closeConsole();
    throw err;
  });
  try {
    await supervisor.start();
  } catch (err) {
    await Promise.allSettled([admin.close(), intake.stop(), closeConsole()]);
    throw err;
  }
  logger.info(
    { grpc: `${config.grpcAddr.replace(/:\d+$/, '')}:${grpcPort}`, admin: admin.port, workers: config.workers },
    'proflag started',
  );

  return {
    async stop() {
      // Workers first (they drain their streams and close their stores), then what they fed.
      await supervisor.stop(5_000);
      await closeConsole();
      await Promise.allSettled([admin.close(), intake.stop()]);
      logger.info('proflag stopped');
    },
    abort: () => supervisor.abort(),
  };
}

/** The admin routes' `serving` over IPC: one running worker in turn, or all of them. */
function workerServing(supervisor: Supervisor, count: number): ServingProcesses {
  let next = 0;
  const askSlot = async (
    s: ReturnType<Supervisor['running']>[number],
    topic: ServingTopic,
    payload: unknown,
  ): Promise<ServingAnswer> => {
    try {
      return { worker: String(s.slot), ok: true, value: await s.channel!.ask(topic, payload ?? null, ASK_TIMEOUT_MS) };
    } catch (err) {
      return { worker: String(s.slot), ok: false, error: (err as Error).message };
    }
  };
  return {
    count,
    async askOne(topic, payload) {
      const running = supervisor.running();
      if (running.length === 0) throw new Error('no worker is serving');
      const s = running[next++ % running.length]!;
      const answer = await askSlot(s, topic, payload);
      if (!answer.ok) throw new Error(`worker ${s.slot}: ${answer.error}`);
      return answer;
    },
    askAll: (topic, payload) => Promise.all(supervisor.running().map((s) => askSlot(s, topic, payload))),
  };
}
