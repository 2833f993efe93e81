import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  UA_EMBED_DIMS,
  UA_HASH_HEX_CHARS,
  UA_CACHE_RAW_MAX_CHARS,
  UA_HASH_MAX_CHARS,
  RecentCache,
  cosineDistance,
  createUaFeatureCache,
  createUaHasher,
  embedUserAgent,
} from '../../../src/features/userAgent.js';
import { loadUaCorpus, measureUaQuality } from '../../helpers/uaCorpus.js';

const CHROME_ANDROID_A =
  'Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36';
const CHROME_ANDROID_B =
  'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.39 Mobile Safari/537.36';
const CHROME_ANDROID_C =
  'Mozilla/5.0 (Linux; Android 12; SM-S906N Build/QP1A.190711.020) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/108.0.5359.128 Mobile Safari/537.36';
const FIREFOX_DESKTOP = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0';
const FIREFOX_MAC = 'Mozilla/5.0 (Macintosh; Intel Mac OS X 14.7; rv:132.0) Gecko/20100101 Firefox/132.0';
const CURL = 'curl/8.5.0';
const SAFARI_IPHONE =
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1';

function norm(v: Float32Array): number {
  let s = 0;
  for (const x of v) s += x * x;
  return Math.sqrt(s);
}

describe('createUaHasher', () => {
  const hash = createUaHasher('a-test-key-of-some-length');

  it('is keyed, stable and 32 hex characters', () => {
    const h = hash(CHROME_ANDROID_A);
    expect(h).toMatch(/^[0-9a-f]{32}$/);
    expect(h).toHaveLength(UA_HASH_HEX_CHARS);
    expect(hash(CHROME_ANDROID_A)).toBe(h);
    expect(createUaHasher(Buffer.from('a-test-key-of-some-length'))(CHROME_ANDROID_A)).toBe(h);
    expect(createUaHasher('another-key-entirely')(CHROME_ANDROID_A)).not.toBe(h);
    expect(hash(CHROME_ANDROID_B)).not.toBe(h);
    expect(h).not.toContain('Mozilla');
  });

  it('hashes at most the first UA_HASH_MAX_CHARS characters', () => {
    const base = 'x'.repeat(UA_HASH_MAX_CHARS);
    expect(hash(base + 'a')).toBe(hash(base + 'b'));
    expect(hash(base.slice(1) + 'a')).not.toBe(hash(base.slice(1) + 'b'));
  });

  it('handles 100 KB, empty, control and replacement characters', () => {
    for (const ua of ['', 'x'.repeat(100_000), '\u0000\u0001\r\n', '\ufffd\ufffd', '\ud800']) {
      expect(hash(ua)).toMatch(/^[0-9a-f]{32}$/);
    }
  });
});

describe('embedUserAgent', () => {
  it('is 64-d, L2-normalised and deterministic', () => {
    const v = embedUserAgent(CHROME_ANDROID_A);
    expect(v).toBeInstanceOf(Float32Array);
    expect(v).toHaveLength(UA_EMBED_DIMS);
    expect(norm(v)).toBeCloseTo(1, 5);
    expect(Array.from(embedUserAgent(CHROME_ANDROID_A))).toEqual(Array.from(v));
  });

  it('ignores version digits', () => {
    const a = embedUserAgent('Mozilla/5.0 (Linux; Android 10; K) Chrome/120.0.0.0 Mobile Safari/537.36');
    const b = embedUserAgent('Mozilla/5.0 (Linux; Android 14; K) Chrome/99.1.22.333 Mobile Safari/1.2');
    expect(cosineDistance(a, b)).toBeLessThan(1e-6);
  });

  it('puts Chrome on Android nearer to other Chrome-on-Android versions than to Firefox or curl', () => {
    const a = embedUserAgent(CHROME_ANDROID_A);
    const near = [CHROME_ANDROID_B, CHROME_ANDROID_C].map((u) => cosineDistance(a, embedUserAgent(u)));
    const far = [FIREFOX_DESKTOP, FIREFOX_MAC, CURL, SAFARI_IPHONE].map((u) => cosineDistance(a, embedUserAgent(u)));
    expect(Math.max(...near)).toBeLessThan(Math.min(...far));
    // And by a margin that a maxDistance can use.
    expect(Math.max(...near)).toBeLessThan(0.25);
    expect(Math.min(...far)).toBeGreaterThan(0.3);
  });

  it('gives a unit vector for empty, blank and hostile input (property)', () => {
    const hostile = fc.oneof(
      fc.string({ maxLength: 600, unit: 'binary' }),
      fc.string({ maxLength: 600, unit: 'grapheme' }),
      fc.constantFrom('', ' ', '\u0000'.repeat(50), '\ufffd'.repeat(300), '(((((', ')))))', '/ / /', '0'.repeat(1000)),
    );
    fc.assert(
      fc.property(hostile, (ua) => {
        const v = embedUserAgent(ua);
        expect(v).toHaveLength(UA_EMBED_DIMS);
        expect(v.every((x) => Number.isFinite(x))).toBe(true);
        expect(norm(v)).toBeCloseTo(1, 4);
      }),
      { numRuns: 1000 },
    );
  });

  it('looks only at the first 512 characters of a 100 KB user agent', () => {
    const big = CHROME_ANDROID_A + ' '.repeat(10) + 'x'.repeat(100_000);
    const t = performance.now();
    const v = embedUserAgent(big);
    expect(performance.now() - t).toBeLessThan(50);
    expect(norm(v)).toBeCloseTo(1, 5);
    expect(Array.from(embedUserAgent(big + 'y'.repeat(1000)))).toEqual(Array.from(v));
  });
});

describe('createUaFeatureCache', () => {
  it('returns null for missing or blank user agents', () => {
    const cache = createUaFeatureCache({ key: 'k'.repeat(16) });
    for (const ua of [undefined, null, '', '   ', '\t\r\n', '\u0000\u0001', ' '.repeat(10_000)]) {
      expect(cache.features(ua)).toBeNull();
    }
    expect(cache.size).toBe(0);
  });

  it('caches by the user agent itself, so a repeat computes neither hash nor embedding, and stays bounded', () => {
    let embeds = 0;
    const cache = createUaFeatureCache({
      key: 'k'.repeat(16),
      maxEntries: 50,
      embed: (ua) => {
        embeds++;
        return embedUserAgent(ua);
      },
    });
    const a = cache.features(CHROME_ANDROID_A)!;
    // A different string object with the same text is the same entry.
    const b = cache.features(`${CHROME_ANDROID_A.slice(0, 10)}${CHROME_ANDROID_A.slice(10)}`)!;
    expect(b).toBe(a);
    expect(embeds).toBe(1);
    expect(a.hash).toBe(createUaHasher('k'.repeat(16))(CHROME_ANDROID_A));
    for (let i = 0; i < 500; i++) cache.features(`agent/${i}`);
    expect(cache.size).toBeGreaterThan(0);
    expect(cache.size).toBeLessThanOrEqual(50);
    // Recently used entries survive; old ones were evicted and come back equal.
    expect(cache.features('agent/499')).toBe(cache.features('agent/499'));
    const again = cache.features(CHROME_ANDROID_A)!;
    expect(again.hash).toBe(a.hash);
    expect(Array.from(again.vector)).toEqual(Array.from(a.vector));
  });

  it('keys very long user agents by their hash: same answers, bounded memory', () => {
    const cache = createUaFeatureCache({ key: 'k'.repeat(16), maxEntries: 10 });
    const long = CHROME_ANDROID_A + ' x'.repeat(UA_CACHE_RAW_MAX_CHARS);
    const a = cache.features(long)!;
    expect(a.hash).toBe(createUaHasher('k'.repeat(16))(long));
    expect(cache.features(`${long}`)).toBe(a);
    // Past the hashed prefix, two long user agents are the same user agent (as for the hash).
    const huge = 'y'.repeat(UA_HASH_MAX_CHARS);
    expect(cache.features(huge + 'a')).toBe(cache.features(huge + 'b'));
    for (let i = 0; i < 100; i++) cache.features(`${long} ${i}`);
    expect(cache.size).toBeLessThanOrEqual(10);
  });

  it('gives the same features with or without the cache (property)', () => {
    const key = 'prop-key-0123456789';
    const cache = createUaFeatureCache({ key, maxEntries: 8 });
    const hasher = createUaHasher(key);
    const text = fc.oneof(
      fc.constantFrom(CHROME_ANDROID_A, CHROME_ANDROID_B, FIREFOX_DESKTOP, 'curl/8.5.0', ' ', ''),
      fc.string({ maxLength: 40 }),
      fc.string({ minLength: UA_CACHE_RAW_MAX_CHARS - 2, maxLength: UA_CACHE_RAW_MAX_CHARS + 2, unit: 'binary' }),
    );
    fc.assert(
      fc.property(fc.array(text, { maxLength: 30 }), (uas) => {
        for (const ua of uas) {
          const got = cache.features(ua);
          if (!/[^\u0000-\u0020\u007f-\u00a0]/.test(ua)) {
            expect(got).toBeNull();
            continue;
          }
          expect(got).not.toBeNull();
          expect(got!.hash).toBe(hasher(ua));
          expect(Array.from(got!.vector)).toEqual(Array.from(embedUserAgent(ua)));
        }
      }),
      { numRuns: 200 },
    );
  });
});

describe('RecentCache', () => {
  it('holds at most maxEntries, keeps what is used, and bounds bytes', () => {
    const c = new RecentCache<number, string>(10);
    for (let i = 0; i < 1000; i++) {
      c.set(i, `v${i}`);
      expect(c.get(0)).toBe(i < 1 ? 'v0' : c.get(0)); // reading never throws or grows past the cap
      expect(c.size).toBeLessThanOrEqual(10);
    }
    const hot = new RecentCache<number, number>(10);
    hot.set(-1, -1);
    for (let i = 0; i < 1000; i++) {
      hot.set(i, i);
      expect(hot.get(-1)).toBe(-1); // used at every insertion: never evicted
    }
    const bytes = new RecentCache<string, string>(1000, 100, (k) => k.length);
    for (let i = 0; i < 100; i++) bytes.set(`key-${i}`.padEnd(20, '.'), 'x');
    expect(bytes.size).toBeLessThanOrEqual(6);
    bytes.clear();
    expect(bytes.size).toBe(0);
  });
});

describe('similarity quality on the real user agents of the `user-agents` package', () => {
  it('10-NN share the browser family ≥ 0.92 and the OS family ≥ 0.97', () => {
    const corpus = loadUaCorpus();
    expect(corpus.length).toBeGreaterThan(500);
    const q = measureUaQuality(corpus, embedUserAgent);
    // Measured when written: 0.9675 and 0.9817 over 952 distinct user agents.
    expect(q.sameBrowser).toBeGreaterThanOrEqual(0.92);
    expect(q.sameOs).toBeGreaterThanOrEqual(0.97);
  });
});
