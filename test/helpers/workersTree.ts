// A PROFLAG_WORKERS=2 process tree as the workers tests start and drive it: its environment,
// how long it may take to start, and Envoy traffic over several connections at once.
import { EnvoyEmulator } from './envoyEmulator.js';

/**
 * The environment of a PROFLAG_WORKERS=2 tree on free ports, plus `env`. Connections are
 * recycled every 10 streams, so that a test's connections spread over both workers.
 */
export function twoWorkersEnv(env: Record<string, string>): Record<string, string> {
  return {
    PROFLAG_WORKERS: '2',
    PROFLAG_GRPC_ADDR: '127.0.0.1:0',
    PROFLAG_ADMIN_ADDR: '127.0.0.1:0',
    PROFLAG_STREAMS_PER_CONNECTION: '10',
    ...env,
  };
}

/** How long a tree of three processes may take to start: each compiles its TypeScript first. */
export const TREE_START_MS = 50_000;

/**
 * `connections` Envoy connections to `grpc`, `perConnection` requests each in turn, all
 * connections at once: the upstream cluster of every answer, or `error: …` for a failed one.
 */
export async function clustersServed(
  grpc: string,
  connections: number,
  perConnection: number,
  path: string,
): Promise<string[]> {
  const clusters: string[] = [];
  await Promise.all(
    Array.from({ length: connections }, async () => {
      const envoy = new EnvoyEmulator(grpc, { messageTimeoutMs: 2_000 });
      try {
        for (let i = 0; i < perConnection; i++) {
          const out = await envoy.request({ path, headers: { 'user-agent': 'curl/8.5.0' } });
          clusters.push(out.error === null ? out.cluster : `error: ${String(out.error)}`);
        }
      } finally {
        envoy.close();
      }
    }),
  );
  return clusters;
}
