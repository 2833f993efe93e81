// Oversize and garbage input on the real sidecar's gRPC port (issue 14): a 1 MB header value,
// 10,000 headers, random bytes instead of HTTP/2, a non-gRPC content type, a gRPC message with
// the compressed flag, a length prefix that claims 2 GB. Each is refused or decided within
// bounds (never buffered without limit, never a hang), the well-behaved probe keeps its
// answers within message_timeout meanwhile, and what the input held is freed.
import { randomBytes } from 'node:crypto';
import * as http2 from 'node:http2';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { duringProbe, expectFreed, footprint, MiB, type Footprint } from './helpers/guarantees.js';
import { grpcCall, GRPC_HEADERS, GRPC_STATUS, routedCluster, sidecarMs, verdict } from './helpers/grpcCall.js';
import { startProbe, type RunningProbe } from './helpers/probe.js';
import { grpcFrame, PROCESS_PATH, RawH2Connection, requestHeadersMessage } from './helpers/rawH2.js';
import { startSidecarProcess, waitUntil, type SidecarProcess } from './helpers/sidecarProcess.js';

const MAX_MESSAGE_BYTES = 512 * 1024;
/** Every message being assembled across DATA frames, all streams together. */
const MAX_ASSEMBLY_BYTES = 8 * MiB;
const MESSAGE_TIMEOUT_MS = 200;
/** "Within bounds" for input far larger than Envoy ever sends: answered or refused in 1 s. */
const BOUND_MS = 1_000;

const CURL = [
  [':method', 'GET'],
  [':path', '/anything'],
  [':authority', 'shop.example.com'],
  ['user-agent', 'curl/8.5.0'],
] as const;

describe('oversize and garbage input', () => {
  let sidecar: SidecarProcess;
  let probe: RunningProbe;
  let base: Footprint;

  beforeAll(async () => {
    sidecar = await startSidecarProcess({
      env: {
        PROFLAG_GRPC_MAX_MESSAGE_BYTES: String(MAX_MESSAGE_BYTES),
        PROFLAG_GRPC_MAX_ASSEMBLY_BYTES: String(MAX_ASSEMBLY_BYTES),
      },
    });
    probe = await startProbe(sidecar);
    base = await footprint(sidecar);
  }, 60_000);

  afterAll(async () => {
    await probe?.finish().catch(() => undefined);
    if (sidecar) {
      expect(sidecar.alive, 'the sidecar survived every input').toBe(true);
      expect(await sidecar.stop()).toBe(0);
    }
  }, 30_000);

  const oneMegabyteHeader = grpcFrame(requestHeadersMessage([...CURL, ['x-big', Buffer.alloc(1 << 20, 0x61)]]));

  it('a 1 MB header value is refused or decided within bounds, and nothing of it is kept', async () => {
    // Twenty 1 MB requests queue 20 MB in this client's session; with Node's default 10 MB
    // session memory the client itself would reset the streams (ENHANCE_YOUR_CALM) when the
    // server's early answers arrive, and hold its connection open.
    const session = http2.connect(`http://${sidecar.grpcAddress}`, { maxSessionMemory: 64 });
    session.on('error', () => {});
    let held: Footprint | null = null;
    try {
      await duringProbe(probe, async () => {
        // Twenty at once (20 MB in flight), then one by one.
        const burst = await Promise.all(
          Array.from({ length: 20 }, () => grpcCall('', { body: oneMegabyteHeader, deadlineMs: 10_000 }, session)),
        );
        held = await footprint(sidecar);
        for (const o of burst) expect(['refused', 'decided']).toContain(verdict(o));
        for (let i = 0; i < 5; i++) {
          const o = await grpcCall('', { body: oneMegabyteHeader, deadlineMs: 10_000 }, session);
          expect(['refused', 'decided']).toContain(verdict(o));
          expect(o.ms, 'answered within bounds').toBeLessThan(BOUND_MS);
        }
      });
    } finally {
      session.close();
    }
    expectFreed(base, held, await footprint(sidecar));
  }, 60_000);

  it('over PROFLAG_GRPC_MAX_MESSAGE_BYTES it is refused with RESOURCE_EXHAUSTED, never decided', async () => {
    const o = await grpcCall(sidecar.grpcAddress, { body: oneMegabyteHeader, deadlineMs: 10_000 });
    expect(verdict(o)).toBe('refused');
    expect(o.grpcStatus ?? o.rstCode).not.toBeNull();
    if (o.grpcStatus !== null) expect(o.grpcStatus).toBe(GRPC_STATUS.RESOURCE_EXHAUSTED);
    expect(o.ms).toBeLessThan(BOUND_MS);
  }, 30_000);

  it('10,000 headers are decided within message_timeout, correctly', async () => {
    const many: (readonly [string, string])[] = [...CURL];
    for (let i = 0; i < 10_000; i++) many.push([`x-h-${i}`, `value-${i}`]);
    const body = grpcFrame(requestHeadersMessage(many));
    expect(body.length).toBeLessThan(MAX_MESSAGE_BYTES); // this case is about the count
    const session = http2.connect(`http://${sidecar.grpcAddress}`);
    session.on('error', () => {});
    try {
      await duringProbe(probe, async () => {
        for (let i = 0; i < 20; i++) {
          const o = await grpcCall('', { body, deadlineMs: 5_000, sidecarPid: sidecar.pid }, session);
          expect(verdict(o)).toBe('decided');
          expect(routedCluster(o.replies[0]), 'curl is quarantined whatever else it sends').toBe('backend_quarantine');
          expect(sidecarMs(o), `answered within message_timeout (${o.ms.toFixed(0)} ms in all)`).toBeLessThan(
            MESSAGE_TIMEOUT_MS,
          );
        }
      });
    } finally {
      session.close();
    }
  }, 60_000);

  it('random bytes instead of HTTP/2 get the connection closed at once', async () => {
    await duringProbe(probe, async () => {
      const conns = Array.from({ length: 50 }, () => new RawH2Connection(sidecar.grpcPort, { preface: false }));
      await Promise.all(conns.map((c) => c.connected));
      for (const c of conns) c.write(randomBytes(64 * 1024));
      expect(
        await waitUntil(() => conns.every((c) => c.isClosed), 5_000, 20),
        `closed by the server: ${conns.filter((c) => c.isClosed).length} of 50`,
      ).toBe(true);
    });
    expect(await waitUntil(() => sidecar.openFds() <= base.fds + 2, 5_000, 100), 'descriptors back').toBe(true);
  }, 30_000);

  it('a non-gRPC content type on a valid HTTP/2 connection is refused, not decided', async () => {
    const body = grpcFrame(requestHeadersMessage(CURL));
    await duringProbe(probe, async () => {
      for (const headers of [
        { ':method': 'POST', ':path': PROCESS_PATH, 'content-type': 'application/json' },
        { ':method': 'POST', ':path': PROCESS_PATH, 'content-type': 'text/html' },
        { ':method': 'GET', ':path': '/' },
        { ':method': 'POST', ':path': '/no.such.Service/Method', 'content-type': 'application/grpc', te: 'trailers' },
      ]) {
        const o = await grpcCall(sidecar.grpcAddress, { body, headers, deadlineMs: 5_000 });
        expect(verdict(o), JSON.stringify(headers)).toBe('refused');
        expect(o.ms).toBeLessThan(BOUND_MS);
      }
    });
  }, 30_000);

  it('a compressed message without grpc-encoding is never decoded as plain bytes (gzip payload)', async () => {
    const o = await grpcCall(sidecar.grpcAddress, {
      body: grpcFrame(gzipSync(requestHeadersMessage(CURL)), { compressed: true }),
      deadlineMs: 5_000,
    });
    expect(['refused', 'ended-ok']).toContain(verdict(o));
    expect(o.ms).toBeLessThan(BOUND_MS);
  }, 30_000);

  it('a compressed message without grpc-encoding is refused even when its bytes parse', async () => {
    const o = await grpcCall(sidecar.grpcAddress, {
      body: grpcFrame(requestHeadersMessage(CURL), { compressed: true }),
      deadlineMs: 5_000,
    });
    expect(verdict(o)).toBe('refused');
    expect(o.grpcStatus, 'INTERNAL, as the gRPC spec says').toBe(GRPC_STATUS.INTERNAL);
    expect(o.ms).toBeLessThan(BOUND_MS);
  }, 30_000);

  it('a gzip bomb (64 MB of zeros in 64 KB) is refused without being inflated', async () => {
    const bomb = grpcFrame(gzipSync(Buffer.alloc(64 * MiB)), { compressed: true });
    const rssBefore = (await sidecar.metricsAfterGc()).rssBytes;
    const outcomes = await duringProbe(probe, () =>
      Promise.all(
        Array.from({ length: 10 }, () =>
          grpcCall(sidecar.grpcAddress, {
            body: bomb,
            headers: { ...GRPC_HEADERS, 'grpc-encoding': 'gzip' },
            deadlineMs: 5_000,
          }),
        ),
      ),
    );
    for (const o of outcomes) {
      expect(verdict(o)).toBe('refused');
      expect(o.ms).toBeLessThan(BOUND_MS);
    }
    // Ten bombs at once: at most the message limit each may be inflated, not 64 MB.
    expect((await sidecar.metrics()).rssBytes - rssBefore, 'inflated in memory').toBeLessThan(10 * 8 * MiB);
  }, 30_000);

  it('a length prefix that claims 2 GB is refused at once, before the body', async () => {
    const rssBefore = (await sidecar.metrics()).rssBytes;
    const outcomes = await duringProbe(probe, () =>
      Promise.all(
        Array.from({ length: 10 }, () =>
          grpcCall(sidecar.grpcAddress, {
            // 2^31 bytes announced, 64 KiB sent: the server must not wait for (or reserve) the rest.
            body: grpcFrame(randomBytes(64 * 1024), { claimedLength: 2 ** 31 }),
            deadlineMs: 5_000,
          }),
        ),
      ),
    );
    for (const o of outcomes) {
      expect(verdict(o)).toBe('refused');
      if (o.grpcStatus !== null) expect(o.grpcStatus).toBe(GRPC_STATUS.RESOURCE_EXHAUSTED);
      expect(o.ms).toBeLessThan(BOUND_MS);
    }
    expect((await sidecar.metrics()).rssBytes - rssBefore, 'no room reserved for the claim').toBeLessThan(64 * MiB);
  }, 30_000);

  it('large messages left unfinished on many streams hold no more than PROFLAG_GRPC_MAX_ASSEMBLY_BYTES in total', async () => {
    const ANNOUNCED = 500 * 1024; // each stream announces a message of this size, sends 100 bytes
    const STREAMS = 200; // 100 MB announced in all
    const unfinished = Buffer.alloc(5 + 100);
    unfinished.writeUInt32BE(ANNOUNCED, 1);
    const overBudget = async () =>
      (await sidecar.metrics()).sum('proflag_extproc_calls_refused_total', { reason: 'over_budget' });
    const external = async () => (await sidecar.metricsAfterGc()).sum('proflag_nodejs_external_memory_bytes');
    const refusedBefore = await overBudget();
    const externalBefore = await external();
    const held = Math.floor(MAX_ASSEMBLY_BYTES / ANNOUNCED);
    const conn = new RawH2Connection(sidecar.grpcPort);
    try {
      await duringProbe(probe, async () => {
        await conn.connected;
        for (let i = 0; i < STREAMS; i++) conn.sendData(conn.openStream(), unfinished);
        expect(
          await waitUntil(async () => (await overBudget()) - refusedBefore >= STREAMS - held, 10_000, 50),
          'every stream past the budget refused',
        ).toBe(true);
      });
      expect((await overBudget()) - refusedBefore).toBe(STREAMS - held);
      // What the held streams reserved is memory the process holds (external buffers): within
      // the budget, not streams × announced size.
      const grew = (await external()) - externalBefore;
      console.info(
        `[assembly budget] ${STREAMS} streams announced ${(STREAMS * ANNOUNCED) / MiB} MiB; ${held} held, ` +
          `${STREAMS - held} refused; external memory +${(grew / MiB).toFixed(1)} MiB (budget ${MAX_ASSEMBLY_BYTES / MiB} MiB)`,
      );
      expect(grew).toBeLessThan(MAX_ASSEMBLY_BYTES + 4 * MiB);
    } finally {
      conn.destroy();
    }
    // Their streams gone, the budget is free again: a new unfinished message is held, not refused.
    await new Promise((r) => setTimeout(r, 500)); // the connection's close reaches its streams
    const again = new RawH2Connection(sidecar.grpcPort);
    try {
      await again.connected;
      const before = await overBudget();
      for (let i = 0; i < held; i++) again.sendData(again.openStream(), unfinished);
      await new Promise((r) => setTimeout(r, 300));
      expect(await overBudget()).toBe(before);
    } finally {
      again.destroy();
    }
  }, 60_000);
});
