// Half-Space Trees on the public KDD Cup 1999 HTTP benchmark (../shared/data/kdd99_http.csv.xz).
//   tsx bench/kdd99.bench.ts [--quick]     prints the figures
//   runKdd99Bench({ quick })               returns them (for bench/run.ts)
// Prequential: every record is scored, then learned, in stream order and in a seeded shuffle.
// The three columns (already log-scaled) are mapped to [0,1] by a fixed affine map fitted on a
// warm-up prefix (min/max of its first 20,000 records, the length of one default window): no
// look at the rest of the stream. ROC AUC covers every record, the first window included.
// Timings are the median over rounds of the whole prequential loop (scale + score + learn)
// divided by the records; AUC is exact and deterministic for a seed.
// Quick mode: the 100,000 records from 230,000 (they hold the two 1,000-record attack bursts
// of the first half and a clean first window), fewer seeds and rounds.
// The headline (defaults: 25 trees × depth 8, window 20,000) is also returned as aucStreamOrder,
// aucShuffled, usPerEvent and memoryBytes; the other variants are the measured alternatives.
// profile.* is the profile detector on the synthetic stream of its tests (no KDD99 involved).
// Throws when the data file is missing (bench/run.ts reports the reason and goes on).
import { pathToFileURL } from 'node:url';
import { rocAuc } from '../src/learner/core/detector/auc.js';
import { LearningGate, ScoreCalibrator } from '../src/learner/core/detector/gate.js';
import { HalfSpaceTrees, type HalfSpaceTreesOptions } from '../src/learner/core/detector/halfSpaceTrees.js';
import { SeededRandom } from '../src/learner/core/detector/random.js';
import { createProfileDetector } from '../src/learner/core/detector/profileDetector.js';
import { kdd99Unavailable, loadKdd99, type Kdd99 } from '../test/helpers/kdd99.js';
import { generateTraffic } from '../test/unit/learner/detector/syntheticTraffic.js';
import { median, nowNs } from './lib/stats.js';

const DIMS = 3;
const WARM_UP = 20_000;
export const KDD99_QUICK_SLICE = { start: 230_000, count: 100_000 } as const;

interface Variant {
  readonly name: string;
  readonly hst: Omit<HalfSpaceTreesOptions, 'dimensions' | 'seed'>;
  /** Gate quantile (calibrated score at or above it is not learned), undefined = learn all. */
  readonly gate?: number;
}

const VARIANTS: readonly Variant[] = [
  { name: 'hst', hst: {} }, // the defaults: 25 trees × depth 8, window 20,000
  { name: 'hst.gated', hst: {}, gate: 0.99 },
  { name: 'hst.depth15', hst: { depth: 15 } },
  { name: 'hst.w5000', hst: { window: 5_000 } },
  { name: 'hst.w5000.gated', hst: { window: 5_000 }, gate: 0.99 },
  { name: 'hst.w250', hst: { window: 250 } }, // the paper's and River's window
];

/** The fixed affine map to [0,1] from the warm-up prefix: offset and 1/width per column. */
export function fitAffine(data: Kdd99, prefix: number): Float64Array {
  const map = new Float64Array(DIMS * 2);
  const m = Math.min(prefix, data.n);
  for (let j = 0; j < DIMS; j++) {
    let lo = Infinity;
    let hi = -Infinity;
    for (let i = 0; i < m; i++) {
      const v = data.x[i * DIMS + j]!;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    const width = hi - lo > 1e-9 ? hi - lo : 1;
    map[j * 2] = Number.isFinite(lo) ? lo : 0;
    map[j * 2 + 1] = 1 / width;
  }
  return map;
}

/** Prequential run; returns the scores (higher = more anomalous) and the ns per record. */
export function runHst(data: Kdd99, variant: Variant, seed: number): { scores: Float64Array; nsPerRecord: number } {
  const model = new HalfSpaceTrees({ dimensions: DIMS, seed, ...variant.hst });
  const gate = variant.gate === undefined ? null : new LearningGate({ quantile: variant.gate, seed: seed + 1 });
  const calibrator = new ScoreCalibrator({ seed: seed + 2 });
  const map = fitAffine(data, WARM_UP);
  const v = new Float64Array(DIMS);
  const scores = new Float64Array(data.n);
  const t0 = nowNs();
  for (let i = 0; i < data.n; i++) {
    for (let j = 0; j < DIMS; j++) v[j] = (data.x[i * DIMS + j]! - map[j * 2]!) * map[j * 2 + 1]!;
    if (gate === null) {
      scores[i] = model.scoreAndLearn(v);
      continue;
    }
    const s = model.score(v);
    scores[i] = s;
    if (!model.ready) {
      model.learn(v); // the first window is learned whole and kept out of calibration
      continue;
    }
    const c = calibrator.calibrate(s);
    calibrator.admit(s);
    if (gate.shouldLearn(c, calibrator.count)) model.learn(v);
  }
  return { scores, nsPerRecord: (nowNs() - t0) / data.n };
}

/** A seeded Fisher–Yates shuffle of the records. */
export function shuffleKdd99(data: Kdd99, seed: number): Kdd99 {
  const rng = new SeededRandom(seed);
  const order = new Uint32Array(data.n);
  for (let i = 0; i < data.n; i++) order[i] = i;
  for (let i = data.n - 1; i > 0; i--) {
    const j = rng.nextInt(i + 1);
    const t = order[i]!;
    order[i] = order[j]!;
    order[j] = t;
  }
  const x = new Float64Array(data.n * DIMS);
  const labels = new Uint8Array(data.n);
  for (let i = 0; i < data.n; i++) {
    const k = order[i]!;
    for (let j = 0; j < DIMS; j++) x[i * DIMS + j] = data.x[k * DIMS + j]!;
    labels[i] = data.labels[k]!;
  }
  return { n: data.n, x, labels };
}

/** AUC over seeds: the first seed's, the minimum and the median. */
function aucOverSeeds(data: Kdd99, variant: Variant, seeds: readonly number[]): [number, number, number] {
  const aucs = seeds.map((seed) => rocAuc(runHst(data, variant, seed).scores, data.labels));
  return [aucs[0]!, Math.min(...aucs), median(aucs)];
}

/**
 * The profile detector (src/learner/core/detector/profileDetector.ts) on the synthetic stream of
 * its tests: 300,000 events with planted anomalies; AUC of the calibrated score after the first
 * 34 % (steady patterns count in their first 5,000 events), µs per observe(), memory.
 */
function profileFigures(rounds: number): Record<string, number> {
  const events = generateTraffic({ events: 300_000, seed: 1 });
  const from = Math.floor(events.length * 0.34);
  const onset = new Map<string, number>();
  events.forEach((e, i) => {
    if (e.planted && !onset.has(e.planted)) onset.set(e.planted, i);
  });
  const times: number[] = [];
  let auc = NaN;
  let memoryBytes = 0;
  for (let r = 0; r < rounds; r++) {
    const detector = createProfileDetector({ seed: 1 });
    memoryBytes = detector.memoryBytes;
    const calibrated = new Float64Array(events.length);
    const t0 = nowNs();
    for (let i = 0; i < events.length; i++)
      calibrated[i] = detector.observe(events[i]!.input, events[i]!.nowMs).calibrated;
    times.push((nowNs() - t0) / events.length);
    if (r > 0) continue;
    const s: number[] = [];
    const l: number[] = [];
    for (let i = from; i < events.length; i++) {
      const p = events[i]!.planted;
      if ((p === 'newMobileApp' || p === 'regionalCampaign') && i >= onset.get(p)! + 5_000) continue;
      s.push(calibrated[i]!);
      l.push(p === null ? 0 : 1);
    }
    auc = rocAuc(s, l);
  }
  return { 'profile.synthetic.auc': auc, 'profile.observe.ns': median(times), 'profile.memory.bytes': memoryBytes };
}

export async function runKdd99Bench(opts: { quick?: boolean } = {}): Promise<Record<string, number>> {
  const missing = kdd99Unavailable();
  if (missing !== null) throw new Error(missing);
  const quick = opts.quick === true;
  const stream = await loadKdd99(quick ? KDD99_QUICK_SLICE : {});
  const shuffled = shuffleKdd99(stream, 42);
  const out: Record<string, number> = {
    records: stream.n,
    attacks: stream.labels.reduce((a, b) => a + b, 0),
  };
  for (const variant of VARIANTS) {
    const headline = variant.name === 'hst';
    const streamSeeds = headline ? (quick ? [1, 2, 3] : [1, 2, 3, 4, 5]) : quick ? [1] : [1, 2, 3];
    const shuffledSeeds = headline ? (quick ? [1, 2] : [1, 2, 3]) : [1];
    const rounds = headline ? (quick ? 3 : 5) : quick ? 1 : 3;
    const [s1, sMin, sMedian] = aucOverSeeds(stream, variant, streamSeeds);
    const [h1, hMin] = aucOverSeeds(shuffled, variant, shuffledSeeds);
    out[`${variant.name}.stream.auc`] = s1;
    out[`${variant.name}.stream.auc.minSeeds`] = sMin;
    out[`${variant.name}.stream.auc.medianSeeds`] = sMedian;
    out[`${variant.name}.shuffled.auc`] = h1;
    out[`${variant.name}.shuffled.auc.minSeeds`] = hMin;
    const times: number[] = [];
    for (let r = 0; r < rounds; r++) times.push(runHst(stream, variant, 1).nsPerRecord);
    out[`${variant.name}.stream.ns`] = median(times);
    out[`${variant.name}.memory.bytes`] = new HalfSpaceTrees({ dimensions: DIMS, ...variant.hst }).memoryBytes;
  }
  // Headline figures (the defaults), under the names bench/run.ts reads.
  out.aucStreamOrder = out['hst.stream.auc']!;
  out.aucStreamOrderMinSeeds = out['hst.stream.auc.minSeeds']!;
  out.aucShuffled = out['hst.shuffled.auc']!;
  out.usPerEvent = out['hst.stream.ns']! / 1000;
  out.memoryBytes = out['hst.memory.bytes']!;
  Object.assign(out, profileFigures(quick ? 1 : 3));
  return out;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const figures = await runKdd99Bench({ quick: process.argv.includes('--quick') });
  for (const [k, v] of Object.entries(figures)) {
    const shown = k.endsWith('.ns')
      ? `${(v / 1000).toFixed(2)} µs/event`
      : k.endsWith('.bytes')
        ? `${(v / 1024).toFixed(0)} KiB`
        : Number.isInteger(v)
          ? String(v)
          : v.toFixed(4);
    console.log(`${k.padEnd(40)} ${shown}`);
  }
}
