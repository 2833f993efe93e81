// The console's JSON API against a real sidecar and Redis (no token: loopback changes only):
// the views, every change through the atomic change path (version, publish, audit entry by
// `console`), its refusals, the event stream, and the file store's read-only answer.
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { startSidecar, type Sidecar } from '../../src/sidecar.js';
import { createLogger } from '../../src/telemetry/logger.js';
import { e2eEnv, EXAMPLE_FLAG_NAMES, IP, setExampleFlags, UA } from '../e2e/routingTable.js';
import { EnvoyEmulator } from '../helpers/envoyEmulator.js';
import { testRedis, type TestRedis } from '../helpers/redis.js';
import { until as untilWithin } from '../helpers/until.js';

const proposal = (name: string) => ({
  name,
  description: 'country BR, POST /api/login',
  enabled: false,
  value: true,
  priority: 0,
  threshold: 1,
  profile: { method: { in: ['POST'] }, endpoint: { in: ['/api/login'] }, geo: { in: ['BR'] } },
  actions: {},
  evidence: { explain: 'country BR, POST /api/login', support: 120, clients: 64, onset: '2026-11-24T12:00:00.000Z' },
});

/** This file's waits: 5 s unless told, polling every 25 ms. */
function until<T>(what: string, probe: () => Promise<T | null | undefined | false>, ms = 5_000): Promise<T> {
  return untilWithin(what, probe, ms, 25);
}

describe('console API on Redis', () => {
  let r: TestRedis;
  let redis: Redis;
  let sub: Redis;
  let sidecar: Sidecar;
  let base: string;
  const published: string[] = [];

  const get = async (path: string) => {
    const res = await fetch(`${base}${path}`);
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  const post = async (path: string, body: unknown = {}) => {
    const res = await fetch(`${base}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  const audit = async () => {
    const [entry] = await redis.xrevrange(`${r.prefix}audit`, '+', '-', 'COUNT', 1);
    const fields = entry![1];
    const o: Record<string, string> = {};
    for (let i = 0; i < fields.length; i += 2) o[fields[i]!] = fields[i + 1]!;
    return o;
  };
  const addProposal = async (id: string, doc: object, created = Date.now()) => {
    await redis.set(`${r.prefix}proposal:${id}`, JSON.stringify(doc));
    await redis.zadd(`${r.prefix}proposals`, created, id);
  };

  beforeAll(async () => {
    r = await testRedis();
    redis = new Redis(r.url);
    sub = new Redis(r.url);
    await sub.subscribe(`${r.prefix}changes`);
    sub.on('message', (_channel: string, message: string) => published.push(message));
    await setExampleFlags(redis, r.prefix);
    await redis.set(`${r.prefix}flag:broken`, '{"name":"broken","enabled":"yes"}');
    await redis.set(`${r.prefix}version`, '10');
    sidecar = await startSidecar(
      loadConfig(e2eEnv({ REDIS_URL: r.url, PROFLAG_PREFIX: r.prefix, PROFLAG_LEARN: 'on' })),
      { logger: createLogger('error'), defaultMetrics: false, console: { trafficIntervalMs: 100, proposalPollMs: 50 } },
    );
    base = `http://127.0.0.1:${sidecar.adminPort}`;
  });

  afterAll(async () => {
    await sidecar?.stop(1_000);
    redis?.disconnect();
    sub?.disconnect();
    await r?.cleanup();
  });

  it('lists every flag, disabled ones too, and the rejected documents with reasons', async () => {
    const { status, body } = await get('/api/flags');
    expect(status).toBe(200);
    expect(body).toMatchObject({ version: 10, source: 'redis', complete: true });
    const flags = body.flags as Array<Record<string, unknown>>;
    expect(flags.map((f) => f.name)).toEqual(EXAMPLE_FLAG_NAMES);
    expect(flags.find((f) => f.name === 'dark-launch')).toMatchObject({
      enabled: false,
      mode: 'enforce',
      priority: 1000,
    });
    expect(flags.find((f) => f.name === 'checkout-v2')).toMatchObject({
      clusters: ['backend_canary'],
      actions: expect.arrayContaining(['routes to cluster backend_canary']),
    });
    expect(body.rejected).toEqual([{ key: 'broken', reason: expect.stringMatching(/^enabled: /) as unknown }]);
  });

  it('shows each replica as `ffr status` does', async () => {
    const { body } = await until('a status key', async () => {
      const got = await get('/api/replicas');
      return (got.body.replicas as unknown[]).length > 0 && got;
    });
    expect(body).toMatchObject({ version: 10, source: 'redis' });
    expect((body.replicas as unknown[])[0]).toMatchObject({
      version: 10,
      stale: false,
      self: true,
      flagCount: EXAMPLE_FLAG_NAMES.length,
    });
  });

  it('approves a proposal through one atomic change: version, publish, audit by console', async () => {
    await addProposal('p1', proposal('learned-p1'));
    const listed = await get('/api/proposals');
    expect(listed.body).toMatchObject({ available: true });
    expect((listed.body.proposals as unknown[])[0]).toMatchObject({
      id: 'p1',
      name: 'learned-p1',
      explain: 'country BR, POST /api/login',
      evidence: { support: 120, clients: 64 },
      profile: ['method POST', 'path /api/login', 'country BR', 'all of these must match'],
    });
    published.length = 0;
    const out = await post('/api/proposals/p1/approve', { as: 'disabled', name: 'login-bots' });
    expect(out).toEqual({ status: 200, body: { ok: true, version: 11, flag: 'login-bots' } });
    expect(await redis.get(`${r.prefix}version`)).toBe('11');
    expect(JSON.parse((await redis.get(`${r.prefix}flag:login-bots`))!)).toMatchObject({
      name: 'login-bots',
      enabled: false,
      evidence: { support: 120 },
    });
    expect(await redis.exists(`${r.prefix}proposal:p1`)).toBe(0);
    expect(await redis.zcard(`${r.prefix}proposals`)).toBe(0);
    expect(await audit()).toMatchObject({
      who: 'console',
      action: 'approve',
      name: 'login-bots',
      before: '10',
      after: '11',
      detail: 'proposal p1 disabled',
    });
    await until('the publish', async () => published.includes('login-bots'));
    await until('the flag served', async () =>
      ((await get('/api/flags')).body.flags as Array<{ name: string }>).some((f) => f.name === 'login-bots'),
    );
  });

  it('refuses an approval that would clash or be invalid, and changes nothing', async () => {
    await addProposal('p2', proposal('learned-p2'));
    const clash = await post('/api/proposals/p2/approve', { as: 'enabled', name: 'login-bots' });
    expect(clash.status).toBe(409);
    expect(clash.body.code).toBe('exists');
    const invalid = await post('/api/proposals/p2/approve', { as: 'enabled', name: 'Not A Name' });
    expect(invalid.status).toBe(400);
    expect(invalid.body).toMatchObject({ code: 'invalid', detail: [{ path: 'name' }] });
    expect(await redis.get(`${r.prefix}version`)).toBe('11');
    expect(await redis.exists(`${r.prefix}proposal:p2`)).toBe(1);
    const forced = await post('/api/proposals/p2/approve', { as: 'enabled', name: 'login-bots', force: true });
    expect(forced.status).toBe(200);
    expect(JSON.parse((await redis.get(`${r.prefix}flag:login-bots`))!)).toMatchObject({ enabled: true });
    expect((await post('/api/proposals/nope/approve', { as: 'enabled' })).status).toBe(404);
  });

  it('approves as a shadow block (CONTRACT §6) and as a route', async () => {
    await addProposal('p3', proposal('learned-p3'));
    const block = await post('/api/proposals/p3/approve', { as: 'shadow-block', name: 'block-p3', perSecond: 5 });
    expect(block.status).toBe(200);
    expect(JSON.parse((await redis.get(`${r.prefix}flag:block-p3`))!)).toMatchObject({
      enabled: true,
      mode: 'shadow',
      respondLimit: { perSecond: 5 },
      actions: { respond: { status: 429 } },
    });
    expect(await audit()).toMatchObject({
      who: 'console',
      action: 'approve',
      name: 'block-p3',
      detail: 'proposal p3 as shadow block 429 (at most 5/s)',
    });
    await addProposal('p3', proposal('learned-p3'));
    const route = await post('/api/proposals/p3/approve', {
      as: 'route',
      name: 'route-p3',
      cluster: 'backend_quarantine',
    });
    expect(route.status).toBe(200);
    expect(JSON.parse((await redis.get(`${r.prefix}flag:route-p3`))!)).toMatchObject({
      enabled: true,
      actions: { route: { cluster: 'backend_quarantine' } },
    });
    expect((await audit()).detail).toBe('proposal p3 as route to backend_quarantine');
  });

  it('rejects a proposal', async () => {
    await addProposal('p4', proposal('learned-p4'));
    const before = Number(await redis.get(`${r.prefix}version`));
    expect((await post('/api/proposals/p4/reject')).status).toBe(200);
    expect(await redis.exists(`${r.prefix}proposal:p4`)).toBe(0);
    expect(await audit()).toMatchObject({
      who: 'console',
      action: 'reject',
      detail: 'proposal p4',
      after: String(before + 1),
    });
    expect((await post('/api/proposals/p4/reject')).status).toBe(404);
  });

  it('enables and disables flags (compare-and-set), and switches modes', async () => {
    const off = await post('/api/flags/eu-banner/disable');
    expect(off.body).toMatchObject({ ok: true, changed: true });
    expect(JSON.parse((await redis.get(`${r.prefix}flag:eu-banner`))!)).toMatchObject({ enabled: false });
    expect(await audit()).toMatchObject({ who: 'console', action: 'disable', name: 'eu-banner' });
    const again = await post('/api/flags/eu-banner/disable');
    expect(again.body).toMatchObject({ ok: true, changed: false, version: null });
    expect((await post('/api/flags/eu-banner/enable')).body).toMatchObject({ changed: true });
    expect((await post('/api/flags/no-such-flag/enable')).status).toBe(404);
    expect((await post('/api/flags/eu-banner/explode')).status).toBe(404);
    const shadow = await post('/api/flags/eu-banner/shadow');
    expect(shadow.body).toMatchObject({ ok: true, changed: true });
    expect(JSON.parse((await redis.get(`${r.prefix}flag:eu-banner`))!)).toMatchObject({ mode: 'shadow' });
    expect(await audit()).toMatchObject({ who: 'console', action: 'shadow', name: 'eu-banner' });
    expect((await post('/api/flags/eu-banner/shadow')).body).toMatchObject({ changed: false });
    expect((await post('/api/flags/eu-banner/enforce')).body).toMatchObject({ changed: true });
    expect(JSON.parse((await redis.get(`${r.prefix}flag:eu-banner`))!)).toMatchObject({ mode: 'enforce' });
  });

  it('refuses console changes that are not JSON', async () => {
    const res = await fetch(`${base}/api/flags/eu-banner/disable`, { method: 'POST', body: 'x' });
    expect(res.status).toBe(415);
  });

  it('streams changes: flags after a publish, proposals after a learner write', async () => {
    const controller = new AbortController();
    const res = await fetch(`${base}/api/events`, { signal: controller.signal });
    const reader = res.body!.getReader();
    let text = '';
    const read = async (pattern: RegExp) =>
      until(
        `an event matching ${pattern}`,
        async () => {
          const { value } = await reader.read();
          text += new TextDecoder().decode(value);
          return pattern.test(text);
        },
        5_000,
      );
    await read(/event: hello/);
    await redis.set(`${r.prefix}flag:dark-launch`, JSON.stringify({ name: 'dark-launch', enabled: true }));
    await redis.incr(`${r.prefix}version`);
    await redis.publish(`${r.prefix}changes`, 'dark-launch');
    await read(/event: flags\ndata: \{"version":\d+/);
    await addProposal('p5', proposal('learned-p5'));
    await read(/event: proposals/);
    controller.abort();
  });

  it('explains a request with the profile, per-dimension scores and the decision', async () => {
    const out = await post('/api/explain', {
      method: 'GET',
      path: '/checkout',
      headers: `user-agent: ${UA.firefox}\nx-country: DE`,
      clientIp: IP.DE.split(':')[0],
    });
    expect(out.status).toBe(200);
    expect(out.body.profile).toMatchObject({
      method: 'GET',
      endpoint: '/checkout',
      country: 'DE',
      uaVector: 'present',
    });
    expect(JSON.stringify(out.body)).not.toContain('Firefox');
    expect(out.body.decision).toMatchObject({ route: 'backend_canary' });
    const flags = out.body.flags as Array<{ name: string; dimensions: Record<string, number> }>;
    expect(flags.find((f) => f.name === 'checkout-v2')!.dimensions).toEqual({
      method: 1,
      endpoint: 1,
      geo: 1,
      payloadSize: 0,
    });
    expect((await post('/api/explain', { clientIp: 'not-an-ip' })).status).toBe(400);
  });

  it('counts traffic per flag from proflag_flag_evaluations_total', async () => {
    const envoy = new EnvoyEmulator(`127.0.0.1:${sidecar.grpcPort}`, { messageTimeoutMs: 2_000 });
    try {
      for (let i = 0; i < 5; i++) {
        await envoy.request({ path: '/checkout', sourceAddress: IP.DE, headers: { 'user-agent': UA.firefox } });
      }
    } finally {
      envoy.close();
    }
    const history = await until('the traffic sample', async () => {
      const { body } = await get('/api/traffic');
      const series = body.series as Record<string, { byResult: Record<string, number[]> }>;
      const matched = (series['checkout-v2']?.byResult.match ?? []).reduce((a, b) => a + b, 0);
      return matched >= 5 && body;
    });
    expect(history.source).toBe('evaluations');
  });

  it('keeps the audit trail readable', async () => {
    const { body } = await get('/api/audit?name=eu-banner&limit=5');
    const entries = body.entries as Array<{ who: string; name: string; action: string }>;
    expect(entries.length).toBeGreaterThanOrEqual(2);
    expect(entries.every((e) => e.name === 'eu-banner' && e.who === 'console')).toBe(true);
  });
});

describe('console API on the file store', () => {
  it('shows the flags and says changes need Redis', async () => {
    const sidecar = await startSidecar(loadConfig(e2eEnv({ PROFLAG_STORE: 'file', PROFLAG_LEARN: 'off' })), {
      logger: createLogger('error'),
      defaultMetrics: false,
    });
    try {
      const base = `http://127.0.0.1:${sidecar.adminPort}`;
      const flags = (await (await fetch(`${base}/api/flags`)).json()) as { flags: unknown[]; source: string };
      expect(flags.flags).toHaveLength(EXAMPLE_FLAG_NAMES.length);
      expect(flags.source).toMatch(/^file:/);
      expect(await (await fetch(`${base}/api/proposals`)).json()).toEqual({
        available: false,
        proposals: [],
        samples: null,
      });
      const caps = (await (await fetch(`${base}/api/capabilities`)).json()) as Record<string, unknown>;
      expect(caps).toMatchObject({ store: 'file', changes: false, tokenRequired: false, preview: false });
      const change = await fetch(`${base}/api/flags/eu-banner/disable`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{}',
      });
      expect(change.status).toBe(409);
      const replicas = (await (await fetch(`${base}/api/replicas`)).json()) as { replicas: Array<{ self: boolean }> };
      expect(replicas.replicas).toMatchObject([{ self: true }]);
    } finally {
      await sidecar.stop(1_000);
    }
  });
});
