// Experiment counts through a real Redis: recorders of two "replicas" flush to one Redis
// (random key prefix), and the merged result equals the sum of what both observed. Also:
// the key layout and TTLs, idempotent retries, a Redis outage, split flushes, the incremental
// reader, generations, and foreign data in the hashes.
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { addVariantCounts, emptyVariantCounts, type VariantCounts } from '../../../src/experiments/core/counts.js';
import { bucketOf } from '../../../src/experiments/core/histogram.js';
import { computeResults } from '../../../src/experiments/core/results.js';
import type { ExperimentFlagLike } from '../../../src/experiments/core/spec.js';
import { ExperimentFlusher, type RedisClient } from '../../../src/experiments/flusher.js';
import { experimentKeys } from '../../../src/experiments/keys.js';
import { GenerationCountsCache, readGenerations, readWindow } from '../../../src/experiments/reader.js';
import { readExperimentReport } from '../../../src/experiments/reportReader.js';
import { ExperimentRecorder, type ExperimentTable } from '../../../src/experiments/recorder.js';
import type { ExperimentMetrics, FlushOutcome } from '../../../src/experiments/telemetry.js';
import { fileRedis } from '../../helpers/fileRedis.js';
import { redisServer, redisServerAvailable } from '../../helpers/redisServer.js';
import { seededRandom } from '../../helpers/seededRandom.js';

const MINUTE = 60_000;
const T0 = 29_000_000 * MINUTE; // a fixed epoch minute, so keys and windows are predictable

const r = fileRedis({ connect: (url) => new Redis(url, { maxRetriesPerRequest: 1 }) });

function experimentFlag(weights: [number, number], name = 'checkout'): ExperimentFlagLike {
  const total = weights[0] + weights[1];
  return {
    name,
    index: 0,
    variants: [
      { name: 'control', upTo: weights[0] / total },
      { name: 'treatment', upTo: 1 },
    ],
    experiment: {
      control: 'control',
      controlIndex: 0,
      guardrails: [{ metric: 'errorRate', maxRelativeIncrease: 0.1, minRequests: 500, pValue: 0.01 }],
    },
  };
}

/** Sends `n` simulated outcomes through the table and adds the same outcomes, classified by
 *  the test itself, to `expected`. */
function traffic(table: ExperimentTable, n: number, seed: number, expected: Map<string, VariantCounts>): void {
  const random = seededRandom(seed);
  for (let i = 0; i < n; i++) {
    const variant = random() < 0.5 ? 'control' : 'treatment';
    const slot = variant === 'control' ? 0 : 1;
    const x = random();
    const status = x < 0.02 ? null : x < 0.05 ? 503 : x < 0.1 ? 404 : x < 0.11 ? NaN : 200;
    const ms = 1 + random() * 400;
    table.observe(slot, status, ms);
    const e = expected.get(variant) ?? emptyVariantCounts();
    expected.set(variant, e);
    e.requests++;
    if (status === null) e.noResponse++;
    else {
      if (Number.isNaN(status)) e.invalidStatus++;
      else if (status === 503) e.status5xx++;
      else if (status === 404) e.status4xx++;
      e.latency[bucketOf(ms)]!++;
    }
  }
}

class CountingMetrics implements ExperimentMetrics {
  readonly flushes: Record<FlushOutcome, number> = { ok: 0, duplicate: 0, failed: 0 };
  readonly classes = new Map<string, number>();
  flush(outcome: FlushOutcome) {
    this.flushes[outcome]++;
  }
  outcomes(klass: string, n: number) {
    this.classes.set(klass, (this.classes.get(klass) ?? 0) + n);
  }
  pending() {}
  guardrailCheck() {}
  guardrailChange() {}
  error() {}
}

function replica(client: RedisClient, clock: { now: number }, metrics?: ExperimentMetrics) {
  const recorder = new ExperimentRecorder({ now: () => clock.now });
  const flusher = new ExperimentFlusher({
    redis: client,
    prefix: r.prefix,
    recorder,
    flushMs: 1000,
    ttlDays: 30,
    now: () => clock.now,
    metrics,
  });
  return { recorder, flusher };
}

describe('generations that come into force in the same minute', () => {
  it('the later one is the generation in force; the earlier one is listed before it with its own counts', async () => {
    const clock = { now: T0 + 10 * MINUTE + 5_000 };
    const a = replica(r.redis, clock);
    // Weights 50/50, then 50/0 (a guardrail stop) 6 s later: both since the same minute.
    const before = a.recorder.bind({ flags: [experimentFlag([50, 50], 'same-minute')] });
    traffic(before, 400, 41, new Map());
    await a.flusher.flush();
    clock.now += 6_000;
    const after = a.recorder.bind({ flags: [experimentFlag([50, 0], 'same-minute')] });
    traffic(after, 200, 42, new Map());
    await a.flusher.flush();
    const gens = await r.redis.hgetall(experimentKeys(r.prefix).generations('same-minute'));
    const [g0, g1] = [before.experiments[0]!.generation, after.experiments[0]!.generation];
    expect(gens[`${g0}:since`]).toBe(gens[`${g1}:since`]);
    expect(Number(gens[`${g1}:sinceMs`])).toBe(T0 + 10 * MINUTE + 11_000);
    // Whatever order Redis gives the fields in, the later generation is the current one.
    for (let i = 0; i < 3; i++) {
      const report = (await readExperimentReport(r.redis, r.prefix, 'same-minute', {
        ttlDays: 30,
        nowMs: clock.now,
      }))!;
      expect(report.generation).toBe(g1);
      expect(report.earlierGenerations.map((g) => g.generation)).toEqual([g0]);
      expect(report.variants.reduce((n, v) => n + v.requests, 0)).toBe(200);
    }
  });
});

describe('two replicas, one Redis', () => {
  it('the merged result is exactly the sum of what both replicas observed', async () => {
    const clock = { now: T0 + 5_000 };
    const snapshotA = { flags: [experimentFlag([50, 50])] };
    const snapshotB = { flags: [experimentFlag([50, 50])] }; // another replica's own snapshot
    const a = replica(r.redis, clock);
    const b = replica(r.redis, clock);
    const tableA = a.recorder.bind(snapshotA);
    const tableB = b.recorder.bind(snapshotB);
    const expected = new Map<string, VariantCounts>();
    const perMinute: Map<string, VariantCounts>[] = [];
    // Three minutes of interleaved traffic and flushes from both replicas.
    for (let minute = 0; minute < 3; minute++) {
      clock.now = T0 + minute * MINUTE + 5_000;
      const thisMinute = new Map<string, VariantCounts>();
      perMinute.push(thisMinute);
      traffic(tableA, 3000, 10 + minute, thisMinute);
      traffic(tableB, 2000, 20 + minute, thisMinute);
      await a.flusher.flush();
      traffic(tableA, 500, 30 + minute, thisMinute);
      await Promise.all([a.flusher.flush(), b.flusher.flush()]);
      for (const [variant, c] of thisMinute) {
        if (!expected.has(variant)) expected.set(variant, emptyVariantCounts());
        addVariantCounts(expected.get(variant)!, c);
      }
    }
    const report = await readExperimentReport(r.redis, r.prefix, 'checkout', { ttlDays: 30, nowMs: clock.now });
    const spec = tableA.experiments[0]!;
    const series = perMinute.map((counts, i) => ({ fromMinute: 29_000_000 + i, minutes: 1, counts }));
    const reference = computeResults(spec, expected, { fromMinute: 29_000_000, toMinute: 29_000_002, series });
    expect(report).not.toBeNull();
    const { earlierGenerations, trips, ...results } = report!;
    expect(results).toEqual(reference);
    expect(earlierGenerations).toEqual([]);
    expect(trips).toEqual([]);
    expect(report!.variants[0]!.requests + report!.variants[1]!.requests).toBe(16_500);
    // The series: one point per minute, each minute's own counts; the points add up to the totals.
    for (const v of report!.variants) {
      expect(v.series.map((p) => [p.t, p.minutes, p.requests])).toEqual(
        perMinute.map((m, i) => [new Date(T0 + i * MINUTE).toISOString(), 1, m.get(v.name)!.requests]),
      );
      expect(v.series.reduce((n, p) => n + p.errors, 0)).toBe(v.errors);
    }
  });

  it('a long window gives at most 60 series points, each the sum of its minutes', async () => {
    const clock = { now: T0 };
    const { recorder, flusher } = replica(r.redis, clock);
    const table = recorder.bind({ flags: [experimentFlag([50, 50])] });
    // Counts in minutes 0, 1 and 2 and in minute 100 of a 3-hour window (3 minutes per point).
    for (const [minute, n] of [
      [0, 3],
      [1, 4],
      [2, 5],
      [100, 7],
    ] as const) {
      clock.now = T0 + minute * MINUTE + 1000;
      for (let i = 0; i < n; i++) table.observe(0, i === 0 ? 503 : 200, 5);
      await flusher.flush();
    }
    const nowMs = T0 + 179 * MINUTE + 1000;
    const report = await readExperimentReport(r.redis, r.prefix, 'checkout', {
      ttlDays: 30,
      nowMs,
      sinceMs: 179 * MINUTE,
    });
    const control = report!.variants[0]!;
    expect(control.requests).toBe(19);
    // From the first point with counts (minutes 0-2) to the last (minutes 99-101).
    expect(control.series).toHaveLength(34);
    expect(control.series.every((p) => p.minutes === 3)).toBe(true);
    expect(control.series[0]).toMatchObject({ t: new Date(T0).toISOString(), requests: 12, errors: 3 });
    expect(control.series[33]).toMatchObject({ t: new Date(T0 + 99 * MINUTE).toISOString(), requests: 7, errors: 1 });
    expect(control.series.slice(1, 33).every((p) => p.requests === 0 && p.errorRate === null)).toBe(true);
  });

  it('writes the documented keys with their TTLs', async () => {
    const clock = { now: T0 + 1000 };
    const { recorder, flusher } = replica(r.redis, clock);
    const table = recorder.bind({ flags: [experimentFlag([50, 50])] });
    table.observe(0, 200, 12);
    table.observe(1, 503, 30);
    table.observe(1, null, 0);
    await flusher.flush();
    const k = experimentKeys(r.prefix);
    const gen = table.experiments[0]!.generation;
    const bucket = await r.redis.hgetall(k.bucket('checkout', 29_000_000));
    expect(bucket).toEqual({
      [`${gen}:control:n`]: '1',
      [`${gen}:control:h${bucketOf(12)}`]: '1',
      [`${gen}:treatment:n`]: '2',
      [`${gen}:treatment:5xx`]: '1',
      [`${gen}:treatment:nr`]: '1',
      [`${gen}:treatment:h${bucketOf(30)}`]: '1',
    });
    const ttl = await r.redis.ttl(k.bucket('checkout', 29_000_000));
    expect(ttl).toBeGreaterThan(30 * 86_400 - 60);
    expect(ttl).toBeLessThanOrEqual(30 * 86_400);
    const gens = await r.redis.hgetall(k.generations('checkout'));
    expect(gens[`${gen}:since`]).toBe('29000000');
    expect(gens[`${gen}:last`]).toBe('29000000');
    expect(JSON.parse(gens[gen]!)).toEqual({
      flag: 'checkout',
      control: 'control',
      variants: [
        { name: 'control', share: 0.5 },
        { name: 'treatment', share: 0.5 },
      ],
      guardrails: [{ metric: 'errorRate', maxRelativeIncrease: 0.1, minRequests: 500, pValue: 0.01 }],
    });
    expect(await r.redis.get(k.writer(flusher.writerId))).toBe('1');
    expect(await r.redis.ttl(k.writer(flusher.writerId))).toBeGreaterThan(86_000);
  });
});

describe('flush failures', () => {
  it('an ambiguous failure (applied, reply lost) is retried without counting twice', async () => {
    const clock = { now: T0 };
    let loseReply = true;
    // The first EVALSHA runs on the server but its reply is "lost".
    const flaky = new Proxy(r.redis, {
      get(target, prop, receiver) {
        if (prop === 'evalsha') {
          return async (...args: Parameters<Redis['evalsha']>) => {
            const result = await target.evalsha(...args);
            if (loseReply) {
              loseReply = false;
              throw new Error('connection reset (reply lost)');
            }
            return result;
          };
        }
        const value = Reflect.get(target, prop, receiver) as unknown;
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
    const metrics = new CountingMetrics();
    const { recorder, flusher } = replica(flaky as RedisClient, clock, metrics);
    const table = recorder.bind({ flags: [experimentFlag([50, 50])] });
    const expected = new Map<string, VariantCounts>();
    traffic(table, 1000, 1, expected);
    // Load the script first so the flaky EVALSHA is the one that runs it.
    await r.redis.script('LOAD', (await import('../../../src/experiments/flusher.js')).FLUSH_SCRIPT);
    const first = await flusher.flush();
    expect(first.error).toMatch(/reply lost/);
    expect(flusher.pendingCalls).toBe(1);
    traffic(table, 700, 2, expected); // more traffic while the call waits
    const second = await flusher.flush();
    expect(second).toEqual({ applied: 2, pending: 0, error: null });
    expect(metrics.flushes).toEqual({ ok: 1, duplicate: 1, failed: 1 });
    const window = await readWindow(r.redis, experimentKeys(r.prefix), 'checkout', 29_000_000, 29_000_000);
    const got = window.counts.get(table.experiments[0]!.generation)!;
    expect(got.get('control')).toEqual(expected.get('control'));
    expect(got.get('treatment')).toEqual(expected.get('treatment'));
    expect(metrics.classes.get('5xx')).toBe(expected.get('control')!.status5xx + expected.get('treatment')!.status5xx);
  });

  // Needs a redis-server binary to start and kill a server of its own (never the shared one).
  it.skipIf(!redisServerAvailable())('Redis down: counts wait (bounded) and all arrive once it is back', async () => {
    const server = await redisServer();
    const client = new Redis(server.url, {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      retryStrategy: () => 50,
    });
    client.on('error', () => {});
    try {
      const clock = { now: T0 };
      const { recorder, flusher } = replica(client, clock);
      const table = recorder.bind({ flags: [experimentFlag([50, 50])] });
      const expected = new Map<string, VariantCounts>();
      await new Promise((resolve) => (client.status === 'ready' ? resolve(null) : client.once('ready', resolve)));
      traffic(table, 400, 3, expected);
      await flusher.flush();
      await server.kill();
      traffic(table, 800, 4, expected);
      const failed = await flusher.flush();
      expect(failed.error).not.toBeNull();
      expect(flusher.pendingCalls).toBe(1);
      traffic(table, 600, 5, expected); // keeps adding up in the fixed-size arrays
      expect((await flusher.flush()).pending).toBe(1);
      await server.start(); // back, and empty: only what was not flushed yet is expected now
      await new Promise((resolve) => (client.status === 'ready' ? resolve(null) : client.once('ready', resolve)));
      const after = await flusher.flush();
      expect(after).toEqual({ applied: 2, pending: 0, error: null });
      const window = await readWindow(client, experimentKeys(r.prefix), 'checkout', 29_000_000, 29_000_000);
      const got = window.counts.get(table.experiments[0]!.generation)!;
      const total = (m: Map<string, VariantCounts>) => [...m.values()].reduce((n, c) => n + c.requests, 0);
      expect(total(got)).toBe(1400); // the 400 before the outage went down with the old server
    } finally {
      client.disconnect();
      await server.kill();
    }
  });

  it('a large flush is split into several calls, applied in order', async () => {
    const clock = { now: T0 };
    const recorder = new ExperimentRecorder();
    const flusher = new ExperimentFlusher({
      redis: r.redis,
      prefix: r.prefix,
      recorder,
      flushMs: 1000,
      ttlDays: 1,
      now: () => clock.now,
      maxArgsPerCall: 40,
    });
    const table = recorder.bind({ flags: [experimentFlag([50, 50])] });
    const expected = new Map<string, VariantCounts>();
    traffic(table, 5000, 6, expected);
    const report = await flusher.flush();
    expect(report.applied).toBeGreaterThan(5);
    expect(await r.redis.get(experimentKeys(r.prefix).writer(flusher.writerId))).toBe(String(report.applied));
    const window = await readWindow(r.redis, experimentKeys(r.prefix), 'checkout', 29_000_000, 29_000_000);
    expect(window.counts.get(table.experiments[0]!.generation)).toEqual(expected);
  });
});

describe('reading', () => {
  it('the incremental reader equals a full read, minute after minute', async () => {
    const clock = { now: T0 };
    const { recorder, flusher } = replica(r.redis, clock);
    const table = recorder.bind({ flags: [experimentFlag([50, 50])] });
    const spec = table.experiments[0]!;
    const cache = new GenerationCountsCache(r.redis, r.prefix, 30);
    for (let minute = 0; minute < 8; minute++) {
      clock.now = T0 + minute * MINUTE;
      traffic(table, 300, 100 + minute, new Map());
      await flusher.flush();
      const incremental = await cache.counts(spec, 29_000_000 + minute);
      const full = await readWindow(r.redis, experimentKeys(r.prefix), 'checkout', 29_000_000, 29_000_000 + minute);
      expect(incremental.counts).toEqual(full.counts.get(spec.generation));
      expect(incremental.fromMinute).toBe(29_000_000);
    }
  });

  it('new weights are a new generation; weights that come back start again', async () => {
    const clock = { now: T0 };
    const { recorder, flusher } = replica(r.redis, clock);
    const k = experimentKeys(r.prefix);
    const t1 = recorder.bind({ flags: [experimentFlag([50, 50])] });
    t1.observe(0, 200, 1);
    await flusher.flush();
    clock.now = T0 + 10 * MINUTE;
    const t2 = recorder.bind({ flags: [experimentFlag([100, 0])] });
    t2.observe(0, 200, 1);
    await flusher.flush();
    clock.now = T0 + 20 * MINUTE;
    const t3 = recorder.bind({ flags: [experimentFlag([50, 50])] });
    expect(t3.experiments[0]!.generation).toBe(t1.experiments[0]!.generation);
    t3.observe(1, 200, 1);
    await flusher.flush();
    const gens = await readGenerations(r.redis, k, 'checkout');
    expect(gens.size).toBe(2);
    expect(gens.get(t1.experiments[0]!.generation)!.since).toBe(29_000_020); // restarted
    expect(gens.get(t2.experiments[0]!.generation)!.since).toBe(29_000_010);
    // The report starts at the generation in force: the earlier 50/50 minute is not mixed in.
    const report = (await readExperimentReport(r.redis, r.prefix, 'checkout', { ttlDays: 30, nowMs: clock.now }))!;
    expect(report.generation).toBe(t1.experiments[0]!.generation);
    expect(report.variants.map((v) => v.requests)).toEqual([0, 1]);
    // With --since, every generation in the window shows, the one in force first.
    const all = (await readExperimentReport(r.redis, r.prefix, 'checkout', {
      ttlDays: 30,
      nowMs: clock.now,
      sinceMs: 60 * MINUTE,
    }))!;
    expect(all.variants.map((v) => v.requests)).toEqual([1, 1]);
    expect(all.earlierGenerations.map((g) => g.generation)).toEqual([t2.experiments[0]!.generation]);
  });

  it('by default, an earlier generation with counts since the one in force shows over its own span', async () => {
    // 50/50 for minutes 0-5, then a guardrail-like change to 100/0 within minute 5.
    const clock = { now: T0 };
    const { recorder, flusher } = replica(r.redis, clock);
    const before = recorder.bind({ flags: [experimentFlag([50, 50])] });
    for (let minute = 0; minute <= 5; minute++) {
      clock.now = T0 + minute * MINUTE + 1000;
      before.observe(0, 200, 1);
      before.observe(1, 503, 1);
      await flusher.flush();
    }
    const after = recorder.bind({ flags: [experimentFlag([100, 0])] });
    after.observe(0, 200, 1);
    await flusher.flush();
    clock.now = T0 + 7 * MINUTE;
    const report = (await readExperimentReport(r.redis, r.prefix, 'checkout', { ttlDays: 30, nowMs: clock.now }))!;
    expect(report.generation).toBe(after.experiments[0]!.generation);
    expect(report.window.from).toBe(new Date(T0 + 5 * MINUTE).toISOString());
    expect(report.variants.map((v) => v.requests)).toEqual([1, 0]);
    // All six minutes of the stopped generation, not only the minute it shares with the new one.
    const [earlier] = report.earlierGenerations;
    expect(earlier!.generation).toBe(before.experiments[0]!.generation);
    expect(earlier!.window).toEqual({
      from: new Date(T0).toISOString(),
      to: new Date(T0 + 6 * MINUTE).toISOString(),
      minutes: 6,
    });
    expect(earlier!.variants.map((v) => [v.requests, v.errors])).toEqual([
      [6, 0],
      [6, 6],
    ]);
    expect(earlier!.variants[1]!.series.map((p) => p.requests)).toEqual([1, 1, 1, 1, 1, 1]);
  });

  it('ignores and counts fields it did not write; no record at all is null', async () => {
    const k = experimentKeys(r.prefix);
    expect(await readExperimentReport(r.redis, r.prefix, 'checkout', { ttlDays: 30 })).toBeNull();
    const clock = { now: T0 };
    const { recorder, flusher } = replica(r.redis, clock);
    const table = recorder.bind({ flags: [experimentFlag([50, 50])] });
    const expected = new Map<string, VariantCounts>();
    traffic(table, 200, 7, expected);
    await flusher.flush();
    const gen = table.experiments[0]!.generation;
    await r.redis.hset(k.bucket('checkout', 29_000_000), {
      junk: '5',
      [`${gen}:control:h999`]: '3',
      [`${gen}:control:n2`]: '3',
      'ffffffff:treatment:n': '-4', // a negative counter is never added
    });
    await r.redis.hset(k.generations('checkout'), 'deadbeef', '{"not": "a spec"}');
    const window = await readWindow(r.redis, k, 'checkout', 29_000_000, 29_000_000);
    expect(window.ignoredFields).toBe(4);
    expect(window.counts.get(gen)).toEqual(expected);
    expect([...window.counts.keys()]).toEqual([gen]);
    expect((await readGenerations(r.redis, k, 'checkout')).size).toBe(1);
  });
});
