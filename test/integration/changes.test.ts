// The atomic change path (src/changes/) against a real Redis: each change bumps the version,
// publishes the name and appends an audit entry with who/action/reason/detail; refusals write
// nothing; compare-and-set makes exactly one change when two writers race; and the Lua files
// work from plain redis-cli --eval, as docs/redis-layout.md shows.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ChangeRefused } from '../../src/changes/changeError.js';
import { FlagChanges, type FlagDocument } from '../../src/changes/flagChanges.js';
import { redisKeys, type RedisKeys } from '../../src/store/redisKeys.js';
import { deletePrefix, testRedis, type TestRedis } from '../helpers/redis.js';
import { client } from '../helpers/storeFixture.js';
import { flagJson, waitFor } from '../helpers/storeKit.js';

const run = promisify(execFile);
const LUA = fileURLToPath(new URL('../../src/changes/lua/', import.meta.url));

let base: TestRedis;
let redis: Redis;
let sub: Redis;
let keys: RedisKeys;
let changes: FlagChanges;
let published: string[];

const doc = (name: string, extra: Record<string, unknown> = {}) => JSON.parse(flagJson(name, extra)) as FlagDocument;

async function auditEntries(): Promise<Record<string, string>[]> {
  return (await redis.xrevrange(keys.audit, '+', '-')).map(([id, fields]) => {
    const o: Record<string, string> = { id };
    for (let i = 0; i < fields.length; i += 2) o[fields[i]!] = fields[i + 1]!;
    return o;
  });
}

async function refusal(promise: Promise<unknown>): Promise<ChangeRefused> {
  const err = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ChangeRefused);
  return err as ChangeRefused;
}

beforeAll(async () => {
  base = await testRedis();
  redis = client(base.url);
  sub = client(base.url);
});

beforeEach(async (ctx) => {
  const prefix = `${base.prefix.slice(0, -1)}-${Math.random().toString(36).slice(2, 8)}:`;
  keys = redisKeys(prefix);
  changes = new FlagChanges(redis, prefix);
  published = [];
  await sub.subscribe(keys.changes);
  sub.removeAllListeners('message');
  sub.on('message', (channel: string, message: string) => {
    if (channel === keys.changes) published.push(message);
  });
  ctx.onTestFinished(async () => {
    await sub.unsubscribe(keys.changes);
    await deletePrefix(base.url, prefix);
  });
});

afterAll(() => {
  redis?.disconnect();
  sub?.disconnect();
});

describe('the atomic change path', () => {
  it('put, update and delete each bump, publish and audit with who, reason and detail', async () => {
    const created = await changes.put(doc('alpha'), { actor: 'ana' });
    expect(created).toMatchObject({ version: 1, action: 'create', name: 'alpha' });
    const updated = await changes.put(doc('alpha', { priority: 4 }), { actor: 'ana', reason: 'tune', detail: 'p4' });
    expect(updated).toMatchObject({ version: 2, action: 'update' });
    expect(JSON.parse((await redis.get(keys.flag('alpha')))!)).toEqual(doc('alpha', { priority: 4 }));
    const deleted = await changes.delete('alpha', { actor: 'bo' });
    expect(deleted.version).toBe(3);
    await waitFor('3 publishes', () => published.length === 3);
    expect(published).toEqual(['alpha', 'alpha', 'alpha']);
    const entries = await auditEntries();
    expect(entries.map((e) => [e['who'], e['action'], e['name'], e['before'], e['after']])).toEqual([
      ['bo', 'delete', 'alpha', '2', '3'],
      ['ana', 'update', 'alpha', '1', '2'],
      ['ana', 'create', 'alpha', '0', '1'],
    ]);
    expect(entries[1]).toMatchObject({ reason: 'tune', detail: 'p4' });
    // Optional fields are absent, not empty.
    expect(entries[0]).not.toHaveProperty('reason');
    expect(entries[0]).not.toHaveProperty('detail');
    expect(Math.abs(Number(entries[0]!['time']) - Date.now())).toBeLessThan(10_000);
  });

  it('refuses an invalid document with every problem, and writes nothing', async () => {
    const bad = await refusal(changes.put({ name: 'Bad', enabled: 'yes' }, { actor: 't' }));
    expect(bad.refusal).toBe('invalid');
    expect(bad.code).toBe('PROFLAG_ERR_CHANGE_REFUSED');
    expect(bad.problems).toEqual([
      'name: "Bad" is not lower-case [a-z0-9][a-z0-9._-]{0,62}',
      'enabled: expected true or false',
    ]);
    const schema = await refusal(changes.put(doc('geo', { profile: { geo: { in: ['de'] } } }), { actor: 't' }));
    expect(schema.problems.join('\n')).toContain('profile.geo.in[0]');
    expect((await refusal(changes.delete('ghost', { actor: 't' }))).refusal).toBe('not-found');
    expect(await redis.get(keys.version)).toBeNull();
    expect(await redis.exists(keys.audit)).toBe(0);
  });

  it('update is a compare-and-set: mutate sees the document, null or an equal document changes nothing', async () => {
    await changes.put(
      doc('beta', {
        variants: [
          { name: 'a', weight: 50 },
          { name: 'b', weight: 50 },
        ],
      }),
      { actor: 't' },
    );
    const zeroB = (d: FlagDocument) => {
      const variants = d['variants'] as { name: string; weight: number }[];
      if (variants.find((v) => v.name === 'b')!.weight === 0) return null;
      return { ...d, variants: variants.map((v) => (v.name === 'b' ? { ...v, weight: 0 } : v)) };
    };
    const first = await changes.update('beta', zeroB, {
      actor: 'guardrail',
      reason: 'guardrail',
      detail: 'b: 5xx +40%',
    });
    expect(first).toMatchObject({ changed: true, version: 2, action: 'update', attempts: 1 });
    const again = await changes.update('beta', zeroB, { actor: 'guardrail', reason: 'guardrail' });
    expect(again).toMatchObject({ changed: false, attempts: 1 });
    const same = await changes.update('beta', (d) => ({ ...d }), { actor: 't' });
    expect(same.changed).toBe(false);
    expect(await redis.get(keys.version)).toBe('2');
    expect((await auditEntries())[0]).toMatchObject({ action: 'update', reason: 'guardrail', detail: 'b: 5xx +40%' });
    const renamed = await refusal(changes.update('beta', (d) => ({ ...d, name: 'gamma' }), { actor: 't' }));
    expect(renamed.problems[0]).toMatch(/cannot rename/);
    expect((await refusal(changes.update('nope', (d) => d, { actor: 't' }))).refusal).toBe('not-found');
  });

  it('two replicas racing to apply the same guardrail make exactly one change', async () => {
    await changes.put(
      doc('race', {
        variants: [
          { name: 'a', weight: 50 },
          { name: 'b', weight: 50 },
        ],
      }),
      { actor: 't' },
    );
    // Two replicas, each with its own connection; both read the document before either writes.
    const replicas = [new FlagChanges(client(base.url), keys.prefix), new FlagChanges(client(base.url), keys.prefix)];
    let arrived = 0;
    let release!: () => void;
    const bothRead = new Promise<void>((r) => (release = r));
    for (const c of replicas) {
      const read = c.reads.flagText.bind(c.reads);
      let first = true;
      c.reads.flagText = async (name) => {
        const text = await read(name);
        if (first) {
          first = false;
          if (++arrived === 2) release();
          await bothRead;
        }
        return text;
      };
    }
    const guardrail = (d: FlagDocument) => {
      const variants = d['variants'] as { name: string; weight: number }[];
      if (variants.find((v) => v.name === 'b')!.weight === 0) return null;
      return { ...d, variants: variants.map((v) => (v.name === 'b' ? { ...v, weight: 0 } : v)) };
    };
    const results = await Promise.all(
      replicas.map((c) => c.update('race', guardrail, { actor: 'guardrail', reason: 'guardrail' })),
    );
    for (const c of replicas) (c.client as Redis).disconnect();
    expect(results.filter((r) => r.changed)).toHaveLength(1);
    // The loser read again, saw the weight at 0 and had nothing to do.
    expect(results.find((r) => !r.changed)?.attempts).toBe(2);
    expect(await redis.get(keys.version)).toBe('2');
    expect((await auditEntries()).filter((e) => e['reason'] === 'guardrail')).toHaveLength(1);
  });

  it('a conflict is retried with a fresh read; endless conflicts give up without writing', async () => {
    await changes.put(doc('busy'), { actor: 't' });
    let calls = 0;
    const result = await changes.update(
      'busy',
      (d) => {
        calls += 1;
        // Someone else writes between our read and our write, once.
        if (calls === 1) void redis.set(keys.flag('busy'), JSON.stringify({ ...d, priority: 9 }));
        return { ...d, enabled: false };
      },
      { actor: 't' },
    );
    expect(result).toMatchObject({ changed: true, attempts: 2 });
    expect(JSON.parse((await redis.get(keys.flag('busy')))!)).toMatchObject({ priority: 9, enabled: false });

    const limited = new FlagChanges(redis, keys.prefix, { maxAttempts: 3 });
    let n = 0;
    const endless = await refusal(
      limited.update(
        'busy',
        (d) => {
          n += 1;
          void redis.set(keys.flag('busy'), JSON.stringify({ ...d, priority: 100 + n }));
          return { ...d, priority: 1 };
        },
        { actor: 't' },
      ),
    );
    expect(endless.refusal).toBe('conflict');
    expect(n).toBe(3);
    expect(JSON.parse((await redis.get(keys.flag('busy')))!).priority).toBe(103);
  });

  it('approve applies the caller edits in the same step; reject drops; import is all or nothing', async () => {
    await redis.set(
      keys.proposal('p1'),
      JSON.stringify({ ...doc('learned'), enabled: false, evidence: { support: 60 } }),
    );
    await redis.zadd(keys.proposals, 1, 'p1');
    const approved = await changes.approve(
      'p1',
      { name: 'promoted', enable: true, mutate: (d) => ({ ...d, actions: { route: { cluster: 'quarantine' } } }) },
      { actor: 'console', detail: 'proposal p1: route quarantine' },
    );
    expect(approved).toMatchObject({ version: 1, name: 'promoted' });
    expect(JSON.parse((await redis.get(keys.flag('promoted')))!)).toMatchObject({
      enabled: true,
      actions: { route: { cluster: 'quarantine' } },
    });
    expect(await redis.exists(keys.proposal('p1'))).toBe(0);
    expect(await redis.zscore(keys.proposals, 'p1')).toBeNull();
    expect((await auditEntries())[0]).toMatchObject({
      who: 'console',
      action: 'approve',
      detail: 'proposal p1: route quarantine',
    });

    await redis.set(keys.proposal('p2'), JSON.stringify({ ...doc('promoted'), enabled: false }));
    expect((await refusal(changes.approve('p2', {}, { actor: 't' }))).refusal).toBe('exists');
    expect((await changes.reject('p2', { actor: 't' })).version).toBe(2);
    expect((await auditEntries())[0]).toMatchObject({ action: 'reject', name: '', detail: 'proposal p2' });
    expect((await refusal(changes.reject('p2', { actor: 't' }))).refusal).toBe('not-found');

    const bad = await refusal(
      changes.import([doc('one'), { name: 'two', enabled: 1 }, doc('one')], {}, { actor: 't' }),
    );
    expect(bad.problems).toEqual(['two: enabled: expected true or false', 'one: defined more than once']);
    expect(await redis.exists(keys.flag('one'))).toBe(0);
    const imported = await changes.import([doc('one'), doc('two')], { replace: true }, { actor: 't' });
    expect(imported).toMatchObject({ version: 3, written: 2, deleted: 1 });
    expect(await redis.exists(keys.flag('promoted'))).toBe(0);
    expect((await auditEntries())[0]).toMatchObject({ action: 'import', name: '*', detail: '2 written, 1 deleted' });
  });

  it('the Lua files work with plain redis-cli --eval, as docs/redis-layout.md shows', async () => {
    const url = new URL(base.url);
    const cli = (file: string, ...args: string[]) =>
      run('redis-cli', ['-h', url.hostname, '-p', url.port || '6379', '--eval', `${LUA}${file}`, ...args]);
    const k = keys;
    // What every change script takes first (the "common" block of src/changes/lua/*.lua): KEYS
    // version, audit and the flag; after the ',', ARGV changes channel, who, audit MAXLEN,
    // reason, detail.
    const common = (name: string, reason = '') => [
      k.version,
      k.audit,
      k.flag(name),
      ',',
      k.changes,
      'operator',
      '10000',
      reason,
      '',
    ];
    const put = await cli('put.lua', ...common('by-hand', 'incident 42'), 'by-hand', flagJson('by-hand'));
    expect(put.stdout).toBe('1\ncreate\n');
    const sha = (await changes.reads.flagText('by-hand'))!.sha1;
    const off = JSON.stringify({ ...doc('by-hand'), enabled: false });
    // The same compare-and-set twice: the second one's sha1 is stale.
    const disable = () => cli('cas.lua', ...common('by-hand'), 'by-hand', 'disable', sha, off);
    const cas = await disable();
    expect(cas.stdout).toBe('2\n');
    const stale = await disable();
    expect(stale.stdout).toMatch(/PROFLAG_CONFLICT/);
    const wrongName = await cli('put.lua', ...common('by-hand'), 'by-hand', flagJson('other'));
    expect(wrongName.stdout).toMatch(/PROFLAG_BADINPUT/);
    expect(await redis.get(k.version)).toBe('2');
    expect((await auditEntries()).map((e) => [e['who'], e['action'], e['reason']])).toEqual([
      ['operator', 'disable', undefined],
      ['operator', 'create', 'incident 42'],
    ]);
  });
});
