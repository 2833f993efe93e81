// POST /api/explain's body (the console's explain form) as the `explain` serving topic's input:
// method and path become the pseudo-headers, headers come as an object or as "name: value"
// lines, and the client IP as the source address the extractor reads.
import { isIP } from 'node:net';
import { HttpError } from './apiHttp.js';
import type { ExplainInput } from './servingTopics.js';

export function explainInputOf(body: Record<string, unknown>): ExplainInput {
  const headers: Record<string, string> = {};
  const given = body.headers;
  if (given && typeof given === 'object' && !Array.isArray(given)) {
    for (const [k, v] of Object.entries(given)) if (typeof v === 'string') headers[k.toLowerCase()] = v;
  } else if (typeof given === 'string') {
    for (const line of given.split(/\r?\n/)) {
      const colon = line.indexOf(':', 1);
      if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
  }
  headers[':method'] = typeof body.method === 'string' && body.method !== '' ? body.method.toUpperCase() : 'GET';
  headers[':path'] = typeof body.path === 'string' && body.path !== '' ? body.path : '/';
  let sourceAddress: string | null = null;
  if (typeof body.clientIp === 'string' && body.clientIp.trim() !== '') {
    const ip = body.clientIp.trim();
    const kind = isIP(ip);
    if (kind === 0) throw new HttpError(400, 'clientIp: an IPv4 or IPv6 address', 'bad-request');
    sourceAddress = kind === 6 ? `[${ip}]:0` : `${ip}:0`;
  }
  return { headers, sourceAddress };
}
