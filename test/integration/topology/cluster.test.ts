// Redis Cluster for real (issue 12): three masters with a replica each, started here with
// redis-server on free ports. With a password: the sidecar becomes ready and serves flags; every
// ffr command works through any node; the learner writes proposals; the master that owns the
// prefix's slot is killed mid-traffic with zero failed ext_proc responses, the change feed's
// loss and return are reported, and a change made after the replica's promotion is served
// within 1 s. Without a password and with TLS (+ password): ready, serving, ffr works.
import { EXAMPLE_FLAG_NAMES } from '../../e2e/routingTable.js';
import calculateSlot from 'cluster-key-slot';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LEARNER_GROUP, startStreamConsumer, streamPublisher } from '../../../src/learner/fleet.js';
import { Learner, type LearnerInput } from '../../../src/learner/learner.js';
import { learnerRedis } from '../../../src/learner/learning.js';
import { redisKeys } from '../../../src/store/redisKeys.js';
import { createLogger } from '../../../src/telemetry/logger.js';
import { redisServerAvailable } from '../../helpers/redisServer.js';
import {
  makeTlsMaterial,
  opensslAvailable,
  redisTlsAvailable,
  startCluster,
  type ClusterTopology,
} from '../../helpers/redisTopology.js';
import {
  changesFor,
  exampleFlags,
  expectFailoverSurvived,
  expectProposalWritten,
  expectServingExamples,
  expectWrongPasswordReported,
  failoverUnderTraffic,
  ffrWith,
  gauge,
  importExampleFlags,
  PREFIX,
  readyz,
  startLoggedSidecar,
  startServingSidecar,
  startWithWrongPassword,
  topologyEnv,
  until,
  type LoggedSidecar,
} from '../../helpers/topologyScenario.js';

const SLOT = calculateSlot(`${PREFIX}version`);
const PASSWORD = 's3cret';

function clusterEnv(c: ClusterTopology, seeds = c.seeds): Record<string, string> {
  return topologyEnv(c.options, 'cluster', { PROFLAG_REDIS_CLUSTER_NODES: seeds });
}

const lines = (text: string) => text.trim().split('\n');

describe.skipIf(!redisServerAvailable())('Redis Cluster with a password', () => {
  let cluster: ClusterTopology;
  let env: Record<string, string>;
  let ls: LoggedSidecar;
  let badStart: Promise<LoggedSidecar>;

  beforeAll(async () => {
    cluster = await startCluster({ password: PASSWORD });
    // Seeds that do not include the slot's owner: the client must find it.
    const owner = await cluster.masterOf(SLOT);
    const others = cluster.nodes.filter((n) => n !== owner).slice(0, 2);
    env = clusterEnv(cluster, others.map((n) => `127.0.0.1:${n.port}`).join(','));
    const imported = await ffrWith(env, ['import', '-'], exampleFlags());
    expect(imported.stderr).toBe('');
    badStart = startWithWrongPassword(env, 'cluster');
    ls = await startLoggedSidecar({ ...env, PROFLAG_STALE_AFTER_MS: '60000' });
  });
  afterAll(async () => {
    await (await badStart.catch(() => null))?.sidecar.stop(1000);
    await ls?.sidecar.stop(1000);
    await cluster?.stop();
  });

  it('becomes ready and serves the flags', async () => {
    await expectServingExamples(ls);
    expect(await gauge(ls.sidecar, 'proflag_store_feed_connected')).toBe(1);
  });

  it('ffr: every command through a replica as the only seed; version through each node', async () => {
    const replica = (await cluster.replicasOf(await cluster.masterOf(SLOT)))[0]!;
    const e = clusterEnv(cluster, `127.0.0.1:${replica.port}`);
    const ffr = (args: string[], input?: string) => ffrWith(e, args, input);
    const flag = (name: string, extra: Record<string, unknown> = {}) =>
      JSON.stringify({ name, enabled: true, profile: { endpoint: { in: [`/${name}`] } }, ...extra });

    expect(await ffr(['put', '-'], flag('via-replica'))).toMatchObject({
      code: 0,
      stdout: expect.stringMatching(/^put via-replica \(version \d+\)\n$/),
    });
    expect(JSON.parse((await ffr(['get', 'via-replica'])).stdout)).toMatchObject({ name: 'via-replica' });
    const list = await ffr(['list']);
    expect(
      lines(list.stdout)
        .slice(1)
        .map((l) => l.split(/\s+/)[0]),
    ).toContain('via-replica');
    expect(lines(list.stdout)).toHaveLength(1 + EXAMPLE_FLAG_NAMES.length + 1);
    expect((await ffr(['disable', 'via-replica'])).stdout).toMatch(/^disabled via-replica/);
    expect((await ffr(['enable', 'via-replica'])).stdout).toMatch(/^enabled via-replica/);
    expect((await ffr(['shadow', 'via-replica'])).stdout).toMatch(/now in shadow mode/);
    expect((await ffr(['enforce', 'via-replica'])).stdout).toMatch(/now in enforce mode/);
    const exported = JSON.parse((await ffr(['export'])).stdout) as { flags: { name: string }[] };
    expect(exported.flags).toHaveLength(EXAMPLE_FLAG_NAMES.length + 1);

    const { changes, client } = changesFor(ls.config);
    await client.connect();
    const k = redisKeys(PREFIX);
    await client.set(k.proposal('p-1'), flag('learned', { enabled: false, evidence: { support: 60 } }));
    await client.zadd(k.proposals, Date.now(), 'p-1');
    await client.set(k.proposal('p-2'), flag('learned-2', { enabled: false }));
    await client.zadd(k.proposals, Date.now(), 'p-2');
    expect(lines((await ffr(['proposals'])).stdout)).toHaveLength(3);
    expect((await ffr(['approve', 'p-1', 'approved-1', '--route', 'backend_beta'])).stdout).toMatch(
      /^approved p-1 as flag approved-1/,
    );
    expect((await ffr(['reject', 'p-2'])).stdout).toMatch(/^rejected proposal p-2/);
    expect((await ffr(['history', '-n', '3'])).stdout).toMatch(/reject[\s\S]*approve[\s\S]*enforce/);
    const status = await ffr(['status']);
    expect(status.stdout).toContain('replicas  1 reporting');
    expect(status.stdout).toMatch(new RegExp(`flags {5}${EXAMPLE_FLAG_NAMES.length + 2} stored`));

    // --replace deletes what the file lacks: the import is as exact as the list was.
    expect((await ffr(['import', '--replace', '-'], exampleFlags())).stdout).toMatch(
      new RegExp(`^imported ${EXAMPLE_FLAG_NAMES.length} flags, deleted 2`),
    );
    expect(lines((await ffr(['list'])).stdout)).toHaveLength(1 + EXAMPLE_FLAG_NAMES.length);
    expect((await ffr(['delete', 'night-batch'])).stdout).toMatch(/^deleted night-batch/);
    const nightBatch = (JSON.parse(exampleFlags()) as { name: string }[]).find((f) => f.name === 'night-batch')!;
    await changes.put(nightBatch, { actor: 'test' });
    client.disconnect();

    const versions = await Promise.all(
      cluster.nodes.map((n) => ffrWith(clusterEnv(cluster, `127.0.0.1:${n.port}`), ['version'])),
    );
    expect(new Set(versions.map((v) => v.stdout)).size).toBe(1);
    expect(versions.every((v) => v.code === 0 && /^\d+\n$/.test(v.stdout))).toBe(true);
  });

  it('ffr refuses what would make a multi-key command lie', async () => {
    const node = cluster.nodes[0]!;
    const plain = await ffrWith({ REDIS_URL: `redis://:${PASSWORD}@127.0.0.1:${node.port}`, PROFLAG_PREFIX: PREFIX }, [
      'list',
    ]);
    expect(plain.code).toBe(1);
    expect(plain.stderr).toContain('is a Redis Cluster node: set PROFLAG_REDIS_CLUSTER_NODES');
    const dashC = await ffrWith(
      {
        REDIS_URL: `redis://:${PASSWORD}@127.0.0.1:${node.port}`,
        PROFLAG_PREFIX: PREFIX,
        PROFLAG_REDIS_CLI_ARGS: '-c',
      },
      ['list'],
    );
    expect(dashC.code).toBe(2);
    expect(dashC.stderr).toContain('PROFLAG_REDIS_CLUSTER_NODES');
    const untagged = await ffrWith({ ...env, PROFLAG_PREFIX: 'proflag:' }, ['list']);
    expect(untagged.code).toBe(2);
    expect(untagged.stderr).toContain('hash-tagged prefix');
    const wrongPassword = await ffrWith({ ...env, REDIS_URL: 'redis://:wrong@cluster' }, ['list']);
    expect(wrongPassword.code).toBe(1);
    expect(wrongPassword.stderr).toMatch(/refused the credentials/);
    expect(wrongPassword.stderr).not.toContain('wrong@');
  });

  it('the learner writes proposals and publishes samples with the password', async () => {
    const config = ls.config;
    const keys = redisKeys(PREFIX);
    const redis = learnerRedis(config, 'topology-test');
    const reader = learnerRedis(config, 'topology-test', 'learner-read');
    try {
      await until('learner connections', () => redis.status === 'ready' && reader.status === 'ready', 5000);
      const writer = await expectProposalWritten(redis, 'learned-cluster', 'cl-1');
      // Fleet mode: a batch published to the samples stream is read back by a consumer.
      const publisher = streamPublisher({
        redis,
        streamKey: keys.samples,
        maxLen: 1000,
        logger: createLogger('silent'),
      });
      const sample: LearnerInput = {
        method: 'GET',
        endpoint: '/x',
        payloadSize: 0,
        sizeBin: 0,
        hour: 12,
        country: 'DE',
        uaHash: 'abcdef0123456789',
        uaVector: null,
        clientKey: 'client-1',
      };
      await publisher.handle([sample], Date.now());
      expect(publisher.published).toBe(1);
      const consumer = startStreamConsumer({
        redis: reader,
        streamKey: keys.samples,
        group: LEARNER_GROUP,
        consumer: 'c1',
        learner: new Learner({}),
        writer,
        logger: createLogger('silent'),
        blockMs: 100,
      });
      await until('the sample consumed', () => consumer.stats.consumed >= 1, 5000);
      await consumer.stop();
    } finally {
      redis.disconnect();
      reader.disconnect();
    }
  });

  it('with a wrong password: not ready, and /readyz and the log say why', async () => {
    // Started in beforeAll: its first-load wait (3 s) ran alongside the other tests.
    await expectWrongPasswordReported(await badStart);
  });

  it('survives losing the master of the prefix slot mid-traffic: no failed response, feed loss and return reported, a new change served within 1 s of the promotion', async () => {
    const owner = await cluster.masterOf(SLOT);
    const report = await failoverUnderTraffic(
      ls,
      () => owner.kill(),
      async () => {
        try {
          return (await cluster.masterOf(SLOT)) !== owner;
        } catch {
          return false;
        }
      },
    );
    await expectFailoverSurvived(ls, 'cluster', report);
    expect((await readyz(ls.sidecar)).status).toBe(200);
  }, 75_000);
});

describe.skipIf(!redisServerAvailable())('Redis Cluster without a password', () => {
  let cluster: ClusterTopology;
  let ls: LoggedSidecar;
  beforeAll(async () => {
    cluster = await startCluster({});
  });
  afterAll(async () => {
    await ls?.sidecar.stop(1000);
    await cluster?.stop();
  });

  it('ffr imports through any node; the sidecar becomes ready and serves', async () => {
    await importExampleFlags(clusterEnv(cluster, `127.0.0.1:${cluster.nodes[5]!.port}`));
    ls = await startServingSidecar(clusterEnv(cluster));
  });
});

const tlsReady = redisServerAvailable() && opensslAvailable() && redisTlsAvailable();
describe.skipIf(!tlsReady)('Redis Cluster over TLS with a password and client certificates', () => {
  let cluster: ClusterTopology;
  let ls: LoggedSidecar;
  let noCaStart: Promise<LoggedSidecar>;
  beforeAll(async () => {
    cluster = await startCluster({ password: PASSWORD, tls: makeTlsMaterial() });
    // Its first-load wait (3 s) runs alongside the first test.
    const { PROFLAG_REDIS_TLS_CA_FILE: _ca, ...noCa } = clusterEnv(cluster);
    noCaStart = startLoggedSidecar(noCa);
    noCaStart.catch(() => undefined); // awaited (and its failure reported) in its own test
  });
  afterAll(async () => {
    await ls?.sidecar.stop(1000);
    await cluster?.stop();
  });

  it('ffr and the sidecar speak TLS to every node; without the CA they say why', async () => {
    const env = clusterEnv(cluster);
    await importExampleFlags(env);
    // The redis-cli spelling of the same TLS settings still works.
    const {
      PROFLAG_REDIS_TLS_CA_FILE: ca,
      PROFLAG_REDIS_TLS_CERT_FILE: cert,
      PROFLAG_REDIS_TLS_KEY_FILE: key,
      ...bare
    } = env;
    const viaCliArgs = await ffrWith(
      { ...bare, PROFLAG_REDIS_CLI_ARGS: `--cacert ${ca} --cert ${cert} --key ${key}` },
      ['version'],
    );
    expect(viaCliArgs).toMatchObject({ code: 0, stdout: expect.stringMatching(/^\d+\n$/) });
    const noCa = await ffrWith({ ...bare, PROFLAG_REDIS_TLS_CERT_FILE: cert!, PROFLAG_REDIS_TLS_KEY_FILE: key! }, [
      'version',
    ]);
    expect(noCa.code).toBe(1);
    expect(noCa.stderr).toMatch(/TLS|certificate/);
    ls = await startServingSidecar(env);
  });

  it('a sidecar without the CA is not ready and says why in /readyz and the log', async () => {
    const bad = await noCaStart;
    try {
      const lastError = async () =>
        ((await readyz(bad.sidecar)).body['detail'] as Record<string, unknown>)['lastError'];
      await until('the TLS failure reported', async () => /TLS/.test(String(await lastError())), 5000);
      const r = await readyz(bad.sidecar);
      expect(r.status).toBe(503);
      expect((r.body['detail'] as Record<string, unknown>)['lastError']).toMatch(/TLS failed.*certificate/);
      expect(bad.logs.some((l) => l['code'] === 'PROFLAG_ERR_STORE_AUTH')).toBe(true);
    } finally {
      await bad.sidecar.stop(1000);
    }
  });
});
