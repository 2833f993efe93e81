// The sidecar process itself failing (issue 14, docs/reliability.md): stopped under traffic
// (a rolling restart) and killed under traffic (OOM killer, kill -9), then started again on
// the same port. Envoy never waits past message_timeout for a sidecar that is gone (with
// failure_mode_allow it continues unflagged), and the new process answers correctly as soon
// as it is up.
import { afterEach, describe, expect, it } from 'vitest';
import { EnvoyEmulator } from '../helpers/envoyEmulator.js';
import { freePort } from '../helpers/redisServer.js';
import { MESSAGE_TIMEOUT_MS, PROBE_CASES, probeOnce } from './helpers/probe.js';
import { grpcFrame, RawH2Connection, requestHeadersMessage } from './helpers/rawH2.js';
import { sleep, startSidecarProcess, waitUntil, type SidecarProcess } from './helpers/sidecarProcess.js';

/** What Envoy saw for requests sent while the sidecar went away. */
interface Traffic {
  answered: number;
  /** Continued without the processor (fail-open) after an error or a timeout. */
  skipped: number;
  wrong: number;
}

/** Envoy-like traffic (one request at a time, 4 in parallel) until `stop` turns true. */
function drive(address: string, stop: () => boolean): Promise<Traffic> {
  const envoy = new EnvoyEmulator(address, { messageTimeoutMs: MESSAGE_TIMEOUT_MS, failureModeAllow: true });
  const t: Traffic = { answered: 0, skipped: 0, wrong: 0 };
  const lane = async (k: number) => {
    for (let i = k; !stop(); i += 4) {
      const { failure } = await probeOnce(envoy, PROBE_CASES[i % PROBE_CASES.length]!);
      if (failure === null) t.answered++;
      else if (failure.startsWith('wrong')) t.wrong++;
      else t.skipped++;
      await sleep(2);
    }
  };
  return Promise.all([0, 1, 2, 3].map(lane)).then(() => {
    envoy.close();
    return t;
  });
}

describe('the sidecar process stopped or killed under traffic', () => {
  const started: SidecarProcess[] = [];
  afterEach(async () => {
    for (const s of started.splice(0)) await s.kill();
  });

  it('SIGTERM under traffic: answered requests stay right, the process ends within its grace with 0', async () => {
    const sidecar = await startSidecarProcess();
    started.push(sidecar);
    let stopped = false;
    const traffic = drive(sidecar.grpcAddress, () => stopped);
    await sleep(1_000);
    const t0 = Date.now();
    const code = await sidecar.stop(10_000);
    const tookMs = Date.now() - t0;
    await sleep(500); // requests sent after the listener closed
    stopped = true;
    const t = await traffic;
    expect(code).toBe(0);
    expect(tookMs, 'graceful stop within its 5 s grace').toBeLessThan(7_000);
    expect(t.answered).toBeGreaterThan(10);
    expect(t.wrong).toBe(0);
    expect(t.skipped, 'requests after the listener closed failed open').toBeGreaterThan(0);
  }, 60_000);

  it('SIGTERM while clients that stopped reading hold streams: the process still ends within its grace with 0', async () => {
    const sidecar = await startSidecarProcess();
    started.push(sidecar);
    const message = grpcFrame(
      requestHeadersMessage([
        [':method', 'GET'],
        [':path', '/home'],
      ]),
    );
    const stuck: RawH2Connection[] = [];
    for (let i = 0; i < 5; i++) {
      const conn = new RawH2Connection(sidecar.grpcPort);
      stuck.push(conn);
      await conn.connected;
      await waitUntil(() => conn.serverSettings !== null, 5_000, 5);
      for (let s = 0; s < 10; s++) conn.sendData(conn.openStream(), message);
    }
    await sleep(300);
    // Neither reads again nor closes: the graceful close can never complete with them.
    for (const c of stuck) c.stopReading();
    const t0 = Date.now();
    const code = await sidecar.stop(10_000);
    const tookMs = Date.now() - t0;
    for (const c of stuck) c.destroy();
    expect(code, 'exit code (null: killed after 10 s)').toBe(0);
    expect(tookMs, 'stopped within its 5 s grace').toBeLessThan(7_000);
  }, 60_000);

  it('SIGKILL under traffic, then a restart on the same port: Envoy fails open meanwhile, then gets answers again', async () => {
    const port = await freePort();
    const env = { PROFLAG_GRPC_ADDR: `127.0.0.1:${port}` };
    const first = await startSidecarProcess({ env });
    started.push(first);
    let phase = 'up' as 'up' | 'down' | 'back';
    let stopped = false;
    // One emulator for the whole run, as Envoy keeps its cluster: it must reconnect by itself.
    const envoy = new EnvoyEmulator(`127.0.0.1:${port}`, {
      messageTimeoutMs: MESSAGE_TIMEOUT_MS,
      failureModeAllow: true,
    });
    const counts = { up: { ok: 0, failed: 0 }, down: { ok: 0, failed: 0 }, back: { ok: 0, failed: 0 } };
    let wrong = 0;
    let firstAnswerBack = 0;
    const loop = (async () => {
      for (let i = 0; !stopped; i++) {
        const p = phase;
        const { failure } = await probeOnce(envoy, PROBE_CASES[i % PROBE_CASES.length]!);
        if (failure?.startsWith('wrong')) wrong++;
        else if (failure === null) counts[p].ok++;
        else counts[p].failed++;
        if (p === 'back' && failure === null && firstAnswerBack === 0) firstAnswerBack = Date.now();
        await sleep(5);
      }
    })();
    await sleep(800);
    await first.kill();
    phase = 'down'; // from here on the process is gone
    expect(await first.exited).toBeNull(); // killed by the signal
    await sleep(1_000);
    const restartAt = Date.now();
    const second = await startSidecarProcess({ env });
    started.push(second);
    phase = 'back';
    const readyAt = Date.now();
    expect((await second.readyz()).status).toBe(200);
    expect(await waitUntil(() => firstAnswerBack > 0, 15_000, 20), 'answers again after the restart').toBe(true);
    stopped = true;
    await loop;
    envoy.close();

    expect(wrong, 'wrong answers').toBe(0);
    expect(counts.up.ok, 'answered before the kill').toBeGreaterThan(5);
    expect(counts.down.ok, 'nothing answers while it is gone').toBe(0);
    expect(counts.down.failed, 'requests failed open meanwhile').toBeGreaterThan(0);
    // grpc-js (like Envoy) reconnects with a backoff of about a second: well within 10 s.
    expect(
      firstAnswerBack - readyAt,
      `answers resumed ${firstAnswerBack - restartAt} ms after the restart began`,
    ).toBeLessThan(10_000);
  }, 90_000);
});
