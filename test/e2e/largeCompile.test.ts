// Compiling a snapshot with 10,000 distinct user-agent exemplars must not stall requests:
// the embedding pauses, and the HNSW graph (~0.5 s to build, used only by nearestPoints) is
// not built by the compile at all (when first queried, on a worker thread), so Envoy keeps
// getting answers within its 200 ms message timeout while the new snapshot is prepared.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { startSidecar, type Sidecar } from '../../src/sidecar.js';
import { createLogger } from '../../src/telemetry/logger.js';
import { EnvoyEmulator } from '../helpers/envoyEmulator.js';
import { e2eEnv, IP } from './routingTable.js';

/** 10,000 distinct synthetic user agents (letters vary, so digit masking keeps them apart). */
function exemplars(offset: number): string[] {
  const word = (i: number) => i.toString(26).replace(/[0-9]/g, (d) => String.fromCharCode(97 + Number(d)));
  return Array.from(
    { length: 10_000 },
    (_, i) =>
      `Mozilla/5.0 (Linux; Android; ${word(i + offset)} Build) AppleWebKit (KHTML, like Gecko) App${word(i * 7 + offset)}/1.0`,
  );
}

describe('a large user-agent rebuild does not stall requests', () => {
  let sidecar: Sidecar;
  const dir = mkdtempSync(join(tmpdir(), 'proflag-large-'));
  const write = (offset: number) =>
    writeFileSync(
      join(dir, 'ua-heavy.json'),
      JSON.stringify({ name: 'ua-heavy', enabled: true, profile: { userAgent: { similarTo: exemplars(offset) } } }),
    );

  beforeAll(async () => {
    writeFileSync(
      join(dir, 'plain.json'),
      JSON.stringify({
        name: 'plain',
        enabled: true,
        profile: { endpoint: { in: ['/p'] } },
        actions: { route: { cluster: 'x' } },
      }),
    );
    write(0);
    const config = loadConfig(e2eEnv({ PROFLAG_STORE: 'file', PROFLAG_FLAGS_DIR: dir }));
    sidecar = await startSidecar(config, { logger: createLogger('silent'), defaultMetrics: false });
    const deadline = Date.now() + 20_000;
    while (sidecar.holder.current.flagCount < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  });
  afterAll(async () => {
    await sidecar?.stop(1000);
  });

  it('keeps answering within the message timeout while the index is rebuilt', async () => {
    expect(sidecar.holder.current.flagCount).toBe(2);
    const before = sidecar.holder.current;
    const envoy = new EnvoyEmulator(`127.0.0.1:${sidecar.grpcPort}`, { messageTimeoutMs: 1000 });
    let failed = 0;
    let requests = 0;
    // How long the event loop is held at a stretch: what would delay every request in flight.
    const loop = monitorEventLoopDelay({ resolution: 5 });
    loop.enable();
    write(1); // new exemplars: the index must be rebuilt
    const deadline = Date.now() + 20_000;
    while (sidecar.holder.current === before && Date.now() < deadline) {
      const out = await envoy.request({ path: '/p', sourceAddress: IP.US });
      requests++;
      if (out.error !== null || out.cluster !== 'x') failed++;
    }
    loop.disable();
    envoy.close();
    expect(sidecar.holder.current).not.toBe(before);
    expect(sidecar.holder.current.uaIndex).not.toBe(before.uaIndex);
    expect(requests).toBeGreaterThan(10);
    expect(failed).toBe(0);
    // Not a speed bar: it tells a stalled loop from a busy one. Measured here: 55-92 ms with
    // the graph on the worker thread (CPU shared with the worker and the test's own client),
    // 711 ms with the graph built in-thread during the compile, which this test then fails.
    expect(loop.max / 1e6).toBeLessThan(300);
  });
});
