// A tiny echo backend for the demo stack: answers every request with JSON saying which
// backend served it and which proflag headers reached it. Plain node:http, no dependencies,
// so compose can run it straight from node:20-alpine with this file mounted.
import { Buffer } from 'node:buffer';
import { createServer } from 'node:http';
import process from 'node:process';

const name = process.env.BACKEND_NAME ?? 'backend';
const port = Number(process.env.PORT ?? 8080);

const server = createServer((req, res) => {
  // Drain the body so keep-alive connections stay usable; only its size is reported.
  let bytes = 0;
  req.on('data', (chunk) => (bytes += chunk.length));
  req.on('end', () => {
    const body = JSON.stringify({
      backend: name,
      method: req.method,
      path: req.url,
      bodyBytes: bytes,
      flags: req.headers['x-proflag-flags'] ?? null,
      // If this is ever set, Envoy failed to strip the routing header (see envoy/envoy.yaml).
      routeHeaderLeaked: req.headers['x-proflag-cluster'] ?? null,
      headers: req.headers,
    });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
});

server.listen(port, '0.0.0.0', () => process.stdout.write(`${name} listening on :${port}\n`));

// Exit promptly on `docker compose down` (PID 1 gets SIGTERM and has no default handler).
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => server.close(() => process.exit(0)).closeAllConnections());
}
