// The hot-path side of the learner: the bounded queue, the sample format of fleet mode, and the
// runner that samples, caps, drops and drains off the hot path.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { RequestProfile } from '../../../src/features/profile.js';
import { embedUserAgent } from '../../../src/features/userAgent.js';
import type { LearnerInput } from '../../../src/learner/learner.js';
import { startLearnerRunner, type SampleHandler } from '../../../src/learner/runner.js';
import { decodeSample, encodeSample } from '../../../src/learner/sampleCodec.js';
import { SampleQueue } from '../../../src/learner/sampleQueue.js';
import { profileOf } from '../../helpers/profiles.js';

const UA =
  'Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.6367.82 Mobile Safari/537.36';

describe('SampleQueue', () => {
  it('is FIFO, refuses when full and releases slots', () => {
    const q = new SampleQueue<number>(3);
    expect([q.push(1), q.push(2), q.push(3), q.push(4)]).toEqual([true, true, true, false]);
    expect([q.shift(), q.shift()]).toEqual([1, 2]);
    expect([q.push(5), q.push(6), q.length]).toEqual([true, true, 3]);
    expect([q.shift(), q.shift(), q.shift(), q.shift()]).toEqual([3, 5, 6, undefined]);
  });
});

describe('sample format (fleet mode)', () => {
  const profile: RequestProfile = profileOf({
    method: 'POST',
    endpoint: '/api/login',
    payloadSize: 312,
    sizeBin: 9,
    hour: 10,
    country: 'BR',
    continent: 'SA',
    uaHash: '0123456789abcdef0123456789abcdef',
    uaVector: embedUserAgent(UA),
    clientKey: 'fedcba9876543210fedcba9876543210',
  });

  it('round-trips the derived fields and quantises the embedding closely', () => {
    const text = encodeSample(profile, 1_700_000_000_123);
    const back = decodeSample(text)!;
    expect(back.timeMs).toBe(1_700_000_000_123);
    expect(back.profile).toMatchObject({
      method: 'POST',
      endpoint: '/api/login',
      payloadSize: 312,
      sizeBin: 9,
      hour: 10,
      country: 'BR',
      uaHash: profile.uaHash,
      clientKey: profile.clientKey,
    });
    let dot = 0;
    for (let i = 0; i < 64; i++) dot += back.profile.uaVector![i]! * profile.uaVector![i]!;
    expect(1 - dot).toBeLessThan(0.001);
    expect(text.length).toBeLessThan(260);
  });

  it('carries no raw user agent and nothing but the listed fields', () => {
    const text = encodeSample(profile, 0);
    expect(text).not.toMatch(/Mozilla|Android|Chrome/);
    expect(JSON.parse(text)).toHaveLength(11);
  });

  it('rejects malformed entries without throwing (property)', () => {
    expect(decodeSample('')).toBeNull();
    expect(decodeSample('[2,0]')).toBeNull();
    expect(decodeSample(JSON.stringify([1, 0, 'GET', '/', null, null, 24, null, null, null, 'k']))).toBeNull();
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.json(),
          fc.array(fc.jsonValue(), { minLength: 11, maxLength: 11 }).map((a) => JSON.stringify([1, ...a.slice(1)])),
        ),
        (text) => {
          const r = decodeSample(text);
          if (r !== null) expect(r.profile.hour).toBeGreaterThanOrEqual(0);
        },
      ),
    );
  });
});

describe('learner runner', () => {
  const p = profileOf({ uaVector: embedUserAgent(UA) });

  function recordingHandler(): SampleHandler & { seen: LearnerInput[]; batches: number[] } {
    const seen: LearnerInput[] = [];
    const batches: number[] = [];
    return {
      seen,
      batches,
      handle(batch) {
        batches.push(batch.length);
        seen.push(...batch);
      },
    };
  }

  it('queues without blocking and learns off the hot path, in batches', async () => {
    const handler = recordingHandler();
    const runner = startLearnerRunner({
      sampleRate: 1,
      maxPerSecond: 1_000_000,
      queueSize: 10_000,
      handler,
      batchSize: 100,
    });
    for (let i = 0; i < 1_000; i++) runner.sink(p);
    expect(handler.seen).toHaveLength(0); // nothing ran on the caller's stack
    await runner.drained();
    expect(handler.seen).toHaveLength(1_000);
    expect(Math.max(...handler.batches)).toBeLessThanOrEqual(100);
    expect(runner.stats).toMatchObject({ queued: 1_000, droppedFull: 0, droppedRate: 0, handled: 1_000 });
    await runner.stop();
  });

  it('drops and counts when the queue is full or the per-second cap is reached', async () => {
    const handler = recordingHandler();
    const full = startLearnerRunner({ sampleRate: 1, maxPerSecond: 1_000_000, queueSize: 64, handler });
    for (let i = 0; i < 1_000; i++) full.sink(p);
    expect(full.stats).toMatchObject({ queued: 64, droppedFull: 936 });
    await full.stop();
    const capped = startLearnerRunner({
      sampleRate: 1,
      maxPerSecond: 100,
      queueSize: 10_000,
      handler: recordingHandler(),
    });
    for (let i = 0; i < 1_000; i++) capped.sink(p);
    expect(capped.stats).toMatchObject({ queued: 100, droppedRate: 900 });
    await capped.stop();
  });

  it('samples at the configured rate', async () => {
    const runner = startLearnerRunner({
      sampleRate: 0.1,
      maxPerSecond: 1_000_000,
      queueSize: 100_000,
      handler: recordingHandler(),
    });
    for (let i = 0; i < 20_000; i++) runner.sink(p);
    expect(runner.stats.queued).toBeGreaterThan(1_700);
    expect(runner.stats.queued).toBeLessThan(2_300);
    await runner.stop();
  });

  it('keeps one asynchronous batch in flight and lets the queue absorb the rest', async () => {
    let inFlight = 0;
    let maxInFlight = 0;
    let handled = 0;
    const handler: SampleHandler = {
      handle(batch) {
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        const n = batch.length;
        return new Promise<void>((resolve) =>
          setTimeout(() => {
            handled += n;
            inFlight--;
            resolve();
          }, 5),
        );
      },
    };
    const runner = startLearnerRunner({
      sampleRate: 1,
      maxPerSecond: 1_000_000,
      queueSize: 5_000,
      handler,
      batchSize: 200,
    });
    for (let i = 0; i < 2_000; i++) runner.sink(p);
    await runner.drained();
    expect(handled).toBe(2_000);
    expect(maxInFlight).toBe(1);
    await runner.stop();
  });

  it('survives a handler that throws, and stops taking samples once stopped', async () => {
    let calls = 0;
    const runner = startLearnerRunner({
      sampleRate: 1,
      maxPerSecond: 1_000_000,
      queueSize: 100,
      handler: {
        handle() {
          calls++;
          throw new Error('boom');
        },
      },
    });
    runner.sink(p);
    await runner.drained();
    runner.sink(p);
    await runner.drained();
    expect(calls).toBe(2);
    await runner.stop();
    runner.sink(p);
    expect(runner.stats.queued).toBe(2);
  });
});
