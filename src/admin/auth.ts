// Who may use the console and change things through the admin port (PROFLAG_ADMIN_TOKEN).
//
// With a token configured:
//   - every state-changing call (any method but GET/HEAD, on any admin path: /api/*, /explain,
//     routes added later) needs the token: `Authorization: Bearer <token>`, or the console's
//     session cookie *and* a JSON content type (a cross-site form cannot send one without a
//     CORS preflight, which this port never answers: the CSRF guard);
//   - the page (/ui) and its API (/api/*), reads included, need the token too. A browser logs
//     in once at /ui/login: a POST of the token sets an HttpOnly, SameSite=Strict cookie holding
//     `<expiry>.<HMAC(token, expiry)>` (never the token itself), which EventSource sends as well
//     (it cannot send headers). Rotating the token ends every session;
//   - /ui/login and /ui/assets/* (the bundle, no data) stay open, and so do the other reads
//     (/metrics, /healthz, /readyz, ...) as before.
// Without a token:
//   - a state-changing call is accepted only from a loopback peer (the admin port binds
//     127.0.0.1 by default; bound wider, changes from elsewhere are refused);
//   - /ui and /api answer only requests whose Host is a loopback name or the bound address
//     (a DNS-rebinding guard), and /api changes must be JSON (the CSRF guard).
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isJsonRequest, isReadMethod, readBody, sendJson } from './apiHttp.js';

export const SESSION_COOKIE = 'proflag_console';
export const SESSION_PATH = '/api/session';
export const LOGIN_PAGE = '/ui/login';
const DEFAULT_SESSION_TTL_MS = 12 * 60 * 60 * 1000;
/** Failed logins allowed per window, for the whole port (a token is not guessed online). */
const MAX_FAILED_LOGINS = 10;
const FAILED_LOGIN_WINDOW_MS = 10_000;

export interface AdminAuthOptions {
  /** PROFLAG_ADMIN_TOKEN, or null. */
  readonly token: string | null;
  /** The admin listener's address (PROFLAG_ADMIN_ADDR), for the Host check without a token. */
  readonly adminAddr: string;
  readonly sessionTtlMs?: number;
  readonly now?: () => number;
}

export interface AdminAuth {
  readonly tokenRequired: boolean;
  /** True when the request may go on; otherwise the refusal has been sent. */
  guard(req: IncomingMessage, res: ServerResponse, path: string): boolean;
  /** POST /api/session (log in: JSON {token} or a form field), DELETE /api/session (log out). */
  handleSession(req: IncomingMessage, res: ServerResponse): Promise<void>;
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/** Constant-time comparison (of fixed-length digests, so the length leaks nothing either). */
export function secretsEqual(a: string, b: string): boolean {
  return timingSafeEqual(digest(a), digest(b));
}

export function isLoopbackAddress(address: string | undefined): boolean {
  if (!address) return false;
  const a = address.startsWith('::ffff:') ? address.slice(7) : address;
  return a === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(a);
}

/** The host part of a Host header: `[::1]:9464` → `::1`, `localhost:80` → `localhost`. */
export function hostName(host: string | undefined): string | null {
  if (!host) return null;
  const h = host.trim().toLowerCase();
  if (h.startsWith('[')) {
    const end = h.indexOf(']');
    return end > 0 ? h.slice(1, end) : null;
  }
  const colon = h.indexOf(':');
  return colon >= 0 ? h.slice(0, colon) : h;
}

function bindHost(adminAddr: string): string {
  return adminAddr
    .slice(0, adminAddr.lastIndexOf(':'))
    .replace(/^\[|\]$/g, '')
    .toLowerCase();
}

function cookieValue(header: string | undefined, name: string): string | null {
  if (!header) return null;
  for (const part of header.slice(0, 8192).split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return null;
}

function bearerOf(req: IncomingMessage): string | null {
  const h = req.headers.authorization;
  if (typeof h !== 'string') return null;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(h);
  return m ? m[1]! : '';
}

function isConsolePath(path: string): boolean {
  return path === '/ui' || path.startsWith('/ui/') || path === '/api' || path.startsWith('/api/');
}

export function createAdminAuth(options: AdminAuthOptions): AdminAuth {
  const token = options.token;
  const ttl = options.sessionTtlMs ?? DEFAULT_SESSION_TTL_MS;
  const now = options.now ?? Date.now;
  const bound = bindHost(options.adminAddr);
  let failedWindowStart = 0;
  let failed = 0;

  const sign = (expires: number): string =>
    createHmac('sha256', token ?? '')
      .update(`proflag-console-session:${expires}`)
      .digest('base64url');

  const sessionValid = (req: IncomingMessage): boolean => {
    if (token === null) return false;
    const value = cookieValue(req.headers.cookie, SESSION_COOKIE);
    if (!value) return false;
    const dot = value.indexOf('.');
    const expires = Number(value.slice(0, dot));
    if (dot <= 0 || !Number.isSafeInteger(expires) || expires < now()) return false;
    return secretsEqual(value.slice(dot + 1), sign(expires));
  };

  const refuse = (res: ServerResponse, status: 401 | 403 | 415, message: string): false => {
    const headers: Record<string, string> = status === 401 ? { 'www-authenticate': 'Bearer realm="proflag"' } : {};
    sendJson(res, status, { error: message, code: status === 401 ? 'unauthorized' : 'forbidden' }, headers);
    return false;
  };

  const hostAllowed = (req: IncomingMessage): boolean => {
    const host = hostName(req.headers.host);
    if (host === null) return false;
    if (host === 'localhost' || host.endsWith('.localhost') || isLoopbackAddress(host)) return true;
    return host === bound && bound !== '0.0.0.0' && bound !== '::';
  };

  function guardOpen(req: IncomingMessage, res: ServerResponse, path: string): boolean {
    const read = isReadMethod(req.method);
    if (isConsolePath(path) && !hostAllowed(req)) {
      return refuse(
        res,
        403,
        'without PROFLAG_ADMIN_TOKEN the console answers only on a loopback name (localhost, 127.0.0.1, [::1]); set the token to open it elsewhere',
      );
    }
    if (!read && !isLoopbackAddress(req.socket.remoteAddress)) {
      return refuse(
        res,
        403,
        'state changes from another host need PROFLAG_ADMIN_TOKEN (set it, then send it as a Bearer token)',
      );
    }
    if (!read && path.startsWith('/api/') && !isJsonRequest(req)) {
      return refuse(res, 415, 'console changes must be sent as application/json');
    }
    return true;
  }

  function guardToken(req: IncomingMessage, res: ServerResponse, path: string): boolean {
    const read = isReadMethod(req.method);
    if (path === SESSION_PATH) return true; // the login itself (it checks the token)
    if (read && (path === LOGIN_PAGE || path.startsWith('/ui/assets/'))) return true;
    if (read && !isConsolePath(path)) return true; // /metrics, /healthz, /readyz, ... as before
    const bearer = bearerOf(req);
    if (bearer !== null) {
      if (bearer !== '' && secretsEqual(bearer, token!)) return true;
      return refuse(res, 401, 'wrong admin token');
    }
    if (sessionValid(req)) {
      if (!read && !isJsonRequest(req)) return refuse(res, 415, 'console changes must be sent as application/json');
      return true;
    }
    if (read && (path === '/ui' || path.startsWith('/ui/'))) {
      res.writeHead(303, { location: LOGIN_PAGE, 'cache-control': 'no-store' });
      res.end();
      return false;
    }
    return refuse(res, 401, 'PROFLAG_ADMIN_TOKEN is set: send Authorization: Bearer <token>, or log in at /ui/login');
  }

  async function handleSession(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method === 'DELETE') {
      res.writeHead(204, { 'set-cookie': `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0` });
      res.end();
      return;
    }
    if (req.method !== 'POST') {
      sendJson(res, 405, { error: 'POST the token to log in, DELETE to log out', code: 'method' });
      return;
    }
    const form = !isJsonRequest(req);
    if (token === null) {
      if (form) {
        res.writeHead(303, { location: '/ui/' });
        res.end();
      } else sendJson(res, 200, { ok: true, tokenRequired: false });
      return;
    }
    const t = now();
    if (t - failedWindowStart > FAILED_LOGIN_WINDOW_MS) {
      failedWindowStart = t;
      failed = 0;
    }
    if (failed >= MAX_FAILED_LOGINS) {
      sendJson(
        res,
        429,
        { error: 'too many failed logins; wait a few seconds', code: 'rate-limited' },
        { 'retry-after': '10' },
      );
      return;
    }
    let given = '';
    try {
      const body = await readBody(req, 4096);
      if (form) given = new URLSearchParams(body).get('token') ?? '';
      else {
        const parsed = JSON.parse(body) as { token?: unknown };
        given = typeof parsed.token === 'string' ? parsed.token : '';
      }
    } catch {
      given = '';
    }
    if (given === '' || !secretsEqual(given, token)) {
      failed++;
      if (form) {
        res.writeHead(303, { location: `${LOGIN_PAGE}?failed=1`, 'cache-control': 'no-store' });
        res.end();
      } else sendJson(res, 401, { error: 'wrong admin token', code: 'unauthorized' });
      return;
    }
    const expires = t + ttl;
    const cookie = `${SESSION_COOKIE}=${expires}.${sign(expires)}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${Math.floor(ttl / 1000)}`;
    if (form) {
      res.writeHead(303, { location: '/ui/', 'set-cookie': cookie, 'cache-control': 'no-store' });
      res.end();
    } else sendJson(res, 200, { ok: true, tokenRequired: true, expiresAt: expires }, { 'set-cookie': cookie });
  }

  return {
    tokenRequired: token !== null,
    guard: (req, res, path) => (token === null ? guardOpen(req, res, path) : guardToken(req, res, path)),
    handleSession,
  };
}
