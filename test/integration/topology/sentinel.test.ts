// Redis Sentinel for real (issue 12): a master, a replica and three sentinels started here with
// redis-server on free ports. With a password: the sidecar becomes ready and serves; ffr asks
// the sentinels for the master on every call and refuses a replica for changes; the learner
// writes proposals; the master is killed mid-traffic with zero failed ext_proc responses, the
// change feed's loss and return reported (and no "All sentinels are unreachable" warning while
// they are all up), and a change made after the promotion served within 1 s. Without a password
// and over TLS: ready, serving, ffr works.
import { EXAMPLE_FLAG_NAMES } from '../../e2e/routingTable.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { learnerRedis } from '../../../src/learner/learning.js';
import { redisServerAvailable } from '../../helpers/redisServer.js';
import {
  makeTlsMaterial,
  opensslAvailable,
  redisTlsAvailable,
  startSentinel,
  type SentinelTopology,
} from '../../helpers/redisTopology.js';
import {
  exampleFlags,
  expectFailoverSurvived,
  expectProposalWritten,
  expectServingExamples,
  expectWrongPasswordReported,
  failoverUnderTraffic,
  ffrWith,
  importExampleFlags,
  PREFIX,
  startLoggedSidecar,
  startServingSidecar,
  startWithWrongPassword,
  topologyEnv,
  until,
  type LoggedSidecar,
} from '../../helpers/topologyScenario.js';

const PASSWORD = 's3cret';

function sentinelEnv(s: SentinelTopology): Record<string, string> {
  return topologyEnv(s.options, 'sentinel', {
    PROFLAG_REDIS_SENTINELS: s.sentinelList,
    PROFLAG_REDIS_SENTINEL_NAME: s.name,
  });
}

const lines = (text: string) => text.trim().split('\n');

describe.skipIf(!redisServerAvailable())('Redis Sentinel with a password', () => {
  let sentinel: SentinelTopology;
  let env: Record<string, string>;
  let ls: LoggedSidecar;
  let badStart: Promise<LoggedSidecar>;

  beforeAll(async () => {
    sentinel = await startSentinel({ password: PASSWORD });
    env = sentinelEnv(sentinel);
    await importExampleFlags(env);
    badStart = startWithWrongPassword(env, 'sentinel');
    ls = await startLoggedSidecar({ ...env, PROFLAG_STALE_AFTER_MS: '60000' });
  });
  afterAll(async () => {
    await (await badStart.catch(() => null))?.sidecar.stop(1000);
    await ls?.sidecar.stop(1000);
    await sentinel?.stop();
  });

  it('becomes ready and serves the flags', async () => {
    await expectServingExamples(ls);
  });

  it('ffr: every command through the sentinels; a replica is refused for changes and read with a warning', async () => {
    const ffr = (args: string[], input?: string) => ffrWith(env, args, input);
    const flag = (name: string, extra: Record<string, unknown> = {}) =>
      JSON.stringify({ name, enabled: true, profile: { endpoint: { in: [`/${name}`] } }, ...extra });
    expect((await ffr(['put', '-'], flag('via-sentinel'))).stdout).toMatch(/^put via-sentinel \(version \d+\)\n$/);
    expect(JSON.parse((await ffr(['get', 'via-sentinel'])).stdout)).toMatchObject({ name: 'via-sentinel' });
    expect(lines((await ffr(['list'])).stdout)).toHaveLength(1 + EXAMPLE_FLAG_NAMES.length + 1);
    expect((await ffr(['disable', 'via-sentinel'])).stdout).toMatch(/^disabled/);
    expect((await ffr(['enable', 'via-sentinel'])).stdout).toMatch(/^enabled/);
    expect((await ffr(['shadow', 'via-sentinel'])).stdout).toMatch(/shadow mode/);
    expect((await ffr(['enforce', 'via-sentinel'])).stdout).toMatch(/enforce mode/);
    expect((JSON.parse((await ffr(['export'])).stdout) as { flags: unknown[] }).flags).toHaveLength(
      EXAMPLE_FLAG_NAMES.length + 1,
    );
    expect((await ffr(['delete', 'via-sentinel'])).stdout).toMatch(/^deleted/);
    expect((await ffr(['proposals'])).code).toBe(0);
    expect((await ffr(['history', '-n', '2'])).stdout).toMatch(/delete[\s\S]*enforce/);
    expect((await ffr(['status'])).stdout).toContain('replicas  1 reporting');
    expect((await ffr(['import', '--replace', '-'], exampleFlags())).stdout).toMatch(
      new RegExp(`^imported ${EXAMPLE_FLAG_NAMES.length} flags, deleted 0`),
    );

    const replica = sentinel.data[1]!; // before the failover test: [master, replica]
    const direct = { REDIS_URL: `redis://:${PASSWORD}@127.0.0.1:${replica.port}`, PROFLAG_PREFIX: PREFIX };
    const write = await ffrWith(direct, ['put', '-'], flag('to-replica'));
    expect(write.code).toBe(1);
    expect(write.stderr).toMatch(/is a replica \(of 127\.0\.0\.1:\d+\): changes go to the master/);
    const read = await ffrWith(direct, ['version']);
    expect(read.code).toBe(0);
    expect(read.stderr).toContain('warning: reading from a replica');
    const atSentinel = await ffrWith(
      { REDIS_URL: `redis://127.0.0.1:${sentinel.sentinelList.split(',')[0]!.split(':')[1]}`, PROFLAG_PREFIX: PREFIX },
      ['list'],
    );
    expect(atSentinel.code).toBe(1);
    expect(atSentinel.stderr).toContain('is a Redis Sentinel: set PROFLAG_REDIS_SENTINELS');
  });

  it('the learner writes proposals with the password', async () => {
    const redis = learnerRedis(ls.config, 'topology-test');
    try {
      await until('learner connection', () => redis.status === 'ready', 5000);
      await expectProposalWritten(redis, 'learned-sentinel', 'se-1');
    } finally {
      redis.disconnect();
    }
  });

  it('with a wrong password: not ready, and /readyz and the log say why', async () => {
    // Started in beforeAll: its first-load wait (3 s) ran alongside the other tests.
    await expectWrongPasswordReported(await badStart);
  });

  it('survives losing the master mid-traffic: no failed response, feed loss and return reported, a new change served within 1 s of the promotion', async () => {
    const master = await sentinel.currentMaster();
    const report = await failoverUnderTraffic(
      ls,
      () => master.kill(),
      async () => (await sentinel.masterPort().catch(() => master.port)) !== master.port,
    );
    await expectFailoverSurvived(ls, 'sentinel', report);
    // The sentinels were all up: ioredis' "All sentinels are unreachable" is not a warning here.
    expect(
      ls.logs.filter((l) => Number(l['level']) >= 40 && /All sentinels are unreachable/.test(JSON.stringify(l))),
    ).toEqual([]);
    // ffr finds the new master by itself.
    expect((await ffrWith(env, ['get', 'after-failover'])).code).toBe(0);
  }, 75_000);
});

describe.skipIf(!redisServerAvailable())('Redis Sentinel without a password', () => {
  let sentinel: SentinelTopology;
  let ls: LoggedSidecar;
  beforeAll(async () => {
    sentinel = await startSentinel({});
  });
  afterAll(async () => {
    await ls?.sidecar.stop(1000);
    await sentinel?.stop();
  });

  it('ffr imports through the sentinels; the sidecar becomes ready and serves', async () => {
    const env = sentinelEnv(sentinel);
    await importExampleFlags(env);
    ls = await startServingSidecar(env);
  });
});

const tlsReady = redisServerAvailable() && opensslAvailable() && redisTlsAvailable();
describe.skipIf(!tlsReady)('Redis Sentinel over TLS with a password and client certificates', () => {
  let sentinel: SentinelTopology;
  let ls: LoggedSidecar;
  beforeAll(async () => {
    sentinel = await startSentinel({ password: PASSWORD, tls: makeTlsMaterial() });
  });
  afterAll(async () => {
    await ls?.sidecar.stop(1000);
    await sentinel?.stop();
  });

  it('ffr and the sidecar speak TLS to the sentinels and the master', async () => {
    const env = sentinelEnv(sentinel);
    await importExampleFlags(env);
    ls = await startServingSidecar(env);
  });
});
