// The respond limit under load (QUALITY: "respond never exceeds its respondLimit"): ten times
// `perSecond` offered through the Envoy emulator, 64 requests in flight, on the real clock. A
// token bucket holding max(1, perSecond) replies and refilled at perSecond a second can grant at
// most capacity + perSecond × T replies over T seconds; every other request must go on exactly
// as if the flag had not matched, which a second sidecar without the flag shows.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { startSidecar, type Sidecar } from '../../src/sidecar.js';
import { createLogger } from '../../src/telemetry/logger.js';
import { EnvoyEmulator, type EmulatedOutcome, type EmulatedRequest } from '../helpers/envoyEmulator.js';
import { metricSum } from '../helpers/proflagProcess.js';
import { e2eEnv, flagsOf, IP } from './routingTable.js';

const PER_SECOND = 20;
const CAPACITY = Math.max(1, PER_SECOND);
const OFFERED_PER_SECOND = 10 * PER_SECOND;
const SECONDS = 3;
const IN_FLIGHT = 64;

// The limited flag carries other actions too: when its bucket is empty none of them may apply.
const BLOCK = {
  name: 'burst-block',
  enabled: true,
  priority: 10,
  respondLimit: { perSecond: PER_SECOND },
  profile: { endpoint: { in: ['/burst/**'] } },
  actions: {
    respond: { status: 429, headers: { 'retry-after': '1' }, body: 'slow down', details: 'burst_block' },
    route: { cluster: 'backend_blocked' },
    requestHeaders: { set: { 'x-burst-block': '1' } },
    responseHeaders: { set: { 'x-burst-block': '1' } },
  },
};
// In both sidecars: what the passes must get.
const TAG = {
  name: 'burst-tag',
  enabled: true,
  profile: { endpoint: { in: ['/burst/**'] } },
  actions: { route: { cluster: 'backend_burst' }, requestHeaders: { set: { 'x-burst-tag': '1' } } },
};

const REQUEST: EmulatedRequest = { path: '/burst/item?id=7', sourceAddress: IP.DE, headers: { 'x-client': 'load' } };

/** What Envoy makes of the exchange, without the per-request x-request-id. */
function wire(o: EmulatedOutcome) {
  return {
    status: o.status,
    cluster: o.cluster,
    path: o.path,
    upstreamHeaders: Object.fromEntries([...o.upstreamHeaders].filter(([k]) => k !== 'x-request-id')),
    responseHeaders: Object.fromEntries(o.responseHeaders),
    localReply: o.localReply,
    body: o.body.toString('latin1'),
    details: o.details,
    dynamicMetadata: o.dynamicMetadata,
    messagesSent: o.messagesSent,
    error: o.error,
  };
}

async function startWith(flags: object[]): Promise<{ sidecar: Sidecar; dir: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'proflag-limit-'));
  for (const f of flags) await writeFile(join(dir, `${(f as { name: string }).name}.json`), JSON.stringify(f));
  const config = loadConfig(e2eEnv({ PROFLAG_STORE: 'file', PROFLAG_FLAGS_DIR: dir, PROFLAG_LEARN: 'off' }));
  const sidecar = await startSidecar(config, { logger: createLogger('silent'), defaultMetrics: false });
  return { sidecar, dir };
}

describe('respondLimit under load', () => {
  let limited: { sidecar: Sidecar; dir: string };
  let reference: { sidecar: Sidecar; dir: string };

  beforeAll(async () => {
    [limited, reference] = await Promise.all([startWith([BLOCK, TAG]), startWith([TAG])]);
  });
  afterAll(async () => {
    for (const s of [limited, reference]) {
      await s?.sidecar.stop(1000);
      if (s) await rm(s.dir, { recursive: true, force: true });
    }
  });

  it(`grants at most ${CAPACITY} + ${PER_SECOND}/s × T replies to ${OFFERED_PER_SECOND} requests/s; the rest pass untouched`, async () => {
    const ref = new EnvoyEmulator(`127.0.0.1:${reference.sidecar.grpcPort}`, { messageTimeoutMs: 10_000 });
    const expectedPass = wire(await ref.request(REQUEST));
    ref.close();
    expect(expectedPass).toMatchObject({ status: 200, cluster: 'backend_burst', localReply: false, error: null });
    expect(expectedPass.upstreamHeaders['x-burst-tag']).toBe('1');

    const envoy = new EnvoyEmulator(`127.0.0.1:${limited.sidecar.grpcPort}`, {
      messageTimeoutMs: 10_000,
      allowModeOverride: true,
    });
    const total = OFFERED_PER_SECOND * SECONDS;
    const outcomes: EmulatedOutcome[] = new Array(total);
    let next = 0;
    const t0 = Date.now();
    // Request i starts at t0 + i / OFFERED_PER_SECOND (or later, when IN_FLIGHT are pending).
    const worker = async () => {
      for (;;) {
        const i = next++;
        if (i >= total) return;
        const wait = t0 + (i * 1000) / OFFERED_PER_SECOND - Date.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        outcomes[i] = await envoy.request(REQUEST);
      }
    };
    await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
    const elapsedMs = Date.now() - t0;
    envoy.close();

    let replies = 0;
    let passes = 0;
    let other = 0;
    const expectedReply = {
      status: 429,
      localReply: true,
      body: 'slow down',
      details: 'burst_block',
      responseHeaders: { 'retry-after': '1' },
      messagesSent: 1,
      error: null,
    };
    for (const o of outcomes) {
      const got = wire(o);
      if (got.localReply) {
        expect(got).toMatchObject(expectedReply);
        replies++;
      } else if (JSON.stringify(got) === JSON.stringify(expectedPass)) passes++;
      else {
        // Shown in full if it ever happens.
        expect(got).toEqual(expectedPass);
        other++;
      }
    }
    const bound = CAPACITY + (PER_SECOND * elapsedMs) / 1000;
    console.log(
      `respondLimit ${PER_SECOND}/s: ${total} requests in ${elapsedMs} ms (${Math.round((total * 1000) / elapsedMs)}/s offered), ` +
        `${replies} replies (bound ${bound.toFixed(1)}), ${passes} passes`,
    );
    expect(other).toBe(0);
    expect(replies + passes).toBe(total);
    expect(replies).toBeLessThanOrEqual(bound);
    // The bucket refills: more than its first burst got through over the seconds of load.
    expect(replies).toBeGreaterThan(CAPACITY);
    expect(passes).toBeGreaterThan(0);
    // The passes are not in the flags header (the reference above has only burst-tag).
    expect(flagsOf(outcomes.find((o) => !o.localReply)!.upstreamHeaders)).toEqual(['burst-tag=true']);

    const text = await (await fetch(`http://127.0.0.1:${limited.sidecar.adminPort}/metrics`)).text();
    expect(metricSum(text, 'proflag_flag_respond_limited_total', { flag: 'burst-block' })).toBe(passes);
    expect(metricSum(text, 'proflag_flag_evaluations_total', { flag: 'burst-block', result: 'respond_limited' })).toBe(
      passes,
    );
    expect(metricSum(text, 'proflag_flag_evaluations_total', { flag: 'burst-block', result: 'match' })).toBe(replies);
  }, 60_000);
});
