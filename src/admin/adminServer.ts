// The admin HTTP port (loopback by default): /metrics, /healthz, /readyz, /explain, and the
// routes handed in (the console: /ui, /api).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { HeaderLookup, RequestProfile } from '../features/profile.js';
import { explain } from '../matcher/explain.js';
import type { Snapshot } from '../matcher/snapshot.js';
import { serveLearner, type LearnerStateSource } from './learnerRoute.js';

export interface ReadinessState {
  /** True once a snapshot has been loaded from the configured store. */
  readonly ready: boolean;
  readonly stale: boolean;
  readonly version: number | null;
  /** Ms since the last successful sync, null before the first. */
  readonly syncAgeMs: number | null;
  readonly source: string;
  readonly detail?: Record<string, unknown>;
}

/** A route for every path under `prefix` (registered by sidecar.ts, e.g. the console's). */
export interface AdminRoute {
  readonly prefix: string;
  handle(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> | void;
}

export interface AdminDeps {
  readonly registry: Registry;
  readonly readiness: () => ReadinessState;
  readonly snapshot: () => Snapshot;
  readonly extract: (input: { headers: HeaderLookup; sourceAddress: string | null; nowMs: number }) => RequestProfile;
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
  const map = new Map<string, string>();
  for (const [k, v] of Object.entries(input.headers ?? {})) if (typeof v === 'string') map.set(k.toLowerCase(), v);
  const headers: HeaderLookup = { get: (n) => map.get(n) };
  const nowMs = Date.now();
  const profile = deps.extract({
    headers,
    sourceAddress: typeof input.sourceAddress === 'string' ? input.sourceAddress : null,
    nowMs,
  });
  send(res, 200, explain(deps.snapshot(), profile, headers, nowMs));
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
          const state = deps.readiness();
          send(res, state.ready && !state.stale ? 200 : 503, state);
          return;
        }
        case '/explain':
          await handleExplain(req, res, deps);
          return;
        case '/learner':
          return serveLearner(req, res, deps.learnerState);
        default: {
          const route = deps.routes?.find((r) => path === r.prefix || path.startsWith(`${r.prefix}/`));
          if (route) return route.handle(req, res, path);
          send(res, 404, {
            error: 'not found',
            paths: ['/metrics', '/healthz', '/readyz', '/explain', '/learner', '/ui'],
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
