// scripts/ffr against a real Redis: every command, its refusals, its atomic writes (version,
// change channel, audit stream), and a running RedisStore that sees what it writes.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { redisKeys, type RedisKeys } from '../../src/store/redisKeys.js';
import { runFfr, type FfrOptions, type FfrRun } from '../helpers/ffr.js';
import { deletePrefix, testRedis, type TestRedis } from '../helpers/redis.js';
import { freePort, redisServer, redisServerAvailable } from '../helpers/redisServer.js';
import { flagJson, waitFor, waitForAsync } from '../helpers/storeKit.js';
import { client, closeStores, makeStore } from '../helpers/storeFixture.js';

const EXAMPLES = new URL('../../examples/flags/', import.meta.url).pathname;

type Run = FfrRun;

let base: TestRedis;
/** This test's Redis and its own prefix (one per test, derived from the file's). */
let r: { url: string; prefix: string };
let k: RedisKeys;
let redis: Redis;
let sub: Redis;
let published: string[];
let dir: string;

function ffr(args: string[], options: FfrOptions = {}): Promise<Run> {
  // The schema check through node costs ~0.3 s a call: on only where a test asks.
  return runFfr(r, args, { ...options, env: { PROFLAG_VALIDATE: 'basic', ...options.env } });
}

async function version(): Promise<string | null> {
  return redis.get(k.version);
}

async function flag(name: string): Promise<Record<string, unknown> | null> {
  const text = await redis.get(k.flag(name));
  return text === null ? null : (JSON.parse(text) as Record<string, unknown>);
}

async function audit(): Promise<Record<string, string>[]> {
  const entries = await redis.xrevrange(k.audit, '+', '-');
  return entries.map(([id, fields]) => {
    const o: Record<string, string> = { id };
    for (let i = 0; i < fields.length; i += 2) o[fields[i]!] = fields[i + 1]!;
    return o;
  });
}

async function file(name: string, text: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, text);
  return path;
}

beforeAll(async () => {
  base = await testRedis();
  redis = client(base.url);
  sub = client(base.url);
});

beforeEach(async () => {
  r = { url: base.url, prefix: `${base.prefix.slice(0, -1)}-${Math.random().toString(36).slice(2, 8)}:` };
  k = redisKeys(r.prefix);
  published = [];
  await sub.subscribe(k.changes);
  sub.removeAllListeners('message');
  sub.on('message', (channel: string, message: string) => {
    if (channel === k.changes) published.push(message);
  });
  dir = await mkdtemp(join(tmpdir(), 'proflag-ffr-'));
});

afterEach(async () => {
  await closeStores();
  await sub.unsubscribe(k.changes);
  await deletePrefix(r.url, r.prefix);
  await rm(dir, { recursive: true, force: true });
});

afterAll(() => {
  redis?.disconnect();
  sub?.disconnect();
});

describe('scripts/ffr', () => {
  it('--help says what it needs; bad usage exits 2', async () => {
    const help = await ffr(['--help']);
    expect(help.code).toBe(0);
    for (const word of [
      'put FILE|-',
      'approve ID [NAME]',
      '--respond STATUS [--per-second N]',
      'shadow NAME',
      'history [NAME]',
      'node 20',
      'REDIS_URL',
      'PROFLAG_PREFIX',
      'PROFLAG_REDIS_CLUSTER_NODES',
      'PROFLAG_REDIS_SENTINELS',
    ]) {
      expect(help.stdout).toContain(word);
    }
    expect((await ffr([])).code).toBe(2);
    const unknown = await ffr(['frobnicate']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("unknown command 'frobnicate'");
    expect((await ffr(['get'])).code).toBe(2);
  });

  it('put writes, bumps the version, publishes the name and audits, in one step', async () => {
    const res = await ffr(['put', join(EXAMPLES, 'checkout-v2.json')]);
    expect(res).toMatchObject({ code: 0, stdout: 'put checkout-v2 (version 1)\n' });
    expect((await flag('checkout-v2'))?.['priority']).toBe(10);
    const fromStdin = await ffr(['put', '-'], { input: flagJson('from-stdin') });
    expect(fromStdin.stdout).toBe('put from-stdin (version 2)\n');
    const again = await ffr(['put', '-'], { input: flagJson('from-stdin', { priority: 3 }) });
    expect(again.code).toBe(0);
    expect(await version()).toBe('3');
    await waitFor('3 messages', () => published.length === 3);
    expect(published).toEqual(['checkout-v2', 'from-stdin', 'from-stdin']);

    const entries = await audit();
    expect(entries.map((e) => [e['action'], e['name'], e['before'], e['after'], e['who']])).toEqual([
      ['update', 'from-stdin', '2', '3', 'tester'],
      ['create', 'from-stdin', '1', '2', 'tester'],
      ['create', 'checkout-v2', '0', '1', 'tester'],
    ]);
    expect(Math.abs(Number(entries[0]!['time']) - Date.now())).toBeLessThan(10_000);
  });

  it('refuses malformed documents with a clear message and changes nothing', async () => {
    await ffr(['put', '-'], { input: flagJson('keep') });
    const before = await version();
    const cases: [string, string, RegExp][] = [
      ['malformed JSON', '{"name": "x", "enabled": true', /malformed JSON/],
      ['two documents', '{"name":"x","enabled":true} {}', /expected one JSON document/],
      ['empty', '', /found 0/],
      ['not an object', '[1, 2]', /must be a JSON object/],
      ['bad name', flagJson('Bad Name'), /name: "Bad Name" is not lower-case/],
      ['enabled not boolean', JSON.stringify({ name: 'x', enabled: 'yes' }), /enabled: expected true or false/],
      ['threshold out of range', flagJson('x', { threshold: 2 }), /threshold/],
      ['1 MB string', flagJson('x', { description: 'y'.repeat(1_100_000) }), /more than 1048576/],
    ];
    for (const [what, input, message] of cases) {
      const res = await ffr(['put', '-'], { input });
      expect(res.code, what).toBe(1);
      expect(res.stderr, what).toMatch(message);
    }
    expect((await ffr(['put', join(dir, 'missing.json')])).stderr).toMatch(/cannot read/);
    expect(await version()).toBe(before);
    expect(await redis.exists(k.flag('x'))).toBe(0);
    expect(published).toEqual(['keep']);
  });

  it('validates with the full schema when node is there (PROFLAG_VALIDATE=full)', async () => {
    const env = { PROFLAG_VALIDATE: 'full' };
    const bad = await ffr(['put', '-'], { input: flagJson('geo', { profile: { geo: { in: ['de'] } } }), env });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('profile.geo.in[0]: an ISO 3166-1 alpha-2 country code');
    const warned = await ffr(['put', '-'], {
      input: flagJson('geo', { profile: { geo: { in: ['DE'] } }, extra: 1 }),
      env,
    });
    expect(warned.code).toBe(0);
    expect(warned.stderr).toContain("unknown field 'extra'");
    const many = await file(
      'many.json',
      JSON.stringify([JSON.parse(flagJson('ok-1')), { name: 'bad', enabled: true, priority: 1.5 }]),
    );
    const imp = await ffr(['import', many], { env });
    expect(imp.code).toBe(1);
    expect(imp.stderr).toMatch(/bad: priority/);
    expect(await redis.exists(k.flag('ok-1'))).toBe(0);
  });

  it('get prints a flag; a missing flag or a bad name fails', async () => {
    await ffr(['put', '-'], { input: flagJson('shown') });
    const pretty = await ffr(['get', 'shown']);
    expect(pretty.code).toBe(0);
    expect(JSON.parse(pretty.stdout)).toMatchObject({ name: 'shown', enabled: true });
    expect(pretty.stdout).toContain('\n  "enabled": true');
    const raw = await ffr(['get', 'shown', '--raw']);
    expect(raw.stdout).toBe(`${await redis.get(k.flag('shown'))}\n`);
    const missing = await ffr(['get', 'nope']);
    expect(missing).toMatchObject({ code: 1, stderr: "ffr: no flag 'nope'\n" });
    expect((await ffr(['get', '../etc'])).stderr).toMatch(/invalid flag name/);
  });

  it('list shows name, enabled, value, priority and the last change', async () => {
    await ffr(['put', '-'], { input: flagJson('alpha', { priority: 7, value: 'treatment' }) });
    await ffr(['put', '-'], { input: flagJson('beta', { enabled: false }) });
    await redis.set(k.flag('gamma'), '{broken');
    const res = await ffr(['list']);
    expect(res.code).toBe(0);
    const rows = res.stdout
      .trim()
      .split('\n')
      .map((l) => l.split(/\s{2,}/));
    expect(rows[0]).toEqual(['NAME', 'ENABLED', 'VALUE', 'PRIORITY', 'LAST CHANGE']);
    expect(rows[1]!.slice(0, 4)).toEqual(['alpha', 'true', 'treatment', '7']);
    expect(rows[1]![4]).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ create by tester$/);
    expect(rows[2]!.slice(0, 4)).toEqual(['beta', 'false', 'true', '1']);
    expect(rows[3]).toEqual(['gamma', 'INVALID', '-', '-', '-']);
  });

  it('enable and disable change only "enabled", atomically; a no-op changes nothing', async () => {
    await ffr(['put', join(EXAMPLES, 'checkout-v2.json')]);
    const original = await flag('checkout-v2');
    const off = await ffr(['disable', 'checkout-v2']);
    expect(off).toMatchObject({ code: 0, stdout: 'disabled checkout-v2 (version 2)\n' });
    expect(await flag('checkout-v2')).toEqual({ ...original, enabled: false });
    const noop = await ffr(['disable', 'checkout-v2']);
    expect(noop.stdout).toContain('already disabled; nothing changed');
    expect(await version()).toBe('2');
    const on = await ffr(['enable', 'checkout-v2']);
    expect(on.stdout).toBe('enabled checkout-v2 (version 3)\n');
    expect(await flag('checkout-v2')).toEqual(original);
    expect((await ffr(['enable', 'ghost'])).code).toBe(1);
    await waitFor('publishes', () => published.length === 3);
    expect((await audit()).map((e) => e['action'])).toEqual(['enable', 'disable', 'create']);
  });

  it('delete removes a flag; deleting a missing one fails and changes nothing', async () => {
    await ffr(['put', '-'], { input: flagJson('doomed') });
    expect((await ffr(['delete', 'doomed'])).stdout).toBe('deleted doomed (version 2)\n');
    expect(await redis.exists(k.flag('doomed'))).toBe(0);
    const again = await ffr(['delete', 'doomed']);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain("no flag 'doomed'; nothing changed");
    expect(await version()).toBe('2');
  });

  it('export writes one document that import restores; import is all or nothing', async () => {
    for (const name of ['checkout-v2', 'eu-banner', 'night-batch']) await ffr(['put', join(EXAMPLES, `${name}.json`)]);
    await redis.set(k.flag('corrupt'), '{nope');
    const exp = await ffr(['export']);
    expect(exp.code).toBe(0);
    expect(exp.stderr).toContain('corrupt');
    const doc = JSON.parse(exp.stdout) as {
      format: string;
      version: number;
      flags: { name: string }[];
      invalid: unknown[];
    };
    expect(doc.format).toBe('proflag-export/1');
    expect(doc.version).toBe(3);
    expect(doc.flags.map((f) => f.name)).toEqual(['checkout-v2', 'eu-banner', 'night-batch']);
    expect(doc.invalid).toEqual([{ name: 'corrupt', text: '{nope' }]);
    const backup = await file('backup.json', exp.stdout);

    // One bad flag in the file: nothing is written.
    const mixed = await file('mixed.json', JSON.stringify({ flags: [...doc.flags, { name: 'Nope', enabled: true }] }));
    const refused = await ffr(['import', mixed]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/refused .*nothing changed/);
    const dup = await file('dup.json', JSON.stringify([doc.flags[0], doc.flags[0]]));
    expect((await ffr(['import', dup])).stderr).toMatch(/defined more than once/);
    expect((await ffr(['import', await file('bad.json', '{"flags": [')])).code).toBe(1);
    expect((await ffr(['import', await file('empty.json', '[]')])).stderr).toMatch(/no flags/);
    expect(await version()).toBe('3');

    // Merge: the file's flags are written, the others stay.
    await ffr(['delete', 'eu-banner']);
    await ffr(['put', '-'], { input: flagJson('extra') });
    published.length = 0;
    const merged = await ffr(['import', backup]);
    expect(merged).toMatchObject({ code: 0, stdout: 'imported 3 flags (version 6)\n' });
    expect(await flag('eu-banner')).toEqual(doc.flags[1]);
    expect(await redis.exists(k.flag('extra'))).toBe(1);
    await waitFor('import published', () => published.length === 3);

    // Replace: flags not in the file go.
    const replaced = await ffr(['import', backup, '--replace']);
    expect(replaced.stdout).toBe('imported 3 flags, deleted 2 (version 7)\n');
    expect(await redis.exists(k.flag('extra'), k.flag('corrupt'))).toBe(0);
    expect((await audit())[0]).toMatchObject({
      action: 'import',
      name: '*',
      before: '6',
      after: '7',
      detail: '3 written, 2 deleted',
    });

    // A plain list of flags from stdin works too.
    const list = await ffr(['import', '-'], { input: JSON.stringify([JSON.parse(flagJson('listed'))]) });
    expect(list.code).toBe(0);
    expect(await redis.exists(k.flag('listed'))).toBe(1);
  });

  it('proposals lists learned proposals; approve turns one into a flag; reject drops one', async () => {
    const proposal = (name: string, support: number) =>
      JSON.stringify({
        name,
        enabled: false,
        threshold: 0.8,
        profile: {
          geo: { in: ['BR', 'PT'] },
          endpoint: { in: ['/api/search'] },
          userAgent: { similarTo: ['Mozilla/5.0 (Linux; Android 14) never-print-me'] },
        },
        evidence: { support, anomalyScore: 0.97, firstSeen: 1, lastSeen: 2 },
      });
    await redis.set(k.proposal('p-1'), proposal('learned-search', 140));
    await redis.set(k.proposal('p-2'), proposal('learned-other', 60));
    await redis.zadd(k.proposals, Date.parse('2025-01-02T03:04:05Z'), 'p-1', Date.parse('2025-01-03T00:00:00Z'), 'p-2');

    const list = await ffr(['proposals']);
    expect(list.code).toBe(0);
    const rows = list.stdout
      .trim()
      .split('\n')
      .map((l) => l.split(/\s{2,}/));
    expect(rows[0]).toEqual(['ID', 'CREATED', 'NAME', 'SUPPORT', 'SCORE', 'SUMMARY']);
    expect(rows[1]).toEqual([
      'p-1',
      '2025-01-02T03:04:05Z',
      'learned-search',
      '140',
      '0.97',
      'geo=BR,PT endpoint=/api/search userAgent~1 exemplars',
    ]);
    expect(list.stdout).not.toContain('never-print-me');

    await ffr(['put', '-'], { input: flagJson('taken') });
    const clash = await ffr(['approve', 'p-1', 'taken']);
    expect(clash.code).toBe(1);
    expect(clash.stderr).toContain("a flag 'taken' exists already");

    const ok = await ffr(['approve', 'p-1', 'search-br', '--enable']);
    expect(ok).toMatchObject({ code: 0 });
    expect(ok.stdout).toMatch(/approved p-1 as flag search-br, enabled \(version 2\)/);
    expect(await flag('search-br')).toMatchObject({ name: 'search-br', enabled: true, threshold: 0.8 });
    expect(await redis.exists(k.proposal('p-1'))).toBe(0);
    expect(await redis.zscore(k.proposals, 'p-1')).toBeNull();

    const kept = await ffr(['approve', 'p-2']);
    expect(kept.stdout).toContain('as flag learned-other, disabled: ffr enable learned-other');
    expect(await flag('learned-other')).toMatchObject({ enabled: false });

    await redis.set(k.proposal('p-3'), proposal('nope', 10));
    await redis.zadd(k.proposals, Date.now(), 'p-3');
    expect((await ffr(['reject', 'p-3'])).stdout).toBe('rejected proposal p-3 (version 4)\n');
    expect(await redis.exists(k.proposal('p-3'))).toBe(0);
    expect((await ffr(['reject', 'p-3'])).code).toBe(1);
    expect((await ffr(['approve', 'p-9'])).stderr).toContain("no proposal 'p-9'");
    expect((await audit()).slice(0, 3).map((e) => [e['action'], e['detail']])).toEqual([
      ['reject', 'proposal p-3'],
      ['approve', 'proposal p-2'],
      ['approve', 'proposal p-1'],
    ]);
  });

  it('shadow and enforce switch "mode" in one audited change; approve --route --shadow builds the flag (CONTRACT §6)', async () => {
    await ffr(['put', join(EXAMPLES, 'checkout-v2.json')]);
    const original = await flag('checkout-v2');
    const shadow = await ffr(['shadow', 'checkout-v2']);
    expect(shadow).toMatchObject({
      code: 0,
      stdout: 'checkout-v2 is now in shadow mode: evaluated and counted, never applied (version 2)\n',
    });
    expect(await flag('checkout-v2')).toEqual({ ...original, mode: 'shadow' });
    expect((await ffr(['shadow', 'checkout-v2'])).stdout).toBe(
      'checkout-v2 is already in shadow mode; nothing changed\n',
    );
    expect((await ffr(['enforce', 'checkout-v2'])).stdout).toMatch(
      /^checkout-v2 is now in enforce mode: applied again \(version 3\)/,
    );
    expect(await flag('checkout-v2')).toEqual({ ...original, mode: 'enforce' });
    expect((await ffr(['shadow', 'ghost'])).stderr).toContain("no flag 'ghost'");

    await redis.set(k.proposal('p-7'), flagJson('learned-bots', { enabled: false, evidence: { support: 80 } }));
    await redis.zadd(k.proposals, Date.now(), 'p-7');
    const approved = await ffr(['approve', 'p-7', 'bots', '--route', 'tarpit', '--shadow']);
    expect(approved).toMatchObject({ code: 0 });
    expect(approved.stdout).toMatch(
      /^approved p-7 as flag bots, disabled in shadow mode: ffr enable bots turns it on \(version 4\)/,
    );
    expect(await flag('bots')).toMatchObject({
      name: 'bots',
      enabled: false,
      mode: 'shadow',
      actions: { route: { cluster: 'tarpit' } },
      evidence: { support: 80 },
    });
    expect((await audit()).slice(0, 3).map((e) => [e['action'], e['name'], e['detail']])).toEqual([
      ['approve', 'bots', 'proposal p-7: route tarpit, shadow'],
      ['enforce', 'checkout-v2', undefined],
      ['shadow', 'checkout-v2', undefined],
    ]);
    expect((await ffr(['approve', 'p-7', '--per-second', '5'])).code).toBe(2);
  });

  it('history shows the audit trail, for one flag or the last N changes', async () => {
    await ffr(['put', '-'], { input: flagJson('h1') });
    await ffr(['put', '-'], { input: flagJson('h2') });
    await ffr(['disable', 'h1']);
    await ffr(['delete', 'h2']);
    const all = await ffr(['history']);
    const lines = all.stdout
      .trim()
      .split('\n')
      .map((l) => l.split(/\s{2,}/));
    expect(lines[0]).toEqual(['TIME', 'WHO', 'ACTION', 'NAME', 'VERSION', 'DETAIL']);
    expect(lines.slice(1).map((l) => [l[1], l[2], l[3], l[4]])).toEqual([
      ['tester', 'delete', 'h2', '3 -> 4'],
      ['tester', 'disable', 'h1', '2 -> 3'],
      ['tester', 'create', 'h2', '1 -> 2'],
      ['tester', 'create', 'h1', '0 -> 1'],
    ]);
    const one = await ffr(['history', 'h1']);
    expect(
      one.stdout
        .trim()
        .split('\n')
        .slice(1)
        .map((l) => l.split(/\s{2,}/)[2]),
    ).toEqual(['disable', 'create']);
    const last = await ffr(['history', '-n', '1']);
    expect(last.stdout.trim().split('\n')).toHaveLength(2);
    expect((await ffr(['history', '-n'])).code).toBe(2);
  });

  it('status shows each sidecar: version, sync, and the flags it rejected with reasons', async () => {
    await ffr(['put', '-'], { input: flagJson('fine') });
    await redis.set(k.flag('wrong'), JSON.stringify({ name: 'wrong', enabled: 'maybe' }));
    const s = makeStore(r.url, r.prefix, { replicaId: 'pod-7' });
    await s.store.start();
    await s.store.waitUntilLoaded(5000);
    await waitForAsync('status key', async () => (await redis.exists(k.status('pod-7'))) === 1);

    const res = await ffr(['status']);
    expect(res.code).toBe(0);
    expect(res.stdout).toContain('version   1');
    expect(res.stdout).toContain('flags     2 stored');
    expect(res.stdout).toContain('replicas  1 reporting');
    const row = res.stdout.split('\n').find((l) => l.startsWith('pod-7'));
    expect(row?.split(/\s{2,}/).slice(0, 8)).toEqual([
      'pod-7',
      '1',
      expect.stringMatching(/^\d+s ago$/),
      'no',
      'up',
      '1',
      '1',
      'no',
    ]);
    expect(res.stdout).toContain('rejected flags (as the sidecars last saw them):');
    expect(res.stdout).toMatch(/ {2}wrong: enabled: .*\[pod-7\]/);
    expect(res.stdout).not.toContain('ALARM');
  });

  it('status raises the data-loss alarm when Redis lost its flags under serving sidecars', async () => {
    await redis.set(
      k.status('pod-1'),
      JSON.stringify({
        replica: 'pod-1',
        version: 42,
        lastSyncAt: Date.now() - 5000,
        stale: false,
        feedConnected: true,
        dataLossSuspected: true,
        flagCount: 9,
        rejected: [],
        lastError: 'data loss suspected',
      }),
    );
    const res = await ffr(['status']);
    expect(res.code).toBe(0);
    expect(res.stdout).toContain('version   (none)');
    expect(res.stdout).toMatch(/ALARM {5}data loss suspected: .* serve version 42/);
    expect(res.stdout).toContain('ffr import');
  });

  it('a change made with ffr is served by a running sidecar store within 1 s', async () => {
    const s = makeStore(r.url, r.prefix);
    await s.store.start();
    await s.store.waitUntilLoaded(5000);
    await waitFor('feed', () => s.holder.sync.feedConnected);
    let servedAt = 0;
    s.holder.onSwap((next) => {
      if (servedAt === 0 && next.flags.some((f) => f.name === 'live')) servedAt = Date.now();
    });
    const started = Date.now();
    const res = await ffr(['put', '-'], { input: flagJson('live') });
    expect(res.code).toBe(0);
    await waitFor('served', () => servedAt > 0, 3000);
    // The change is made when its script runs (the audit entry's Redis TIME), not when ffr starts.
    const madeAt = Number((await audit())[0]!['time']);
    console.info(
      `[ffr -> served] served ${servedAt - madeAt} ms after ffr's write; ${servedAt - started} ms after starting ffr (process start-up included)`,
    );
    expect(servedAt - madeAt).toBeLessThan(1000);
    expect(s.holder.current.version).toBe(1);
  });

  it('version prints <prefix>version', async () => {
    expect((await ffr(['version'])).stdout).toBe('(none)\n');
    await ffr(['put', '-'], { input: flagJson('v') });
    expect((await ffr(['version'])).stdout).toBe('1\n');
  });
});

describe.skipIf(!redisServerAvailable())('scripts/ffr connection settings', () => {
  it('uses the password in REDIS_URL, and says so when Redis cannot be reached', async () => {
    const srv = await redisServer({ args: ['--requirepass', 's3cret'] });
    try {
      const url = `redis://:s3cret@127.0.0.1:${srv.port}`;
      const put = await ffr(['put', '-'], { input: flagJson('auth'), env: { REDIS_URL: url } });
      expect(put).toMatchObject({ code: 0, stdout: 'put auth (version 1)\n' });
      const userUrl = `redis://default:s3cret@127.0.0.1:${srv.port}`;
      expect((await ffr(['version'], { env: { REDIS_URL: userUrl } })).stdout).toBe('1\n');
      const wrong = await ffr(['version'], { env: { REDIS_URL: `redis://:nope@127.0.0.1:${srv.port}` } });
      expect(wrong.code).toBe(1);
      expect(wrong.stderr).not.toContain('nope');
      const down = await ffr(['list'], { env: { REDIS_URL: `redis://127.0.0.1:${await freePort()}` } });
      expect(down.code).toBe(1);
      expect(down.stderr).toContain('cannot reach Redis');
      const scheme = await ffr(['list'], { env: { REDIS_URL: 'http://127.0.0.1:6379' } });
      expect(scheme.stderr).toContain('REDIS_URL must start with redis:// or rediss://');
    } finally {
      await srv.kill();
    }
  });
});
