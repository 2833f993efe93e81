import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ENDPOINT_MAX_LENGTH, ENDPOINT_MAX_SEGMENTS, normalizeEndpoint } from '../../../src/features/endpoint.js';

describe('normalizeEndpoint', () => {
  const cases: [string, string | null][] = [
    // IDs collapse
    ['/users/123/orders', '/users/{id}/orders'],
    ['/users/9/orders', '/users/{id}/orders'],
    ['/u/550e8400-e29b-41d4-a716-446655440000', '/u/{id}'],
    ['/u/550E8400-E29B-41D4-A716-446655440000/x', '/u/{id}/x'],
    ['/h/0123456789abcdef', '/h/{id}'],
    ['/h/0123456789abcde', '/h/0123456789abcde'], // 15 hex: a word-like value stays
    ['/objects/507f1f77bcf86cd799439011', '/objects/{id}'],
    ['/m/john.doe@example.com', '/m/{id}'],
    ['/m/john.doe%40example.com/inbox', '/m/{id}/inbox'],
    ['/t/eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9', '/t/{id}'],
    ['/reset/Zx8kQ2mP7rT4vW9yB3nL', '/reset/{id}'],
    ['/archive/2024-01-15', '/archive/{id}'],
    ['/files/123.json', '/files/{id}.json'],
    ['/img/550e8400-e29b-41d4-a716-446655440000.png', '/img/{id}.png'],
    // words, versions and slugs stay
    ['/v1/items', '/v1/items'],
    ['/api/v2/users/me', '/api/v2/users/me'],
    ['/blog/how-to-configure-envoy-ext-proc-filter', '/blog/how-to-configure-envoy-ext-proc-filter'],
    ['/Checkout/Cart', '/Checkout/Cart'], // case is kept
    // query and fragment
    ['/search?q=a/b&x=1', '/search'],
    ['/a#frag/x', '/a'],
    ['/a?', '/a'],
    // slashes and dot segments
    ['//a///b/', '/a/b'],
    ['/a/./b/../c', '/a/c'],
    ['/../../etc/passwd', '/etc/passwd'],
    ['/a/b/../../../..', '/'],
    ['/%2e%2e/%2E/x', '/x'],
    ['/a/..%2f..%2fetc', '/a/..%2F..%2Fetc'],
    // percent-decoding
    ['/a%2Fb/c', '/a%2Fb/c'], // an encoded slash never splits
    ['/caf%C3%A9', '/café'],
    ['/%7Euser', '/~user'],
    ['/a%zz', '/a%25zz'],
    ['/a%', '/a%25'],
    ['/a%4', '/a%254'],
    ['/x%FF%FE', '/x%FF%FE'], // not UTF-8: kept escaped
    ['/x%ff', '/x%FF'],
    ['/a/%ED%A0%80', '/a/%ED%A0%80'], // an encoded surrogate is not UTF-8
    ['/%25%32%46', '/%252F'],
    ['/a%20b', '/a%20b'],
    ['/a b/\u0000c', '/a%20b/%00c'],
    ['/sp%3Fq', '/sp%3Fq'],
    // targets that are not origin-form
    ['http://example.com/a/1?q', '/a/{id}'],
    ['https://example.com', '/'],
    ['users/1', '/users/{id}'],
    ['*', null],
    ['', null],
    ['?x=1', null],
    ['/', '/'],
  ];
  it.each(cases)('%j → %j', (input, expected) => {
    expect(normalizeEndpoint(input)).toBe(expected);
  });

  it('bounds segments and length', () => {
    const many = '/' + Array.from({ length: 100 }, (_, i) => `s${i}x`).join('/');
    const out = normalizeEndpoint(many)!;
    expect(out.split('/').length - 1).toBe(ENDPOINT_MAX_SEGMENTS);
    const long = '/' + Array.from({ length: 40 }, () => 'abcdefghijklmnopqrstuvwxyz_-'.slice(0, 25)).join('/');
    expect(normalizeEndpoint(long)!.length).toBeLessThanOrEqual(ENDPOINT_MAX_LENGTH);
    expect(normalizeEndpoint('/' + 'a'.repeat(300) + '/b')).toBe('/{id}/b');
    expect(normalizeEndpoint('/' + 'a'.repeat(1_000_000))).toBe('/{id}');
  });

  it('is not fooled by non-string input', () => {
    expect(normalizeEndpoint(undefined as unknown as string)).toBeNull();
    expect(normalizeEndpoint(42 as unknown as string)).toBeNull();
  });

  // Arbitrary paths built from the characters that matter.
  const pathChar = fc.constantFrom(
    ..."/%.?#aZ09-_~@ :;,+=!$&'()*[]{}".split(''),
    '%2F',
    '%2f',
    '%2e',
    '%25',
    '%C3%A9',
    '%FF',
    '%E2%82',
    '%zz',
    '\u0000',
    '\u007f',
    '\u00e9',
    '\ufffd',
    '\ud800',
    '\udc00',
    '\ud83d\ude00',
  );
  const arbPath = fc.oneof(
    fc.array(pathChar, { maxLength: 60 }).map((a) => a.join('')),
    fc.array(pathChar, { maxLength: 60 }).map((a) => '/' + a.join('')),
    fc.string({ maxLength: 200, unit: 'binary' }),
  );

  it('never throws, is bounded and idempotent (property)', () => {
    fc.assert(
      fc.property(arbPath, (p) => {
        const out = normalizeEndpoint(p);
        if (out === null) return;
        expect(out.startsWith('/')).toBe(true);
        expect(out.length).toBeLessThanOrEqual(ENDPOINT_MAX_LENGTH);
        expect(out.split('/').length - 1).toBeLessThanOrEqual(ENDPOINT_MAX_SEGMENTS);
        expect(out).not.toMatch(/[\u0000-\u0020\u007f?#]/);
        expect(out).not.toMatch(/\/\.\.?(\/|$)/);
        expect(out === '/' || !out.endsWith('/')).toBe(true);
        expect(normalizeEndpoint(out)).toBe(out);
      }),
      { numRuns: 3000 },
    );
  });

  it('collapses any number to the same endpoint (property)', () => {
    fc.assert(
      fc.property(fc.nat(), fc.nat(), (a, b) => {
        expect(normalizeEndpoint(`/users/${a}/orders`)).toBe(normalizeEndpoint(`/users/${b}/orders`));
      }),
    );
  });

  it('collapses any UUID (property)', () => {
    fc.assert(
      fc.property(fc.uuid(), (u) => {
        expect(normalizeEndpoint(`/items/${u}`)).toBe('/items/{id}');
      }),
    );
  });
});
