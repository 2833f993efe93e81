import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { cosineDistance, embedUserAgent } from '../../../src/features/userAgent.js';
import { DEFAULT_UA_INDEX_PARAMS, type UaRangeInput } from '../../../src/matcher/uaIndex.js';
import { buildUaIndex } from '../../../src/matcher/uaIndexImpl.js';
import { distinctVectors, exactNeighbours, lcg, loadUaCorpus, syntheticUserAgents } from '../../helpers/uaCorpus.js';

const CHROME_ANDROID = [
  'Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36',
];
const FIREFOX_DESKTOP = ['Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0'];
const CURL = ['curl/8.5.0'];
const OTHER_CHROME_ANDROID = [
  'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.39 Mobile Safari/537.36',
  'Mozilla/5.0 (Linux; Android 12; SM-S906N Build/QP1A.190711.020) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/108.0.5359.128 Mobile Safari/537.36',
  'Mozilla/5.0 (Linux; Android 9; moto g(7) power) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/99.0.4844.88 Mobile Safari/537.36',
];

/**
 * The contract's distance per slot, computed independently in the index's arithmetic (float64
 * normalisation, even and odd partial sums): the index must give these numbers bit for bit.
 */
function exactPerSlot(inputs: readonly UaRangeInput[], q: Float32Array, slots: number): Float64Array {
  const norm = (v: Float32Array) => {
    const s = v.reduce((acc, x) => acc + x * x, 0);
    const inv = 1 / Math.sqrt(s);
    return Float64Array.from(v, (x) => x * inv);
  };
  const qq = norm(q);
  const out = new Float64Array(slots).fill(Infinity);
  for (const input of inputs) {
    for (const e of input.exemplars) {
      const ee = norm(e);
      let even = 0;
      let odd = 0;
      for (let i = 0; i < ee.length; i += 2) {
        even += qq[i]! * ee[i]!;
        if (i + 1 < ee.length) odd += qq[i + 1]! * ee[i + 1]!;
      }
      const d = Math.min(2, Math.max(0, 1 - (even + odd)));
      if (d < out[input.slot]!) out[input.slot] = d;
    }
    if (input.maxDistance !== undefined && out[input.slot]! > input.maxDistance) out[input.slot] = Infinity;
  }
  return out;
}

describe('buildUaIndex', () => {
  it('matches a Chrome-on-Android exemplar to other Chrome-on-Android versions, not Firefox or curl', () => {
    const inputs: UaRangeInput[] = [
      { slot: 0, exemplars: CHROME_ANDROID.map(embedUserAgent), hashes: [], maxDistance: 0.2 },
      { slot: 1, exemplars: FIREFOX_DESKTOP.map(embedUserAgent), hashes: [], maxDistance: 0.2 },
      { slot: 2, exemplars: CURL.map(embedUserAgent), hashes: [], maxDistance: 0.2 },
    ];
    for (const bruteForceBelow of [Infinity, 0]) {
      const index = buildUaIndex(inputs, DEFAULT_UA_INDEX_PARAMS, { bruteForceBelow });
      expect(index.usesGraph).toBe(bruteForceBelow === 0);
      for (const ua of OTHER_CHROME_ANDROID) {
        const d = index.nearestDistances(embedUserAgent(ua), null);
        expect(d[0]).toBeLessThan(0.2);
        expect(d[1]).toBe(Infinity);
        expect(d[2]).toBe(Infinity);
      }
      const ff = index.nearestDistances(
        embedUserAgent('Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0'),
        null,
      );
      expect(ff[1]).toBeLessThan(0.2);
      expect(ff[0]).toBe(Infinity);
      expect(index.nearestDistances(embedUserAgent('curl/7.68.0'), null)[2]).toBeLessThan(1e-6);
    }
  });

  it('answers 0 for an exact hash, Infinity without vector or hash', () => {
    const inputs: UaRangeInput[] = [
      { slot: 0, exemplars: [], hashes: ['aaaa'] },
      { slot: 1, exemplars: CURL.map(embedUserAgent), hashes: ['bbbb', 'aaaa'], maxDistance: 0.1 },
    ];
    const index = buildUaIndex(inputs, DEFAULT_UA_INDEX_PARAMS);
    expect(index.slots).toBe(2);
    expect(Array.from(index.nearestDistances(null, 'aaaa'))).toEqual([0, 0]);
    expect(Array.from(index.nearestDistances(null, 'bbbb'))).toEqual([Infinity, 0]);
    expect(Array.from(index.nearestDistances(null, null))).toEqual([Infinity, Infinity]);
    expect(Array.from(index.nearestDistances(null, 'cccc'))).toEqual([Infinity, Infinity]);
    const firefox = embedUserAgent(FIREFOX_DESKTOP[0]!);
    expect(Array.from(index.nearestDistances(firefox, 'aaaa'))).toEqual([0, 0]);
    expect(Array.from(index.nearestDistances(firefox, null))).toEqual([Infinity, Infinity]);
    // Wrong dimension, zeros and NaN are ignored, not thrown.
    expect(Array.from(index.nearestDistances(new Float32Array(3), null))).toEqual([Infinity, Infinity]);
    expect(Array.from(index.nearestDistances(new Float32Array(64), null))).toEqual([Infinity, Infinity]);
    expect(Array.from(index.nearestDistances(new Float32Array(64).fill(NaN), 'bbbb'))).toEqual([Infinity, 0]);
  });

  it('answers per slot on demand, the same numbers in any order, cached per UA hash', () => {
    const corpus = loadUaCorpus();
    const families = Array.from(
      { length: 12 },
      (_, f) => syntheticUserAgents([corpus[f * 7]!], 12, embedUserAgent, 300 + f).vectors,
    );
    const inputs: UaRangeInput[] = families.map((exemplars, slot) => ({
      slot,
      exemplars,
      hashes: slot % 3 === 0 ? ['00aa', 'bbbb'] : [],
      maxDistance: [0.001, 0.05, 0.1, 0.2, 0.4, 2][slot % 6],
    }));
    const queries = syntheticUserAgents(corpus.slice(0, 90), 40, embedUserAgent, 7).vectors;
    queries.push(...families.map((f) => f[0]!));
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: queries.length - 1 }),
        fc.shuffledSubarray(Array.from({ length: 14 }, (_, s) => s - 1)),
        fc.constantFrom(null, 'h1', 'bbbb'),
        (qi, order, hash) => {
          const q = queries[qi]!;
          const lazy = buildUaIndex(inputs, DEFAULT_UA_INDEX_PARAMS).query(q, hash);
          const all = buildUaIndex(inputs, DEFAULT_UA_INDEX_PARAMS).nearestDistances(q, hash);
          const want = exactPerSlot(inputs, q, inputs.length);
          if (hash === 'bbbb') for (let s = 0; s < inputs.length; s += 3) want[s] = 0;
          // Out-of-range slots (-1, 12) answer Infinity.
          for (const slot of order) expect(lazy.distance(slot)).toBe(slot >= 0 && slot < 12 ? want[slot] : Infinity);
          expect(Array.from(all)).toEqual(Array.from(want));
        },
      ),
      { numRuns: 200 },
    );
    const index = buildUaIndex(inputs, DEFAULT_UA_INDEX_PARAMS);
    // Every exemplar as the query: the ones at a range's edge test its bound, whatever the reach.
    for (const q of families.flat()) {
      for (const reach of [1e-9, 1e-4, 0.01]) {
        const tight = inputs.map((input) => ({ ...input, hashes: [], maxDistance: reach }));
        const got = buildUaIndex(tight, DEFAULT_UA_INDEX_PARAMS).query(q, null);
        const want = exactPerSlot(tight, q, tight.length);
        for (let slot = 0; slot < tight.length; slot++) expect(got.distance(slot)).toBe(want[slot]);
      }
    }
    expect(index.query(queries[0]!, 'h')).toBe(index.query(queries[0]!, 'h'));
    expect(index.query(queries[0]!, null)).not.toBe(index.query(queries[0]!, null));
  });

  it('stores identical vectors once and caches answers per UA hash', () => {
    const v = embedUserAgent(CHROME_ANDROID[0]!);
    const same = embedUserAgent(OTHER_CHROME_ANDROID[0]!.replace('Pixel 8', 'K').replace('Android 14', 'Android 10'));
    expect(Array.from(same)).toEqual(Array.from(v)); // digits masked: the same vector
    const inputs: UaRangeInput[] = Array.from({ length: 10 }, (_, slot) => ({
      slot,
      exemplars: [v, same],
      hashes: [],
    }));
    const index = buildUaIndex(inputs, DEFAULT_UA_INDEX_PARAMS);
    expect(index.points).toBe(1);
    const q = embedUserAgent(OTHER_CHROME_ANDROID[1]!);
    const a = index.nearestDistances(q, 'hash-1');
    expect(index.nearestDistances(q, 'hash-1')).toBe(a);
    expect(index.nearestDistances(q, null)).not.toBe(a);
  });

  it('handles no inputs, empty slots and holes in slot numbers', () => {
    const none = buildUaIndex([], DEFAULT_UA_INDEX_PARAMS);
    expect(none.slots).toBe(0);
    expect(none.nearestDistances(embedUserAgent('x'), 'h')).toHaveLength(0);
    const holes = buildUaIndex([{ slot: 3, exemplars: CURL.map(embedUserAgent), hashes: [] }], DEFAULT_UA_INDEX_PARAMS);
    expect(holes.slots).toBe(4);
    const d = holes.nearestDistances(embedUserAgent('curl/8.0.1'), null);
    expect(d[3]).toBeLessThan(1e-6);
    expect([d[0], d[1], d[2]]).toEqual([Infinity, Infinity, Infinity]);
  });

  it('gives the exact per-slot distances whether or not it has a graph (property)', () => {
    const corpus = loadUaCorpus();
    const pool = syntheticUserAgents(corpus, 600, embedUserAgent, 42).vectors;
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 1, max: 30 }),
        fc.double({ min: 0.02, max: 0.6, noNaN: true }),
        fc.boolean(),
        fc.integer(),
        (slots, perSlot, reach, graph, seed) => {
          const rnd = lcg(seed);
          const inputs: UaRangeInput[] = Array.from({ length: slots }, (_, slot) => ({
            slot,
            exemplars: Array.from({ length: perSlot }, () => pool[Math.floor(rnd() * pool.length)]!),
            hashes: [],
            maxDistance: rnd() < 0.2 ? undefined : reach,
          }));
          const index = buildUaIndex(
            inputs,
            { ...DEFAULT_UA_INDEX_PARAMS, ef: 200 },
            { bruteForceBelow: graph ? 0 : Infinity },
          );
          for (let i = 0; i < 5; i++) {
            const q = pool[Math.floor(rnd() * pool.length)]!;
            // Distances never go through the graph: exact with or without one.
            expect(Array.from(index.nearestDistances(q, null))).toEqual(Array.from(exactPerSlot(inputs, q, slots)));
          }
        },
      ),
      { numRuns: 60 },
    );
  });

  it('recall@10 of the graph against exact search is ≥ 0.95', () => {
    const corpus = loadUaCorpus();
    // (a) The distinct vectors of the real user agents (few: version digits are masked).
    const real = distinctVectors(corpus.map((c) => embedUserAgent(c.ua)));
    // (b) 2,000 synthetic variants (distinct device words), queried by 200 others.
    const synth = syntheticUserAgents(corpus, 2_000, embedUserAgent, 8).vectors;
    const queries = syntheticUserAgents(corpus, 200, embedUserAgent, 9).vectors;
    for (const [vectors, qs] of [
      [real, null],
      [synth, queries],
    ] as const) {
      const inputs: UaRangeInput[] = vectors.map((v, slot) => ({ slot, exemplars: [v], hashes: [] }));
      const index = buildUaIndex(inputs, DEFAULT_UA_INDEX_PARAMS, { bruteForceBelow: 0 });
      expect(index.points).toBe(vectors.length);
      let hit = 0;
      let total = 0;
      if (qs === null) {
        const exact = exactNeighbours(vectors, 10);
        vectors.forEach((v, q) => {
          const got = new Set(index.nearestPoints(v, 11));
          got.delete(q);
          for (const e of exact[q]!) {
            total++;
            if (got.has(e)) hit++;
          }
        });
      } else {
        for (const q of qs) {
          const exact = vectors
            .map((v, i) => [cosineDistance(q, v), i] as const)
            .sort((a, b) => a[0] - b[0] || a[1] - b[1])
            .slice(0, 10)
            .map((x) => x[1]);
          const got = new Set(index.nearestPoints(q, 10));
          for (const e of exact) {
            total++;
            if (got.has(e)) hit++;
          }
        }
      }
      expect(hit / total).toBeGreaterThanOrEqual(0.95);
    }
  });
});
