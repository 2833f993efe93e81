// CONTRACT §6 as plans for the gRPC edge: the immediate reply, the rewritten :path with
// clear_route_cache, the response-header mutation; sanitized again where they leave proflag.
import { describe, expect, it } from 'vitest';
import { parseFlagValue } from '../../../src/flags/schema.js';
import { compileSnapshot } from '../../../src/matcher/compile.js';
import { decide, NO_DECISION, type Decision } from '../../../src/matcher/match.js';
import { planMutation, NO_MUTATION } from '../../../src/routing/mutationPlan.js';
import { isSendablePath, rewrittenPath } from '../../../src/routing/pathRewrite.js';
import {
  boundedBody,
  planImmediateResponse,
  planRequest,
  planResponseHeaders,
  sanitizeDetails,
} from '../../../src/routing/transformPlan.js';
import { headersOf, profileOf } from '../../helpers/profiles.js';

const options = { routeHeader: 'x-proflag-cluster', flagsHeader: 'x-proflag-flags', maxFlagsHeaderLength: 200 };
const facts = (rawPath: string | null = '/api/v1/items?id=7') => ({
  routeHeaderSent: false,
  flagsHeaderSent: false,
  rawPath,
});

function decisionFor(docs: Record<string, unknown>[]): Decision {
  const flags = docs.map((d) => {
    const r = parseFlagValue({ enabled: true, ...d });
    if (!r.ok) throw new Error(JSON.stringify(r.issues));
    return r.flag;
  });
  return decide(compileSnapshot(flags, { version: 1, source: 't', rejected: [] }), profileOf(), headersOf(), 1e12);
}

describe('rewritePath', () => {
  const rewrite = { prefix: '/api/v1/', to: '/api/v2/' };

  it('replaces the prefix of the raw path, keeping the rest and the query as they are', () => {
    expect(rewrittenPath('/api/v1/items?id=7&x=%2F', rewrite)).toBe('/api/v2/items?id=7&x=%2F');
    expect(rewrittenPath('/api/v1/', rewrite)).toBe('/api/v2/');
  });

  it('leaves a path without the prefix alone', () => {
    expect(rewrittenPath('/api/v10/items', rewrite)).toBeNull();
    expect(rewrittenPath('/API/v1/items', rewrite)).toBeNull();
    expect(rewrittenPath('/api/v1', rewrite)).toBeNull();
    expect(rewrittenPath(null, rewrite)).toBeNull();
    expect(rewrittenPath('/x', null)).toBeNull();
    expect(rewrittenPath('/same', { prefix: '/same', to: '/same' })).toBeNull();
  });

  it('never produces a path Envoy would refuse', () => {
    expect(rewrittenPath('/a/\u0000', { prefix: '/a/', to: '/b/' })).toBeNull();
    expect(rewrittenPath(`/a/${'x'.repeat(20_000)}`, { prefix: '/a/', to: '/b/' })).toBeNull();
    expect(isSendablePath('/ok?q=1')).toBe(true);
    for (const bad of ['', 'relative', '/sp ace', '/del\u007f', '/wide\u0100']) expect(isSendablePath(bad)).toBe(false);
  });

  it('goes into the request plan as the new :path, with clear_route_cache', () => {
    const d = decisionFor([{ name: 'v2', actions: { rewritePath: rewrite } }]);
    const p = planMutation(d, facts(), options);
    expect(p.path).toBe('/api/v2/items?id=7');
    expect(p.clearRouteCache).toBe(true);
    expect(p.set).toEqual([['x-proflag-flags', 'v2=true']]);
    const untouched = planMutation(d, facts('/other'), options);
    expect(untouched.path).toBeNull();
    expect(untouched.clearRouteCache).toBe(false);
  });
});

describe('immediate reply', () => {
  const blocker = {
    name: 'maint',
    respondLimit: { perSecond: 10 },
    actions: {
      respond: {
        status: 503,
        headers: { 'retry-after': '120', 'content-type': 'text/plain; charset=utf-8' },
        body: 'down for maintenance',
        details: 'proflag_maintenance',
      },
    },
  };

  it('carries status, headers, body and details as plain data', () => {
    const plan = planRequest(decisionFor([blocker]), facts(), options);
    expect(plan).toEqual({
      kind: 'respond',
      reply: {
        flag: 'maint',
        status: 503,
        headers: [
          ['retry-after', '120'],
          ['content-type', 'text/plain; charset=utf-8'],
        ],
        body: 'down for maintenance',
        details: 'proflag_maintenance',
      },
    });
  });

  it('is sanitized again at emission (a decision that did not come from a valid flag)', () => {
    const d = decisionFor([blocker]);
    const forged: Decision = {
      ...d,
      respond: {
        flag: 'maint',
        reply: {
          status: 429,
          headers: [
            ['x-ok', 'a\r\nb'],
            ['Bad Name', '1'],
            [':status', '200'],
            ['content-length', '5'],
            ['x-envoy-upstream', '1'],
          ],
          body: `${'é'.repeat(2047)}xyz\u0000`,
          details: 'two words\n',
        },
      },
    };
    const reply = planImmediateResponse(forged)!;
    expect(reply.headers).toEqual([['x-ok', 'ab']]);
    expect(Buffer.byteLength(reply.body, 'utf8')).toBeLessThanOrEqual(4096);
    expect(reply.body.endsWith('éxy')).toBe(true);
    expect(reply.details).toBe('two_words_');
    expect(
      planImmediateResponse({
        ...forged,
        respond: { ...forged.respond!, reply: { ...forged.respond!.reply, status: 700 } },
      }),
    ).toBeNull();
  });

  it('bounded bodies cut at a character boundary', () => {
    expect(boundedBody('ab€', 4)).toBe('ab');
    expect(boundedBody('😀😀', 5)).toBe('😀');
    expect(sanitizeDetails('')).toBeNull();
    expect(sanitizeDetails(null)).toBeNull();
  });
});

describe('response headers', () => {
  it('no response work unless a flag changes response headers', () => {
    expect(planResponseHeaders(NO_DECISION)).toBeNull();
    const plan = planRequest(decisionFor([{ name: 'plain', actions: { route: { cluster: 'c' } } }]), facts(), options);
    expect(plan.kind === 'continue' && plan.response).toBeNull();
  });

  it('the set and remove lists of the matches, sanitized', () => {
    const d = decisionFor([
      { name: 'a', actions: { responseHeaders: { set: { 'x-served-by': 'canary' }, remove: ['server'] } } },
    ]);
    const plan = planRequest(d, facts(), options);
    expect(plan).toMatchObject({
      kind: 'continue',
      response: { set: [['x-served-by', 'canary']], remove: ['server'] },
    });
    const forged: Decision = {
      ...d,
      responseSetHeaders: new Map([
        ['x-a', 'v\u0000'],
        ['transfer-encoding', 'chunked'],
      ]),
      responseRemoveHeaders: [':status', 'x-b'],
    };
    expect(planResponseHeaders(forged)).toEqual({ set: [['x-a', 'v']], remove: ['x-b'] });
  });

  it('a request that ends in a reply needs no response phase', () => {
    const d = decisionFor([
      {
        name: 'b',
        respondLimit: { perSecond: 1 },
        actions: { respond: { status: 429 }, responseHeaders: { set: { 'x-a': '1' } } },
      },
    ]);
    expect(planResponseHeaders(d)).toBeNull();
  });
});

describe('bounds', () => {
  it('at most 64 header mutations per direction, proflag’s own headers first', () => {
    const docs = Array.from({ length: 40 }, (_, i) => ({
      name: `f${String(i).padStart(2, '0')}`,
      actions: {
        route: { cluster: 'c' },
        requestHeaders: { set: { [`x-s${i}`]: '1' }, remove: [`x-r${i}`] },
        responseHeaders: { set: { [`x-s${i}`]: '1' }, remove: [`x-r${i}`] },
      },
    }));
    const d = decisionFor(docs);
    const p = planMutation(d, facts(), options);
    expect(p.set.length + p.remove.length).toBe(64);
    expect(p.set[0]![0]).toBe('x-proflag-cluster');
    expect(p.set[1]![0]).toBe('x-proflag-flags');
    const r = planResponseHeaders(d)!;
    expect(r.set.length + r.remove.length).toBe(64);
  });

  it('no decision, no client headers, no rewrite: no mutation', () => {
    expect(planMutation(NO_DECISION, facts(), options)).toBe(NO_MUTATION);
  });
});
