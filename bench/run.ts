// `npm run bench`: every benchmark of QUALITY.md's performance table, in one run, with each
// figure next to the baseline it is compared with (measured in the same run) and its bar.
//   BENCH_QUICK=1   a ~20 s smoke run (fewer and shorter rounds; figures are rough)
//   BENCH_OUT=path  where the JSON goes (default bench/results/latest.json)
//   BENCH_ONLY=decision,h2load,throughput,peers,features   run a subset
//   BENCH_H2LOAD_OPTIONS=1   also measure the gRPC server options (docs/benchmarks.md)
// Bars are reported as PASS or MISS; a missed bar never makes the run fail (exit 0), a crash does.
import { mkdirSync, writeFileSync } from 'node:fs';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { runDecisionBench, type DecisionResult } from './decision.bench.js';
import { runH2loadBench, type H2loadComparison, type H2loadResult, type H2loadServerFigures } from './h2load.bench.js';
import { runPeersBench, type PeersResult } from './peers.bench.js';
import { round } from './lib/stats.js';
import { runThroughputBench, type ThroughputResult } from './throughput.bench.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const QUICK = process.env.BENCH_QUICK === '1';
const OUT = process.env.BENCH_OUT ?? path.join(HERE, 'results', 'latest.json');
const ONLY = new Set(
  (process.env.BENCH_ONLY ?? 'decision,h2load,throughput,peers,features,reload,kdd99,learner,experiments')
    .split(',')
    .map((s) => s.trim()),
);

export interface Bar {
  readonly id: string;
  readonly what: string;
  readonly value: number;
  readonly limit: number;
  readonly op: '<=' | '>=';
  readonly unit: string;
  readonly pass: boolean;
}

const bars: Bar[] = [];
function bar(id: string, what: string, value: number, op: '<=' | '>=', limit: number, unit: string): void {
  bars.push({ id, what, value: round(value, 4), limit, op, unit, pass: op === '<=' ? value <= limit : value >= limit });
}

const log = (line: string) => console.log(line);

function fmt(value: number, unit: string, digits = 3): string {
  return `${round(value, digits)}${unit}`;
}

function table(title: string, header: readonly string[], rows: readonly (readonly string[])[]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('   ');
  console.log(`\n${title}`);
  console.log(`  ${line(header)}`);
  console.log(`  ${widths.map((w) => '-'.repeat(w)).join('   ')}`);
  for (const r of rows) console.log(`  ${line(r)}`);
}

function printDecision(d: DecisionResult): void {
  const us = (v: number) => fmt(v, ' µs');
  const t = d.transformations;
  console.log(
    `\n   CONTRACT §6 actions in the snapshot: ${t.shadowFlags} shadow, ${t.respondFlags} respond, ` +
      `${t.rewriteFlags} rewrite, ${t.responseHeaderFlags} response-header flags; per warm request ` +
      `${round(t.shadowMatchesPerRequest, 2)} shadow matches, ${round(t.repliesPerRequest, 2)} replies, ` +
      `${round(t.rewritesPerRequest, 2)} rewrites, ${round(t.responseHeaderChangesPerRequest, 2)} response-header changes`,
  );
  table(
    `1. Decision cost in-process: ${d.flags} flags, ${d.uaExemplars} UA exemplars, ${round(d.matchesPerRequest, 2)} matching flags per request (medians of rounds)`,
    ['case', 'p50', 'p99', 'p99/p50', 'batch mean', 'vs empty snapshot'],
    [
      [
        'warm (repeating user agents)',
        us(d.warm.p50Us),
        us(d.warm.p99Us),
        fmt(d.warm.p99OverP50, '×'),
        us(d.warm.batchMeanUs),
        fmt(d.ratios.warmVsEmpty, '×'),
      ],
      [
        'cold (unseen user agents)',
        us(d.cold.p50Us),
        us(d.cold.p99Us),
        fmt(d.cold.p99OverP50, '×'),
        us(d.cold.batchMeanUs),
        fmt(d.cold.batchMeanUs / d.emptySnapshot.batchMeanUs, '×'),
      ],
      ['baseline: empty snapshot', '', '', '', us(d.emptySnapshot.batchMeanUs), '1×'],
    ],
  );
  const s = d.stages;
  table(
    '   where the time goes (µs per call, warm unless marked)',
    ['stage', 'µs'],
    [
      ['RequestHeaders from the header list', us(s.headerMapUs)],
      ['extract profile (warm UA)', us(s.extractWarmUs)],
      ['extract profile (cold UA)', us(s.extractColdUs)],
      ['  one HMAC-SHA256 (a cold UA needs two: UA hash, client key)', us(s.hmacSha256Us)],
      ['  of which: geo lookup / endpoint normalization', `${us(s.geoLookupUs)} / ${us(s.normalizeEndpointUs)}`],
      ['  for comparison: lru-cache get by UA string', us(s.lruGetUs)],
      ['decide() (warm / cold)', `${us(s.decideUs)} / ${us(s.decideColdUs)}`],
      ['plan + CommonResponse', us(s.planAndResponseUs)],
      ['metrics (3 updates)', us(s.metricsUs)],
      ['per-flag counters (countDecision, inside the figures above)', us(s.flagCountersUs)],
      ['snapshot compile (1,000 flags + UA index)', fmt(d.compileMs, ' ms')],
    ],
  );
  const r = d.pruning;
  table(
    '   decide(): candidates by bitsets, exact UA distances only for the candidates that need one',
    ['figure', 'value'],
    [
      ['candidates scored per request (of 1,000)', fmt(r.candidatesPerRequest, '')],
      ['UA slots computed per cold request (of 100)', fmt(r.uaSlotsPerColdRequest, '')],
      ['one slot, cold (100 exemplars)', us(r.uaSlotColdUs)],
      ['all 100 slots at once, cached / cold (explain)', `${us(s.uaQueryWarmUs)} / ${us(s.uaQueryColdUs)}`],
      ['decisions differing from scoring every flag', `${r.disagreements} of ${r.comparedDecisions}`],
    ],
  );
  const p = d.prototype;
  table(
    '   prototype (bench/prototypes/lazyHeaders.ts): headers decoded only when read; pipeline = headers → profile → decide → plan → CommonResponse',
    ['figure', 'value'],
    [
      ['lazy headers (2 gets)', us(p.lazyHeadersUs)],
      ['pipeline p50 with RequestHeaders, warm / cold', `${us(p.pipelineWarmP50Us)} / ${us(p.pipelineColdP50Us)}`],
      ['pipeline with LazyHeaders, warm p50 / p99', `${us(p.lazyPipelineWarmP50Us)} / ${us(p.lazyPipelineWarmP99Us)}`],
      ['pipeline with LazyHeaders, cold p50 / p99', `${us(p.lazyPipelineColdP50Us)} / ${us(p.lazyPipelineColdP99Us)}`],
      ['requests whose profile or decision differs', String(p.disagreements)],
    ],
  );
  bar('decision.warm.p50', 'decision p50, warm', d.warm.p50Us, '<=', 10, 'µs');
  bar('decision.cold.p50', 'decision p50, cold', d.cold.p50Us, '<=', 60, 'µs');
  bar('decision.warm.p99', 'decision p99 / p50, warm', d.warm.p99OverP50, '<=', 3, '×');
  bar('decision.cold.p99', 'decision p99 / p50, cold', d.cold.p99OverP50, '<=', 3, '×');
  bar(
    'snapshot.compile',
    'snapshot compile, 1,000 flags + 10,000 UA exemplars (first of the process)',
    d.compileMs,
    '<=',
    200,
    'ms',
  );
}

function printThroughput(t: ThroughputResult): void {
  const row = (name: string, f: ThroughputResult['noop']) => [
    name,
    fmt(f.rps, ''),
    fmt(f.p50Ms, ' ms'),
    fmt(f.p99Ms, ' ms'),
    fmt(f.maxMs, ' ms'),
    fmt(f.serverCpuUsPerRequest, ' µs'),
    fmt(f.serverElu, ''),
    `${f.failed} of ${f.requests}${f.failed > 0 ? ` ${JSON.stringify(f.errors)}` : ''}`,
    String(f.recycledConnections),
  ];
  table(
    `2b. ext_proc throughput, Envoy-like generator (END_STREAM + RST_STREAM per stream): concurrency ${t.concurrency} over ${t.connections} HTTP/2 connections, ${t.rounds} × ${t.roundSeconds} s per server (medians of rounds); baseline: a no-op on proflag's own edge`,
    ['server', 'req/s', 'p50', 'p99', 'max', 'server CPU/req', 'server ELU', 'failed', 'recycled conns'],
    [row('no-op on proflag edge', t.noop), row('proflag', t.proflag)],
  );
  console.log(
    `  proflag / no-op req/s: ${fmt(t.rpsRatio, '×')}; added p99: ${fmt(t.addedP99Ms, ' ms')}; ` +
      `server CPU per request: ${fmt(t.serverCpuRatio, '×')} the no-op's; ` +
      `load generator ELU ${fmt(t.generatorElu, '')} (near 1: the generator, not the server, is the limit)`,
  );
  const nr = t.noRecycling;
  console.log(
    `  recycling disabled (PROFLAG_STREAMS_PER_CONNECTION=0): ${nr.failed} of ${nr.requests} streams failed ` +
      `(${fmt(nr.failedShare * 100, '%')}) ${JSON.stringify(nr.errors)}`,
  );
  bar('throughput.failed', 'Envoy-closed streams failed (recycling on)', t.proflag.failed + t.noop.failed, '<=', 0, '');
}

function printH2load(r: H2loadResult): void {
  if ('skipped' in r) {
    console.log(`\n2. ext_proc throughput with h2load: skipped (${r.skipped})`);
    return;
  }
  const row = (name: string, f: H2loadServerFigures, c: H2loadComparison | null) => [
    name,
    fmt(f.rps, ''),
    c ? fmt(c.rpsRatio, '×') : '1×',
    fmt(f.rpsPerCore, ''),
    fmt(f.p50Ms, ' ms'),
    fmt(f.p99Ms, ' ms'),
    c ? fmt(c.addedP99Ms, ' ms') : '',
    fmt(f.cpuUsPerRequest, ' µs'),
    `${f.failed} of ${f.requests}`,
  ];
  table(
    `2. ext_proc throughput with h2load (${r.h2loadVersion}): ${r.shapes} request shapes, -c ${r.connections} -m ${r.streamsPerConnection}, ` +
      `${r.pairs} alternated pair(s) of ${r.secondsPerShape} s per shape (medians of pairs)`,
    ['server', 'req/s', '÷ no-op (pairs)', 'req/s per core', 'p50', 'p99', 'added p99', 'CPU/req', 'failed'],
    [
      row('plain grpc-js no-op (baseline)', r.baseline, null),
      row(r.proflag.name, r.proflag.figures, r.proflag),
      ...r.options.map((o) => row(o.name, o.figures, o)),
    ],
  );
  console.log(
    `  gRPC status and reply checked with a grpc-js client: ${r.statusChecks - r.statusFailures} of ${r.statusChecks} OK; ` +
      `CPU per request ratio (no-op ÷ proflag): ${fmt(r.proflag.cpuRatio, '×')}`,
  );
  bar('h2load.ratio', 'proflag req/s ÷ plain grpc-js no-op req/s (h2load)', r.proflag.rpsRatio, '>=', 1.3, '×');
  bar('h2load.addedP99', 'added p99 latency (h2load)', r.proflag.addedP99Ms, '<=', 0.3, 'ms');
  bar(
    'h2load.failed',
    'failed streams (h2load + gRPC status)',
    r.proflag.figures.failed + r.baseline.failed + r.statusFailures,
    '<=',
    0,
    '',
  );
}

function printPeers(p: PeersResult): void {
  const ns = (v: number) => fmt(v, ' ns');
  table(
    `3. Flag evaluation versus peers: ${p.contexts} contexts × ${p.flags} flags, ${fmt(p.matchShare * 100, '%')} of pairs match (ns per flag evaluation, medians of rounds)`,
    ['engine', 'ns/flag', 'fastest peer ÷ this', 'disagreements with proflag'],
    [
      ['proflag decide() (snapshot, per flag)', ns(p.proflag.nsPerFlag), fmt(p.ratio, '×'), '-'],
      [
        'proflag evaluateFlag() one by one',
        ns(p.proflag.evaluateFlagNsPerFlag),
        fmt(p.ratioEvaluateFlag, '×'),
        '0 (same flags)',
      ],
      [
        'flagd-core resolveBooleanEvaluation',
        ns(p.flagd.nsPerFlag),
        fmt(p.fastestPeerNsPerFlag / p.flagd.nsPerFlag, '×'),
        String(p.flagd.disagreements),
      ],
      [
        'unleash-client (UnleashClient.isEnabled)',
        ns(p.unleash.nsPerFlag),
        fmt(p.fastestPeerNsPerFlag / p.unleash.nsPerFlag, '×'),
        String(p.unleash.disagreements),
      ],
      [
        'GrowthBook (GrowthBookClient.evalFeature)',
        ns(p.growthbook.nsPerFlag),
        fmt(p.fastestPeerNsPerFlag / p.growthbook.nsPerFlag, '×'),
        String(p.growthbook.disagreements),
      ],
    ],
  );
  bar('peers.ratio', 'proflag speed-up over the fastest peer', p.ratio, '>=', 5, '×');
  bar(
    'peers.agreement',
    'peer answers differing from proflag',
    p.flagd.disagreements + p.unleash.disagreements + p.growthbook.disagreements,
    '<=',
    0,
    '',
  );
}

async function runFeatures(): Promise<Record<string, number> | { skipped: string }> {
  if (QUICK) return { skipped: 'not run with BENCH_QUICK=1 (runFeaturesBench has no quick mode and takes ~50 s)' };
  const file = path.join(HERE, 'features.bench.ts');
  if (!existsSync(file)) return { skipped: 'bench/features.bench.ts does not exist yet' };
  const mod = (await import(pathToFileURL(file).href)) as { runFeaturesBench?: () => Promise<Record<string, number>> };
  if (typeof mod.runFeaturesBench !== 'function')
    return { skipped: 'bench/features.bench.ts exports no runFeaturesBench()' };
  const figures = await mod.runFeaturesBench();
  const rows = Object.entries(figures).map(([k, v]) => [
    k,
    k.endsWith('.ns')
      ? fmt(v / 1000, ' µs')
      : k.endsWith('.ms')
        ? fmt(v, ' ms')
        : Number.isInteger(v)
          ? String(v)
          : fmt(v, '', 4),
  ]);
  table('4. Features and user-agent index (bench/features.bench.ts)', ['figure', 'value'], rows);
  return figures;
}

/**
 * A bench module that exports `run(opts): Promise<figures>` (flat numbers): run it, print its
 * figures, and let `addBars` turn them into bars. Missing modules are reported as skipped.
 */
async function runModule(
  title: string,
  file: string,
  exportName: string,
  addBars: (figures: Record<string, number>) => void,
): Promise<Record<string, unknown>> {
  const full = path.join(HERE, file);
  if (!existsSync(full)) return { skipped: `bench/${file} does not exist` };
  const mod = (await import(pathToFileURL(full).href)) as Record<string, unknown>;
  const run = mod[exportName] as ((o: { quick: boolean }) => Promise<Record<string, unknown>>) | undefined;
  if (typeof run !== 'function') return { skipped: `bench/${file} exports no ${exportName}()` };
  let figures: Record<string, unknown>;
  try {
    figures = await run({ quick: QUICK });
  } catch (err) {
    // A bench that needs a service (Redis) reports why instead of ending the whole run.
    log(`${title}: skipped (${(err as Error).message})`);
    return { skipped: (err as Error).message };
  }
  const flat = Object.entries(figures).filter((e): e is [string, number] => typeof e[1] === 'number');
  table(
    title,
    ['figure', 'value'],
    flat.map(([k, v]) => [k, Number.isInteger(v) ? String(v) : fmt(v, '', 4)]),
  );
  addBars(Object.fromEntries(flat));
  return figures;
}

function roundAll(value: unknown): unknown {
  if (typeof value === 'number') return round(value, 4);
  if (Array.isArray(value)) return value.map(roundAll);
  if (value && typeof value === 'object')
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, roundAll(v)]));
  return value;
}

async function main(): Promise<void> {
  const started = Date.now();
  const cpus = os.cpus();
  const meta = {
    date: new Date().toISOString(),
    node: process.version,
    platform: `${os.platform()} ${os.arch()}`,
    cpus: cpus.length,
    cpuModel: cpus[0]?.model ?? 'unknown',
    quick: QUICK,
    loadAverageAtStart: os.loadavg()[0]!,
    loadAverageAtEnd: 0,
    durationSeconds: 0,
  };
  console.log(
    `proflag benchmarks: ${meta.date}, Node ${meta.node}, ${meta.cpus} × ${meta.cpuModel}, ${QUICK ? 'QUICK smoke run' : 'full run'}, load average ${meta.loadAverageAtStart.toFixed(2)}`,
  );

  const results: Record<string, unknown> = { meta };
  if (ONLY.has('decision')) {
    const d = await runDecisionBench({ quick: QUICK, rounds: QUICK ? 1 : 5, log });
    printDecision(d);
    results.decision = d;
  }
  if (ONLY.has('h2load')) {
    const r = await runH2loadBench({
      quick: QUICK,
      pairs: QUICK ? 1 : 6,
      msPerShape: QUICK ? 250 : 1_000,
      options: process.env.BENCH_H2LOAD_OPTIONS === '1',
      log,
    });
    printH2load(r);
    results.h2load = r;
  }
  if (ONLY.has('throughput')) {
    const t = await runThroughputBench({
      quick: QUICK,
      rounds: QUICK ? 1 : 5,
      roundMs: QUICK ? 1_500 : 5_000,
      concurrency: 64,
      connections: 2,
      log,
    });
    printThroughput(t);
    results.throughput = t;
  }
  if (ONLY.has('peers')) {
    const p = await runPeersBench({ quick: QUICK, rounds: QUICK ? 2 : 5, log });
    printPeers(p);
    results.peers = p;
  }
  if (ONLY.has('features')) results.features = await runFeatures();
  if (ONLY.has('reload')) {
    results.reload = await runModule(
      '5. Reload through scripts/ffr, two replicas',
      'reload.bench.ts',
      'runReloadBench',
      (f) => {
        if (f.bulkChangeMaxMs !== undefined)
          bar('reload.all-replicas', '1,000 flags changed: all replicas serve', f.bulkChangeMaxMs, '<=', 1000, 'ms');
        if (f.compile1000FlagsMs !== undefined)
          bar(
            'reload.compile',
            'snapshot compile, 1,000 flags, no UA exemplars',
            f.compile1000FlagsMs,
            '<=',
            200,
            'ms',
          );
        if (f.compileUa10kMs !== undefined)
          bar(
            'reload.compileUa',
            "snapshot compile (sidecar's), 1,000 flags + 10,000 distinct UA exemplars",
            f.compileUa10kMs,
            '<=',
            200,
            'ms',
          );
      },
    );
  }
  if (ONLY.has('kdd99')) {
    results.kdd99 = await runModule('6. Anomaly detector on KDD99 HTTP', 'kdd99.bench.ts', 'runKdd99Bench', (f) => {
      const auc = f.aucStreamOrder ?? f['auc.stream'] ?? f.streamAuc;
      const us = f.usPerEvent ?? f['us.perEvent'] ?? f.microsPerEvent;
      if (auc !== undefined) bar('kdd99.auc', 'KDD99 ROC AUC, stream order', auc, '>=', 0.99, '');
      if (us !== undefined) bar('kdd99.cost', 'detector cost per event', us, '<=', 10, 'µs');
    });
  }
  if (ONLY.has('learner')) {
    // The learner bench prints its own per-scenario tables; its bars join the summary here.
    const learner = await runModule('7. Learner scenarios', 'learner.bench.ts', 'runLearnerBench', () => {});
    const learnerBars =
      (learner as { bars?: { name: string; value: number; bar: string; pass: boolean }[] }).bars ?? [];
    for (const b of learnerBars) {
      const m = /^([≤≥])?\s*([\d.]+)/.exec(b.bar);
      const op = m?.[1] === '≥' ? '>=' : '<=';
      bar(`learner.${b.name}`, `learner ${b.name}`, b.value, op, Number(m?.[2] ?? 0), '');
    }
    results.learner = learner;
  }
  if (ONLY.has('experiments')) {
    results.experiments = await runModule(
      '8. Experiments on the request path (bench/experiments.bench.ts)',
      'experiments.bench.ts',
      'runExperimentsBench',
      (f) => {
        if (f.decidePlusLookupOverDecide !== undefined)
          bar(
            'experiments.outside',
            'decide + experiment lookup ÷ decide',
            f.decidePlusLookupOverDecide,
            '<=',
            1.03,
            '×',
          );
      },
    );
  }

  meta.loadAverageAtEnd = os.loadavg()[0]!;
  meta.durationSeconds = (Date.now() - started) / 1000;
  results.bars = bars;

  table(
    'Bars (QUALITY.md); a MISS is reported, never fatal',
    ['bar', 'measured', 'bar', 'verdict'],
    bars.map((b) => [
      b.what,
      fmt(b.value, b.unit ? ` ${b.unit}` : ''),
      `${b.op} ${b.limit}${b.unit ? ` ${b.unit}` : ''}`,
      b.pass ? 'PASS' : 'MISS',
    ]),
  );
  mkdirSync(path.dirname(OUT), { recursive: true });
  writeFileSync(OUT, `${JSON.stringify(roundAll(results), null, 2)}\n`);
  console.log(
    `\nwrote ${path.relative(process.cwd(), OUT)} in ${meta.durationSeconds.toFixed(0)} s (load average ${meta.loadAverageAtEnd.toFixed(2)} at the end)`,
  );
}

await main();
// gRPC clients and the geo reader may keep handles; the results are written, so leave.
process.exit(0);
