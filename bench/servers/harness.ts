// The plumbing both bench servers share, so that they differ only in what they answer:
// the same gRPC edge (startExtProcServer, with PROFLAG_STREAMS_PER_CONNECTION connection
// recycling, default 500 as in the sidecar's configuration), `PORT <n>` on stdout once
// listening, and their own CPU and event-loop figures on request over the IPC channel.
import { performance } from 'node:perf_hooks';
import { pino } from 'pino';
import { startExtProcServer, type ExtProcServer } from '../../src/extproc/server.js';
import type { StreamHandler } from '../../src/extproc/stream.js';
import type { Metrics } from '../../src/telemetry/metrics.js';

export interface ServerStats {
  readonly cpuUserUs: number;
  readonly cpuSystemUs: number;
  /** Cumulative event-loop idle and active time (ms), from performance.eventLoopUtilization(). */
  readonly eluIdleMs: number;
  readonly eluActiveMs: number;
  readonly recycledConnections: number;
  readonly streams: number;
  /** Calls that ended with a non-OK gRPC status or without a decision (refused, undecodable). */
  readonly nonOkCalls: number;
}

export const DEFAULT_STREAMS_PER_CONNECTION = 500;

function streamsPerConnection(): number {
  const raw = process.env.PROFLAG_STREAMS_PER_CONNECTION;
  if (raw === undefined || raw === '') return DEFAULT_STREAMS_PER_CONNECTION;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new Error(`PROFLAG_STREAMS_PER_CONNECTION=${raw}: a whole number ≥ 0`);
  return n;
}

/** Start the gRPC edge around `handleStream`, announce the port, serve stats until told to stop. */
export async function serveForBench(handleStream: StreamHandler, metrics: Metrics): Promise<ExtProcServer> {
  // As compiled proflag runs (tsx turns source maps on).
  process.setSourceMapsEnabled(false);
  let streams = 0;
  const server = await startExtProcServer({
    address: '127.0.0.1:0',
    handleStream: (call) => {
      streams++;
      return handleStream(call);
    },
    logger: pino({ level: 'silent' }),
    metrics,
    streamsPerConnection: streamsPerConnection(),
  });
  server.setServing(true);

  process.on('message', (msg: unknown) => {
    if (msg !== 'stats') return;
    void Promise.all([metrics.connectionsRecycled.get(), metrics.callsRefused.get(), metrics.fallbacks.get()]).then(
      ([recycled, refused, fallbacks]) => {
        const cpu = process.cpuUsage();
        const elu = performance.eventLoopUtilization();
        const stats: ServerStats = {
          cpuUserUs: cpu.user,
          cpuSystemUs: cpu.system,
          eluIdleMs: elu.idle,
          eluActiveMs: elu.active,
          recycledConnections: recycled.values[0]?.value ?? 0,
          streams,
          // A 'truncated' call is one the client gave up in the middle of a message (h2load does
          // so with streams in flight when its -D duration ends); h2load never counts it as done.
          nonOkCalls:
            refused.values.filter((v) => v.labels.reason !== 'truncated').reduce((n, v) => n + v.value, 0) +
            fallbacks.values.filter((v) => v.labels.code === 'PROFLAG_ERR_PROTOCOL').reduce((n, v) => n + v.value, 0),
        };
        process.send?.(stats);
      },
    );
  });
  // The parent going away (or asking us to stop) ends the server.
  const stop = () => {
    void server.shutdown(200).finally(() => process.exit(0));
  };
  process.on('disconnect', stop);
  process.on('SIGTERM', stop);
  process.stdout.write(`PORT ${server.port}\n`);
  return server;
}
