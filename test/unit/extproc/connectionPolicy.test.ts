// How the edge closes a connection (src/extproc/connectionPolicy.ts), seen at frame level by
// a raw HTTP/2 client: GOAWAY(2^31-1) and a PING first, the final GOAWAY only once the PING is
// answered (or after the grace), and a client that stops reading cannot hold a connection,
// or a shutdown, past the grace. The black-box versions, on the real process, are in
// test/abuse/ (keepaliveAndAge, slowClients, processFaults).
import { afterEach, describe, expect, it } from 'vitest';
import { headersOutcome } from '../../../src/extproc/requestProcessor.js';
import { startExtProcServer, type ExtProcServer } from '../../../src/extproc/server.js';
import { createStreamHandler } from '../../../src/extproc/stream.js';
import type { GrpcLimits } from '../../../src/extproc/limits.js';
import { createLogger } from '../../../src/telemetry/logger.js';
import { createMetrics } from '../../../src/telemetry/metrics.js';
import { grpcFrame, RawH2Connection, requestHeadersMessage } from '../../abuse/helpers/rawH2.js';
import { sleep, waitUntil } from '../../abuse/helpers/sidecarProcess.js';

const MESSAGE = grpcFrame(requestHeadersMessage([[':path', '/']]));
const MAX_STREAM_ID = 2 ** 31 - 1;

let running: ExtProcServer[] = [];
afterEach(async () => {
  await Promise.all(running.map((s) => s.shutdown(100)));
  running = [];
});

async function start(streamsPerConnection: number, limits: Partial<GrpcLimits>): Promise<ExtProcServer> {
  const metrics = createMetrics({ defaultMetrics: false });
  const logger = createLogger('silent');
  const outcome = headersOutcome({}, null, null);
  const server = await startExtProcServer({
    address: '127.0.0.1:0',
    handleStream: createStreamHandler({ processRequestHeaders: () => outcome, metrics, logger }),
    logger,
    metrics,
    streamsPerConnection,
    limits: { keepaliveMs: 0, idleTimeoutMs: 0, ...limits },
  });
  running.push(server);
  return server;
}

async function connect(port: number, answerPings: boolean): Promise<RawH2Connection> {
  const conn = new RawH2Connection(port, { answerPings });
  await conn.connected;
  await waitUntil(() => conn.serverSettings !== null, 2_000, 2);
  return conn;
}

describe('graceful close', () => {
  it('sends the final GOAWAY as soon as the client answers the PING that follows the first', async () => {
    const server = await start(1, { closeGraceMs: 2_000 });
    const conn = await connect(server.port, true);
    conn.sendData(conn.openStream(), MESSAGE); // the first stream reaches the limit: recycled
    expect(await waitUntil(() => conn.goaways.length === 2, 1_000, 2), 'both GOAWAYs, long before the grace').toBe(
      true,
    );
    const [first, final] = conn.goaways;
    expect(first!.lastStreamId).toBe(MAX_STREAM_ID);
    expect(final!.lastStreamId).toBe(1);
    expect(conn.pingsReceived).toBe(1);
    conn.destroy();
  });

  it('waits for the PING answer, at most the grace, before the final GOAWAY', async () => {
    const server = await start(1, { closeGraceMs: 300 });
    const conn = await connect(server.port, false);
    conn.sendData(conn.openStream(), MESSAGE);
    await sleep(150);
    expect(
      conn.goaways.map((g) => g.lastStreamId),
      'no answer yet: only the first',
    ).toEqual([MAX_STREAM_ID]);
    expect(await waitUntil(() => conn.goaways.length === 2, 1_000, 5), 'the final GOAWAY after the grace').toBe(true);
    conn.destroy();
  });

  it('destroys the connection of a client that stopped reading, and shutdown ends within its grace', async () => {
    const server = await start(0, { closeGraceMs: 100 });
    const deaf = await connect(server.port, true);
    deaf.sendData(deaf.openStream(), MESSAGE); // a stream it never ends
    await sleep(50);
    deaf.stopReading(); // and it will never answer the PING, nor read the server's FIN
    const t0 = Date.now();
    await server.shutdown(300);
    expect(Date.now() - t0, 'shutdown with a client that never closes its side').toBeLessThan(1_500);
    running = [];
    deaf.destroy();
  });
});
