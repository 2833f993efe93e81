// Issue 11.1 end to end: the real sidecar (file store) driven by the Envoy emulator, then a
// scrape of /metrics. Every flag's proflag_flag_evaluations_total series must have moved by
// exactly what the traffic implies: matches (per variant), shadow matches, rollout
// exclusions and below-threshold misses; and a reload must neither reset nor lose them.
// Also /explain's view of the same flags (shadow result, a refused dead pattern).
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { startSidecar, type Sidecar } from '../../src/sidecar.js';
import { createLogger } from '../../src/telemetry/logger.js';
import { EnvoyEmulator } from '../helpers/envoyEmulator.js';
import { at, e2eEnv, flagsOf, IP } from './routingTable.js';

const FLAGS: Record<string, unknown>[] = [
  {
    name: 'ship',
    enabled: true,
    profile: { endpoint: { in: ['/checkout', '/checkout/**'] } },
    actions: { route: { cluster: 'backend_canary' } },
  },
  {
    // Evaluated exactly like `ship`, applied nowhere.
    name: 'trial',
    enabled: true,
    mode: 'shadow',
    respondLimit: { perSecond: 5 },
    profile: { endpoint: { in: ['/checkout', '/checkout/**'] } },
    actions: { respond: { status: 429 } },
  },
  {
    name: 'ramp',
    enabled: true,
    profile: { endpoint: { in: ['/search'] } },
    rollout: { percent: 50, stickiness: 'header:x-user-id' },
    variants: [
      { name: 'a', weight: 1 },
      { name: 'b', weight: 1 },
    ],
  },
  {
    // Neither dimension is required at threshold 0.5, so every request scores it: a GET
    // from DE matches (0.5), any other GET scores 0 (below threshold).
    name: 'near',
    enabled: true,
    threshold: 0.5,
    profile: { method: { in: ['POST'] }, geo: { in: ['DE'] } },
  },
];

type Series = Map<string, number>;

async function scrape(sidecar: Sidecar): Promise<Series> {
  const text = await (await fetch(`http://127.0.0.1:${sidecar.adminPort}/metrics`)).text();
  const out: Series = new Map();
  for (const m of text.matchAll(
    /^proflag_flag_evaluations_total\{flag="([^"]*)",variant="([^"]*)",result="([^"]*)"\} (\d+)$/gm,
  )) {
    out.set(`${m[1]}|${m[2]}|${m[3]}`, Number(m[4]));
  }
  return out;
}

describe('per-flag counters after e2e traffic', () => {
  let dir: string;
  let sidecar: Sidecar;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'proflag-counters-'));
    for (const f of FLAGS) await writeFile(join(dir, `${f.name as string}.json`), JSON.stringify(f));
    // A dead pattern: refused with its reason, the others serve.
    await writeFile(
      join(dir, 'dead.json'),
      JSON.stringify({ name: 'dead', enabled: true, profile: { endpoint: { in: ['/orders/12345'] } } }),
    );
    const config = loadConfig(e2eEnv({ PROFLAG_STORE: 'file', PROFLAG_FLAGS_DIR: dir, PROFLAG_LEARN: 'off' }));
    sidecar = await startSidecar(config, { logger: createLogger('error'), now: () => at(12), defaultMetrics: false });
  });
  afterAll(async () => {
    await sidecar?.stop(1000);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('moves each flag, variant and result by exactly the traffic', async () => {
    expect(sidecar.holder.current.flags.map((f) => f.name).sort()).toEqual(['near', 'ramp', 'ship', 'trial']);
    const before = await scrape(sidecar);
    expect(before.size).toBe(0);

    const expected: Series = new Map();
    const add = (k: string, n = 1) => expected.set(k, (expected.get(k) ?? 0) + n);
    const envoy = new EnvoyEmulator(`127.0.0.1:${sidecar.grpcPort}`, { messageTimeoutMs: 2_000 });
    try {
      // 12 checkouts from DE: ship routes, trial matches in shadow, near matches (0.5).
      for (let i = 0; i < 12; i++) {
        const out = await envoy.request({ path: `/checkout/step-${i % 3}`, sourceAddress: IP.DE });
        expect(out.cluster).toBe('backend_canary');
        expect(flagsOf(out.upstreamHeaders)).toEqual(['ship=true', 'near=true']);
      }
      add('ship||match', 12);
      add('trial||shadow', 12);
      add('near||match', 12);
      // 40 searches from the US by 40 users: ramp lets about half in, each with a variant;
      // near scores 0.
      for (let i = 0; i < 40; i++) {
        const out = await envoy.request({ path: '/search', sourceAddress: IP.US, headers: { 'x-user-id': `u${i}` } });
        const ramp = flagsOf(out.upstreamHeaders).find((f) => f.startsWith('ramp='));
        if (ramp) add(`ramp|${ramp.slice(5)}|match`);
        else add('ramp||rollout_excluded');
        add('near||below_threshold');
      }
      // 5 requests elsewhere from the US: only near is scored (below threshold).
      for (let i = 0; i < 5; i++) await envoy.request({ path: '/home', sourceAddress: IP.US });
      add('near||below_threshold', 5);
    } finally {
      envoy.close();
    }
    // The traffic exercised every result it should.
    for (const k of ['ramp|a|match', 'ramp|b|match', 'ramp||rollout_excluded'])
      expect(expected.get(k), k).toBeGreaterThan(0);

    expect(Object.fromEntries(await scrape(sidecar))).toEqual(Object.fromEntries(expected));
  });

  it('keeps the counts through a reload and goes on counting', async () => {
    const counted = await scrape(sidecar);
    const previous = sidecar.holder.current;
    // A change to one flag (a new priority) makes a new snapshot with new indexes.
    await writeFile(join(dir, 'ship.json'), JSON.stringify({ ...FLAGS[0], priority: 7 }));
    const deadline = Date.now() + 10_000;
    while (sidecar.holder.current === previous && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(sidecar.holder.current).not.toBe(previous);
    expect(Object.fromEntries(await scrape(sidecar))).toEqual(Object.fromEntries(counted));

    const envoy = new EnvoyEmulator(`127.0.0.1:${sidecar.grpcPort}`, { messageTimeoutMs: 2_000 });
    try {
      for (let i = 0; i < 3; i++) await envoy.request({ path: '/checkout', sourceAddress: IP.DE });
    } finally {
      envoy.close();
    }
    const after = await scrape(sidecar);
    expect(after.get('ship||match')).toBe(counted.get('ship||match')! + 3);
    expect(after.get('trial||shadow')).toBe(counted.get('trial||shadow')! + 3);
    expect(after.get('near||match')).toBe(counted.get('near||match')! + 3);
    expect(after.get('ramp|a|match')).toBe(counted.get('ramp|a|match'));
  });

  it('/explain shows the shadow result and why the dead pattern was refused', async () => {
    const res = await fetch(`http://127.0.0.1:${sidecar.adminPort}/explain`, {
      method: 'POST',
      body: JSON.stringify({ headers: { ':method': 'GET', ':path': '/checkout', 'x-country': 'DE' } }),
    });
    const body = (await res.json()) as {
      flags: { name: string; result: string }[];
      decision: { flags: string[]; shadow: string[] };
      rejected: { key: string; reason: string }[];
    };
    expect(body.flags.find((f) => f.name === 'trial')?.result).toBe('shadow');
    expect(body.decision.shadow).toEqual(['trial=true']);
    expect(body.decision.flags).toEqual(['ship=true', 'near=true']);
    expect(body.rejected).toEqual([
      {
        key: 'dead.json',
        reason: expect.stringMatching(/endpoint\.in\[0\]: can never match: .*write "\/orders\/\{id\}" instead/),
      },
    ]);
  });
});
