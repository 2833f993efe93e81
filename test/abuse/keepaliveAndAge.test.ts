// Keepalive and connection age on the real sidecar process (issue 14): a peer that stops
// answering PINGs (a dead TCP peer, a stuck client) is dropped by keepalive, while a peer that
// answers keeps its connection; every connection is closed gracefully (GOAWAY NO_ERROR) at
// PROFLAG_GRPC_MAX_CONNECTION_AGE_MS and the well-behaved traffic loses nothing to it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { duringProbe } from './helpers/guarantees.js';
import { startProbe, type RunningProbe } from './helpers/probe.js';
import { grpcFrame, RawH2Connection, requestHeadersMessage, RST_CODE } from './helpers/rawH2.js';
import { sleep, startSidecarProcess, waitUntil, type SidecarProcess } from './helpers/sidecarProcess.js';

const KEEPALIVE_MS = 500;
const KEEPALIVE_TIMEOUT_MS = 500;
const MAX_AGE_MS = 2_000;
/** Generous: two shared cores, eight engineers. */
const SLACK_MS = 8_000;
/** Long enough that the stream and connection idle limits never interfere here. */
const NOT_IDLE = { PROFLAG_GRPC_STREAM_IDLE_TIMEOUT_MS: '600000', PROFLAG_GRPC_IDLE_TIMEOUT_MS: '600000' };

const MESSAGE = grpcFrame(
  requestHeadersMessage([
    [':method', 'GET'],
    [':path', '/home'],
  ]),
);

/** A connection holding one stream open (sent its request headers, never half-closes). */
async function holdingOneStream(port: number, answerPings: boolean): Promise<RawH2Connection> {
  const conn = new RawH2Connection(port, { answerPings });
  await conn.connected;
  await waitUntil(() => conn.serverSettings !== null, 5_000, 5);
  conn.sendData(conn.openStream(), MESSAGE);
  return conn;
}

describe('keepalive', () => {
  let sidecar: SidecarProcess;

  beforeAll(async () => {
    sidecar = await startSidecarProcess({
      env: {
        ...NOT_IDLE,
        PROFLAG_GRPC_KEEPALIVE_MS: String(KEEPALIVE_MS),
        PROFLAG_GRPC_KEEPALIVE_TIMEOUT_MS: String(KEEPALIVE_TIMEOUT_MS),
      },
    });
  }, 60_000);
  afterAll(async () => {
    if (sidecar) expect(await sidecar.stop()).toBe(0);
  }, 30_000);

  // waits for the new gRPC edge (issue 8): grpc-js pings every 60 s and waits 20 s
  // (PROFLAG_GRPC_KEEPALIVE_MS and _TIMEOUT_MS are not applied), so the silent peer stays.
  it.skip('drops a peer that stops answering PINGs and keeps one that answers', async () => {
    const dead = await holdingOneStream(sidecar.grpcPort, false);
    const alive = await holdingOneStream(sidecar.grpcPort, true);
    const t0 = Date.now();
    expect(
      await waitUntil(() => dead.isClosed, KEEPALIVE_MS + KEEPALIVE_TIMEOUT_MS + SLACK_MS, 20),
      'silent peer dropped',
    ).toBe(true);
    expect(dead.pingsReceived, 'the server pinged before dropping it').toBeGreaterThan(0);
    expect(dead.closedAt! - t0, 'not before a keepalive round').toBeGreaterThanOrEqual(KEEPALIVE_MS * 0.8);
    // The answering peer was pinged just as often and is still there.
    await sleep(KEEPALIVE_MS * 2);
    expect(alive.pingsReceived).toBeGreaterThan(0);
    expect(alive.isClosed, 'answering peer kept').toBe(false);
    dead.destroy();
    alive.destroy();
  }, 30_000);
});

describe('max connection age', () => {
  let sidecar: SidecarProcess;
  let probe: RunningProbe;

  beforeAll(async () => {
    sidecar = await startSidecarProcess({
      env: { ...NOT_IDLE, PROFLAG_GRPC_MAX_CONNECTION_AGE_MS: String(MAX_AGE_MS) },
    });
    probe = await startProbe(sidecar);
  }, 60_000);
  afterAll(async () => {
    await probe?.finish().catch(() => undefined);
    if (sidecar) expect(await sidecar.stop()).toBe(0);
  }, 30_000);

  // waits for the new gRPC edge (issue 8): grpc-js never ages connections out
  // (PROFLAG_GRPC_MAX_CONNECTION_AGE_MS is not applied), so no GOAWAY arrives.
  it.skip('closes every connection gracefully at its age while the traffic on it loses nothing', async () => {
    await duringProbe(
      probe,
      async () => {
        const busy = await holdingOneStream(sidecar.grpcPort, true);
        const quiet = new RawH2Connection(sidecar.grpcPort);
        await quiet.connected;
        const t0 = Date.now();
        expect(
          await waitUntil(() => busy.goaway !== null && quiet.goaway !== null, MAX_AGE_MS + SLACK_MS, 20),
          'GOAWAY on both connections',
        ).toBe(true);
        for (const c of [busy, quiet]) {
          expect(c.goaway!.errorCode, 'graceful').toBe(RST_CODE.NO_ERROR);
          // gRPC's age has up to ±10 % jitter.
          expect(c.goaway!.at - t0, 'not before its age').toBeGreaterThanOrEqual(MAX_AGE_MS * 0.85);
        }
        // The stream already open on the aged connection may still finish.
        expect(busy.goaway!.lastStreamId, 'GOAWAY lets the open stream finish').toBeGreaterThanOrEqual(1);
        busy.destroy();
        quiet.destroy();
      },
      // The probe's own connection ages out at least twice meanwhile.
      MAX_AGE_MS * 3,
    );
  }, 60_000);
});
