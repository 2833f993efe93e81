// Keepalive and connection age on the real sidecar process (issue 14): a peer that stops
// answering PINGs (a dead TCP peer, a stuck client) is dropped by keepalive, while a peer that
// answers keeps its connection; every connection is closed gracefully (GOAWAY NO_ERROR) at
// PROFLAG_GRPC_MAX_CONNECTION_AGE_MS and the well-behaved traffic loses nothing to it; a
// client that reads late learns without delay which streams it must send elsewhere.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { duringProbe } from './helpers/guarantees.js';
import { startProbe, type RunningProbe } from './helpers/probe.js';
import { grpcFrame, RawH2Connection, requestHeadersMessage, RST_CODE } from './helpers/rawH2.js';
import { sleep, startSidecarProcess, waitUntil, type SidecarProcess } from './helpers/sidecarProcess.js';

const KEEPALIVE_MS = 500;
const KEEPALIVE_TIMEOUT_MS = 500;
const MAX_AGE_MS = 2_000;
/** Envoy's per-message timeout (the shipped envoy.yaml). */
const MESSAGE_TIMEOUT_MS = 200;
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

  it('drops a peer that stops answering PINGs and keeps one that answers', async () => {
    const dead = await holdingOneStream(sidecar.grpcPort, false);
    const alive = await holdingOneStream(sidecar.grpcPort, true);
    const t0 = Date.now();
    expect(
      await waitUntil(() => dead.isClosed, KEEPALIVE_MS + KEEPALIVE_TIMEOUT_MS + SLACK_MS, 20),
      'silent peer dropped',
    ).toBe(true);
    expect(dead.pingsReceived, 'the server pinged before dropping it').toBeGreaterThan(0);
    const m = await sidecar.metrics();
    expect(
      m.sum('proflag_extproc_connections_closed_total', { reason: 'keepalive_timeout' }),
      'closed for keepalive',
    ).toBe(1);
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

  it('closes every connection gracefully at its age while the traffic on it loses nothing', async () => {
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
        const m = await sidecar.metrics();
        expect(
          m.sum('proflag_extproc_connections_closed_total', { reason: 'max_age' }),
          'closed for max_age',
        ).toBeGreaterThanOrEqual(2);
        busy.destroy();
        quiet.destroy();
      },
      // The probe's own connection ages out at least twice meanwhile.
      MAX_AGE_MS * 3,
    );
  }, 60_000);

  it('a client that reads late learns within message_timeout of its own delay what became of every stream', async () => {
    // Envoy may write new streams to a connection before it reads that connection's GOAWAY;
    // here the client reads everything 300 ms late. Node's server accepts no stream after its
    // first GOAWAY, so those streams are not served here: the final GOAWAY must tell the
    // client so (ids above its last-stream-id, safe to retry elsewhere) as soon as the client
    // has read the first one, not after a fixed delay. Every stream's fate (its answer, or
    // that GOAWAY) must reach the client within its own delay, twice (the first GOAWAY, then
    // the final one), plus Envoy's message_timeout.
    const LAG_MS = 300;
    const BOUND_MS = 2 * LAG_MS + MESSAGE_TIMEOUT_MS;
    const conn = new RawH2Connection(sidecar.grpcPort, { readLagMs: LAG_MS });
    await conn.connected;
    const openedAt = new Map<number, number>();
    const deadline = Date.now() + MAX_AGE_MS * 1.1 + LAG_MS + SLACK_MS;
    while (conn.goaways.length === 0 && !conn.isClosed && Date.now() < deadline) {
      const id = conn.openStream();
      conn.sendData(id, MESSAGE);
      openedAt.set(id, Date.now());
      await sleep(20);
    }
    expect(conn.goaways.length, 'GOAWAY read').toBeGreaterThan(0);
    await sleep(BOUND_MS + 500);
    const fateAt = (id: number) =>
      conn.firstDataAt.get(id) ?? conn.goaways.find((g) => g.lastStreamId < id)?.at ?? Infinity;
    const late = [...openedAt].filter(([id, at]) => fateAt(id) - at > BOUND_MS);
    const notServed = [...openedAt.keys()].filter((id) => !conn.dataBytes.has(id));
    expect(notServed.length, 'precondition: streams were opened after the first GOAWAY was sent').toBeGreaterThan(0);
    expect(
      late.map(([id, at]) => `stream ${id}: ${fateAt(id) - at} ms`),
      `streams whose fate took longer than ${BOUND_MS} ms, of ${openedAt.size} opened; GOAWAYs ${JSON.stringify(conn.goaways)}`,
    ).toEqual([]);
    for (const g of conn.goaways) expect(g.errorCode, 'graceful').toBe(RST_CODE.NO_ERROR);
    conn.destroy();
  }, 30_000);
});
