// The admin HTTP port (loopback by default): /metrics, /healthz, /readyz, /explain, /learner,
// and the routes handed in (the console: /ui, /api). The same server runs in the sidecar (one process) and in the primary of PROFLAG_WORKERS
// workers: routes reach the serving processes' state only through `serving` (see
// servingTopics.ts), and metrics and readiness come as functions the caller combines.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ExperimentReport } from '../experiments/core/report.js';
import { EXPERIMENTS_PATH, handleExperiments } from './experimentsRoute.js';
import { serveLearner, type LearnerStateSource } from './learnerRoute.js';
import type { ExplainInput, ReadinessState, ServingProcesses } from './servingTopics.js';

export type { ReadinessState } from './servingTopics.js';

/** The Prometheus text of /metrics: one registry, or the workers' combined. */
export interface MetricsSource {
  metrics(): Promise<string>;
  readonly contentType: string;
}

/** A route for every path under `prefix` (registered by sidecar.ts, e.g. the console's). */
export interface AdminRoute {
  readonly prefix: string;
  handle(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> | void;
}

export interface AdminDeps {
  readonly registry: MetricsSource;
  readonly readiness: () => ReadinessState | Promise<ReadinessState>;
  readonly serving: ServingProcesses;
  /** GET /learner (learnerRoute.ts); absent or null: no learner here. */
  readonly learnerState?: LearnerStateSource;
  /** Routes served under their prefix (the console's /api and /ui: admin/api.ts). */
  readonly routes?: readonly AdminRoute[];
  /** Runs first for every request; false = refused (it has answered). See admin/auth.ts. */
  readonly guard?: (req: IncomingMessage, res: ServerResponse, path: string) => boolean;
}

const MAX_EXPLAIN_BODY = 64 * 1024;

function send(res: ServerResponse, status: number, body: unknown, type = 'application/json'): void {
  const text = type === 'application/json' ? JSON.stringify(body, null, 2) : String(body);
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
  res.end(text);
}

async function readBody(req: IncomingMessage): Promise<string> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_EXPLAIN_BODY) throw new Error(`body over ${MAX_EXPLAIN_BODY} bytes`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** /explain takes {"headers": {"name": "value"}, "sourceAddress"?: "1.2.3.4:5"} by POST. */
async function handleExplain(req: IncomingMessage, res: ServerResponse, deps: AdminDeps): Promise<void> {
  if (req.method !== 'POST') {
    send(res, 405, { error: 'POST a JSON body {"headers": {...}, "sourceAddress": "ip:port"}' });
    return;
  }
  let input: { headers?: Record<string, unknown>; sourceAddress?: unknown };
  try {
    input = JSON.parse(await readBody(req)) as typeof input;
  } catch (err) {
    send(res, 400, { error: `invalid body: ${(err as Error).message}` });
    return;
  }
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(input.headers ?? {})) if (typeof v === 'string') headers[k.toLowerCase()] = v;
  const explainInput: ExplainInput = {
    headers,
    sourceAddress: typeof input.sourceAddress === 'string' ? input.sourceAddress : null,
  };
  const answer = await deps.serving.askOne('explain', explainInput);
  // With workers: which one explained (each has its own snapshot of the same flags).
  if (answer.worker !== null) res.setHeader('x-proflag-worker', answer.worker);
  send(res, 200, answer.value);
}

/** Experiment reports from a serving process (with workers, any one: they share Redis). */
function experimentsOf(serving: ServingProcesses) {
  return {
    async report(flag: string, options: { sinceMs?: number; relativeEffect?: number }) {
      const answer = await serving.askOne('experimentReport', { flag, ...options });
      if (answer.value === undefined)
        throw new Error('experiments need the Redis flag store (this sidecar serves files)');
      return answer.value as ExperimentReport | null;
    },
  };
}

export async function startAdminServer(
  address: string,
  deps: AdminDeps,
): Promise<{ server: Server; port: number; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    void (async () => {
      if (deps.guard && !deps.guard(req, res, path)) return;
      switch (path) {
        case '/metrics':
          send(res, 200, await deps.registry.metrics(), deps.registry.contentType);
          return;
        case '/healthz':
          send(res, 200, { status: 'ok' });
          return;
        case '/readyz': {
          const state = await deps.readiness();
          send(res, state.ready && !state.stale ? 200 : 503, state);
          return;
        }
        case '/explain':
          await handleExplain(req, res, deps);
          return;
        case '/learner':
          return serveLearner(req, res, deps.learnerState);
        default: {
          if (path.startsWith(EXPERIMENTS_PATH)) return handleExperiments(req, res, experimentsOf(deps.serving));
          const route = deps.routes?.find((r) => path === r.prefix || path.startsWith(`${r.prefix}/`));
          if (route) return route.handle(req, res, path);
          send(res, 404, {
            error: 'not found',
            paths: ['/metrics', '/healthz', '/readyz', '/explain', '/learner', '/experiments/NAME', '/ui'],
          });
        }
      }
    })().catch((err: Error) => {
      if (!res.headersSent) send(res, 500, { error: err.message });
    });
  });
  const lastColon = address.lastIndexOf(':');
  const host = address.slice(0, lastColon).replace(/^\[|\]$/g, '');
  const port = Number(address.slice(lastColon + 1));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return {
    server,
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        // Browsers keep idle connections open (the console): do not wait for their timeout.
        server.closeIdleConnections();
      }),
  };
}
