// The HNSW graph serves only nearestPoints, so it is built when nearestPoints first needs it,
// never by a snapshot compile: in place (buildUaIndex) or on the worker thread (the
// sidecar's UaGraphBuilder), with exact exhaustive answers until it is ready.
import { afterAll, describe, expect, it } from 'vitest';
import { embedUserAgent } from '../../../src/features/userAgent.js';
import { parseFlagValue } from '../../../src/flags/schema.js';
import { compileSnapshotAsync } from '../../../src/matcher/compile.js';
import { DEFAULT_UA_INDEX_PARAMS, type UaRangeInput } from '../../../src/matcher/uaIndex.js';
import { buildUaIndex, type UaIndexWithDiagnostics } from '../../../src/matcher/uaIndexImpl.js';
import { OFF_THREAD_MIN_POINTS, UaGraphBuilder } from '../../../src/workers/uaGraphBuilder.js';
import { loadUaCorpus, syntheticUserAgents } from '../../helpers/uaCorpus.js';

const corpus = loadUaCorpus();
const vectors = syntheticUserAgents(corpus, 1_200, embedUserAgent, 41).vectors;
const queries = syntheticUserAgents(corpus, 60, embedUserAgent, 42).vectors;
/** One slot per vector: point ids equal vector positions. */
const inputs: UaRangeInput[] = vectors.map((v, slot) => ({ slot, exemplars: [v], hashes: [] }));

function exhaustive(): UaIndexWithDiagnostics {
  return buildUaIndex(inputs, DEFAULT_UA_INDEX_PARAMS, { bruteForceBelow: Infinity });
}

function recall(index: UaIndexWithDiagnostics, exact: UaIndexWithDiagnostics): number {
  let hit = 0;
  let total = 0;
  for (const q of queries) {
    const got = new Set(index.nearestPoints(q, 10));
    for (const e of exact.nearestPoints(q, 10)) {
      total++;
      if (got.has(e)) hit++;
    }
  }
  return hit / total;
}

describe('the lazy HNSW graph', () => {
  it('buildUaIndex builds no graph until nearestPoints asks, then the same graph as an eager build', () => {
    const lazy = buildUaIndex(inputs, DEFAULT_UA_INDEX_PARAMS, { bruteForceBelow: 0 });
    expect(lazy.usesGraph).toBe(true);
    expect(lazy.graphBuilt).toBe(false);
    // Decisions never need it: distances are exact scans.
    lazy.nearestDistances(queries[0]!, null);
    expect(lazy.graphBuilt).toBe(false);
    const eager = buildUaIndex(inputs, DEFAULT_UA_INDEX_PARAMS, { bruteForceBelow: 0, graph: 'eager' });
    expect(eager.graphBuilt).toBe(true);
    const first = lazy.nearestPoints(queries[0]!, 10);
    expect(lazy.graphBuilt).toBe(true);
    // Same seed, same insertion order: the same graph, so the same answers.
    for (const q of queries) expect([...lazy.nearestPoints(q, 10)]).toEqual([...eager.nearestPoints(q, 10)]);
    expect([...first]).toEqual([...eager.nearestPoints(queries[0]!, 10)]);
    expect(recall(lazy, exhaustive())).toBeGreaterThanOrEqual(0.9);
  });

  it('an index below the graph threshold never builds one', async () => {
    const small = buildUaIndex(inputs.slice(0, 10), DEFAULT_UA_INDEX_PARAMS);
    expect(small.usesGraph).toBe(false);
    small.nearestPoints(queries[0]!, 3);
    expect(small.graphBuilt).toBe(false);
    expect(await small.whenGraphReady()).toBe(false);
  });

  describe('UaGraphBuilder (the sidecar: graphs built on a worker thread)', () => {
    const builder = new UaGraphBuilder();
    afterAll(() => builder.close());

    it('answers exactly at once, builds the graph off-thread on the first query, then uses it', async () => {
      expect(vectors.length).toBeGreaterThanOrEqual(OFF_THREAD_MIN_POINTS);
      const index = (await builder.build(inputs, DEFAULT_UA_INDEX_PARAMS)) as UaIndexWithDiagnostics;
      const exact = exhaustive();
      expect(index.usesGraph).toBe(true);
      expect(index.graphBuilt).toBe(false);
      // While the graph is being built, answers are the exhaustive (exact) ones.
      expect([...index.nearestPoints(queries[1]!, 10)]).toEqual([...exact.nearestPoints(queries[1]!, 10)]);
      expect(index.graphBuilt).toBe(false);
      expect(await index.whenGraphReady()).toBe(true);
      expect(index.graphBuilt).toBe(true);
      expect(recall(index, exact)).toBeGreaterThanOrEqual(0.9);
    });

    it('a snapshot compile through the builder builds no graph', async () => {
      const flag = parseFlagValue({
        name: 'ua-many',
        enabled: true,
        profile: { userAgent: { similarTo: syntheticUserAgents(corpus, 600, embedUserAgent, 43).uas } },
      });
      if (!flag.ok) throw new Error('fixture flag invalid');
      const snapshot = await compileSnapshotAsync(
        [flag.flag],
        { version: 1, source: 'test', rejected: [] },
        {
          uaIndexBuilder: { embed: embedUserAgent, build: buildUaIndex },
          buildUaIndexAsync: (i, p) => builder.build(i, p),
        },
      );
      const index = snapshot.uaIndex as UaIndexWithDiagnostics;
      expect(index.points).toBeGreaterThanOrEqual(OFF_THREAD_MIN_POINTS);
      expect(index.usesGraph).toBe(true);
      expect(index.graphBuilt).toBe(false);
    });

    it('after close, a pending graph is reported and queries stay exhaustive', async () => {
      const errors: Error[] = [];
      const closed = new UaGraphBuilder({}, (err) => errors.push(err));
      const index = (await closed.build(inputs, DEFAULT_UA_INDEX_PARAMS)) as UaIndexWithDiagnostics;
      await closed.close();
      expect(await index.whenGraphReady()).toBe(false);
      expect(errors.map((e) => e.message)).toEqual(['graph builder closed']);
      expect([...index.nearestPoints(queries[2]!, 5)]).toEqual([...exhaustive().nearestPoints(queries[2]!, 5)]);
      expect(index.graphBuilt).toBe(false);
    });
  });
});
