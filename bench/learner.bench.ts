// The Request Profile Learner benchmark (QUALITY.md, learning bars and learner overhead).
//   tsx bench/learner.bench.ts            full run (1,000,000 stationary requests, ~2-4 min)
//   BENCH_QUICK=1 tsx bench/learner.bench.ts   quick run (~40 s)
//   runLearnerBench({ quick })            returns the figures (for bench/run.ts)
// Per scenario (bench/scenarios/): requests from the onset to the first proposal, precision and
// recall of the proposed range on the planted requests (judged with the real matcher), false
// proposals per million on stationary traffic, memory. Then the hot path: the sink's cost per
// request and request-processor throughput with learning on versus off in the same run.
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { pino } from 'pino';
import { createRequestProcessor, headersViewOf, type ProfileSink } from '../src/extproc/requestProcessor.js';
import type { HttpHeaders, ProcessingRequest } from '../src/extproc/protocol.js';
import { createProfileExtractor } from '../src/features/extract.js';
import { createGeoResolver } from '../src/features/geo.js';
import type { RequestProfile } from '../src/features/profile.js';
import { Learner } from '../src/learner/learner.js';
import { inProcessHandler, startLearnerRunner, type SampleHandler } from '../src/learner/runner.js';
import type { ProposalWriter } from '../src/learner/proposalStore.js';
import { encodeSample } from '../src/learner/sampleCodec.js';
import { compileSnapshot } from '../src/matcher/compile.js';
import { createMetrics } from '../src/telemetry/metrics.js';
import { FULL, floodScenario, PATTERNS, plantedScenario, QUICK, stationaryScenario } from './scenarios/catalog.js';
import { judgeProposals, runScenario } from './scenarios/evaluate.js';
import { generateScenario, SCENARIO_UA_HASH_KEY, type RawRequest } from './scenarios/generator.js';

export interface PlantedFigures {
  readonly scenario: string;
  readonly seed: number;
  readonly share: number;
  /** Requests from the onset to the first proposal that captures the pattern (null: none). */
  readonly requestsUntilProposal: number | null;
  /** Of the planted requests, the share the first proposal's range matches (recall)... */
  readonly recall: number;
  /** ...and of all requests it matches, the planted share (precision); rest = other traffic matched. */
  readonly precision: number;
  readonly restCapture: number;
  /** The same for the last version written. */
  readonly lastRecall: number;
  readonly lastPrecision: number;
  /** Recall of all this pattern's proposals together (a pattern may split over endpoints). */
  readonly unionRecall: number;
  readonly proposals: number;
  /** Proposals that mostly match background traffic. */
  readonly falseProposals: number;
  readonly explain: string;
  readonly learnerUsPerEvent: number;
  readonly memoryBytes: number;
}

export interface LearnerBenchResult {
  readonly planted: PlantedFigures[];
  readonly stationary: {
    requests: number;
    proposals: number;
    perMillion: number;
    learnerUsPerEvent: number;
    memoryBytes: number;
  };
  readonly flood: {
    requests: number;
    proposals: number;
    memoryBytes: number;
    peakMemoryBytes: number;
    heapDeltaBytes: number;
  };
  readonly hotPath: {
    /** ns per sink call (sampling, cap, queue push). */
    readonly sinkNs: number;
    /** Requests/s of the request processor, learning off. */
    readonly offRps: number;
    /**
     * Throughput with learning on / off, from main-thread time per request (processor calls
     * plus the learner's drain): what a CPU-bound server loses. The wall-clock ratios of the
     * same slices are reported too; on a shared machine they swing by ±20 %.
     */
    readonly inProcessCappedRatio: number;
    readonly inProcessUncappedRatio: number;
    readonly workerUncappedRatio: number;
    readonly wallClock: { readonly capped: number; readonly uncapped: number; readonly worker: number };
    readonly capPerSecond: number;
    /** Learner time per sample (µs) in the same run. */
    readonly learnerUsPerSample: number;
  };
  readonly bars: { name: string; value: number; bar: string; pass: boolean }[];
}

const fmtPct = (x: number) => `${(x * 100).toFixed(2)}%`;
const fmtMb = (b: number) => `${(b / 1e6).toFixed(2)} MB`;

function table(log: (s: string) => void, header: string[], rows: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  log(`  ${line(header)}`);
  log(`  ${widths.map((w) => '-'.repeat(w)).join('  ')}`);
  for (const r of rows) log(`  ${line(r)}`);
}

function plantedFigures(name: string, seed: number, quick: boolean): PlantedFigures {
  const spec = plantedScenario(name, quick ? QUICK : FULL, seed);
  const learner = new Learner({});
  const run = runScenario(spec, learner);
  const judged = judgeProposals(run);
  const mine = judged.filter((q) => q.label === name).sort((a, b) => a.firstIndex - b.firstIndex);
  const first = mine[0];
  const union = Math.min(
    1,
    mine.reduce((s, q) => s + q.last.recall, 0),
  ); // ranges of one pattern's parts are disjoint by endpoint
  return {
    scenario: name,
    seed,
    share: spec.planted![0]!.share,
    requestsUntilProposal: first?.requestsAfterOnset ?? null,
    recall: first?.recall ?? 0,
    precision: first?.precision ?? 0,
    restCapture: first?.restCapture ?? 0,
    lastRecall: first?.last.recall ?? 0,
    lastPrecision: first?.last.precision ?? 0,
    unionRecall: union,
    proposals: judged.length,
    falseProposals: judged.filter((q) => q.label === null).length,
    explain: first?.explain ?? '',
    learnerUsPerEvent: run.learnerUsPerEvent,
    memoryBytes: run.peakMemoryBytes,
  };
}

// ---------------------------------------------------------------------------------------------
// Hot path: the request processor (extract + match + response) over scenario requests, in
// chunks separated by setImmediate, as a server's event loop interleaves I/O, so the drain gets
// its turns. Learning off, in-process at the default cap, in-process without a cap, and a
// worker thread without a cap.

interface Prepared {
  readonly req: ProcessingRequest;
  readonly headers: HttpHeaders;
}

function prepare(requests: readonly RawRequest[]): Prepared[] {
  return requests.map((r) => {
    const list = [
      { key: ':method', raw_value: Buffer.from(r.method) },
      { key: ':path', raw_value: Buffer.from(r.path) },
      { key: ':authority', raw_value: Buffer.from('shop.example') },
    ];
    if (r.userAgent !== null) list.push({ key: 'user-agent', raw_value: Buffer.from(r.userAgent) });
    if (r.country !== null) list.push({ key: 'x-country', raw_value: Buffer.from(r.country) });
    if (r.contentLength !== null) list.push({ key: 'content-length', raw_value: Buffer.from(String(r.contentLength)) });
    return {
      req: {
        attributes: {
          'envoy.filters.http.ext_proc': { fields: { 'source.address': { stringValue: r.sourceAddress } } },
        },
      } as ProcessingRequest,
      headers: { headers: { headers: list } },
    };
  });
}

function processorWith(sink: ProfileSink | null) {
  const extract = createProfileExtractor({
    uaHashKey: SCENARIO_UA_HASH_KEY,
    tz: 'UTC',
    geo: createGeoResolver({ trustedHops: 0, geoHeader: 'x-country', dbPath: null }),
    hourBinWidth: 4,
  });
  const snapshot = compileSnapshot([], { version: 1, source: 'bench', rejected: [] });
  const processor = createRequestProcessor({
    snapshots: { current: snapshot, stale: false },
    extract,
    routing: { routeHeader: 'x-proflag-cluster', flagsHeader: 'x-proflag-flags', maxFlagsHeaderLength: 4096 },
    metrics: createMetrics({ defaultMetrics: false }),
    logger: pino({ level: 'silent' }),
    sink,
  });
  // The processor reads a decoded headers view; these requests are objects.
  return (req: ProcessingRequest, headers: HttpHeaders) => processor(headersViewOf(req, headers));
}

interface Slice {
  /** Requests per wall-clock second. */
  readonly rps: number;
  readonly requests: number;
  /** Time spent inside the processor calls (ms): the hot path's own CPU, sink included. */
  readonly busyMs: number;
}

/** One processor over `ms`, in chunks of 64 separated by setImmediate (a server's event loop). */
async function throughput(
  process: ReturnType<typeof processorWith>,
  prepared: readonly Prepared[],
  ms: number,
  offset: number,
): Promise<Slice> {
  const chunk = 64;
  let i = offset % prepared.length;
  let n = 0;
  let busy = 0;
  const started = performance.now();
  while (performance.now() - started < ms) {
    const t = performance.now();
    for (let k = 0; k < chunk; k++) {
      const p = prepared[i]!;
      process(p.req, p.headers);
      i = i + 1 === prepared.length ? 0 : i + 1;
    }
    busy += performance.now() - t;
    n += chunk;
    await new Promise((r) => setImmediate(r));
  }
  return { rps: n / ((performance.now() - started) / 1000), requests: n, busyMs: busy };
}

/** A handler that times its inner handler (the learner's share of the event loop). */
function timed(inner: SampleHandler): SampleHandler & { ms: number } {
  const h = {
    ms: 0,
    handle(batch: Parameters<SampleHandler['handle']>[0], nowMs: number) {
      const t = performance.now();
      const r = inner.handle(batch, nowMs);
      h.ms += performance.now() - t;
      return r;
    },
  };
  return h;
}

const NO_WRITER: ProposalWriter = { write() {}, async flush() {}, pending: 0 };

function workerHandler(): SampleHandler & { settled(): Promise<void>; close(): Promise<void> } {
  // The worker registers tsx itself (workers do not inherit the main thread's loader hooks).
  const entry = new URL('./scenarios/learnerWorker.ts', import.meta.url).href;
  const worker = new Worker(
    `import('tsx/esm/api').then((m) => { m.register(); return import(${JSON.stringify(entry)}); });`,
    { eval: true },
  );
  return {
    handle(batch, nowMs) {
      const texts = new Array<string>(batch.length);
      for (let i = 0; i < batch.length; i++) texts[i] = encodeSample(batch[i]!, nowMs);
      worker.postMessage({ batch: texts });
    },
    /** Resolves once the worker has learned everything sent so far (it answers in order). */
    settled() {
      return new Promise((resolve) => {
        worker.once('message', () => resolve());
        worker.postMessage({ report: true });
      });
    },
    async close() {
      await worker.terminate();
    },
  };
}

async function hotPath(quick: boolean, log: (s: string) => void): Promise<LearnerBenchResult['hotPath']> {
  const requests: RawRequest[] = [];
  for (const e of generateScenario(plantedScenario('new-family-1pct', { baseline: 15_000, after: 5_000 }, 3)))
    requests.push(e.request);
  const prepared = prepare(requests);
  const ms = quick ? 300 : 600;
  const rounds = quick ? 5 : 11;
  const cap = 1_000;

  // Sink cost: the call itself, the queue draining meanwhile into a learner that does nothing.
  const runner = startLearnerRunner({
    sampleRate: 1,
    maxPerSecond: 1_000_000_000,
    queueSize: 1 << 20,
    handler: { handle() {} },
  });
  const profiles: RequestProfile[] = [];
  const extract = createProfileExtractor({
    uaHashKey: SCENARIO_UA_HASH_KEY,
    tz: 'UTC',
    geo: createGeoResolver({ trustedHops: 0, geoHeader: 'x-country', dbPath: null }),
    hourBinWidth: 4,
  });
  for (const r of requests.slice(0, 1_000)) {
    profiles.push(
      extract({
        headers: { get: (n) => (n === 'user-agent' ? (r.userAgent ?? undefined) : undefined) },
        sourceAddress: r.sourceAddress,
        nowMs: 0,
      }),
    );
  }
  let best = Infinity;
  for (let round = 0; round < 5; round++) {
    const t0 = performance.now();
    for (let k = 0; k < 200_000; k++) runner.sink(profiles[k % 1_000]!);
    best = Math.min(best, ((performance.now() - t0) * 1e6) / 200_000);
    await runner.drained();
  }
  await runner.stop();

  // Learner cost per sample, on its own (same process, scenario profiles).
  const l2 = new Learner({});
  let t1 = 0;
  let k2 = 0;
  for (const e of generateScenario(plantedScenario('new-family-1pct', { baseline: 15_000, after: 5_000 }, 4))) {
    const t = performance.now();
    l2.observe(e.profile, e.timeMs);
    t1 += performance.now() - t;
    k2++;
  }
  const learnerUs = (t1 * 1000) / k2;

  // Every configuration gets short slices in turn, each compared with an "off" slice right
  // before it, so that drift on a shared machine hits both sides of a ratio alike. Backlogs
  // (queue, worker) are drained between slices, outside the timing.
  const off = processorWith(null);
  const cappedHandler = timed(inProcessHandler({ learner: new Learner({}), writer: NO_WRITER }));
  const capped = startLearnerRunner({ sampleRate: 1, maxPerSecond: cap, queueSize: 4_096, handler: cappedHandler });
  const uncappedHandler = timed(inProcessHandler({ learner: new Learner({}), writer: NO_WRITER }));
  const uncapped = startLearnerRunner({
    sampleRate: 1,
    maxPerSecond: 1_000_000_000,
    queueSize: 4_096,
    handler: uncappedHandler,
  });
  const wh = workerHandler();
  const workerTimed = timed(wh);
  const viaWorker = startLearnerRunner({
    sampleRate: 1,
    maxPerSecond: 1_000_000_000,
    queueSize: 4_096,
    handler: workerTimed,
  });
  await wh.settled(); // worker started
  const modes = [
    { name: 'capped', handler: cappedHandler, process: processorWith(capped.sink), settle: () => capped.drained() },
    {
      name: 'uncapped',
      handler: uncappedHandler,
      process: processorWith(uncapped.sink),
      settle: () => uncapped.drained(),
    },
    {
      name: 'worker',
      handler: workerTimed,
      process: processorWith(viaWorker.sink),
      settle: async () => (await viaWorker.drained(), await wh.settled()),
    },
  ];
  for (let k = 0; k < 2_000; k++)
    for (const p of [off, ...modes.map((m) => m.process)]) p(prepared[k]!.req, prepared[k]!.headers);
  // Wall-clock: requests/s with learning over requests/s without, summed over interleaved slices.
  // Accounted: main-thread time per request (processor calls + learner handler) without and with
  // learning; the throughput ratio a CPU-bound server would see, robust to other processes.
  const sums: Record<
    string,
    { offReq: number; offMs: number; onReq: number; onMs: number; offBusy: number; onBusy: number; learnMs: number }
  > = {};
  for (const m of modes) sums[m.name] = { offReq: 0, offMs: 0, onReq: 0, onMs: 0, offBusy: 0, onBusy: 0, learnMs: 0 };
  const offRates: number[] = [];
  let offset = 0;
  for (let round = 0; round < rounds; round++) {
    for (const m of modes) {
      const o = await throughput(off, prepared, ms, offset);
      const before = m.handler.ms;
      const on = await throughput(m.process, prepared, ms, offset);
      await m.settle();
      offset += 7_919;
      const sm = sums[m.name]!;
      sm.offReq += o.requests;
      sm.offMs += o.requests / o.rps;
      sm.onReq += on.requests;
      sm.onMs += on.requests / on.rps;
      sm.offBusy += o.busyMs;
      sm.onBusy += on.busyMs;
      sm.learnMs += m.handler.ms - before;
      offRates.push(o.rps);
    }
  }
  log(
    `  capped: ${capped.stats.handled} samples learned in ${sums.capped!.learnMs.toFixed(0)} ms of drain (${((sums.capped!.learnMs * 1000) / Math.max(1, capped.stats.handled)).toFixed(1)} µs/sample); on-slices ${sums.capped!.onMs.toFixed(1)} s`,
  );
  await Promise.all([capped.stop(), uncapped.stop(), viaWorker.stop()]);
  await wh.close();
  const wall = (n: string) => sums[n]!.onReq / sums[n]!.onMs / (sums[n]!.offReq / sums[n]!.offMs);
  // The uncapped modes learn from every request: their handler time is per request. The capped
  // mode's runner resets its per-second window on wall-clock seconds, which the interleaved
  // slices do not line up with, so its learner time is taken per sample and charged at exactly
  // `cap` samples per second of a CPU-bound server running at the "on" rate.
  const accounted = (n: string) => {
    const x = sums[n]!;
    const offPerReq = x.offBusy / x.offReq;
    const onPerReq = x.onBusy / x.onReq;
    if (n !== 'capped') return offPerReq / (onPerReq + x.learnMs / x.onReq);
    const msPerSample = x.learnMs / Math.max(1, capped.stats.handled);
    const rps = 1000 / onPerReq;
    return offPerReq / (onPerReq + (cap * msPerSample) / rps);
  };
  const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
  log(
    `  ${rounds} rounds of ${ms} ms slices; wall-clock ratios: capped ${wall('capped').toFixed(3)}, every request ${wall('uncapped').toFixed(3)}, worker ${wall('worker').toFixed(3)}; ` +
      `accounted (main-thread time per request): capped ${accounted('capped').toFixed(3)}, every request ${accounted('uncapped').toFixed(3)}, worker ${accounted('worker').toFixed(3)}`,
  );
  const offRps = med(offRates);
  return {
    sinkNs: best,
    offRps,
    inProcessCappedRatio: accounted('capped'),
    inProcessUncappedRatio: accounted('uncapped'),
    workerUncappedRatio: accounted('worker'),
    wallClock: { capped: wall('capped'), uncapped: wall('uncapped'), worker: wall('worker') },
    capPerSecond: cap,
    learnerUsPerSample: learnerUs,
  };
}

export async function runLearnerBench(
  opts: { quick?: boolean; log?: (line: string) => void } = {},
): Promise<LearnerBenchResult> {
  const quick = opts.quick ?? process.env.BENCH_QUICK === '1';
  const log = opts.log ?? ((line: string) => console.log(line));
  log(
    `\nRequest Profile Learner (${quick ? 'quick' : 'full'}): scenarios with planted patterns, judged with the real matcher`,
  );

  // BENCH_LEARNER_ONLY=hot skips the scenarios (for iterating on the hot-path figures).
  const onlyHot = process.env.BENCH_LEARNER_ONLY === 'hot';
  const planted: PlantedFigures[] = [];
  const seeds = onlyHot ? [] : quick ? [42, 7] : [42, 7, 1, 2, 3];
  for (const seed of seeds) planted.push(plantedFigures('new-family-1pct', seed, quick));
  if (!onlyHot)
    for (const name of Object.keys(PATTERNS))
      if (name !== 'new-family-1pct') planted.push(plantedFigures(name, 42, quick));
  table(
    log,
    [
      'scenario',
      'seed',
      'share',
      'until proposal',
      'recall',
      'precision',
      'rest',
      'last recall',
      'union recall',
      'false',
      'µs/event',
      'memory',
    ],
    planted.map((p) => [
      p.scenario,
      String(p.seed),
      fmtPct(p.share),
      p.requestsUntilProposal === null ? 'none' : String(p.requestsUntilProposal),
      fmtPct(p.recall),
      fmtPct(p.precision),
      fmtPct(p.restCapture),
      fmtPct(p.lastRecall),
      fmtPct(p.unionRecall),
      String(p.falseProposals),
      p.learnerUsPerEvent.toFixed(1),
      fmtMb(p.memoryBytes),
    ]),
  );
  for (const p of planted.filter((x, i, a) => a.findIndex((y) => y.scenario === x.scenario) === i))
    log(`  ${p.scenario}: "${p.explain}"`);

  const nStationary = onlyHot ? 0 : quick ? 200_000 : 1_000_000;
  const sLearner = new Learner({});
  const sRun = runScenario(stationaryScenario(nStationary, 7), sLearner);
  const stationary = {
    requests: nStationary,
    proposals: new Set(sRun.emitted.map((e) => e.emission.id)).size,
    perMillion: nStationary === 0 ? 0 : (new Set(sRun.emitted.map((e) => e.emission.id)).size / nStationary) * 1e6,
    learnerUsPerEvent: sRun.learnerUsPerEvent,
    memoryBytes: sRun.peakMemoryBytes,
  };
  log(
    `  stationary: ${nStationary} requests, ${stationary.proposals} proposals (${stationary.perMillion.toFixed(2)} per million), ${stationary.learnerUsPerEvent.toFixed(1)} µs/event, ${fmtMb(stationary.memoryBytes)}, ${sLearner.stats.anomalies} anomalies flagged`,
  );

  const heap0 = process.memoryUsage().heapUsed;
  const fLearner = new Learner({});
  const fRun = runScenario(
    floodScenario(onlyHot ? { baseline: 0, after: 0 } : quick ? QUICK : { baseline: 20_000, after: 280_000 }),
    fLearner,
  );
  const flood = {
    requests: fRun.spec.requests,
    proposals: fRun.emitted.length,
    memoryBytes: fRun.memoryBytes,
    peakMemoryBytes: fRun.peakMemoryBytes,
    heapDeltaBytes: process.memoryUsage().heapUsed - heap0,
  };
  log(
    `  flood (20% unique user agents and paths): ${flood.requests} requests, ${flood.proposals} proposals, learner ${fmtMb(flood.memoryBytes)} (peak ${fmtMb(flood.peakMemoryBytes)}), families ${fLearner.stats.families}, clusters ${fLearner.stats.clusters}`,
  );

  log('  hot path (request processor over scenario requests, chunks of 64 between setImmediate):');
  const hot = await hotPath(quick, log);
  log(
    `  sink ${hot.sinkNs.toFixed(0)} ns/call; learner ${hot.learnerUsPerSample.toFixed(1)} µs/sample on scenario traffic; throughput off ${hot.offRps.toFixed(0)} req/s (bare request processor); ` +
      `learning on at ${hot.capPerSecond}/s ${hot.inProcessCappedRatio.toFixed(3)}× (a core at the cap: 1 − ${hot.capPerSecond} × ${hot.learnerUsPerSample.toFixed(1)} µs = ${(1 - (hot.capPerSecond * hot.learnerUsPerSample) / 1e6).toFixed(3)}), ` +
      `every request in-process ${hot.inProcessUncappedRatio.toFixed(3)}×, every request via a worker ${hot.workerUncappedRatio.toFixed(3)}×`,
  );

  const bar1 = planted.filter((p) => p.scenario === 'new-family-1pct');
  const bars = [
    {
      name: '1% pattern: requests until proposal (worst seed)',
      value: Math.max(...bar1.map((p) => p.requestsUntilProposal ?? Infinity)),
      bar: '≤ 5000',
      pass: bar1.every((p) => p.requestsUntilProposal !== null && p.requestsUntilProposal <= 5_000),
    },
    {
      name: '1% pattern: recall of the range (worst seed)',
      value: Math.min(...bar1.map((p) => p.recall)),
      bar: '≥ 0.95',
      pass: bar1.every((p) => p.recall >= 0.95),
    },
    {
      name: '1% pattern: rest captured (worst seed)',
      value: Math.max(...bar1.map((p) => p.restCapture)),
      bar: '≤ 0.02',
      pass: bar1.every((p) => p.restCapture <= 0.02),
    },
    {
      name: `stationary: proposals in ${nStationary} requests`,
      value: stationary.proposals,
      bar: '0',
      pass: stationary.proposals === 0,
    },
    { name: 'flood: proposals', value: flood.proposals, bar: '0', pass: flood.proposals === 0 },
    {
      name: 'learner overhead: throughput on/off (default cap, accounted)',
      value: hot.inProcessCappedRatio,
      bar: '≥ 0.95',
      pass: hot.inProcessCappedRatio >= 0.95,
    },
    {
      name: 'learner overhead: a core at the cap (1 − cap × µs/sample)',
      value: 1 - (hot.capPerSecond * hot.learnerUsPerSample) / 1e6,
      bar: '≥ 0.95',
      pass: 1 - (hot.capPerSecond * hot.learnerUsPerSample) / 1e6 >= 0.95,
    },
  ];
  for (const b of bars)
    log(
      `  ${b.pass ? 'PASS' : 'MISS'} ${b.name}: ${Number.isFinite(b.value) ? +b.value.toFixed(4) : b.value} (bar ${b.bar})`,
    );
  return { planted, stationary, flood, hotPath: hot, bars };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  runLearnerBench().then(
    () => process.exit(0),
    (err: Error) => {
      console.error(err);
      process.exit(1);
    },
  );
}
