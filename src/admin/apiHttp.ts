// Small HTTP helpers shared by the console's admin routes (api, ui, auth, events).
import type { IncomingMessage, ServerResponse } from 'node:http';

/** The largest JSON body the console API reads (a flag document is at most 1 MiB). */
export const MAX_API_BODY = 1024 * 1024 + 4096;

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    /** Stable, machine-readable reason (`not-found`, `conflict`, ...). */
    readonly code: string = 'error',
    readonly detail?: unknown,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    ...headers,
  });
  res.end(text);
}

export function sendError(res: ServerResponse, err: unknown): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  if (err instanceof HttpError) {
    sendJson(res, err.status, {
      error: err.message,
      code: err.code,
      ...(err.detail !== undefined ? { detail: err.detail } : {}),
    });
    return;
  }
  sendJson(res, 500, { error: (err as Error).message ?? 'internal error', code: 'internal' });
}

export async function readBody(req: IncomingMessage, limit = MAX_API_BODY): Promise<string> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) throw new HttpError(413, `body over ${limit} bytes`, 'too-large');
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** A JSON object body (an empty body is `{}`). */
export async function readJsonObject(req: IncomingMessage): Promise<Record<string, unknown>> {
  const text = await readBody(req);
  if (text.trim() === '') return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new HttpError(400, `invalid JSON body: ${(err as Error).message}`, 'bad-json');
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new HttpError(400, 'the body must be a JSON object', 'bad-json');
  }
  return value as Record<string, unknown>;
}

export function isReadMethod(method: string | undefined): boolean {
  return method === 'GET' || method === 'HEAD';
}

export function isJsonRequest(req: IncomingMessage): boolean {
  const type = req.headers['content-type'];
  return typeof type === 'string' && /^application\/json\s*(;|$)/i.test(type);
}

/** The path's query parameters. */
export function queryOf(req: IncomingMessage): URLSearchParams {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  return new URLSearchParams(q >= 0 ? url.slice(q + 1) : '');
}
