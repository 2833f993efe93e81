// Issue 11, part 3: ranges that can never match are refused at validation, each with a reason
// that says why and, where there is one, what to write instead. One test per kind of dead range.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { normalizeEndpoint } from '../../../src/features/endpoint.js';
import { embedsToNothing, embedUserAgent } from '../../../src/features/userAgent.js';
import { endpointPatternProblem } from '../../../src/flags/deadRanges.js';
import { parseFlagValue } from '../../../src/flags/schema.js';
import { compileSnapshot } from '../../../src/matcher/compile.js';
import { decide } from '../../../src/matcher/match.js';
import { headersOf, profileOf } from '../../helpers/profiles.js';

const base = { name: 'dead', enabled: true };

function refusal(profile: Record<string, unknown>): { path: string; message: string } {
  const r = parseFlagValue({ ...base, profile });
  if (r.ok) throw new Error('accepted');
  expect(r.issues).toHaveLength(1);
  return r.issues[0]!;
}

describe('endpoint patterns the normalizer would rewrite', () => {
  const cases: [string, string, RegExp][] = [
    ['/orders/12345', '/orders/{id}', /segment "12345" looks like an identifier/],
    ['/users/550e8400-e29b-41d4-a716-446655440000/cart', '/users/{id}/cart', /identifier/],
    ['/blobs/0123456789abcdef0123', '/blobs/{id}', /identifier/],
    ['/report/2024-01-15.pdf', '/report/{id}.pdf', /identifier/],
    ['/orders/12345/**', '/orders/{id}/**', /identifier/],
    ['/a//b', '/a/b', /normalized/],
    ['/a/./b', '/a/b', /normalized/],
    ['/a/../b', '/b', /normalized/],
    ['/caf%C3%A9', '/café', /segment "caf%C3%A9" is written "café"/],
    ['/a%2fb', '/a%2Fb', /is written "a%2Fb"/],
  ];
  it.each(cases)('refuses %s and says to write %s', (pattern, instead, why) => {
    const issue = refusal({ endpoint: { in: ['/fine', pattern] } });
    expect(issue.path).toBe('profile.endpoint.in[1]');
    expect(issue.message).toMatch(/^can never match: /);
    expect(issue.message).toMatch(why);
    expect(issue.message).toContain(`write "${instead}" instead`);
  });

  it('accepts patterns the normalizer keeps, wildcards and a trailing slash', () => {
    for (const p of ['/', '/orders', '/orders/{id}', '/orders/{id}.json', '/a/*/b', '/api/**', '/checkout/', '/v2']) {
      expect(endpointPatternProblem(p), p).toBeNull();
    }
  });

  it('a literal {id} segment matches the normalized path of every id', () => {
    const r = parseFlagValue({ ...base, profile: { endpoint: { in: ['/orders/{id}'] } } });
    expect(r.ok).toBe(true);
    const snapshot = compileSnapshot(r.ok ? [r.flag] : [], { version: 1, source: 't', rejected: [] });
    for (const raw of ['/orders/12345', '/orders/550e8400-e29b-41d4-a716-446655440000', '/orders/42?x=1']) {
      const endpoint = normalizeEndpoint(raw);
      expect(decide(snapshot, profileOf({ endpoint }), headersOf()).matches, raw).toHaveLength(1);
    }
    expect(decide(snapshot, profileOf({ endpoint: '/orders' }), headersOf()).matches).toHaveLength(0);
  });

  it('every pattern it accepts is a fixed point of the normalizer, so a request can reach it (property)', () => {
    const segment = fc.oneof(
      fc.constantFrom('a', 'orders', '*', '{id}', '12', '.', '..', '', 'x%41', 'v2', 'caf%C3%A9', 'e@x.io'),
      fc.stringMatching(/^[a-z0-9._-]{1,12}$/),
    );
    fc.assert(
      fc.property(fc.array(segment, { minLength: 1, maxLength: 6 }), (segments) => {
        const pattern = `/${segments.join('/')}`;
        const trimmed = pattern.length > 1 && pattern.endsWith('/') ? pattern.slice(0, -1) : pattern;
        const problem = endpointPatternProblem(pattern);
        if (problem === null) expect(normalizeEndpoint(trimmed)).toBe(trimmed);
        else expect(problem).toContain(`write "${normalizeEndpoint(trimmed)}" instead`);
      }),
    );
  });
});

describe('other dead ranges', () => {
  it('an empty in list', () => {
    for (const dim of ['method', 'endpoint', 'geo']) {
      const issue = refusal({ [dim]: { in: [] } });
      expect(issue.path).toBe(`profile.${dim}.in`);
      expect(issue.message).toMatch(/>=1 items|at least 1/i);
    }
  });

  it('sizes with min > max', () => {
    const issue = refusal({ payloadSize: { min: 8192, max: 0 } });
    expect(issue.path).toBe('profile.payloadSize');
    expect(issue.message).toMatch(/min 8192 > max 0: no size is inside.*swap them/);
  });

  it('hours with min > max are not dead: they wrap past midnight', () => {
    expect(parseFlagValue({ ...base, profile: { timeOfDay: { min: 22, max: 3 } } }).ok).toBe(true);
  });

  it('a country code that is not assigned', () => {
    const zz = refusal({ geo: { in: ['DE', 'ZZ'] } });
    expect(zz.path).toBe('profile.geo.in[1]');
    expect(zz.message).toMatch(/not an assigned ISO 3166-1 alpha-2 country code/);
    expect(refusal({ geo: { in: ['UK'] } }).message).toMatch(/write GB/);
    expect(refusal({ geo: { in: ['XX'] } }).message).toMatch(/XX never matches: a request whose country is unknown/);
    expect(refusal({ geo: { in: ['de'] } }).message).toMatch(/upper-case/);
    // Every code the geo table knows is accepted (XK included: IP databases use it).
    expect(parseFlagValue({ ...base, profile: { geo: { in: ['DE', 'GB', 'US', 'XK', 'AQ'] } } }).ok).toBe(true);
  });

  it('a similarTo exemplar the embedding finds nothing in', () => {
    for (const exemplar of [' ', '/', '()', ' / ']) {
      const issue = refusal({ userAgent: { similarTo: ['curl/8.5.0', exemplar] } });
      expect(issue.path).toBe('profile.userAgent.similarTo[1]');
      expect(issue.message).toMatch(/embedding finds nothing in this exemplar/);
    }
    expect(parseFlagValue({ ...base, profile: { userAgent: { similarTo: ['ab', 'curl', '-'] } } }).ok).toBe(true);
  });

  it('embedsToNothing: its shortcut agrees with the embedder (property)', () => {
    const empty = Array.from(embedUserAgent(''));
    fc.assert(
      fc.property(fc.stringMatching(/^[ a-z0-9/().;-]{0,8}$/), (s) => {
        // Nothing to embed ⇒ the shared "empty" vector.
        if (embedsToNothing(s)) expect(Array.from(embedUserAgent(s))).toEqual(empty);
      }),
    );
  });
});
