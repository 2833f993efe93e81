// Redis killed mid-traffic (QUALITY.md, reliability): every ext_proc response still arrives
// and still carries the decision of the last good snapshot; Redis returning *empty* (no
// persistence) is treated as data loss, not as "every flag deleted"; once the operator
// restores the flags with `scripts/ffr import`, they are served.
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { startSidecar, type Sidecar } from '../../src/sidecar.js';
import { createLogger } from '../../src/telemetry/logger.js';
import { EnvoyEmulator } from '../helpers/envoyEmulator.js';
import { until } from '../helpers/until.js';
import { redisServer, redisServerAvailable, type RedisServer } from '../helpers/redisServer.js';
import { at, e2eEnv, EXAMPLES, IP } from './routingTable.js';

const run = promisify(execFile);
const FFR = fileURLToPath(new URL('../../scripts/ffr', import.meta.url));
const PREFIX = 'proflag:';

async function ffr(server: RedisServer, ...args: string[]) {
  return run(FFR, args, {
    env: { ...process.env, REDIS_URL: server.url, PROFLAG_PREFIX: PREFIX, PROFLAG_ACTOR: 'test' },
  });
}

const EXAMPLE_COUNT = readdirSync(EXAMPLES).filter((f) => f.endsWith('.json')).length;

/** The example flags as one `ffr import` document. */
function exportDocument(): string {
  const dir = mkdtempSync(join(tmpdir(), 'proflag-outage-'));
  const flags = readdirSync(EXAMPLES)
    .filter((f) => f.endsWith('.json'))
    .map((f) => JSON.parse(readFileSync(join(EXAMPLES, f), 'utf8')) as unknown);
  const file = join(dir, 'flags.json');
  writeFileSync(file, JSON.stringify(flags));
  return file;
}

describe.skipIf(!redisServerAvailable())('Redis killed mid-traffic', () => {
  let server: RedisServer;
  let sidecar: Sidecar;
  const importFile = exportDocument();

  beforeAll(async () => {
    server = await redisServer();
    await ffr(server, 'import', importFile);
    const config = loadConfig(
      e2eEnv({
        REDIS_URL: server.url,
        PROFLAG_PREFIX: PREFIX,
        PROFLAG_RESYNC_MS: '500',
        PROFLAG_STALE_AFTER_MS: '1000',
      }),
    );
    sidecar = await startSidecar(config, { logger: createLogger('silent'), now: () => at(12), defaultMetrics: false });
  });
  afterAll(async () => {
    await sidecar?.stop(1000);
    await server?.kill();
  });

  it('answers every request with the last good decisions, then serves restored flags', async () => {
    expect(sidecar.holder.current.flagCount).toBe(EXAMPLE_COUNT);
    const envoy = new EnvoyEmulator(`127.0.0.1:${sidecar.grpcPort}`, { messageTimeoutMs: 200 });
    let sent = 0;
    let failed = 0;
    let wrong = 0;
    let running = true;
    const traffic = (async () => {
      while (running) {
        const out = await envoy.request({ path: '/checkout', sourceAddress: IP.DE });
        sent++;
        if (out.error !== null || out.processorSkipped) failed++;
        else if (out.cluster !== 'backend_canary') wrong++;
      }
    })();
    const sentBy = async (n: number) => {
      while (sent < n) await new Promise((r) => setTimeout(r, 5));
    };

    await sentBy(200);
    await server.kill();
    const killedAt = sent;
    await new Promise((r) => setTimeout(r, 1500)); // longer than PROFLAG_STALE_AFTER_MS
    expect(sidecar.holder.stale).toBe(true);
    await server.start(); // comes back empty: no persistence
    await sentBy(killedAt + 400);
    // Reconnecting waits out the store's capped backoff; then the empty Redis is seen.
    const seen = Date.now() + 12_000;
    while (!sidecar.holder.dataLossSuspected && Date.now() < seen) await new Promise((r) => setTimeout(r, 20));
    // An empty Redis after version 1 is data loss: the snapshot is held.
    expect(sidecar.holder.current.flagCount).toBe(EXAMPLE_COUNT);
    expect(sidecar.holder.dataLossSuspected).toBe(true);

    await ffr(server, 'import', importFile);
    const deadline = Date.now() + 3000;
    while (sidecar.holder.dataLossSuspected && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(sidecar.holder.dataLossSuspected).toBe(false);
    // Fresh again once the change feed is back too: its subscriber reconnects on its own
    // capped backoff, which can end after the reader's.
    const restoredAt = Date.now();
    await until('a fresh snapshot (sync and change feed back)', async () => !sidecar.holder.stale, 15_000, 20);
    console.log(`[redis outage] fresh again ${Date.now() - restoredAt} ms after the import`);
    await sentBy(sent + 100);
    running = false;
    await traffic;
    envoy.close();

    expect(sent).toBeGreaterThan(700);
    expect(failed).toBe(0);
    expect(wrong).toBe(0);
    expect(sidecar.holder.stale).toBe(false);
  });
});
