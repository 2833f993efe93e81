// The learner's Redis edges against a real Redis (CONTRACT §2 layout under a test prefix):
// proposals written, deduplicated, updated, retired and capped; fleet mode with two publishing
// "sidecars" (two runners) and one learner consumer group, end to end.
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { plantedScenario } from '../../bench/scenarios/catalog.js';
import { generateScenario } from '../../bench/scenarios/generator.js';
import { parseFlagDocument, parseFlagValue } from '../../src/flags/schema.js';
import { ensureConsumerGroup, LEARNER_GROUP, startStreamConsumer, streamPublisher } from '../../src/learner/fleet.js';
import { Learner, type ProposalEmission } from '../../src/learner/learner.js';
import { createRedisProposalWriter, type ProposalOutcome } from '../../src/learner/proposalStore.js';
import { startLearnerRunner } from '../../src/learner/runner.js';
import { redisKeys, type RedisKeys } from '../../src/store/redisKeys.js';
import { createLogger } from '../../src/telemetry/logger.js';
import { testRedis, type TestRedis } from '../helpers/redis.js';

const logger = createLogger('silent');

function emission(id: string, created: boolean, support = 60): ProposalEmission {
  const parsed = parseFlagValue({
    name: `learned-${id}`,
    description: `pattern ${id}`,
    enabled: false,
    threshold: 1,
    profile: { endpoint: { in: ['/api/login'] }, geo: { in: ['BR'] } },
    evidence: { id, support, clients: support },
  });
  if (!parsed.ok) throw new Error('bad test proposal');
  return {
    id,
    document: parsed.flag,
    created,
    range: { methods: null, endpoints: ['/api/login'], countries: ['BR'], userAgent: null, size: null, hours: null },
  };
}

describe('proposals in Redis', () => {
  let r: TestRedis;
  let redis: Redis;
  let keys: RedisKeys;

  beforeAll(async () => {
    r = await testRedis();
    redis = new Redis(r.url);
    keys = redisKeys(r.prefix);
  });
  afterAll(async () => {
    redis?.disconnect();
    await r?.cleanup();
  });

  it('writes a proposal and its index entry; the same pattern twice is one proposal, updated', async () => {
    const outcomes: ProposalOutcome[] = [];
    const writer = createRedisProposalWriter({ redis, keys, logger, onOutcome: (o) => outcomes.push(o) });
    writer.write(emission('aaa111', true, 60), 1_000);
    await writer.flush();
    const doc = parseFlagDocument((await redis.get(keys.proposal('aaa111')))!);
    expect(doc.ok && doc.flag.enabled).toBe(false);
    expect(await redis.zscore(keys.proposals, 'aaa111')).toBe('1000');
    // Another learner (or a restart) finds the same pattern: same key, creation time kept.
    writer.write(emission('aaa111', true, 80), 5_000);
    writer.write(emission('aaa111', false, 90), 6_000);
    await writer.flush();
    expect(await redis.zcard(keys.proposals)).toBe(1);
    expect(await redis.zscore(keys.proposals, 'aaa111')).toBe('1000');
    expect(JSON.parse((await redis.get(keys.proposal('aaa111')))!).evidence.support).toBe(90);
    expect(outcomes).toEqual(['created', 'created', 'updated']);
  });

  it('stops updating a proposal that was approved or rejected meanwhile', async () => {
    const retired: string[] = [];
    const writer = createRedisProposalWriter({ redis, keys, logger, onRetired: (id) => retired.push(id) });
    writer.write(emission('bbb222', true), 1_000);
    await writer.flush();
    await redis.multi().del(keys.proposal('bbb222')).zrem(keys.proposals, 'bbb222').exec(); // what ffr reject does
    writer.write(emission('bbb222', false), 2_000);
    await writer.flush();
    expect(retired).toEqual(['bbb222']);
    expect(await redis.exists(keys.proposal('bbb222'))).toBe(0);
  });

  it('keeps at most maxProposals, evicting the oldest', async () => {
    const writer = createRedisProposalWriter({ redis, keys, logger, maxProposals: 5 });
    for (let i = 0; i < 8; i++) writer.write(emission(`cap${i}`, true), 10_000 + i);
    await writer.flush();
    const ids = await redis.zrange(keys.proposals, 0, -1);
    expect(ids).toEqual(['cap3', 'cap4', 'cap5', 'cap6', 'cap7']);
    for (const gone of ['aaa111', 'cap0', 'cap1', 'cap2']) expect(await redis.exists(keys.proposal(gone))).toBe(0);
  });

  it('reports a failure and keeps going when Redis refuses', async () => {
    const broken = new Redis(r.url, {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    broken.on('error', () => {});
    const outcomes: ProposalOutcome[] = [];
    const writer = createRedisProposalWriter({ redis: broken, keys, logger, onOutcome: (o) => outcomes.push(o) });
    writer.write(emission('ddd444', true), 1);
    await writer.flush();
    expect(outcomes).toEqual(['failed']);
    broken.disconnect();
  });
});

describe('fleet mode: two publishing sidecars, one learner consumer group', () => {
  let r: TestRedis;
  let commands: Redis;
  let blocking: Redis;
  let keys: RedisKeys;

  beforeAll(async () => {
    r = await testRedis();
    commands = new Redis(r.url);
    blocking = new Redis(r.url);
    keys = redisKeys(r.prefix);
  });
  afterAll(async () => {
    commands?.disconnect();
    blocking?.disconnect();
    await r?.cleanup();
  });

  it('learns one model from both sidecars and writes the proposal', async () => {
    const spec = plantedScenario('new-family-1pct', { baseline: 15_000, after: 6_000 }, 5);
    const publishers = [0, 1].map(() =>
      streamPublisher({ redis: commands, streamKey: keys.samples, maxLen: 100_000, logger }),
    );
    const sidecars = publishers.map((handler) =>
      startLearnerRunner({ sampleRate: 1, maxPerSecond: 1_000_000, queueSize: 50_000, handler, batchSize: 500 }),
    );

    const learner = new Learner({});
    const writer = createRedisProposalWriter({ redis: commands, keys, logger, onRetired: (id) => learner.retire(id) });
    await ensureConsumerGroup(commands, keys.samples, LEARNER_GROUP);
    const consumer = startStreamConsumer({
      redis: blocking,
      streamKey: keys.samples,
      group: LEARNER_GROUP,
      consumer: 'worker-1',
      learner,
      writer,
      logger,
      count: 1_000,
      blockMs: 200,
    });

    let n = 0;
    for (const e of generateScenario(spec)) {
      sidecars[n++ % 2]!.sink(e.profile);
      if (n % 2_000 === 0) await new Promise((res) => setImmediate(res));
    }
    await Promise.all(sidecars.map((s) => s.drained()));
    expect(publishers[0]!.published + publishers[1]!.published).toBe(spec.requests);
    expect(publishers[0]!.published).toBe(spec.requests / 2);

    const deadline = Date.now() + 15_000;
    while (consumer.stats.consumed < spec.requests && Date.now() < deadline)
      await new Promise((res) => setTimeout(res, 50));
    expect(consumer.stats).toMatchObject({ consumed: spec.requests, malformed: 0 });
    await writer.flush();

    const ids = await commands.zrange(keys.proposals, 0, -1);
    expect(ids).toHaveLength(1);
    const doc = JSON.parse((await commands.get(keys.proposal(ids[0]!)))!);
    expect(doc.profile.geo.in).toEqual(['BR']);
    expect(doc.profile.endpoint.in).toEqual(['/api/login']);
    expect(doc.evidence.clients).toBeGreaterThanOrEqual(50);
    // Every sample was acknowledged; the stream holds derived fields only.
    const pending = (await commands.xpending(keys.samples, LEARNER_GROUP)) as [number, ...unknown[]];
    expect(pending[0]).toBe(0);
    const some = await commands.xrange(keys.samples, '-', '+', 'COUNT', 500);
    const text = JSON.stringify(some);
    expect(text).not.toMatch(/Mozilla|Go-http-client|AppleWebKit/);
    expect(text).not.toMatch(/\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\b/);

    await consumer.stop();
    await Promise.all(sidecars.map((s) => s.stop()));
  });

  it('caps the samples stream with MAXLEN ~', async () => {
    const key = `${r.prefix}capped-samples`;
    const handler = streamPublisher({ redis: commands, streamKey: key, maxLen: 1_000, logger });
    const runner = startLearnerRunner({
      sampleRate: 1,
      maxPerSecond: 1_000_000,
      queueSize: 20_000,
      handler,
      batchSize: 500,
    });
    let i = 0;
    for (const e of generateScenario(plantedScenario('new-family-1pct', { baseline: 9_000, after: 1_000 }, 9))) {
      runner.sink(e.profile);
      if (++i % 2_000 === 0) await new Promise((res) => setImmediate(res));
    }
    await runner.drained();
    const len = await commands.xlen(key);
    expect(len).toBeGreaterThanOrEqual(1_000);
    expect(len).toBeLessThan(2_500); // "~": whole macro nodes are trimmed
    await runner.stop();
  });
});
