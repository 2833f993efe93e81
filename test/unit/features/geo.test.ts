import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { COUNTRY_CODES, continentOf, normalizeCountry } from '../../../src/features/continents.js';
import { createGeoResolver, defaultGeoDbPath, pickForwardedFor } from '../../../src/features/geo.js';
import { formatIp, parseIp } from '../../../src/features/ip.js';
import type { HeaderLookup } from '../../../src/features/profile.js';

function headers(values: Record<string, string> = {}): HeaderLookup {
  const m = new Map(Object.entries(values));
  return { get: (n) => m.get(n) };
}

// One resolver for the file: the database is read once (about 8 MB).
const geo = createGeoResolver({ trustedHops: 0 });

describe('the shipped country database', () => {
  it('is DB-IP country lite, read from the dependency', () => {
    expect(defaultGeoDbPath()).toMatch(/dbip-country-mmdb[/\\]dbip-country\.mmdb$/);
    expect(geo.database?.type).toMatch(/country/i);
  });

  // Long-stable public anycast/registry addresses; the expected values are what the shipped
  // database (pinned version in package.json) says.
  const known: [string, string, string][] = [
    ['8.8.8.8', 'US', 'NA'],
    ['9.9.9.9', 'US', 'NA'],
    ['1.1.1.1', 'AU', 'OC'],
    ['81.2.69.142', 'GB', 'EU'],
    ['193.0.14.129', 'NL', 'EU'],
    ['200.160.2.3', 'BR', 'SA'],
    ['2a00:1450:4001:80b::200e', 'DE', 'EU'],
  ];
  it.each(known)('%s → %s / %s', (ip, country, continent) => {
    expect(geo.lookup(parseIp(ip)!)).toEqual({ country, continent });
    // A second lookup (from the network cache) agrees.
    expect(geo.lookup(parseIp(ip)!)).toEqual({ country, continent });
  });

  const unknown = [
    '10.0.0.7',
    '192.168.1.20',
    '172.20.1.1',
    '127.0.0.1',
    '169.254.0.9',
    '100.64.1.1',
    '::1',
    'fe80::1',
    'fd00::5',
    '2001:db8::1',
    '0.0.0.0',
  ];
  it.each(unknown)('%s (not public) → unknown', (ip) => {
    expect(geo.lookup(parseIp(ip)!)).toEqual({ country: null, continent: null });
  });

  it('answers only with countries the continent table knows (property)', () => {
    fc.assert(
      fc.property(fc.oneof(fc.ipV4(), fc.ipV6()), (text) => {
        const ip = parseIp(text);
        if (ip === null) return;
        const r = geo.lookup(ip);
        if (r.country !== null) {
          expect(COUNTRY_CODES).toContain(r.country);
          expect(r.continent).toBe(continentOf(r.country));
        } else {
          expect(r.continent).toBeNull();
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe('continent table', () => {
  it('has the 249 ISO 3166-1 codes plus XK, each a region Intl knows', () => {
    expect(COUNTRY_CODES).toHaveLength(250);
    const names = new Intl.DisplayNames(['en'], { type: 'region' });
    for (const c of COUNTRY_CODES) expect(names.of(c)).not.toBe(c);
  });

  it('validates country codes', () => {
    expect(normalizeCountry('de')).toBe('DE');
    expect(normalizeCountry(' FR ')).toBe('FR');
    for (const bad of ['', 'D', 'DEU', 'XX', 'T1', 'ZZ', '1A', 'E\u0301', 'd e', 42, null, undefined]) {
      expect(normalizeCountry(bad)).toBeNull();
    }
    expect(continentOf('JP')).toBe('AS');
    expect(continentOf('AQ')).toBe('AN');
  });
});

describe('client address selection', () => {
  it('takes the (hops + 1)-th address from the right of x-forwarded-for', () => {
    const xff = '198.51.100.1, 81.2.69.142, 8.8.8.8, 10.0.0.1';
    const pick = (hops: number) => {
      const ip = pickForwardedFor(xff, hops);
      return ip ? formatIp(ip) : ip;
    };
    expect(pick(0)).toBe('10.0.0.1');
    expect(pick(1)).toBe('8.8.8.8');
    expect(pick(2)).toBe('81.2.69.142');
    expect(pick(3)).toBe('198.51.100.1');
    expect(pick(4)).toBeUndefined();
  });

  it('handles ports, brackets, garbage and empty entries', () => {
    expect(formatIp(pickForwardedFor('1.2.3.4, 8.8.8.8:443', 0)!)).toBe('8.8.8.8');
    expect(formatIp(pickForwardedFor('[2001:4860:4860::8888]:443', 0)!)).toBe('2001:4860:4860:0:0:0:0:8888');
    expect(pickForwardedFor('1.2.3.4, unknown', 0)).toBeNull();
    expect(pickForwardedFor('1.2.3.4, ', 0)).toBeNull();
    expect(pickForwardedFor('1.2.3.4,' + 'x'.repeat(10_000), 1)).toBeNull();
  });

  it('looks only at the last entries of a spoofed 1,000-entry list', () => {
    const spoofed = Array.from({ length: 1000 }, (_, i) => `203.0.${i % 256}.${i % 200}`).join(', ');
    const xff = `${spoofed}, 81.2.69.142, 10.0.0.1`;
    const r = createGeoResolver({ trustedHops: 1, dbPath: defaultGeoDbPath() }).resolve(
      headers({ 'x-forwarded-for': xff }),
      null,
    );
    expect(r.country).toBe('GB');
    const huge = 'garbage,'.repeat(100_000) + '8.8.8.8';
    const t = performance.now();
    for (let i = 0; i < 1000; i++) geo.resolve(headers({ 'x-forwarded-for': huge }), null);
    expect(performance.now() - t).toBeLessThan(500); // bounded, not proportional to the header
    expect(geo.resolve(headers({ 'x-forwarded-for': huge }), null).country).toBe('US');
  });

  it('falls back to source.address when x-forwarded-for is missing or too short', () => {
    expect(geo.resolve(headers(), '8.8.8.8:51234')).toMatchObject({ country: 'US', continent: 'NA' });
    expect(geo.resolve(headers(), '[2a00:1450:4001:80b::200e]:443').country).toBe('DE');
    expect(geo.resolve(headers(), '10.0.0.7:51234')).toMatchObject({ country: null, continent: null });
    expect(formatIp(geo.resolve(headers(), '10.0.0.7:51234').clientIp!)).toBe('10.0.0.7');
    const twoHops = createGeoResolver({ trustedHops: 2 });
    expect(twoHops.resolve(headers({ 'x-forwarded-for': '8.8.8.8' }), '1.1.1.1:1').country).toBe('AU');
    expect(geo.resolve(headers(), null)).toEqual({ country: null, continent: null, clientIp: null });
    expect(geo.resolve(headers(), 'not an address').country).toBeNull();
  });

  it('prefers a valid trusted geo header, else the address', () => {
    const withHeader = createGeoResolver({ trustedHops: 0, geoHeader: 'x-country' });
    expect(withHeader.resolve(headers({ 'x-country': 'fr' }), '8.8.8.8:1')).toMatchObject({
      country: 'FR',
      continent: 'EU',
    });
    expect(withHeader.resolve(headers({ 'x-country': 'XX' }), '8.8.8.8:1')).toMatchObject({
      country: 'US',
      continent: 'NA',
    });
    expect(withHeader.resolve(headers({ 'x-country': 'France' }), null)).toMatchObject({ country: null });
    // Without the option the header is not trusted.
    expect(geo.resolve(headers({ 'x-country': 'FR' }), '8.8.8.8:1').country).toBe('US');
  });

  it('works without a database (header only)', () => {
    const none = createGeoResolver({ trustedHops: 0, dbPath: null, geoHeader: 'x-country' });
    expect(none.database).toBeNull();
    expect(none.resolve(headers(), '8.8.8.8:1').country).toBeNull();
    expect(none.resolve(headers({ 'x-country': 'JP' }), null)).toMatchObject({ country: 'JP', continent: 'AS' });
  });

  it('never throws on hostile headers (property)', () => {
    const resolver = createGeoResolver({ trustedHops: 2, geoHeader: 'x-country' });
    const value = fc.oneof(
      fc.string({ maxLength: 300, unit: 'binary' }),
      fc
        .array(fc.oneof(fc.ipV4(), fc.ipV6(), fc.string({ maxLength: 20 })), { maxLength: 30 })
        .map((a) => a.join(', ')),
    );
    fc.assert(
      fc.property(value, value, fc.option(fc.string({ maxLength: 60 })), (xff, country, source) => {
        const r = resolver.resolve(headers({ 'x-forwarded-for': xff, 'x-country': country }), source);
        expect(r.country === null || /^[A-Z]{2}$/.test(r.country)).toBe(true);
        expect(r.continent === null || /^(AF|AN|AS|EU|NA|OC|SA)$/.test(r.continent)).toBe(true);
      }),
      { numRuns: 1500 },
    );
    const throwing: HeaderLookup = {
      get: () => {
        throw new Error('boom');
      },
    };
    expect(resolver.resolve(throwing, '8.8.8.8:1')).toEqual({ country: null, continent: null, clientIp: null });
  });
});
