// Minimal stand-ins for node:http's request and response, for the admin guard and routes.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';

export interface FakeRequestInit {
  method?: string;
  url?: string;
  headers?: Record<string, string>;
  remoteAddress?: string;
  body?: string;
}

export function fakeRequest(init: FakeRequestInit = {}): IncomingMessage {
  const req = Readable.from(init.body === undefined ? [] : [Buffer.from(init.body)]) as unknown as IncomingMessage;
  Object.assign(req, {
    method: init.method ?? 'GET',
    url: init.url ?? '/',
    headers: { host: '127.0.0.1:9464', ...init.headers },
    socket: { remoteAddress: init.remoteAddress ?? '127.0.0.1' },
  });
  return req;
}

export interface FakeResponse {
  readonly res: ServerResponse;
  status: number | null;
  headers: Record<string, string>;
  body: string;
  json(): Record<string, unknown>;
}

export function fakeResponse(): FakeResponse {
  const out: FakeResponse = {
    res: null as unknown as ServerResponse,
    status: null,
    headers: {},
    body: '',
    json: () => JSON.parse(out.body) as Record<string, unknown>,
  };
  const res = {
    headersSent: false,
    writeHead(status: number, headers: Record<string, string> = {}) {
      out.status = status;
      out.headers = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), String(v)]));
      res.headersSent = true;
      return res;
    },
    end(body?: string | Buffer) {
      if (body !== undefined) out.body += body.toString();
      return res;
    },
    destroy() {},
  };
  (out as { res: unknown }).res = res;
  return out;
}
