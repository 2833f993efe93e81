// Fleet mode: sidecars publish samples to one Redis Stream, learner workers consume it in a
// consumer group (CONTRACT §2 gains `<prefix>samples`, a stream capped with MAXLEN ~).
//
// Publisher (in the sidecar, PROFLAG_LEARN_MODE=publish): each drained batch becomes one
// pipeline of XADD … MAXLEN ~ N * p <sample>, encoded synchronously (sampleCodec.ts: derived
// fields only, never a raw user agent or IP). One pipeline in flight at a time; while Redis is
// slow or away the sidecar's queue fills and drops, counted, and no request ever waits.
//
// Consumer (`npm run learner`, src/learnerMain.ts): XREADGROUP GROUP <group> <consumer> COUNT n
// BLOCK ms STREAMS <key> >, every entry decoded and fed to one Learner, proposals written like
// the in-process learner does, entries acknowledged per batch. The group is created at the
// stream's start ('0'), so a new group first learns from the backlog the stream still holds.
// Several workers in one group share the stream (each learns from its share); samples are
// disposable, so pending entries of a crashed worker are not reclaimed.
import type { Cluster, Redis } from 'ioredis';
import type { Logger } from '../telemetry/logger.js';
import type { Learner, LearnerInput } from './learner.js';
import type { ProposalWriter } from './proposalStore.js';
import type { LearnerMetrics, SampleHandler } from './runner.js';
import { decodeSample, encodeSample, SAMPLE_FIELD } from './sampleCodec.js';

type RedisLike = Redis | Cluster;

/** The consumer group of `npm run learner`. */
export const LEARNER_GROUP = 'proflag-learners';

export interface StreamPublisherOptions {
  readonly redis: RedisLike;
  readonly streamKey: string;
  /** Approximate cap of the stream (PROFLAG_LEARN_STREAM_MAXLEN). */
  readonly maxLen: number;
  readonly logger: Logger;
  readonly metrics?: LearnerMetrics | null;
}

export function streamPublisher(
  o: StreamPublisherOptions,
): SampleHandler & { readonly published: number; readonly failed: number } {
  const log = o.logger.child({ component: 'learner' });
  const maxLen = String(Math.max(1, Math.floor(o.maxLen)));
  let published = 0;
  let failed = 0;
  let synced = { published: 0, failed: 0 };
  let lastWarn = 0;
  return {
    get published() {
      return published;
    },
    get failed() {
      return failed;
    },
    handle(batch, nowMs) {
      // Encode now: the runner reuses the batch array once this returns.
      const pipeline = o.redis.pipeline();
      for (const p of batch)
        pipeline.xadd(o.streamKey, 'MAXLEN', '~', maxLen, '*', SAMPLE_FIELD, encodeSample(p, nowMs));
      const n = batch.length;
      return pipeline.exec().then(
        (results) => {
          let bad = 0;
          for (const [err] of results ?? []) if (err) bad++;
          published += n - bad;
          failed += bad;
        },
        (err: Error) => {
          failed += n;
          const t = Date.now();
          if (t - lastWarn > 10_000) {
            lastWarn = t;
            log.warn(
              { code: 'PROFLAG_ERR_LEARNER', what: 'publish samples', err: err.message },
              'publishing samples failed; dropping them',
            );
          }
        },
      );
    },
    syncMetrics() {
      if (!o.metrics) return;
      o.metrics.learnerObserved.inc(published - synced.published);
      o.metrics.learnerDropped.labels('publish').inc(failed - synced.failed);
      synced = { published, failed };
    },
  };
}

export interface StreamConsumerOptions {
  /** A connection of its own: XREADGROUP BLOCK holds it. */
  readonly redis: RedisLike;
  readonly streamKey: string;
  readonly group: string;
  readonly consumer: string;
  readonly learner: Learner;
  readonly writer: ProposalWriter;
  readonly logger: Logger;
  readonly metrics?: LearnerMetrics | null;
  /** Entries per read (default 500). */
  readonly count?: number;
  /** Longest wait of one read, ms (default 1,000; also the longest stop delay). */
  readonly blockMs?: number;
}

export interface StreamConsumer {
  /** Entries read, decoded and learned from; malformed ones. */
  readonly stats: { readonly consumed: number; readonly malformed: number; readonly reads: number };
  /** Resolves after the next read that found the stream empty (tests). */
  idle(): Promise<void>;
  stop(): Promise<void>;
}

type StreamReply = [key: string, entries: [id: string, fields: string[]][]][] | null;

export async function ensureConsumerGroup(redis: RedisLike, streamKey: string, group: string): Promise<void> {
  try {
    await redis.xgroup('CREATE', streamKey, group, '0', 'MKSTREAM');
  } catch (err) {
    if (!/BUSYGROUP/.test((err as Error).message)) throw err;
  }
}

export function startStreamConsumer(o: StreamConsumerOptions): StreamConsumer {
  const log = o.logger.child({ component: 'learner', consumer: o.consumer });
  const count = o.count ?? 500;
  const blockMs = o.blockMs ?? 1_000;
  let consumed = 0;
  let malformed = 0;
  let reads = 0;
  let stopped = false;
  let idleWaiters: (() => void)[] = [];
  let synced = { consumed: 0, malformed: 0, anomalies: 0 };

  const syncMetrics = (): void => {
    const m = o.metrics;
    if (!m) return;
    const s = o.learner.stats;
    m.learnerObserved.inc(consumed - synced.consumed);
    m.learnerDropped.labels('decode').inc(malformed - synced.malformed);
    m.learnerAnomalies.inc(s.anomalies - synced.anomalies);
    m.learnerClusters.set(s.clusters);
    m.learnerMemoryBytes.set(s.memoryBytes);
    synced = { consumed, malformed, anomalies: s.anomalies };
  };

  const learn = (entries: [string, string[]][]): string[] => {
    const ids: string[] = [];
    for (const [id, fields] of entries) {
      ids.push(id);
      let text: string | undefined;
      for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === SAMPLE_FIELD) text = fields[i + 1];
      const sample = text === undefined ? null : decodeSample(text);
      if (sample === null) {
        malformed++;
        continue;
      }
      consumed++;
      for (const e of o.learner.observe(sample.profile as LearnerInput, sample.timeMs))
        o.writer.write(e, sample.timeMs);
    }
    return ids;
  };

  const loop = (async () => {
    let failures = 0;
    while (!stopped) {
      try {
        if (reads === 0 || failures > 0) await ensureConsumerGroup(o.redis, o.streamKey, o.group);
        const reply = (await o.redis.xreadgroup(
          'GROUP',
          o.group,
          o.consumer,
          'COUNT',
          count,
          'BLOCK',
          blockMs,
          'STREAMS',
          o.streamKey,
          '>',
        )) as StreamReply;
        reads++;
        failures = 0;
        const entries = reply?.[0]?.[1] ?? [];
        if (entries.length === 0) {
          syncMetrics();
          const waiters = idleWaiters;
          idleWaiters = [];
          for (const w of waiters) w();
          continue;
        }
        const ids = learn(entries);
        await o.redis.xack(o.streamKey, o.group, ...ids);
        if (reads % 20 === 0) syncMetrics();
      } catch (err) {
        if (stopped) break;
        failures++;
        const delay = Math.min(5_000, 100 * 2 ** Math.min(failures, 6));
        if (failures === 1 || failures % 10 === 0) {
          log.warn(
            { code: 'PROFLAG_ERR_LEARNER', what: 'read samples', err: (err as Error).message, retryMs: delay },
            'reading samples failed',
          );
        }
        await new Promise((r) => setTimeout(r, delay));
      }
    }
    syncMetrics();
  })();

  return {
    get stats() {
      return { consumed, malformed, reads };
    },
    idle() {
      return new Promise((resolve) => idleWaiters.push(resolve));
    },
    async stop() {
      stopped = true;
      const waiters = idleWaiters;
      idleWaiters = [];
      for (const w of waiters) w();
      // A blocked read returns within blockMs; disconnecting would lose the connection's
      // other users, so wait for it.
      await loop;
      await o.writer.flush();
    },
  };
}
