// In-process decision cost: the whole per-request hot path of the sidecar (Envoy header list →
// RequestHeaders → profile → decide → mutation plan → CommonResponse, with metrics), on a
// snapshot of 1,000 flags with 10,000 user-agent exemplars. Warm: a few hundred distinct
// requests from 64 user agents, repeated. Cold: every request brings a user agent never seen.
//
// Two timings per case, both repeated per round and quoted as the median of the rounds:
//   - batches of BATCH requests timed with process.hrtime.bigint → the mean per request;
//   - every request timed on its own → the p50 and p99 (timer overhead ~50 ns included).
// Stage timings explain the total. Before any timing, decide() (candidate pruning, lazy
// per-slot UA distances) is checked against scoring every flag with every slot's distance on
// warm and cold requests: the bench reports how many decisions differ (it must be 0). A
// prototype (bench/prototypes/lazyHeaders.ts) shows what decoding only the headers that are
// read would save below the matcher.
//
// The snapshot carries the actions of CONTRACT §6 on part of the flags (withTransformations:
// shadow mode, respond with a respondLimit, rewritePath, responseHeaders), and the processor
// counts every decision per flag (flagCounters). BENCH_NO_TRANSFORMS=1 runs the plain fixture
// flags instead, to compare.
import { RequestHeaders } from '../src/extproc/headerMap.js';
import type { ProcessingRequest } from '../src/extproc/protocol.js';
import { toCommonResponse } from '../src/extproc/requestProcessor.js';
import { createHmac, createSecretKey } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { normalizeEndpoint } from '../src/features/endpoint.js';
import { createProfileExtractor } from '../src/features/extract.js';
import { parseIp } from '../src/features/ip.js';
import { createMetrics } from '../src/telemetry/metrics.js';
import type { HeaderLookup, RequestProfile } from '../src/features/profile.js';
import { parseFlagValue, type FlagDefinition } from '../src/flags/schema.js';
import { decide, scoreFlag, type Decision } from '../src/matcher/match.js';
import { FlagCounters } from '../src/telemetry/flagCounters.js';
import type { Snapshot } from '../src/matcher/snapshot.js';
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
import { LazyHeaders } from './prototypes/lazyHeaders.js';
import { decideByScoringEveryFlag } from '../test/helpers/decideReference.js';

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
  /** Flags of the snapshot with each CONTRACT §6 feature, and how often requests meet them. */
  transformations: {
    shadowFlags: number;
    respondFlags: number;
    rewriteFlags: number;
    responseHeaderFlags: number;
    /** Per warm request (decide() with the request time). */
    shadowMatchesPerRequest: number;
    repliesPerRequest: number;
    rewritesPerRequest: number;
    responseHeaderChangesPerRequest: number;
  };
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
    /** The UA index's all-slots answer (what explain asks; what every request paid before). */
    uaQueryWarmUs: number;
    uaQueryColdUs: number;
    /** decide(): candidates from the bitsets, UA distances for their slots only. */
    decideUs: number;
    decideColdUs: number;
    planAndResponseUs: number;
    /** FlagCounters.countDecision for one decision (inside the processor's figures). */
    flagCountersUs: number;
    /** Parts of the extractor and processor, to say where the floor comes from. */
    hmacSha256Us: number;
    geoLookupUs: number;
    normalizeEndpointUs: number;
    lruGetUs: number;
    metricsUs: number;
  };
  /** What decide() scores, and the check that pruning and lazy UA distances change nothing. */
  pruning: {
    candidatesPerRequest: number;
    /** UA slots whose distance a cold request computes (flags that could still match). */
    uaSlotsPerColdRequest: number;
    /** One slot's exact distance (100 exemplars), cold. */
    uaSlotColdUs: number;
    comparedDecisions: number;
    /** decide() against every flag scored with every slot's distance: must be 0. */
    disagreements: number;
  };
  /** Prototype (bench/prototypes/lazyHeaders.ts): the pipeline on lazily decoded headers. */
  prototype: {
    lazyHeadersUs: number;
    /** Headers → profile → decide → plan → CommonResponse, with RequestHeaders (today) ... */
    pipelineWarmP50Us: number;
    pipelineColdP50Us: number;
    /** ... and with LazyHeaders. */
    lazyPipelineWarmP50Us: number;
    lazyPipelineWarmP99Us: number;
    lazyPipelineColdP50Us: number;
    lazyPipelineColdP99Us: number;
    /** Requests whose profile or decision differs between the two: must be 0. */
    disagreements: number;
  };
}

/** A comparable fingerprint of a decision (order, scores, variants, every action, every result). */
export function decisionKey(d: Decision): string {
  const parts = d.matches.map((m) => `${m.flag.name}=${m.value}@${m.score}`);
  parts.push(`route:${d.route?.cluster ?? ''}`);
  for (const [k, v] of d.setHeaders) parts.push(`set:${k}=${v}`);
  for (const k of d.removeHeaders) parts.push(`rm:${k}`);
  parts.push(`respond:${d.respond?.flag ?? ''}`, `rewrite:${d.rewritePath?.flag ?? ''}`);
  for (const [k, v] of d.responseSetHeaders) parts.push(`rset:${k}=${v}`);
  for (const k of d.responseRemoveHeaders) parts.push(`rrm:${k}`);
  for (const m of d.shadow) parts.push(`shadow:${m.flag.name}=${m.value}@${m.score}`);
  for (const m of d.respondLimited) parts.push(`limited:${m.flag.name}`);
  for (const f of d.rolloutExcluded) parts.push(`excluded:${f.name}`);
  return parts.join('|');
}

/**
 * The fixture flags with CONTRACT §6 actions on some of them, by index (deterministic): 10 %
 * shadow mode, 4 % a 429 reply (with a generous respondLimit, so that replies happen), ~7 % a
 * rewrite, ~8 % response headers.
 */
export function withTransformations(flags: readonly FlagDefinition[]): FlagDefinition[] {
  return flags.map((f, i) => {
    let doc: Record<string, unknown> | null = null;
    if (i % 10 === 3) doc = { ...f, mode: 'shadow' };
    else if (i % 25 === 7) {
      doc = {
        ...f,
        respondLimit: { perSecond: 100_000 },
        actions: { ...f.actions, respond: { status: 429, headers: { 'retry-after': '30' }, body: 'slow down' } },
      };
    } else if (i % 15 === 5)
      doc = { ...f, actions: { ...f.actions, rewritePath: { prefix: '/api/', to: '/v2/api/' } } };
    else if (i % 12 === 1) {
      doc = {
        ...f,
        actions: { ...f.actions, responseHeaders: { set: { 'x-served-by': `bench-${i % 8}` }, remove: ['server'] } },
      };
    }
    if (doc === null) return f;
    const parsed = parseFlagValue(doc);
    if (!parsed.ok) throw new Error(`bench flag ${f.name}: ${JSON.stringify(parsed.issues)}`);
    return parsed.flag;
  });
}

/** The request clock of the decide() timings: 7 µs apart (the respondLimit buckets read it). */
const clockAt = (i: number) => 1_750_000_000_000 + i * 0.007;

/** The decision by scoring every flag with every slot's distance: what decide() must equal. */
function decideByFullScan(snapshot: Snapshot, profile: RequestProfile, headers: HeaderLookup): Decision {
  const distances = snapshot.uaIndex ? snapshot.uaIndex.nearestDistances(profile.uaVector, profile.uaHash) : null;
  return decideByScoringEveryFlag(snapshot, profile, headers, distances);
}

/** Candidates decide() scores for a profile (the bits set in the selection). */
function candidateCount(snapshot: Snapshot, profile: RequestProfile): number {
  let n = 0;
  for (const word of snapshot.prefilter!.select(profile).candidates) for (let w = word; w !== 0; w &= w - 1) n++;
  return n;
}

/** UA slots decide() asks distances for: candidates with a UA range that could still match. */
function uaSlotsAsked(snapshot: Snapshot, profile: RequestProfile): number[] {
  const selected = snapshot.prefilter!.select(profile).candidates;
  const out: number[] = [];
  for (const f of snapshot.flags) {
    if (!f.userAgent || !((selected[f.index >>> 5]! >>> (f.index & 31)) & 1)) continue;
    // The score with a perfect UA match, as decide() checks it before asking.
    if (scoreFlag(f, profile, perfect(snapshot)) >= f.threshold) out.push(f.userAgent.slot);
  }
  return out;
}

/** Distance 0 for every slot. */
const perfect = (snapshot: Snapshot) => new Float64Array(snapshot.uaIndex?.slots ?? 0);

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
  const plain = process.env.BENCH_NO_TRANSFORMS === '1';
  const benchFlags = plain ? fx.flags : withTransformations(fx.flags);
  const { snapshot, compileMs } = buildSnapshot(benchFlags);
  const empty = buildSnapshot([]).snapshot;
  log(
    `decision: ${snapshot.flags.length} flags${plain ? ' (BENCH_NO_TRANSFORMS: no §6 actions)' : ''}, ` +
      `${fx.exemplarCount} UA exemplars, compile ${compileMs.toFixed(0)} ms`,
  );

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
  const warmDecisions: Decision[] = warmProfiles.map((p, i) => decide(snapshot, p, warmHeaders[i]!, clockAt(i)));
  const matchesPerRequest = warmDecisions.reduce((s, d) => s + d.matches.length, 0) / warmDecisions.length;
  const perWarm = (f: (d: Decision) => number) => warmDecisions.reduce((n, d) => n + f(d), 0) / warmDecisions.length;
  const transformations: DecisionResult['transformations'] = {
    shadowFlags: snapshot.flags.filter((f) => f.mode === 'shadow').length,
    respondFlags: snapshot.flags.filter((f) => f.actions.respond !== null).length,
    rewriteFlags: snapshot.flags.filter((f) => f.actions.rewritePath !== null).length,
    responseHeaderFlags: snapshot.flags.filter((f) => f.actions.responseSetHeaders.length > 0).length,
    shadowMatchesPerRequest: perWarm((d) => d.shadow.length),
    repliesPerRequest: perWarm((d) => (d.respond ? 1 : 0)),
    rewritesPerRequest: perWarm((d) => (d.rewritePath ? 1 : 0)),
    responseHeaderChangesPerRequest: perWarm((d) => (d.responseSetHeaders.size > 0 ? 1 : 0)),
  };

  // decide() must give exactly the full scan's decisions: compare on warm and cold requests.
  let disagreements = 0;
  let compared = 0;
  const checkProfiles = [...warmProfiles];
  const checkHeaders: HeaderLookup[] = [...warmHeaders];
  for (const m of coldMessages(opts.quick ? 500 : 3_000)) {
    const h = new RequestHeaders(m.request_headers!.headers!.headers);
    checkHeaders.push(h);
    checkProfiles.push(extract({ headers: h, sourceAddress: null, nowMs: Date.now() }));
  }
  for (let i = 0; i < checkProfiles.length; i++) {
    compared++;
    const expected = decisionKey(decideByFullScan(snapshot, checkProfiles[i]!, checkHeaders[i]!));
    if (decisionKey(decide(snapshot, checkProfiles[i]!, checkHeaders[i]!)) !== expected) disagreements++;
  }
  const candidatesPerRequest = warmProfiles.reduce((n, p) => n + candidateCount(snapshot, p), 0) / warmProfiles.length;
  const coldChecked = checkProfiles.slice(warmProfiles.length);
  const uaSlotsPerColdRequest =
    coldChecked.reduce((n, p) => n + uaSlotsAsked(snapshot, p).length, 0) / Math.max(1, coldChecked.length);

  // The prototype: the same pipeline on RequestHeaders (today) and on LazyHeaders.
  const pipelineExtract = createProfileExtractor({ uaHashKey: UA_HASH_KEY, tz: 'UTC', geo: fx.geo, hourBinWidth: 4 });
  const pipelineOf = (headersOf: (m: ProcessingRequest) => RequestHeaders | LazyHeaders) => (m: ProcessingRequest) => {
    const headers = headersOf(m);
    const nowMs = Date.now();
    const profile = pipelineExtract({ headers, sourceAddress: null, nowMs });
    const d = decide(snapshot, profile, headers, nowMs);
    const plan = planMutation(
      d,
      {
        routeHeaderSent: headers.has(ROUTING.routeHeader),
        flagsHeaderSent: headers.has(ROUTING.flagsHeader),
        rawPath: headers.get(':path') ?? null,
      },
      ROUTING,
    );
    return toCommonResponse(plan);
  };
  const pipeline = pipelineOf((m) => new RequestHeaders(m.request_headers!.headers!.headers));
  const lazyPipeline = pipelineOf((m) => new LazyHeaders(m.request_headers!.headers!.headers));
  // Same profiles (every field, the embedding by value) and the same decisions either way.
  let lazyDisagreements = 0;
  const profileKey = (p: RequestProfile) =>
    JSON.stringify({ ...p, uaVector: p.uaVector ? Array.from(p.uaVector) : null });
  for (const m of [...warmMessages, ...coldMessages(opts.quick ? 300 : 1_000)]) {
    const real = new RequestHeaders(m.request_headers!.headers!.headers);
    const lazy = new LazyHeaders(m.request_headers!.headers!.headers);
    const nowMs = Date.now();
    const a = extract({ headers: real, sourceAddress: null, nowMs });
    const b = extract({ headers: lazy, sourceAddress: null, nowMs });
    if (
      profileKey(a) !== profileKey(b) ||
      decisionKey(decide(snapshot, a, real)) !== decisionKey(decide(snapshot, b, lazy))
    ) {
      lazyDisagreements++;
    }
  }

  warmUp(() => warmJob(Math.floor(Math.random() * WARM_POOL)), opts.quick ? 200 : 1_000, 2_000);
  warmUp(() => lazyPipeline(warmMessages[Math.floor(Math.random() * WARM_POOL)]!), opts.quick ? 100 : 300, 2_000);
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
    decideCold: [] as number[],
    uaSlotCold: [] as number[],
    plan: [] as number[],
    hmac: [] as number[],
    geo: [] as number[],
    normalize: [] as number[],
    lru: [] as number[],
    metrics: [] as number[],
    flagCounters: [] as number[],
    lazyHeaders: [] as number[],
    pipeWarmP50: [] as number[],
    pipeColdP50: [] as number[],
    lazyWarmP50: [] as number[],
    lazyWarmP99: [] as number[],
    lazyColdP50: [] as number[],
    lazyColdP99: [] as number[],
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
  let serialHash = 0;

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
    // Cold profiles for the UA and decide timings: hashes nobody has asked the index for.
    const fresh = coldMessages(Math.min(coldCount, 5_000)).map((m) => {
      const headers = new RequestHeaders(m.request_headers!.headers!.headers);
      const profile = pipelineExtract({ headers, sourceAddress: null, nowMs: Date.now() });
      return { headers, profile: { ...profile, uaHash: `${profile.uaHash}:bench${++serialHash}` } };
    });
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
      acc.uaCold.push(
        median(
          timeBatches(
            (i) => index.nearestDistances(fresh[i]!.profile.uaVector, `${fresh[i]!.profile.uaHash}:all`),
            ms(150),
            fresh.length,
          ),
        ),
      );
      // One slot's exact distance: every request's vector against one in-reach family at a time.
      acc.uaSlotCold.push(
        median(
          timeBatches(
            (i) => index.query(fresh[i]!.profile.uaVector, null).distance(i % index.slots),
            ms(100),
            fresh.length,
          ),
        ),
      );
    }
    acc.decide.push(
      median(
        timeBatches(
          (i) => decide(snapshot, warmProfiles[i % WARM_POOL]!, warmHeaders[i % WARM_POOL]!, clockAt(i)),
          ms(300),
        ),
      ),
    );
    acc.decideCold.push(
      median(
        timeBatches((i) => decide(snapshot, fresh[i]!.profile, fresh[i]!.headers, clockAt(i)), ms(200), fresh.length),
      ),
    );
    const counters = new FlagCounters();
    acc.flagCounters.push(
      median(
        timeBatches((i) => {
          counters.countDecision(snapshot, warmDecisions[i % WARM_POOL]!);
          return i;
        }, ms(100)),
      ),
    );
    acc.plan.push(
      median(
        timeBatches((i) => {
          const h = warmHeaders[i % WARM_POOL]!;
          return toCommonResponse(
            planMutation(
              warmDecisions[i % WARM_POOL]!,
              {
                routeHeaderSent: h.has(ROUTING.routeHeader),
                flagsHeaderSent: h.has(ROUTING.flagsHeader),
                rawPath: h.get(':path') ?? null,
              },
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

    // Prototype: the pipeline on RequestHeaders and on LazyHeaders.
    acc.lazyHeaders.push(
      median(
        timeBatches((i) => {
          const h = new LazyHeaders(warmMessages[i % WARM_POOL]!.request_headers!.headers!.headers);
          return h.get(':path') ?? h.get('user-agent');
        }, ms(100)),
      ),
    );
    for (let i = 0; i < WARM_POOL; i++) pipeline(warmMessages[i]!);
    acc.pipeWarmP50.push(
      percentiles(
        timeEach((i) => pipeline(warmMessages[i % WARM_POOL]!), ms(200)),
        [50],
      )[0]!,
    );
    const protoPool = coldMessages(coldCount);
    acc.pipeColdP50.push(
      percentiles(
        timeEach((i) => pipeline(protoPool[i]!), ms(200), protoPool.length),
        [50],
      )[0]!,
    );
    for (let i = 0; i < WARM_POOL; i++) lazyPipeline(warmMessages[i]!);
    const [lw50, lw99] = percentiles(
      timeEach((i) => lazyPipeline(warmMessages[i % WARM_POOL]!), ms(300)),
      [50, 99],
    );
    acc.lazyWarmP50.push(lw50!);
    acc.lazyWarmP99.push(lw99!);
    const lazyPool = coldMessages(coldCount);
    const [lc50, lc99] = percentiles(
      timeEach((i) => lazyPipeline(lazyPool[i]!), ms(300), lazyPool.length),
      [50, 99],
    );
    acc.lazyColdP50.push(lc50!);
    acc.lazyColdP99.push(lc99!);

    log(
      `  round ${round + 1}/${opts.rounds}: warm p50 ${(wp50! / 1000).toFixed(1)} µs, cold p50 ${(cp50! / 1000).toFixed(1)} µs, ` +
        `lazy-headers pipeline warm p50 ${(lw50! / 1000).toFixed(1)} µs, cold p50 ${(lc50! / 1000).toFixed(1)} µs`,
    );
  }

  const warm = latency(acc.warmBatch, acc.warmP50, acc.warmP99);
  const cold = latency(acc.coldBatch, acc.coldP50, acc.coldP99);
  const emptyUs = usMedian(acc.empty);
  return {
    flags: snapshot.flags.length,
    transformations,
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
      decideUs: usMedian(acc.decide),
      decideColdUs: usMedian(acc.decideCold),
      planAndResponseUs: usMedian(acc.plan),
      flagCountersUs: usMedian(acc.flagCounters),
      hmacSha256Us: usMedian(acc.hmac),
      geoLookupUs: usMedian(acc.geo),
      normalizeEndpointUs: usMedian(acc.normalize),
      lruGetUs: usMedian(acc.lru),
      metricsUs: usMedian(acc.metrics),
    },
    pruning: {
      candidatesPerRequest,
      uaSlotsPerColdRequest,
      uaSlotColdUs: acc.uaSlotCold.length ? usMedian(acc.uaSlotCold) : 0,
      comparedDecisions: compared,
      disagreements,
    },
    prototype: {
      lazyHeadersUs: usMedian(acc.lazyHeaders),
      pipelineWarmP50Us: usMedian(acc.pipeWarmP50),
      pipelineColdP50Us: usMedian(acc.pipeColdP50),
      lazyPipelineWarmP50Us: usMedian(acc.lazyWarmP50),
      lazyPipelineWarmP99Us: usMedian(acc.lazyWarmP99),
      lazyPipelineColdP50Us: usMedian(acc.lazyColdP50),
      lazyPipelineColdP99Us: usMedian(acc.lazyColdP99),
      disagreements: lazyDisagreements,
    },
  };
}
