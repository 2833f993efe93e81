import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createProfileExtractor } from '../../../src/features/extract.js';
import { createGeoResolver } from '../../../src/features/geo.js';
import type { HeaderLookup, RequestProfile } from '../../../src/features/profile.js';
import { createUaHasher, UA_EMBED_DIMS } from '../../../src/features/userAgent.js';

const KEY = 'extract-test-key-0123456789';
const UA =
  'Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36';
const geo = createGeoResolver({ trustedHops: 1, geoHeader: 'x-geo-country' });
const extract = createProfileExtractor({ uaHashKey: KEY, tz: 'Europe/Berlin', geo, hourBinWidth: 4 });
const NOW = Date.UTC(2025, 6, 1, 10, 30); // 12:30 in Berlin

function headers(values: Record<string, string>): HeaderLookup {
  const m = new Map(Object.entries(values));
  return { get: (n) => m.get(n) };
}

function checkShape(p: RequestProfile): void {
  expect(Object.keys(p).sort()).toEqual(
    [
      'clientKey',
      'continent',
      'country',
      'endpoint',
      'hour',
      'hourBin',
      'method',
      'payloadSize',
      'sizeBin',
      'uaHash',
      'uaVector',
    ].sort(),
  );
  expect(typeof p.method).toBe('string');
  expect(p.method.length).toBeLessThanOrEqual(32);
  expect(p.endpoint === null || (p.endpoint.startsWith('/') && p.endpoint.length <= 1024)).toBe(true);
  expect(p.payloadSize === null || Number.isSafeInteger(p.payloadSize)).toBe(true);
  expect(Number.isInteger(p.hour) && p.hour >= 0 && p.hour <= 23).toBe(true);
  expect(p.hourBin! % 4).toBe(0);
  expect(p.country === null || /^[A-Z]{2}$/.test(p.country)).toBe(true);
  expect(p.uaHash === null || /^[0-9a-f]{32}$/.test(p.uaHash)).toBe(true);
  expect(p.uaVector === null || p.uaVector.length === UA_EMBED_DIMS).toBe(true);
  expect((p.uaHash === null) === (p.uaVector === null)).toBe(true);
  expect(p.clientKey).toMatch(/^[0-9a-f]{32}$/);
}

describe('createProfileExtractor', () => {
  it('extracts every dimension of a realistic request', () => {
    const p = extract({
      headers: headers({
        ':method': 'post',
        ':path': '/users/123/orders?page=2',
        'user-agent': UA,
        'content-length': '2048',
        'x-forwarded-for': '81.2.69.142, 10.0.0.9',
      }),
      sourceAddress: '10.0.0.9:40000',
      nowMs: NOW,
    });
    checkShape(p);
    expect(p).toMatchObject({
      method: 'POST',
      endpoint: '/users/{id}/orders',
      payloadSize: 2048,
      sizeBin: 12,
      hour: 12,
      hourBin: 12,
      country: 'GB',
      continent: 'EU',
      uaHash: createUaHasher(KEY)(UA),
    });
  });

  it('keeps no raw user agent or address in the profile', () => {
    const p = extract({
      headers: headers({ ':path': '/', 'user-agent': UA, 'x-forwarded-for': '81.2.69.142, 10.0.0.9' }),
      sourceAddress: '10.0.0.9:40000',
      nowMs: NOW,
    });
    const text = JSON.stringify({ ...p, uaVector: null });
    expect(text).not.toContain('Mozilla');
    expect(text).not.toContain('81.2.69');
    expect(text).not.toContain('10.0.0.9');
  });

  it('derives the client key from the UA hash and the coarse network', () => {
    const at = (ua: string | undefined, xff: string | undefined) =>
      extract({
        headers: headers({
          ...(ua ? { 'user-agent': ua } : {}),
          ...(xff ? { 'x-forwarded-for': `${xff}, 10.0.0.1` } : {}),
        }),
        sourceAddress: null,
        nowMs: NOW,
      }).clientKey;
    expect(at(UA, '81.2.69.142')).toBe(at(UA, '81.2.69.7')); // same /24
    expect(at(UA, '81.2.69.142')).not.toBe(at(UA, '81.2.70.142'));
    expect(at(UA, '81.2.69.142')).not.toBe(at(UA + ' x', '81.2.69.142'));
    expect(at(UA, '2a00:1450:4001:80b::1')).toBe(at(UA, '2a00:1450:4001:ffff::2')); // same /48
    expect(at(UA, undefined)).not.toBe(at(UA, '81.2.69.142')); // UA hash alone
    expect(at(undefined, undefined)).toMatch(/^[0-9a-f]{32}$/);
    // Another key gives other client keys.
    const other = createProfileExtractor({ uaHashKey: 'another-key-0123456789', tz: 'UTC', geo, hourBinWidth: 1 });
    expect(other({ headers: headers({ 'user-agent': UA }), sourceAddress: null, nowMs: NOW }).clientKey).not.toBe(
      at(UA, undefined),
    );
  });

  it('gives every request the client key a fresh extractor gives it, whatever the caches hold (property)', () => {
    const agents = [UA, `${UA} x`, 'curl/8.5.0', undefined];
    const addresses = [
      ...Array.from({ length: 40 }, (_, i) => `81.2.${i}.7`),
      '81.2.69.142',
      '2a00:1450:4001:80b::1',
      '2a00:1450:4002::1',
      undefined,
    ];
    const shared = createProfileExtractor({ uaHashKey: KEY, tz: 'UTC', geo, hourBinWidth: 1 });
    const request = (ua: string | undefined, xff: string | undefined) => ({
      headers: headers({
        ...(ua ? { 'user-agent': ua } : {}),
        ...(xff ? { 'x-forwarded-for': `${xff}, 10.0.0.1` } : {}),
      }),
      sourceAddress: null,
      nowMs: NOW,
    });
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.constantFrom(...agents), fc.constantFrom(...addresses)), { maxLength: 80 }),
        (pairs) => {
          for (const [ua, xff] of pairs) {
            const fresh = createProfileExtractor({ uaHashKey: KEY, tz: 'UTC', geo, hourBinWidth: 1 });
            expect(shared(request(ua, xff)).clientKey).toBe(fresh(request(ua, xff)).clientKey);
          }
        },
      ),
      { numRuns: 40 },
    );
  });

  it('uses the trusted geo header when configured', () => {
    const p = extract({
      headers: headers({ 'x-geo-country': 'de', 'x-forwarded-for': '8.8.8.8' }),
      sourceAddress: null,
      nowMs: NOW,
    });
    expect(p.country).toBe('DE');
    expect(p.continent).toBe('EU');
  });

  it('gives null fields for empty and hostile input', () => {
    const empty = extract({ headers: headers({}), sourceAddress: null, nowMs: NaN });
    checkShape(empty);
    expect(empty).toMatchObject({
      method: '',
      endpoint: null,
      payloadSize: null,
      sizeBin: null,
      hour: 0,
      country: null,
      uaHash: null,
      uaVector: null,
    });
    const hostile = extract({
      headers: headers({
        ':method': 'GET\r\nX: y',
        ':path': '/' + 'a/'.repeat(50_000),
        'user-agent': 'x'.repeat(100_000),
        'content-length': '-5',
        'x-forwarded-for': Array.from({ length: 1000 }, (_, i) => `1.2.3.${i % 256}`).join(','),
      }),
      sourceAddress: 'garbage',
      nowMs: NOW,
    });
    checkShape(hostile);
    expect(hostile.method).toBe('');
    expect(hostile.payloadSize).toBeNull();
    // A header lookup that throws, and no headers object at all.
    const throwing = extract({
      headers: {
        get: () => {
          throw new Error('boom');
        },
      },
      sourceAddress: null,
      nowMs: NOW,
    });
    checkShape(throwing);
    checkShape(extract({ headers: undefined as unknown as HeaderLookup, sourceAddress: null, nowMs: NOW }));
    checkShape(extract(undefined as unknown as Parameters<typeof extract>[0]));
  });

  it('never throws and stays bounded on arbitrary headers (property)', () => {
    const text = fc.oneof(
      fc.string({ maxLength: 200, unit: 'binary' }),
      fc.string({ maxLength: 200, unit: 'grapheme' }),
      fc.constantFrom('', ' ', '\u0000', '\ufffd'.repeat(100), 'x'.repeat(100_000)),
    );
    const names = fc.constantFrom(
      ':method',
      ':path',
      'user-agent',
      'content-length',
      'x-forwarded-for',
      'x-geo-country',
    );
    fc.assert(
      fc.property(
        fc.dictionary(names, text, { maxKeys: 6 }),
        fc.option(text),
        fc.oneof(fc.double(), fc.integer({ min: 0, max: 4_102_444_800_000 })),
        (h, source, now) => {
          checkShape(extract({ headers: headers(h), sourceAddress: source, nowMs: now }));
        },
      ),
      { numRuns: 500 },
    );
  });
  it('reports how full its bounded caches are, and they stay at their caps', () => {
    const fresh = createProfileExtractor({ uaHashKey: KEY, tz: 'UTC', geo, hourBinWidth: 1, uaCacheSize: 100 });
    for (let i = 0; i < 1_000; i++) {
      fresh({ headers: headers({ 'user-agent': `agent/${i}` }), sourceAddress: `81.169.${i % 250}.1:4`, nowMs: NOW });
    }
    const fill = fresh.caches();
    expect(fill.ua_features!.capacity).toBe(200);
    expect(fill.ua_features!.entries).toBeGreaterThan(0);
    expect(fill.ua_features!.entries).toBeLessThanOrEqual(100);
    expect(fill.client_keys!.entries).toBeLessThanOrEqual(fill.client_keys!.capacity);
    expect(fill.geo_networks!.entries).toBeGreaterThan(0);
    expect(fill.geo_networks!.entries).toBeLessThanOrEqual(fill.geo_networks!.capacity);
  });
});
