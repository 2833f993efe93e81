// The console's page: the files `npm run build` bundles into dist/ui, served at /ui.
// Hashed assets are cached for a year, the HTML never (it names the current assets); any other
// path under /ui without a file extension gets index.html (the page routes itself); nothing
// outside dist/ui is ever read (paths are decoded, normalised and checked against the root).
import { readFile, stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sendJson } from './apiHttp.js';

/** dist/ui of this checkout, from src/admin (tsx) and dist/admin (built) alike. */
export const DEFAULT_UI_DIR = fileURLToPath(new URL('../../dist/ui/', import.meta.url));

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.woff2': 'font/woff2',
};

/** Everything is bundled: the page may load nothing from anywhere else. */
const CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

export interface UiRouteOptions {
  /** Folder of the built page. Default: dist/ui. */
  readonly dir?: string;
}

export interface UiRoute {
  readonly prefix: '/ui';
  handle(req: IncomingMessage, res: ServerResponse, path: string): Promise<void>;
}

/** The file under `root` that a /ui path names, or null when it would leave the root. */
export function resolveUiPath(root: string, path: string): string | null {
  let rel: string;
  try {
    rel = decodeURIComponent(path.slice('/ui/'.length));
  } catch {
    return null;
  }
  if (rel.includes('\0') || rel.includes('\\')) return null;
  if (rel.split('/').some((part) => part.startsWith('.'))) return null; // dot files and ..
  const full = resolve(root, rel === '' ? 'index.html' : rel);
  return full === root || full.startsWith(root.endsWith(sep) ? root : root + sep) ? full : null;
}

async function fileSize(path: string): Promise<number | null> {
  try {
    const s = await stat(path);
    return s.isFile() ? s.size : null;
  } catch {
    return null;
  }
}

export function createUiRoute(options: UiRouteOptions = {}): UiRoute {
  const root = resolve(options.dir ?? DEFAULT_UI_DIR);

  async function serve(req: IncomingMessage, res: ServerResponse, file: string, status = 200): Promise<void> {
    const body = await readFile(file);
    const type = TYPES[extname(file)] ?? 'application/octet-stream';
    const immutable = file.startsWith(resolve(root, 'assets') + sep);
    const headers: Record<string, string> = {
      'content-type': type,
      'content-length': String(body.length),
      'cache-control': immutable ? 'public, max-age=31536000, immutable' : 'no-cache',
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
    };
    if (type.startsWith('text/html')) {
      headers['content-security-policy'] = CSP;
      headers['x-frame-options'] = 'DENY';
    }
    res.writeHead(status, headers);
    res.end(req.method === 'HEAD' ? undefined : body);
  }

  return {
    prefix: '/ui',
    async handle(req, res, path) {
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        sendJson(res, 405, { error: 'the console page is read with GET', code: 'method' });
        return;
      }
      if (path === '/ui') {
        res.writeHead(301, { location: '/ui/', 'cache-control': 'no-cache' });
        res.end();
        return;
      }
      const index = resolve(root, 'index.html');
      if ((await fileSize(index)) === null) {
        res.writeHead(503, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
        res.end(`The console is not built (no ${index}): run npm run build.\n`);
        return;
      }
      const file = resolveUiPath(root, path);
      if (file === null) {
        sendJson(res, 400, { error: 'bad path', code: 'bad-path' });
        return;
      }
      if ((await fileSize(file)) !== null) return serve(req, res, file);
      if (path === '/ui/login') return serve(req, res, resolve(root, 'login.html'));
      // A missing asset is a 404; a page path (no extension) is the page's own route.
      if (extname(file) !== '') {
        sendJson(res, 404, { error: 'not found', code: 'not-found' });
        return;
      }
      return serve(req, res, index);
    },
  };
}
