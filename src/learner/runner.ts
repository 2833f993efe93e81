// The learner's edge on the sidecar side: the hot-path sink and the drain behind it.
//
// The sink (called by the request processor for every request) does at most a random draw, two
// counter checks and a push into a fixed ring: no allocation, no await, no I/O, no metric
// update (metrics are synchronised from plain counters once a second). Samples beyond
// PROFLAG_LEARN_MAX_PER_SECOND or beyond the queue's capacity are dropped and counted.
//
// The drain runs off the hot path on setImmediate, in batches bounded by count and by time
// (a few ms), so that request handling interleaves with learning; a handler that returns a
// promise (publishing to Redis) gets one batch in flight at a time and the queue absorbs the
// rest. Measured against a worker_thread in bench/learner.bench.ts: see docs/learning.md.
import { performance } from 'node:perf_hooks';
import type { RequestProfile } from '../features/profile.js';
import type { ProfileSink } from '../extproc/requestProcessor.js';
import type { Metrics } from '../telemetry/metrics.js';
import type { Learner, LearnerInput } from './learner.js';
import type { ProposalWriter } from './proposalStore.js';
import { SampleQueue } from './sampleQueue.js';

export type LearnerMetrics = Pick<
  Metrics,
  | 'learnerQueued'
  | 'learnerDropped'
  | 'learnerObserved'
  | 'learnerAnomalies'
  | 'learnerClusters'
  | 'learnerMemoryBytes'
  | 'learnerProposals'
>;

/** What the drain hands batches to: the in-process learner, or the stream publisher. */
export interface SampleHandler {
  handle(batch: readonly LearnerInput[], nowMs: number): void | Promise<void>;
  /** Copy counters into metrics (called once a second and at the end). */
  syncMetrics?(): void;
  close?(): Promise<void>;
}

export interface LearnerRunnerOptions {
  /** Share of requests sampled, 0..1 (PROFLAG_LEARN_SAMPLE_RATE). */
  readonly sampleRate: number;
  /** Samples accepted per second at most (PROFLAG_LEARN_MAX_PER_SECOND). */
  readonly maxPerSecond: number;
  /** Queue capacity (PROFLAG_LEARN_QUEUE_SIZE). */
  readonly queueSize: number;
  readonly handler: SampleHandler;
  /** Samples per drain slice (default 256). */
  readonly batchSize?: number;
  /** Time per drain slice before yielding to I/O, ms (default 4). */
  readonly sliceMs?: number;
  readonly metrics?: LearnerMetrics | null;
  readonly now?: () => number;
  readonly seed?: number;
}

export interface RunnerStats {
  readonly queued: number;
  readonly droppedFull: number;
  readonly droppedRate: number;
  readonly handled: number;
  readonly queueLength: number;
}

export interface LearnerRunner {
  /** The hot-path entry: returns at once. */
  readonly sink: ProfileSink;
  readonly stats: RunnerStats;
  /** Resolves once the queue is empty and no batch is in flight (tests, shutdown). */
  drained(): Promise<void>;
  /** Stop sampling, drain what is queued (bounded by graceMs), close the handler. */
  stop(graceMs?: number): Promise<void>;
}

export function startLearnerRunner(o: LearnerRunnerOptions): LearnerRunner {
  const queue = new SampleQueue<RequestProfile>(o.queueSize);
  const rate = Math.min(1, Math.max(0, o.sampleRate));
  const maxPerSecond = Math.max(0, Math.floor(o.maxPerSecond));
  const batchSize = o.batchSize ?? 256;
  const sliceMs = o.sliceMs ?? 4;
  const now = o.now ?? Date.now;
  const handler = o.handler;
  const metrics = o.metrics ?? null;
  let rng = (o.seed ?? 0x2f6b1d3a) >>> 0 || 1;

  let windowCount = 0;
  let queued = 0;
  let droppedFull = 0;
  let droppedRate = 0;
  let handled = 0;
  let synced = { queued: 0, droppedFull: 0, droppedRate: 0 };
  let scheduled = false;
  let inFlight: Promise<void> | null = null;
  let stopped = false;
  let idleWaiters: (() => void)[] = [];
  const batch: LearnerInput[] = [];

  const notifyIdle = (): void => {
    if (queue.length > 0 || inFlight !== null || scheduled) return;
    const waiters = idleWaiters;
    idleWaiters = [];
    for (const w of waiters) w();
  };

  const schedule = (): void => {
    if (scheduled || inFlight !== null) return;
    scheduled = true;
    setImmediate(drain);
  };

  function drain(): void {
    scheduled = false;
    const deadline = performance.now() + sliceMs;
    while (queue.length > 0 && performance.now() < deadline) {
      batch.length = 0;
      while (batch.length < batchSize && queue.length > 0) batch.push(queue.shift()!);
      handled += batch.length;
      let result: void | Promise<void>;
      try {
        result = handler.handle(batch, now());
      } catch {
        result = undefined; // handlers count their own failures; learning must never stop
      }
      if (result !== undefined) {
        inFlight = result.then(
          () => undefined,
          () => undefined,
        );
        void inFlight.then(() => {
          inFlight = null;
          if (queue.length > 0) schedule();
          else notifyIdle();
        });
        return;
      }
    }
    if (queue.length > 0) schedule();
    else notifyIdle();
  }

  const sink: ProfileSink = (profile) => {
    if (stopped) return;
    if (rate < 1) {
      rng ^= rng << 13;
      rng ^= rng >>> 17;
      rng ^= rng << 5;
      if ((rng >>> 0) / 4294967296 >= rate) return;
    }
    if (windowCount >= maxPerSecond) {
      droppedRate++;
      return;
    }
    windowCount++;
    if (!queue.push(profile)) {
      droppedFull++;
      return;
    }
    queued++;
    if (!scheduled && inFlight === null) {
      scheduled = true;
      setImmediate(drain);
    }
  };

  const syncMetrics = (): void => {
    if (metrics) {
      metrics.learnerQueued.inc(queued - synced.queued);
      metrics.learnerDropped.labels('full').inc(droppedFull - synced.droppedFull);
      metrics.learnerDropped.labels('rate').inc(droppedRate - synced.droppedRate);
      synced = { queued, droppedFull, droppedRate };
    }
    handler.syncMetrics?.();
  };

  const timer = setInterval(() => {
    windowCount = 0;
    syncMetrics();
  }, 1000);
  timer.unref();

  const drained = (): Promise<void> =>
    queue.length === 0 && inFlight === null && !scheduled
      ? Promise.resolve()
      : new Promise((resolve) => idleWaiters.push(resolve));

  return {
    sink,
    get stats(): RunnerStats {
      return { queued, droppedFull, droppedRate, handled, queueLength: queue.length };
    },
    drained,
    async stop(graceMs = 2_000) {
      if (stopped) return;
      stopped = true;
      clearInterval(timer);
      let timeout: NodeJS.Timeout | undefined;
      await Promise.race([drained(), new Promise<void>((r) => (timeout = setTimeout(r, graceMs)))]);
      clearTimeout(timeout);
      queue.clear();
      syncMetrics();
      await handler.close?.();
    },
  };
}

// ---------------------------------------------------------------------------------------------
// The in-process handler: learner + proposal writer.

export interface InProcessHandlerOptions {
  readonly learner: Learner;
  readonly writer: ProposalWriter;
  readonly metrics?: LearnerMetrics | null;
}

export function inProcessHandler(o: InProcessHandlerOptions): SampleHandler & { readonly learner: Learner } {
  const { learner, writer } = o;
  const metrics = o.metrics ?? null;
  let synced = { observed: 0, anomalies: 0 };
  return {
    learner,
    handle(batch, nowMs) {
      for (const p of batch) {
        const out = learner.observe(p, nowMs);
        for (const e of out) writer.write(e, nowMs);
      }
    },
    syncMetrics() {
      if (!metrics) return;
      const s = learner.stats;
      metrics.learnerObserved.inc(s.observed - synced.observed);
      metrics.learnerAnomalies.inc(s.anomalies - synced.anomalies);
      metrics.learnerClusters.set(s.clusters);
      metrics.learnerMemoryBytes.set(s.memoryBytes);
      synced = { observed: s.observed, anomalies: s.anomalies };
    },
    async close() {
      await writer.flush();
    },
  };
}
