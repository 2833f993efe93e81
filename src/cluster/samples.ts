// One learner for all workers. With N workers each sees ~1/N of the traffic: N learners would
// each see too few distinct clients for the privacy floor (k = 50) and detect a new pattern N
// times later. So in-process learning runs once, in the primary, fed by the workers:
//
//   worker: request → sink (sample rate, PROFLAG_LEARN_MAX_PER_SECOND, bounded queue: the
//           same runner as one process) → batches of derived profiles over IPC
//   primary: intake → the learner's own runner (the same cap again, now global, and its own
//           bounded queue) → Learner → proposals
//
// The worker's cap bounds what crosses IPC (at most N × the cap per second); the primary's
// makes the cap global, as with one process. Drops are counted where they happen
// (proflag_learner_samples_dropped_total sums both); "queued" counts the primary's intake
// only, so the sum over processes means what it means with one process.
// PROFLAG_LEARN_MODE=publish with Redis needs none of this: each worker publishes its samples
// to the stream itself and the fleet learner reads them all.
import { Counter } from 'prom-client';
import type { Config } from '../config/config.js';
import type { RequestProfile } from '../features/profile.js';
import type { Learner, LearnerInput } from '../learner/learner.js';
import { startLearning, type Learning, type LearningDeps } from '../learner/learning.js';
import { startLearnerRunner } from '../learner/runner.js';
import type { StoreKind, WorkerMessage } from './ipc.js';

/** Send to the primary; `done` runs once the message is handed over (or dropped). */
export type SendToPrimary = (msg: WorkerMessage, done?: () => void) => boolean;

/** Whether samples go to the primary's learner (else each worker publishes to the stream). */
export function learnsInPrimary(config: Config, storeKind: StoreKind): boolean {
  return config.learn && !(config.learnMode === 'publish' && storeKind === 'redis');
}

/** Only the derived fields (never a raw user agent or IP: there are none to copy). */
function plainProfile(p: RequestProfile): RequestProfile {
  return {
    method: p.method,
    endpoint: p.endpoint,
    payloadSize: p.payloadSize,
    sizeBin: p.sizeBin ?? null,
    hour: p.hour,
    ...(p.hourBin !== undefined ? { hourBin: p.hourBin } : {}),
    country: p.country,
    continent: p.continent,
    uaHash: p.uaHash,
    uaVector: p.uaVector,
    clientKey: p.clientKey,
  };
}

/** The worker's learner: sample and forward to the primary. */
export function startSampleForwarding(config: Config, deps: LearningDeps, send: SendToPrimary): Learning {
  send({ proflag: 'learning', storeKind: deps.storeKind });
  // Counted by the primary when its learner takes the sample (see above).
  const notCounted = new Counter({ name: 'proflag_learner_samples_queued_total', help: 'not exported', registers: [] });
  const runner = startLearnerRunner({
    sampleRate: config.learnSampleRate,
    maxPerSecond: config.learnMaxPerSecond,
    queueSize: config.learnQueueSize,
    handler: {
      handle(batch: readonly LearnerInput[]) {
        // The runner queues the extractor's RequestProfiles and hands them on as LearnerInput.
        const profiles = (batch as readonly RequestProfile[]).map(plainProfile);
        // One batch in flight: the queue absorbs (and drops, counted) while IPC is busy.
        return new Promise<void>((resolve) => {
          if (!send({ proflag: 'samples', profiles }, resolve)) resolve();
        });
      },
    },
    metrics: { ...deps.metrics, learnerQueued: notCounted },
    ...(deps.now ? { now: deps.now } : {}),
  });
  return {
    sink: runner.sink,
    runner,
    mode: 'in-process',
    learner: null,
    // This worker's samples go to the primary's one learner; /learner is served there.
    report: () => ({
      version: 1,
      generatedAt: new Date().toISOString(),
      mode: 'in-process',
      samples: {
        accepted: runner.stats.queued,
        learned: 0,
        dropped: { rate: runner.stats.droppedRate, full: runner.stats.droppedFull, publish: 0, decode: 0 },
        queueLength: runner.stats.queueLength,
      },
      learner: null,
      note: 'this worker forwards its samples to the primary, whose learner /learner reports',
    }),
    stop: () => runner.stop(2_000),
  };
}

/** The primary's learner, started when the first worker says which store it uses. */
export class SampleIntake {
  #learning: Learning | null = null;
  #decided = false;

  constructor(
    private readonly config: Config,
    private readonly deps: Omit<LearningDeps, 'storeKind'>,
  ) {}

  get learner(): Learner | null {
    return this.#learning?.learner ?? null;
  }

  get learning(): Learning | null {
    return this.#learning;
  }

  onLearning(storeKind: StoreKind): void {
    if (this.#decided) return;
    this.#decided = true;
    if (!learnsInPrimary(this.config, storeKind)) return;
    // The workers sampled already: the primary's runner keeps the global cap and the queue.
    this.#learning = startLearning({ ...this.config, learnSampleRate: 1 }, { ...this.deps, storeKind });
  }

  onSamples(profiles: readonly RequestProfile[]): void {
    const sink = this.#learning?.sink;
    if (!sink) return;
    for (const p of profiles) sink(p);
  }

  async stop(): Promise<void> {
    await this.#learning?.stop();
  }
}
