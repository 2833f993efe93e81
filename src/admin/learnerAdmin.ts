// The fleet learner's HTTP port (`npm run learner`, PROFLAG_LEARNER_ADMIN_ADDR, loopback by
// default): /metrics, /healthz and the same GET /learner as the sidecar's admin port. A port of
// its own (not the sidecar's admin server): the fleet learner has no flags, snapshot or
// readiness to show, and runs beside sidecars on one host in development.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { serveLearner, type LearnerStateSource } from './learnerRoute.js';

export interface LearnerAdminDeps {
  readonly registry: Registry;
  readonly learnerState: LearnerStateSource;
}

export async function startLearnerAdminServer(
  address: string,
  deps: LearnerAdminDeps,
): Promise<{ server: Server; port: number; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const json = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      res.end(JSON.stringify(body));
    };
    void (async () => {
      if (path === '/learner') return serveLearner(req, res, deps.learnerState);
      if (path === '/healthz') return json(200, { status: 'ok' });
      if (path === '/metrics') {
        const text = await deps.registry.metrics();
        res.writeHead(200, { 'content-type': deps.registry.contentType, 'cache-control': 'no-store' });
        res.end(text);
        return;
      }
      json(404, { error: 'not found', paths: ['/metrics', '/healthz', '/learner'] });
    })().catch((err: Error) => {
      if (!res.headersSent) json(500, { error: err.message });
    });
  });
  const lastColon = address.lastIndexOf(':');
  const host = address.slice(0, lastColon).replace(/^\[|\]$/g, '');
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(Number(address.slice(lastColon + 1)), host, () => resolve());
  });
  return {
    server,
    port: (server.address() as AddressInfo).port,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
