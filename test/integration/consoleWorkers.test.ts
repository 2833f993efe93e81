// The console with PROFLAG_WORKERS=2: the admin port runs in the primary, which holds no
// snapshot. Its console asks the workers (serving topics over IPC) for flags, explanations
// and counters, reads and changes Redis through its own connection (the shared change path),
// previews proposals against the samples the workers forward, and sends `flags` events once
// the workers serve a change, whoever made it.
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureUiBuilt } from '../browser/chromium.js';
import { EXAMPLE_FLAG_NAMES, IP, setExampleFlags, UA } from '../e2e/routingTable.js';
import { EnvoyEmulator } from '../helpers/envoyEmulator.js';
import { runFfr } from '../helpers/ffr.js';
import { metricSum, startProflag, stopProflag, waitFor, type ProflagProcess } from '../helpers/proflagProcess.js';
import { testRedis, type TestRedis } from '../helpers/redis.js';
import { TREE_START_MS, twoWorkersEnv } from '../helpers/workersTree.js';

const TOKEN = 'console-workers-token-0123456789';
const bearer = { authorization: `Bearer ${TOKEN}` };

describe('console in the primary of PROFLAG_WORKERS=2', () => {
  let redis: TestRedis;
  let client: Redis;
  let p: ProflagProcess;
  let grpcAddr: string;
  let admin: string;

  const get = async <T = Record<string, unknown>>(path: string): Promise<{ status: number; body: T }> => {
    const res = await fetch(`${admin}${path}`, { headers: bearer });
    return { status: res.status, body: (await res.json()) as T };
  };
  const post = async (path: string, body: unknown = {}) => {
    const res = await fetch(`${admin}${path}`, {
      method: 'POST',
      headers: { ...bearer, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  const flag = async (name: string) =>
    (await get<{ flags: Array<{ name: string; enabled: boolean }> }>('/api/flags')).body.flags.find(
      (f) => f.name === name,
    );

  beforeAll(async () => {
    await ensureUiBuilt();
    redis = await testRedis();
    client = new Redis(redis.url);
    await setExampleFlags(client, redis.prefix);
    await client.set(`${redis.prefix}version`, '1');
    await client.set(
      `${redis.prefix}proposal:w1`,
      JSON.stringify({
        name: 'learned-w1',
        enabled: false,
        threshold: 1,
        profile: { method: { in: ['GET'] }, endpoint: { in: ['/checkout'] } },
        evidence: { explain: 'GET /checkout', support: 80, clients: 60 },
      }),
    );
    await client.zadd(`${redis.prefix}proposals`, Date.now(), 'w1');
    p = startProflag(
      twoWorkersEnv({
        REDIS_URL: redis.url,
        PROFLAG_PREFIX: redis.prefix,
        PROFLAG_UA_HASH_KEY: 'console-workers-test-key',
        PROFLAG_GEO_HEADER: 'x-country',
        PROFLAG_ADMIN_TOKEN: TOKEN,
        PROFLAG_LEARN: 'on',
      }),
    );
    const started = await p.started(TREE_START_MS);
    grpcAddr = started.grpc;
    admin = `http://127.0.0.1:${started.admin}`;
  }, 70_000);

  afterAll(async () => {
    await stopProflag(p, 8_000);
    client?.disconnect();
    await redis?.cleanup();
  });

  it('serves the page and says what it is: Redis, two workers, changes, the learner', async () => {
    const page = await fetch(`${admin}/ui/`, { headers: bearer });
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    expect((await fetch(`${admin}/api/flags`)).status).toBe(401);
    const caps = await get('/api/capabilities');
    expect(caps.body).toMatchObject({ store: 'redis', workers: 2, changes: true, learner: true, tokenRequired: true });
  });

  it('lists every flag from a worker, with the last change from the audit trail', async () => {
    const { status, body } = await get<{ version: number; flags: Array<{ name: string }> }>('/api/flags');
    expect(status).toBe(200);
    expect(body.version).toBe(1);
    expect(body.flags.map((f) => f.name)).toEqual(EXAMPLE_FLAG_NAMES);
  });

  it('sends a flags event once both workers serve a change made with scripts/ffr, and one made here', async () => {
    const controller = new AbortController();
    const res = await fetch(`${admin}/api/events`, { headers: bearer, signal: controller.signal });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    let text = '';
    const read = async (pattern: RegExp) => {
      const deadline = Date.now() + 5_000;
      while (!pattern.test(text)) {
        if (Date.now() > deadline) throw new Error(`no event matching ${pattern} in:\n${text}`);
        const { value } = await reader.read();
        text += new TextDecoder().decode(value);
      }
    };
    try {
      await read(/event: hello\ndata: \{"version":1\}/);
      // Let the primary take its first reading of the workers (no event for that one).
      await new Promise((r) => setTimeout(r, 500));
      const out = await runFfr(redis, ['disable', 'eu-banner'], { env: { PROFLAG_ACTOR: 'operator' } });
      expect(out.code, out.stderr).toBe(0);
      await read(/event: flags\ndata: \{"version":2,/);
      // Round robin: two reads land on both workers; each already serves version 2.
      for (let i = 0; i < 2; i++) expect(await flag('eu-banner')).toMatchObject({ enabled: false });

      const enable = await post('/api/flags/eu-banner/enable');
      expect(enable.body).toMatchObject({ ok: true, changed: true, version: 3 });
      const [entry] = await client.xrevrange(`${redis.prefix}audit`, '+', '-', 'COUNT', 1);
      expect(entry![1]).toEqual(expect.arrayContaining(['who', 'console', 'action', 'enable', 'name', 'eu-banner']));
      await read(/event: flags\ndata: \{"version":3,/);
      for (let i = 0; i < 2; i++) expect(await flag('eu-banner')).toMatchObject({ enabled: true });
    } finally {
      controller.abort();
    }
  });

  it('sums the per-flag counters of both workers, and previews proposals against forwarded samples', async () => {
    const requests = 60;
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        const envoy = new EnvoyEmulator(grpcAddr, { messageTimeoutMs: 2_000 });
        for (let i = 0; i < requests / 4; i++) {
          const out = await envoy.request({
            path: '/checkout',
            sourceAddress: IP.DE,
            headers: { 'user-agent': UA.firefox, 'x-country': 'DE' },
          });
          expect(out.error).toBeNull();
          expect(out.cluster).toBe('backend_canary');
        }
        envoy.close();
      }),
    );
    const metrics = await (await fetch(`${admin}/metrics`)).text();
    expect(metricSum(metrics, 'proflag_cluster_worker_decisions_total', { worker: '1' })).toBeGreaterThan(0);
    expect(metricSum(metrics, 'proflag_cluster_worker_decisions_total', { worker: '2' })).toBeGreaterThan(0);
    const counted = await waitFor(async () => {
      const { body } = await get<{ series: Record<string, { byResult: Record<string, number[]> }> }>('/api/traffic');
      const match = body.series['checkout-v2']?.byResult.match ?? [];
      return match.reduce((a, b) => a + b, 0) === requests;
    }, 8_000);
    expect(counted).toBe(true);

    const proposals = await get<{
      proposals: Array<{ id: string; preview: { matched: number; of: number } | null }>;
      samples: { size: number };
    }>('/api/proposals');
    expect(proposals.body.samples.size).toBeGreaterThan(0);
    const w1 = proposals.body.proposals.find((x) => x.id === 'w1');
    // Every sampled request was GET /checkout: the range matches all of them.
    expect(w1?.preview?.matched).toBe(w1?.preview?.of);
  });

  it('explains through a worker and approves through the change path', async () => {
    const explained = await post('/api/explain', {
      method: 'GET',
      path: '/checkout',
      headers: `user-agent: ${UA.firefox}\nx-country: DE`,
    });
    expect(explained.status).toBe(200);
    expect(explained.body.decision).toMatchObject({ route: 'backend_canary' });
    expect(JSON.stringify(explained.body)).not.toContain('Firefox');

    const approved = await post('/api/proposals/w1/approve', { as: 'disabled', name: 'learned-w1' });
    expect(approved.body).toMatchObject({ ok: true, flag: 'learned-w1' });
    expect(await waitFor(async () => (await flag('learned-w1')) !== undefined, 5_000)).toBe(true);
    const experiments = await get<{ experiments: unknown[]; resultsAvailable: boolean }>('/api/experiments');
    expect(experiments.body).toMatchObject({ resultsAvailable: true });
  });
});
