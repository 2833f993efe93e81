// In-process decision cost: the whole per-request hot path of the sidecar (Envoy header list →
// RequestHeaders → profile → decide → mutation plan → CommonResponse, with metrics), on a
// snapshot of 1,000 flags with 10,000 user-agent exemplars. Warm: a few hundred distinct
// requests from 64 user agents, repeated. Cold: every request brings a user agent never seen.
//
// Two timings per case, both repeated per round and quoted as the median of the rounds:
//   - batches of BATCH requests timed with process.hrtime.bigint → the mean per request;
//   - every request timed on its own → the p50 and p99 (timer overhead ~50 ns included).
// Stage timings and a pruning prototype (bench/prototypes/candidateIndex.ts) explain the total.
import { RequestHeaders } from '../src/extproc/headerMap.js';
import type { ProcessingRequest } from '../src/extproc/protocol.js';
import { toCommonResponse } from '../src/extproc/requestProcessor.js';
import { createHmac, createSecretKey } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { normalizeEndpoint } from '../src/features/endpoint.js';
import { createProfileExtractor } from '../src/features/extract.js';
import { parseIp } from '../src/features/ip.js';
import { createMetrics } from '../src/telemetry/metrics.js';
import type { RequestProfile } from '../src/features/profile.js';
import { decide, type Decision } from '../src/matcher/match.js';
import { planMutation } from '../src/routing/mutationPlan.js';
import {
  buildProcessor,
  buildSnapshot,
  loadFixtures,
  randomRequest,
  requestHeadersMessage,
  ROUTING,
  UA_HASH_KEY,
  unseenUserAgent,
  type Fixtures,
} from './lib/fixtures.js';
import { createRng, median, nowNs, percentiles, Samples, warmUp } from './lib/stats.js';
import { embedUserAgent } from '../src/features/userAgent.js';
import { createPrunedDecider, decisionKey, slotExemplarsOf } from './prototypes/candidateIndex.js';
import { createFastExtractor, LazyHeaders } from './prototypes/fastFeatures.js';

const BATCH = 200;
const WARM_POOL = 512;
const WARM_USER_AGENTS = 64;

export interface DecisionBenchOptions {
  readonly quick: boolean;
  readonly rounds: number;
  readonly log: (line: string) => void;
}

export interface LatencyFigures {
  /** Median over rounds of the per-request mean of timed batches. */
  batchMeanUs: number;
  /** Median over rounds of the per-request p50 / p99 (each request timed on its own). */
  p50Us: number;
  p99Us: number;
  p99OverP50: number;
}

export interface DecisionResult {
  flags: number;
  uaExemplars: number;
  compileMs: number;
  matchesPerRequest: number;
  warm: LatencyFigures;
  cold: LatencyFigures;
  /** The same processor on an empty snapshot: header map, features, response (the floor). */
  emptySnapshot: { batchMeanUs: number };
  ratios: { warmVsEmpty: number; coldVsWarm: number };
  /** Median µs per call of each stage, on the warm requests (cold where it says so). */
  stages: {
    headerMapUs: number;
    extractWarmUs: number;
    extractColdUs: number;
    uaQueryWarmUs: number;
    uaQueryColdUs: number;
    decideUs: number;
    planAndResponseUs: number;
    /** Parts of the extractor and processor, to say where the floor comes from. */
    hmacSha256Us: number;
    geoLookupUs: number;
    normalizeEndpointUs: number;
    lruGetUs: number;
    metricsUs: number;
  };
  prototype: {
    candidatesPerRequest: number;
    /** Bitset pruning, with the snapshot's UA index. */
    prunedDecideUs: number;
    decideSpeedup: number;
    disagreements: number;
    /** Bitset pruning plus exact UA distances for the candidates' slots only. */
    prunedExactUaDecideWarmUs: number;
    prunedExactUaDecideColdUs: number;
    exactUaDisagreements: number;
    comparedDecisions: number;
    pipelineWarmP50Us: number;
    pipelineWarmP99Us: number;
    pipelineColdP50Us: number;
    pipelineColdP99Us: number;
    /** Prototype B (bench/prototypes/fastFeatures.ts): lazy headers, UA cache by raw string. */
    lazyHeadersUs: number;
    fastExtractWarmUs: number;
    fastPipelineWarmP50Us: number;
    fastPipelineWarmP99Us: number;
    fastPipelineColdP50Us: number;
    fastPipelineColdP99Us: number;
    /** Requests whose profile or decision differs from the real extractor's and decide()'s. */
    fastDisagreements: number;
  };
}

type Job = (i: number) => unknown;

/** Per-request means (ns) of timed batches, for about budgetMs. */
function timeBatches(job: Job, budgetMs: number, limit = Infinity): number[] {
  const out: number[] = [];
  const end = nowNs() + budgetMs * 1e6;
  let i = 0;
  let sink = 0;
  do {
    const n = Math.min(BATCH, limit - i);
    if (n <= 0) break;
    const t0 = nowNs();
    for (let j = 0; j < n; j++) if (job(i++) === undefined) sink++;
    out.push((nowNs() - t0) / n);
  } while (nowNs() < end);
  if (sink < 0) console.log(sink); // keeps the results observable to the optimiser
  return out;
}

/** Each call timed on its own (ns), for about budgetMs. */
function timeEach(job: Job, budgetMs: number, limit = Infinity): Float64Array {
  const samples = new Samples(16_384);
  const end = nowNs() + budgetMs * 1e6;
  let i = 0;
  while (i < limit) {
    const t0 = nowNs();
    job(i++);
    samples.push(nowNs() - t0);
    if ((i & 63) === 0 && nowNs() > end) break;
  }
  return samples.values();
}

function usMedian(valuesNs: readonly number[]): number {
  return median(valuesNs) / 1000;
}

function latency(batchMeans: number[], p50s: number[], p99s: number[]): LatencyFigures {
  const p50 = usMedian(p50s);
  const p99 = usMedian(p99s);
  return { batchMeanUs: usMedian(batchMeans), p50Us: p50, p99Us: p99, p99OverP50: p99 / p50 };
}

export async function runDecisionBench(opts: DecisionBenchOptions): Promise<DecisionResult> {
  const { log } = opts;
  const scale = opts.quick ? 0.2 : 1;
  const fx: Fixtures = loadFixtures();
  const { snapshot, compileMs } = buildSnapshot(fx.flags);
  const empty = buildSnapshot([]).snapshot;
  log(`decision: ${snapshot.flags.length} flags, ${fx.exemplarCount} UA exemplars, compile ${compileMs.toFixed(0)} ms`);

  const rng = createRng(7);
  const warmAgents = fx.userAgents.slice(0, WARM_USER_AGENTS);
  const warmMessages = Array.from({ length: WARM_POOL }, () =>
    requestHeadersMessage(randomRequest(rng, fx, warmAgents), rng),
  );
  let serial = 0;
  const coldMessages = (count: number): ProcessingRequest[] =>
    Array.from({ length: count }, () => {
      const spec = randomRequest(rng, fx, fx.userAgents);
      return requestHeadersMessage({ ...spec, userAgent: unseenUserAgent(spec.userAgent, ++serial, rng) }, rng);
    });

  const processor = buildProcessor(snapshot, fx.geo);
  const emptyProcessor = buildProcessor(empty, fx.geo);
  const warmJob: Job = (i) => {
    const m = warmMessages[i % WARM_POOL]!;
    return processor(m, m.request_headers!);
  };

  // Inputs of the stage timings, extracted once.
  const extract = createProfileExtractor({ uaHashKey: UA_HASH_KEY, tz: 'UTC', geo: fx.geo, hourBinWidth: 4 });
  const warmHeaders = warmMessages.map((m) => new RequestHeaders(m.request_headers!.headers!.headers));
  const warmProfiles: RequestProfile[] = warmHeaders.map((h) =>
    extract({ headers: h, sourceAddress: null, nowMs: Date.now() }),
  );
  const warmDecisions: Decision[] = warmProfiles.map((p, i) => decide(snapshot, p, warmHeaders[i]!));
  const matchesPerRequest = warmDecisions.reduce((s, d) => s + d.matches.length, 0) / warmDecisions.length;

  // The prototypes must decide exactly as decide() does: compare on warm and cold requests.
  // `pruned` keeps the snapshot's UA index; `prunedExact` computes UA distances only for the
  // candidate flags' slots, exactly (the index is approximate, so it may differ where HNSW
  // misses a neighbour: those are counted apart).
  const pruned = createPrunedDecider(snapshot);
  const definitions = new Map(fx.flags.map((f) => [f.name, f]));
  const prunedExact = createPrunedDecider(
    snapshot,
    slotExemplarsOf(snapshot, (name) => definitions.get(name)?.profile.userAgent?.similarTo ?? [], embedUserAgent),
  );
  let disagreements = 0;
  let exactUaDisagreements = 0;
  let compared = 0;
  const checkProfiles = [...warmProfiles];
  const checkHeaders = [...warmHeaders];
  for (const m of coldMessages(opts.quick ? 500 : 3_000)) {
    const h = new RequestHeaders(m.request_headers!.headers!.headers);
    checkHeaders.push(h);
    checkProfiles.push(extract({ headers: h, sourceAddress: null, nowMs: Date.now() }));
  }
  for (let i = 0; i < checkProfiles.length; i++) {
    compared++;
    const expected = decisionKey(decide(snapshot, checkProfiles[i]!, checkHeaders[i]!));
    if (decisionKey(pruned.decide(checkProfiles[i]!, checkHeaders[i]!)) !== expected) disagreements++;
    if (decisionKey(prunedExact.decide(checkProfiles[i]!, checkHeaders[i]!)) !== expected) exactUaDisagreements++;
  }
  const prototypeExtract = createProfileExtractor({ uaHashKey: UA_HASH_KEY, tz: 'UTC', geo: fx.geo, hourBinWidth: 4 });
  const pipeline = (m: ProcessingRequest) => {
    const headers = new RequestHeaders(m.request_headers!.headers!.headers);
    const profile = prototypeExtract({ headers, sourceAddress: null, nowMs: Date.now() });
    const d = prunedExact.decide(profile, headers);
    const plan = planMutation(
      d,
      { routeHeaderSent: headers.has(ROUTING.routeHeader), flagsHeaderSent: headers.has(ROUTING.flagsHeader) },
      ROUTING,
    );
    return toCommonResponse(plan);
  };

  // Prototype B: the same, on lazily decoded headers and the raw-string UA cache.
  const fastExtract = createFastExtractor({ uaHashKey: UA_HASH_KEY, tz: 'UTC', hourBinWidth: 4, geo: fx.geo });
  const fastPipeline = (m: ProcessingRequest) => {
    const headers = new LazyHeaders(m.request_headers!.headers!.headers);
    const profile = fastExtract(headers, null, Date.now());
    const d = prunedExact.decide(profile, headers);
    const plan = planMutation(
      d,
      { routeHeaderSent: headers.has(ROUTING.routeHeader), flagsHeaderSent: headers.has(ROUTING.flagsHeader) },
      ROUTING,
    );
    return toCommonResponse(plan);
  };
  // Same profiles (every field, the embedding by value) and the same decisions as the real code.
  let fastDisagreements = 0;
  const profileKey = (p: RequestProfile) =>
    JSON.stringify({ ...p, uaVector: p.uaVector ? Array.from(p.uaVector) : null, clientKey: p.clientKey });
  for (const m of [...warmMessages, ...coldMessages(opts.quick ? 300 : 1_000)]) {
    const real = new RequestHeaders(m.request_headers!.headers!.headers);
    const lazy = new LazyHeaders(m.request_headers!.headers!.headers);
    const nowMs = Date.now();
    const a = extract({ headers: real, sourceAddress: null, nowMs });
    const b = fastExtract(lazy, null, nowMs);
    if (
      profileKey(a) !== profileKey(b) ||
      decisionKey(decide(snapshot, a, real)) !== decisionKey(prunedExact.decide(b, lazy))
    ) {
      fastDisagreements++;
    }
  }

  warmUp(() => warmJob(Math.floor(Math.random() * WARM_POOL)), opts.quick ? 200 : 1_000, 2_000);
  warmUp(() => fastPipeline(warmMessages[Math.floor(Math.random() * WARM_POOL)]!), opts.quick ? 100 : 300, 2_000);
  warmUp(() => pipeline(warmMessages[Math.floor(Math.random() * WARM_POOL)]!), opts.quick ? 100 : 300, 2_000);

  const acc = {
    warmBatch: [] as number[],
    warmP50: [] as number[],
    warmP99: [] as number[],
    coldBatch: [] as number[],
    coldP50: [] as number[],
    coldP99: [] as number[],
    empty: [] as number[],
    headerMap: [] as number[],
    extractWarm: [] as number[],
    extractCold: [] as number[],
    uaWarm: [] as number[],
    uaCold: [] as number[],
    decide: [] as number[],
    plan: [] as number[],
    hmac: [] as number[],
    geo: [] as number[],
    normalize: [] as number[],
    lru: [] as number[],
    metrics: [] as number[],
    pruned: [] as number[],
    prunedExact: [] as number[],
    prunedExactCold: [] as number[],
    candidates: [] as number[],
    fastExtract: [] as number[],
    lazyHeaders: [] as number[],
    fastWarmP50: [] as number[],
    fastWarmP99: [] as number[],
    fastColdP50: [] as number[],
    fastColdP99: [] as number[],
    pipeWarmP50: [] as number[],
    pipeWarmP99: [] as number[],
    pipeColdP50: [] as number[],
    pipeColdP99: [] as number[],
  };
  const ms = (full: number) => Math.max(40, full * scale);

  // Inputs of the part timings.
  const hmacKey = createSecretKey(Buffer.from(UA_HASH_KEY));
  const agentOf = (i: number) => warmAgents[i % warmAgents.length]!;
  const ips = fx.clientIps.slice(0, 256).map((t) => parseIp(t)!);
  const rawPaths = warmMessages.map((m) =>
    m.request_headers!.headers!.headers!.find((h) => h.key === ':path')!.raw_value!.toString('latin1'),
  );
  const lru = new LRUCache<string, number>({ max: 10_000 });
  warmAgents.forEach((ua, i) => lru.set(ua, i));
  const metrics = createMetrics({ defaultMetrics: false });
  const matchCounter = metrics.decisions.labels('match');

  for (let round = 0; round < opts.rounds; round++) {
    // Warm: prime the caches with one pass, then time.
    for (let i = 0; i < WARM_POOL; i++) warmJob(i);
    const wb = timeBatches(warmJob, ms(800));
    const [wp50, wp99] = percentiles(timeEach(warmJob, ms(800)), [50, 99]);
    acc.warmBatch.push(median(wb));
    acc.warmP50.push(wp50!);
    acc.warmP99.push(wp99!);

    // Cold: enough never-seen requests for the time box (sized from the warm mean, capped).
    const perRequestMs = Math.max(median(wb) / 1e6, 0.002);
    const coldCount = Math.min(20_000, Math.ceil(ms(600) / perRequestMs) + BATCH);
    let pool = coldMessages(coldCount);
    const coldJob: Job = (i) => processor(pool[i]!, pool[i]!.request_headers!);
    acc.coldBatch.push(median(timeBatches(coldJob, ms(600), pool.length)));
    pool = coldMessages(coldCount);
    const [cp50, cp99] = percentiles(timeEach(coldJob, ms(600), pool.length), [50, 99]);
    acc.coldP50.push(cp50!);
    acc.coldP99.push(cp99!);

    // The floor: the same processor without flags.
    acc.empty.push(
      median(
        timeBatches((i) => {
          const m = warmMessages[i % WARM_POOL]!;
          return emptyProcessor(m, m.request_headers!);
        }, ms(200)),
      ),
    );

    // Stages.
    acc.headerMap.push(
      median(
        timeBatches((i) => new RequestHeaders(warmMessages[i % WARM_POOL]!.request_headers!.headers!.headers), ms(150)),
      ),
    );
    acc.extractWarm.push(
      median(
        timeBatches(
          (i) => extract({ headers: warmHeaders[i % WARM_POOL]!, sourceAddress: null, nowMs: Date.now() }),
          ms(150),
        ),
      ),
    );
    const coldHeaders = coldMessages(Math.min(coldCount, 5_000)).map(
      (m) => new RequestHeaders(m.request_headers!.headers!.headers),
    );
    acc.extractCold.push(
      median(
        timeBatches(
          (i) => extract({ headers: coldHeaders[i]!, sourceAddress: null, nowMs: Date.now() }),
          ms(150),
          coldHeaders.length,
        ),
      ),
    );
    const index = snapshot.uaIndex;
    if (index) {
      acc.uaWarm.push(
        median(
          timeBatches(
            (i) => index.nearestDistances(warmProfiles[i % WARM_POOL]!.uaVector, warmProfiles[i % WARM_POOL]!.uaHash),
            ms(100),
          ),
        ),
      );
      // Cold: fresh vectors with hashes nobody has asked for (the index caches by hash).
      const fresh = coldMessages(Math.min(coldCount, 5_000)).map((m) =>
        prototypeExtract({
          headers: new RequestHeaders(m.request_headers!.headers!.headers),
          sourceAddress: null,
          nowMs: Date.now(),
        }),
      );
      acc.uaCold.push(
        median(
          timeBatches(
            (i) => index.nearestDistances(fresh[i]!.uaVector, `${fresh[i]!.uaHash}:bench`),
            ms(150),
            fresh.length,
          ),
        ),
      );
    }
    acc.decide.push(
      median(timeBatches((i) => decide(snapshot, warmProfiles[i % WARM_POOL]!, warmHeaders[i % WARM_POOL]!), ms(300))),
    );
    acc.plan.push(
      median(
        timeBatches((i) => {
          const h = warmHeaders[i % WARM_POOL]!;
          return toCommonResponse(
            planMutation(
              warmDecisions[i % WARM_POOL]!,
              { routeHeaderSent: h.has(ROUTING.routeHeader), flagsHeaderSent: h.has(ROUTING.flagsHeader) },
              ROUTING,
            ),
          );
        }, ms(150)),
      ),
    );

    acc.hmac.push(
      median(timeBatches((i) => createHmac('sha256', hmacKey).update(agentOf(i), 'utf8').digest('hex'), ms(100))),
    );
    acc.geo.push(median(timeBatches((i) => fx.geo.lookup(ips[i & 255]!), ms(100))));
    acc.normalize.push(median(timeBatches((i) => normalizeEndpoint(rawPaths[i % WARM_POOL]!), ms(100))));
    acc.lru.push(median(timeBatches((i) => lru.get(agentOf(i)), ms(100))));
    acc.metrics.push(
      median(
        timeBatches((i) => {
          matchCounter.inc();
          metrics.routed.labels(`backend_canary_${i & 7}`).inc();
          metrics.decisionSeconds.observe(2e-5);
          return i;
        }, ms(100)),
      ),
    );

    // Prototype: pruned decide alone, and the whole pipeline with it.
    pruned.stats.candidates = 0;
    pruned.stats.requests = 0;
    acc.pruned.push(
      median(timeBatches((i) => pruned.decide(warmProfiles[i % WARM_POOL]!, warmHeaders[i % WARM_POOL]!), ms(200))),
    );
    acc.candidates.push(pruned.stats.candidates / Math.max(1, pruned.stats.requests));
    acc.prunedExact.push(
      median(
        timeBatches((i) => prunedExact.decide(warmProfiles[i % WARM_POOL]!, warmHeaders[i % WARM_POOL]!), ms(200)),
      ),
    );
    const coldProfiles = coldMessages(Math.min(coldCount, 5_000)).map((m) => {
      const headers = new RequestHeaders(m.request_headers!.headers!.headers);
      return { headers, profile: prototypeExtract({ headers, sourceAddress: null, nowMs: Date.now() }) };
    });
    acc.prunedExactCold.push(
      median(
        timeBatches(
          (i) => prunedExact.decide(coldProfiles[i]!.profile, coldProfiles[i]!.headers),
          ms(200),
          coldProfiles.length,
        ),
      ),
    );
    for (let i = 0; i < WARM_POOL; i++) pipeline(warmMessages[i]!);
    const [pw50, pw99] = percentiles(
      timeEach((i) => pipeline(warmMessages[i % WARM_POOL]!), ms(300)),
      [50, 99],
    );
    acc.pipeWarmP50.push(pw50!);
    acc.pipeWarmP99.push(pw99!);
    const protoPool = coldMessages(coldCount);
    const [pc50, pc99] = percentiles(
      timeEach((i) => pipeline(protoPool[i]!), ms(300), protoPool.length),
      [50, 99],
    );
    acc.pipeColdP50.push(pc50!);
    acc.pipeColdP99.push(pc99!);

    // Prototype B.
    acc.lazyHeaders.push(
      median(
        timeBatches((i) => {
          const h = new LazyHeaders(warmMessages[i % WARM_POOL]!.request_headers!.headers!.headers);
          return h.get(':path') ?? h.get('user-agent');
        }, ms(100)),
      ),
    );
    acc.fastExtract.push(
      median(
        timeBatches(
          (i) =>
            fastExtract(
              new LazyHeaders(warmMessages[i % WARM_POOL]!.request_headers!.headers!.headers),
              null,
              Date.now(),
            ),
          ms(150),
        ),
      ),
    );
    for (let i = 0; i < WARM_POOL; i++) fastPipeline(warmMessages[i]!);
    const [fw50, fw99] = percentiles(
      timeEach((i) => fastPipeline(warmMessages[i % WARM_POOL]!), ms(300)),
      [50, 99],
    );
    acc.fastWarmP50.push(fw50!);
    acc.fastWarmP99.push(fw99!);
    const fastPool = coldMessages(coldCount);
    const [fc50, fc99] = percentiles(
      timeEach((i) => fastPipeline(fastPool[i]!), ms(300), fastPool.length),
      [50, 99],
    );
    acc.fastColdP50.push(fc50!);
    acc.fastColdP99.push(fc99!);

    log(
      `  round ${round + 1}/${opts.rounds}: warm p50 ${(wp50! / 1000).toFixed(1)} µs, cold p50 ${(cp50! / 1000).toFixed(1)} µs, ` +
        `prototype pipelines warm p50 ${(pw50! / 1000).toFixed(1)} / ${(fw50! / 1000).toFixed(1)} µs, ` +
        `cold p50 ${(pc50! / 1000).toFixed(1)} / ${(fc50! / 1000).toFixed(1)} µs`,
    );
  }

  const warm = latency(acc.warmBatch, acc.warmP50, acc.warmP99);
  const cold = latency(acc.coldBatch, acc.coldP50, acc.coldP99);
  const emptyUs = usMedian(acc.empty);
  const decideUs = usMedian(acc.decide);
  const prunedUs = usMedian(acc.pruned);
  return {
    flags: snapshot.flags.length,
    uaExemplars: fx.exemplarCount,
    compileMs,
    matchesPerRequest,
    warm,
    cold,
    emptySnapshot: { batchMeanUs: emptyUs },
    ratios: { warmVsEmpty: warm.batchMeanUs / emptyUs, coldVsWarm: cold.p50Us / warm.p50Us },
    stages: {
      headerMapUs: usMedian(acc.headerMap),
      extractWarmUs: usMedian(acc.extractWarm),
      extractColdUs: usMedian(acc.extractCold),
      uaQueryWarmUs: acc.uaWarm.length ? usMedian(acc.uaWarm) : 0,
      uaQueryColdUs: acc.uaCold.length ? usMedian(acc.uaCold) : 0,
      decideUs,
      planAndResponseUs: usMedian(acc.plan),
      hmacSha256Us: usMedian(acc.hmac),
      geoLookupUs: usMedian(acc.geo),
      normalizeEndpointUs: usMedian(acc.normalize),
      lruGetUs: usMedian(acc.lru),
      metricsUs: usMedian(acc.metrics),
    },
    prototype: {
      candidatesPerRequest: median(acc.candidates),
      prunedDecideUs: prunedUs,
      decideSpeedup: decideUs / prunedUs,
      disagreements,
      prunedExactUaDecideWarmUs: usMedian(acc.prunedExact),
      prunedExactUaDecideColdUs: usMedian(acc.prunedExactCold),
      exactUaDisagreements,
      comparedDecisions: compared,
      pipelineWarmP50Us: usMedian(acc.pipeWarmP50),
      pipelineWarmP99Us: usMedian(acc.pipeWarmP99),
      pipelineColdP50Us: usMedian(acc.pipeColdP50),
      pipelineColdP99Us: usMedian(acc.pipeColdP99),
      lazyHeadersUs: usMedian(acc.lazyHeaders),
      fastExtractWarmUs: usMedian(acc.fastExtract),
      fastPipelineWarmP50Us: usMedian(acc.fastWarmP50),
      fastPipelineWarmP99Us: usMedian(acc.fastWarmP99),
      fastPipelineColdP50Us: usMedian(acc.fastColdP50),
      fastPipelineColdP99Us: usMedian(acc.fastColdP99),
      fastDisagreements,
    },
  };
}
