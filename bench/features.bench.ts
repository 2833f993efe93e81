// Feature-extraction and user-agent index benchmark.
//   tsx bench/features.bench.ts          prints the figures
//   runFeaturesBench()                   returns them (for bench/run.ts)
// Every timing is a median over rounds (2-core, noisy machines); quality figures are exact.
import { pathToFileURL } from 'node:url';
import { createProfileExtractor } from '../src/features/extract.js';
import { createGeoResolver } from '../src/features/geo.js';
import { createUaFeatureCache, embedUserAgent } from '../src/features/userAgent.js';
import { DEFAULT_UA_INDEX_PARAMS, type UaIndexParams, type UaRangeInput } from '../src/matcher/uaIndex.js';
import { buildUaIndex } from '../src/matcher/uaIndexImpl.js';
import {
  distinctVectors,
  exactNeighbours,
  lcg,
  loadUaCorpus,
  measureUaQuality,
  syntheticUserAgents,
} from '../test/helpers/uaCorpus.js';

const KEY = 'bench-key-0123456789abcdef';

function nowNs(): number {
  return Number(process.hrtime.bigint());
}

function pct(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

function medianOf(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1]!;
}

/** Median over rounds of the mean ns per call of f over items. */
function perCall<T>(items: readonly T[], f: (x: T) => unknown, rounds = 5): number {
  const results: number[] = [];
  let sink = 0;
  for (let r = 0; r < rounds; r++) {
    const t = nowNs();
    for (const it of items) if (f(it) !== undefined) sink++;
    results.push((nowNs() - t) / items.length);
  }
  if (sink < 0) console.log(sink);
  return medianOf(results);
}

/** Per-call latencies (ns), sorted. */
function latencies<T>(items: readonly T[], f: (x: T) => unknown): Float64Array {
  const out = new Float64Array(items.length);
  for (let i = 0; i < items.length; i++) {
    const t = nowNs();
    f(items[i]!);
    out[i] = nowNs() - t;
  }
  return out.sort();
}

/** recall@10 of the index's own neighbour search against exact search over the same points. */
function recallAt10(vectors: readonly Float32Array[], queries: readonly Float32Array[], params: UaIndexParams): number {
  // One slot per vector, so point ids equal vector positions.
  const inputs: UaRangeInput[] = vectors.map((v, slot) => ({ slot, exemplars: [v], hashes: [] }));
  const index = buildUaIndex(inputs, params, { bruteForceBelow: 0, graph: 'eager' });
  const all = [...vectors, ...queries];
  let hit = 0;
  let total = 0;
  const dot = (a: Float32Array, b: Float32Array): number => {
    let s = 0;
    for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
    return s;
  };
  for (const q of queries.length > 0 ? queries : all) {
    const exact = vectors
      .map((v, i) => [dot(q, v), i] as const)
      .sort((a, b) => b[0] - a[0] || a[1] - b[1])
      .slice(0, Math.min(10, vectors.length))
      .map((x) => x[1]);
    const got = new Set(index.nearestPoints(q, exact.length));
    for (const e of exact) {
      total++;
      if (got.has(e)) hit++;
    }
  }
  return total ? hit / total : NaN;
}

/** recall@10 on the distinct vectors themselves (each its own query, itself excluded). */
function recallSelf(vectors: readonly Float32Array[], params: UaIndexParams): number {
  const inputs: UaRangeInput[] = vectors.map((v, slot) => ({ slot, exemplars: [v], hashes: [] }));
  const index = buildUaIndex(inputs, params, { bruteForceBelow: 0, graph: 'eager' });
  const exact = exactNeighbours(vectors, 10);
  let hit = 0;
  let total = 0;
  vectors.forEach((v, q) => {
    const got = new Set(index.nearestPoints(v, 11));
    got.delete(q);
    for (const e of exact[q]!) {
      total++;
      if (got.has(e)) hit++;
    }
  });
  return total ? hit / total : NaN;
}

export async function runFeaturesBench(): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  const corpus = loadUaCorpus();
  const uas = corpus.map((c) => c.ua);

  // --- embedding and keyed hash -------------------------------------------------------------
  const synth = syntheticUserAgents(corpus, 4_000, embedUserAgent, 7);
  out['ua.embed.ns'] = perCall(synth.uas, embedUserAgent);
  {
    let round = 0;
    out['ua.features.cold.ns'] = medianOf(
      [0, 1, 2].map(() => {
        // A fresh cache each round: every call hashes and embeds.
        const cache = createUaFeatureCache({ key: `${KEY}${round++}` });
        const t = nowNs();
        for (const ua of synth.uas) cache.features(ua);
        return (nowNs() - t) / synth.uas.length;
      }),
    );
    const warm = createUaFeatureCache({ key: KEY });
    for (const ua of uas) warm.features(ua);
    out['ua.features.warm.ns'] = perCall(uas, (ua) => warm.features(ua));
  }

  // --- full profile extraction ----------------------------------------------------------------
  {
    const geo = createGeoResolver({ trustedHops: 1 });
    const extract = createProfileExtractor({ uaHashKey: KEY, tz: 'Europe/Berlin', geo, hourBinWidth: 4 });
    const rnd = lcg(11);
    const mk = (ua: string) => {
      const ip = `${1 + Math.floor(rnd() * 220)}.${Math.floor(rnd() * 256)}.${Math.floor(rnd() * 256)}.${Math.floor(rnd() * 256)}`;
      const m = new Map<string, string>([
        [':method', rnd() < 0.7 ? 'GET' : 'POST'],
        [':path', `/api/v1/products/${Math.floor(rnd() * 1e6)}/reviews?page=${Math.floor(rnd() * 10)}`],
        ['user-agent', ua],
        ['x-forwarded-for', `${ip}, 10.0.0.${Math.floor(rnd() * 255)}`],
        ['content-length', String(Math.floor(rnd() * 5000))],
      ]);
      return {
        headers: { get: (n: string) => m.get(n) },
        sourceAddress: '10.1.2.3:5555',
        nowMs: 1_760_000_000_000 + Math.floor(rnd() * 1e6),
      };
    };
    const warmInputs = Array.from({ length: 4000 }, (_, i) => mk(uas[i % uas.length]!));
    for (const inp of warmInputs) extract(inp);
    out['extract.warm.ns'] = perCall(warmInputs, extract);
    const coldInputs = synth.uas.map((ua) => mk(ua));
    const coldLat = latencies(coldInputs, extract);
    out['extract.cold.p50.ns'] = pct(coldLat, 50);
    out['extract.cold.p99.ns'] = pct(coldLat, 99);
  }

  // --- index: 100 slots × 100 exemplars = 10,000 distinct exemplars -------------------------
  // "family" slots: each flag's exemplars are variants of one real user agent (a flag targets a
  // family); "spread" slots: each flag's exemplars are drawn from the whole corpus (worst case:
  // every flag has an exemplar near every query, so every slot needs its own exact answer).
  {
    const rnd = lcg(21);
    const family: UaRangeInput[] = [];
    for (let s = 0; s < 100; s++) {
      const base = corpus[Math.floor(rnd() * corpus.length)]!;
      const ex = syntheticUserAgents([base], 100, embedUserAgent, 1000 + s).vectors;
      family.push({ slot: s, exemplars: ex, hashes: [], maxDistance: 0.2 });
    }
    const spreadVectors = syntheticUserAgents(corpus, 10_000, embedUserAgent, 3).vectors;
    const spread: UaRangeInput[] = [];
    for (let s = 0; s < 100; s++) {
      spread.push({ slot: s, exemplars: spreadVectors.slice(s * 100, s * 100 + 100), hashes: [], maxDistance: 0.2 });
    }
    // The graph is normally built on the first nearestPoints call (never by a compile); 'eager'
    // builds it here so that its build time is what is measured.
    const eager = { graph: 'eager' } as const;
    const builds: number[] = [];
    let index = buildUaIndex(family, DEFAULT_UA_INDEX_PARAMS, eager);
    for (let r = 0; r < 2; r++) {
      const t = nowNs();
      index = buildUaIndex(family, DEFAULT_UA_INDEX_PARAMS, eager);
      builds.push((nowNs() - t) / 1e6);
    }
    out['index.points'] = index.points;
    out['index.build10k.ms'] = medianOf(builds);
    {
      const t = nowNs();
      buildUaIndex(family, { ...DEFAULT_UA_INDEX_PARAMS, efConstruction: 100 }, eager);
      out['index.build10k.efc100.ms'] = (nowNs() - t) / 1e6;
    }
    {
      // What a snapshot compile pays for the index now: everything but the graph.
      const t = nowNs();
      buildUaIndex(family, DEFAULT_UA_INDEX_PARAMS);
      out['index.build10k.withoutGraph.ms'] = (nowNs() - t) / 1e6;
    }
    const queries = syntheticUserAgents(corpus, 3_000, embedUserAgent, 99).vectors;
    const ids = queries.map((_, i) => i);
    const hashes = queries.map((_, i) => `q${i}`);
    const cold = latencies(ids, (i) => index.nearestDistances(queries[i]!, hashes[i]!));
    out['index.query.cold.p50.ns'] = pct(cold, 50);
    out['index.query.cold.p99.ns'] = pct(cold, 99);
    const warm = latencies(ids, (i) => index.nearestDistances(queries[i]!, hashes[i]!));
    out['index.query.warm.p50.ns'] = pct(warm, 50);
    // The raw neighbour search (k = 10) of the graph, without the per-slot work.
    out['index.knn10.p50.ns'] = pct(
      latencies(queries.slice(0, 1000), (q) => index.nearestPoints(q, 10)),
      50,
    );
    const spreadIndex = buildUaIndex(spread, DEFAULT_UA_INDEX_PARAMS, eager);
    out['index.query.spreadSlots.cold.p50.ns'] = pct(
      latencies(ids.slice(0, 500), (i) => spreadIndex.nearestDistances(queries[i]!, null)),
      50,
    );
    const allFamily = family.flatMap((f) => f.exemplars);
    for (const ef of [16, 32, 50]) {
      const params = { ...DEFAULT_UA_INDEX_PARAMS, ef };
      const idx = buildUaIndex(family, params, eager);
      out[`index.query.cold.ef${ef}.p50.ns`] = pct(
        latencies(ids, (i) => idx.nearestDistances(queries[i]!, null)),
        50,
      );
      out[`index.recall10.synthetic10k.ef${ef}`] = recallAt10(allFamily, queries.slice(0, 300), params);
      out[`index.recall10.spread10k.ef${ef}`] = recallAt10(spreadVectors, queries.slice(0, 300), params);
    }
    out['index.recall10.synthetic10k.efc100'] = recallAt10(allFamily, queries.slice(0, 300), {
      ...DEFAULT_UA_INDEX_PARAMS,
      efConstruction: 100,
    });
  }

  // --- index of real exemplars: 100 slots × 100 user agents of the corpus (dedupes to few points)
  {
    const rnd = lcg(31);
    const inputs: UaRangeInput[] = Array.from({ length: 100 }, (_, slot) => ({
      slot,
      exemplars: Array.from({ length: 100 }, () => embedUserAgent(corpus[Math.floor(rnd() * corpus.length)]!.ua)),
      hashes: [],
      maxDistance: 0.2,
    }));
    const t = nowNs();
    const index = buildUaIndex(inputs, DEFAULT_UA_INDEX_PARAMS, { graph: 'eager' });
    out['index.real10k.build.ms'] = (nowNs() - t) / 1e6;
    out['index.real10k.points'] = index.points;
    const queries = syntheticUserAgents(corpus, 3_000, embedUserAgent, 77).vectors;
    out['index.real10k.query.cold.p50.ns'] = pct(
      latencies(queries, (q) => index.nearestDistances(q, null)),
      50,
    );
  }

  // --- exhaustive versus graph for small indexes -------------------------------------------------
  {
    const pool = syntheticUserAgents(corpus, 512, embedUserAgent, 5).vectors;
    const queries = syntheticUserAgents(corpus, 1_000, embedUserAgent, 6).vectors;
    for (const n of [32, 64, 128, 256, 512]) {
      const inputs: UaRangeInput[] = pool
        .slice(0, n)
        .map((v, slot) => ({ slot, exemplars: [v], hashes: [], maxDistance: 0.2 }));
      const brute = buildUaIndex(inputs, DEFAULT_UA_INDEX_PARAMS, { bruteForceBelow: Infinity });
      const graph = buildUaIndex(inputs, DEFAULT_UA_INDEX_PARAMS, { bruteForceBelow: 0, graph: 'eager' });
      out[`index.small${n}.exhaustive.p50.ns`] = pct(
        latencies(queries, (q) => brute.nearestDistances(q, null)),
        50,
      );
      out[`index.small${n}.graph.p50.ns`] = pct(
        latencies(queries, (q) => graph.nearestDistances(q, null)),
        50,
      );
    }
  }

  // --- quality on the real user agents --------------------------------------------------------
  {
    const q = measureUaQuality(corpus, embedUserAgent);
    out['quality.uas'] = q.queries;
    out['quality.nn10.sameBrowser'] = q.sameBrowser;
    out['quality.nn10.sameOs'] = q.sameOs;
    const distinct = distinctVectors(corpus.map((c) => embedUserAgent(c.ua)));
    out['quality.distinctVectors'] = distinct.length;
    out['quality.recall10.distinctReal'] = recallSelf(distinct, DEFAULT_UA_INDEX_PARAMS);
  }
  return out;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const figures = await runFeaturesBench();
  for (const [k, v] of Object.entries(figures)) {
    const shown = k.endsWith('.ns')
      ? `${(v / 1000).toFixed(2)} µs`
      : k.endsWith('.ms')
        ? `${v.toFixed(1)} ms`
        : Number.isInteger(v)
          ? String(v)
          : v.toFixed(4);
    console.log(`${k.padEnd(40)} ${shown}`);
  }
}
