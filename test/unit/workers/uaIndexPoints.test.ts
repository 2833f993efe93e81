// The index's points: exemplars deduplicated by their exact bytes (identical vectors would
// degrade the graph), normalised once, shared by the slots that use them.
import { describe, expect, it } from 'vitest';
import { embedUserAgent } from '../../../src/features/userAgent.js';
import { DEFAULT_UA_INDEX_PARAMS } from '../../../src/matcher/uaIndex.js';
import { buildUaIndex, prepareUaIndex } from '../../../src/matcher/uaIndexImpl.js';
import { loadUaCorpus, syntheticUserAgents } from '../../helpers/uaCorpus.js';

describe('prepared points', () => {
  const vectors = syntheticUserAgents(loadUaCorpus(), 300, embedUserAgent, 5).vectors;

  it('keeps one point per distinct vector, whatever array holds it', () => {
    const copies = vectors.map((v) => Float32Array.from(v));
    const prepared = prepareUaIndex([
      { slot: 0, exemplars: [...vectors.slice(0, 200), ...vectors.slice(0, 50)], hashes: [] },
      { slot: 1, exemplars: copies.slice(100), hashes: [] },
    ]);
    expect(prepared.n).toBe(300);
    expect(prepared.slotPoints.map((p) => p.length)).toEqual([200, 200]);
    // Slot 1's first points are slot 0's points 100..199.
    expect([...prepared.slotPoints[1]!.slice(0, 100)]).toEqual([...prepared.slotPoints[0]!.slice(100, 200)]);
    for (let p = 0; p < prepared.n; p++) {
      let norm = 0;
      for (let i = 0; i < prepared.dim; i++) norm += prepared.points[p * prepared.dim + i]! ** 2;
      expect(norm).toBeCloseTo(1, 12);
    }
  });

  it('tells apart vectors that differ in one component, and skips unusable ones', () => {
    const a = Float32Array.from(vectors[0]!);
    const b = Float32Array.from(a);
    b[7] = b[7]! + 1e-6;
    const zero = new Float32Array(a.length);
    const short = a.slice(0, 10);
    const nan = Float32Array.from(a);
    nan[3] = NaN;
    const prepared = prepareUaIndex([{ slot: 0, exemplars: [a, b, zero, short, nan, a], hashes: [] }]);
    expect(prepared.n).toBe(2);
    expect(prepared.slotPoints[0]!.length).toBe(2);
  });

  it('gives the same distances as before the points were shared', () => {
    const inputs = [
      { slot: 0, exemplars: vectors.slice(0, 150), hashes: [], maxDistance: 0.3 },
      { slot: 1, exemplars: vectors.slice(100, 300), hashes: [], maxDistance: 0.3 },
    ];
    const index = buildUaIndex(inputs, DEFAULT_UA_INDEX_PARAMS);
    const q = embedUserAgent(
      'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Chrome/124.0 Mobile Safari/537.36',
    );
    const d = index.nearestDistances(q, null);
    // Each slot on its own: the same numbers, bit for bit.
    for (const input of inputs) {
      const alone = buildUaIndex([{ ...input, slot: 0 }], DEFAULT_UA_INDEX_PARAMS).nearestDistances(q, null);
      expect(d[input.slot]).toBe(alone[0]);
    }
  });
});
