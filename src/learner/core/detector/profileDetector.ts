// The anomaly detector proflag runs on sampled request profiles (docs/learning.md, "Anomaly
// detector"). Two views of each profile, both in constant memory:
//  - a count-min sketch of categorical values and combinations, read as a small Bayesian
//    network centred on the endpoint: p(endpoint) · p(method|endpoint) · p(country|endpoint) ·
//    p(uaFamily|endpoint) · p(sizeBin|endpoint) · p(hourBin|country). Its negative log-likelihood
//    (surprisal) scores rare values and rare combinations and explains itself.
//  - Half-Space Trees over the per-factor surprisals (scaled to [0,1]) plus size bin and the hour
//    on the circle: they score unusual *mixtures* of those and are strongest on bursts.
// Each raw score is calibrated against its own unbiased random reservoir of recent scores; the
// profile's score is the larger of the two calibrated scores, calibrated once more, so that
// `calibrated` reads "rarer than this share of recent traffic". The model does not learn
// profiles at or above the gate quantile, except a small random share. Everything is pure: time
// comes in as an argument, randomness from seeded generators.

import { CountMinSketch } from './countMinSketch.js';
import { LearningGate, ScoreCalibrator } from './gate.js';
import { HalfSpaceTrees } from './halfSpaceTrees.js';
import {
  encodeProfile,
  key1,
  key2,
  newEncodedProfile,
  type DetectorInput,
  type EncodedProfile,
} from './profileEncoding.js';

export { encodeProfile, type DetectorInput, type EncodedProfile } from './profileEncoding.js';

export interface ProfileDetectorOptions {
  /** Seed of every random choice (default 1). */
  seed?: number;
  /** Half-Space Trees: trees (default 25), depth (default 10), window of learned events (default 10,000). */
  trees?: number;
  depth?: number;
  window?: number;
  /** Count-min sketch width (counters per row, power of two, default 65,536) and depth (default 4). */
  sketchWidth?: number;
  sketchDepth?: number;
  /**
   * Forgetting: every counter is halved once at least `decayEvents` events were learned since the
   * last halving (default 65,536) and at least `decayMs` passed (default 15 minutes), or after
   * 64 × decayEvents whatever the clock says.
   */
  decayEvents?: number;
  decayMs?: number;
  /** Gate: profiles calibrated at or above this are not learned (default 0.99); 1 disables the gate. */
  gateQuantile?: number;
  /** Share of gated profiles learned anyway, at random (default 0.02). */
  gatePassShare?: number;
  /** Reservoirs of recent scores: size (default 2,048) and mean age in events (default 50,000). */
  calibrationSize?: number;
  calibrationHorizon?: number;
  /** Events before scores are calibrated (and gated); default: one window. */
  warmUp?: number;
  /** Reasons are written for profiles calibrated at or above this (default 0.95). */
  reasonsFrom?: number;
  /** Which scores make the profile's score (default 'both'; the others exist for measurement). */
  scoring?: 'both' | 'sketch' | 'trees';
}

export interface ProfileScore {
  readonly raw: number;
  /** 0..1, share of recent traffic this is rarer than. */
  readonly calibrated: number;
  /** Short human reasons, e.g. "endpoint×method seen 0 times", "size far above endpoint norm". */
  readonly reasons: readonly string[];
}

export interface ProfileDetector {
  /** Score, then learn (prequential). Never throws. */
  observe(p: DetectorInput, nowMs: number): ProfileScore;
  readonly observed: number;
  /** Approximate memory in bytes (constant after construction). */
  readonly memoryBytes: number;
}

export const PROFILE_DETECTOR_DEFAULTS = {
  seed: 1,
  trees: 25,
  depth: 10,
  window: 10_000,
  sketchWidth: 65_536,
  sketchDepth: 4,
  decayEvents: 65_536,
  decayMs: 15 * 60_000,
  gateQuantile: 0.99,
  gatePassShare: 0.02,
  calibrationSize: 2_048,
  calibrationHorizon: 50_000,
  reasonsFrom: 0.95,
} as const;

// Factors of the likelihood, in the order of the surprisal and feature arrays.
const F_ENDPOINT = 0;
const F_METHOD = 1; // method | endpoint
const F_COUNTRY = 2; // country | endpoint
const F_UA = 3; // uaFamily | endpoint
const F_SIZE = 4; // sizeBin | endpoint
const F_HOUR = 5; // hourBin | country
const F_UA_ALL = 6; // uaFamily (marginal, a feature only)
const F_COUNTRY_ALL = 7; // country (marginal, context of hourBin | country)
const FACTORS = 8;
/** Factors summed into the sketch score: the Bayesian network, without the marginals it conditions away. */
const LIKELIHOOD_FACTORS = 6;

const FACTOR_LABELS = [
  'endpoint',
  'endpoint×method',
  'endpoint×country',
  'endpoint×uaFamily',
  'endpoint×size',
  'country×hour',
  'uaFamily',
  'country',
] as const;

// Sketch tags (one per kind of key).
const TAG_ENDPOINT = 1;
const TAG_UA = 2;
const TAG_COUNTRY = 3;
const TAG_ENDPOINT_METHOD = 4;
const TAG_ENDPOINT_COUNTRY = 5;
const TAG_ENDPOINT_UA = 6;
const TAG_ENDPOINT_SIZE = 7;
const TAG_COUNTRY_HOUR = 8;
const KEYS = 8;

/** Surprisal (nats) mapped to 1 in the trees' features: about a one-in-two-million event. */
const SURPRISAL_SCALE = 14.5;
const HOUR_BIN_WIDTH = 3;
const SIZE_BINS = 40;
/** Hashed per-endpoint size norms (decayed sum and count of size bins). */
const SIZE_NORM_SLOTS = 4_096;
/** Reasons: a combination counts as "rare" below this estimated count... */
const RARE_COUNT = 3;
/** ...when its context has at least this many events. */
const CONTEXT_MIN = 30;
const MAX_REASONS = 4;

const TREE_DIMENSIONS = FACTORS + 3; // surprisals, size bin, sin and cos of the hour
const EMPTY_REASONS: readonly string[] = Object.freeze([]);
const NEUTRAL: ProfileScore = Object.freeze({ raw: 0, calibrated: 0, reasons: EMPTY_REASONS });

function positiveInt(name: string, v: number): number {
  if (!Number.isInteger(v) || v < 1) throw new RangeError(`${name} must be a positive integer, got ${v}`);
  return v;
}

class SketchProfileDetector implements ProfileDetector {
  readonly memoryBytes: number;
  private observedCount = 0;
  private readonly sketch: CountMinSketch;
  private readonly trees: HalfSpaceTrees;
  private readonly treeCalibrator: ScoreCalibrator;
  private readonly sketchCalibrator: ScoreCalibrator;
  private readonly finalCalibrator: ScoreCalibrator;
  private readonly gate: LearningGate;
  private readonly warmUp: number;
  private readonly reasonsFrom: number;
  private readonly scoring: 'both' | 'sketch' | 'trees';
  private readonly decayEvents: number;
  private readonly decayMs: number;
  /** Learned events, halved with the sketch (the denominator of p(endpoint)). */
  private mass = 0;
  private learnedSinceDecay = 0;
  private lastDecayMs = Number.NaN;
  private readonly sizeSum: Float64Array;
  private readonly sizeCount: Float64Array;
  // Per-event scratch (no allocation on the common path).
  private readonly enc: EncodedProfile = newEncodedProfile();
  private readonly keys = new Uint32Array(KEYS);
  private readonly counts = new Float64Array(KEYS);
  private readonly surprisal = new Float64Array(FACTORS);
  private readonly features = new Float64Array(TREE_DIMENSIONS);

  constructor(o: ProfileDetectorOptions) {
    const d = PROFILE_DETECTOR_DEFAULTS;
    const seed = o.seed ?? d.seed;
    const window = positiveInt('window', o.window ?? d.window);
    this.sketch = new CountMinSketch({
      width: positiveInt('sketchWidth', o.sketchWidth ?? d.sketchWidth),
      depth: positiveInt('sketchDepth', o.sketchDepth ?? d.sketchDepth),
      seed: seed * 31 + 1,
    });
    this.trees = new HalfSpaceTrees({
      dimensions: TREE_DIMENSIONS,
      trees: o.trees ?? d.trees,
      depth: o.depth ?? d.depth,
      window,
      seed: seed * 31 + 2,
    });
    const size = o.calibrationSize ?? d.calibrationSize;
    const horizon = o.calibrationHorizon ?? d.calibrationHorizon;
    this.treeCalibrator = new ScoreCalibrator({ capacity: size, horizon, seed: seed * 31 + 3 });
    this.sketchCalibrator = new ScoreCalibrator({ capacity: size, horizon, seed: seed * 31 + 4 });
    this.finalCalibrator = new ScoreCalibrator({ capacity: size, horizon, seed: seed * 31 + 5 });
    this.gate = new LearningGate({
      quantile: o.gateQuantile ?? d.gateQuantile,
      passShare: o.gatePassShare ?? d.gatePassShare,
      seed: seed * 31 + 6,
    });
    this.warmUp = o.warmUp ?? window;
    if (!(this.warmUp >= 0)) throw new RangeError(`warmUp must be ≥ 0, got ${this.warmUp}`);
    this.reasonsFrom = o.reasonsFrom ?? d.reasonsFrom;
    this.scoring = o.scoring ?? 'both';
    this.decayEvents = positiveInt('decayEvents', o.decayEvents ?? d.decayEvents);
    this.decayMs = o.decayMs ?? d.decayMs;
    if (!(this.decayMs >= 0)) throw new RangeError(`decayMs must be ≥ 0, got ${this.decayMs}`);
    this.sizeSum = new Float64Array(SIZE_NORM_SLOTS);
    this.sizeCount = new Float64Array(SIZE_NORM_SLOTS);
    this.memoryBytes =
      this.sketch.memoryBytes +
      this.trees.memoryBytes +
      this.treeCalibrator.memoryBytes +
      this.sketchCalibrator.memoryBytes +
      this.finalCalibrator.memoryBytes +
      this.sizeSum.byteLength +
      this.sizeCount.byteLength +
      this.keys.byteLength +
      this.counts.byteLength +
      this.surprisal.byteLength +
      this.features.byteLength;
  }

  get observed(): number {
    return this.observedCount;
  }

  observe(p: DetectorInput, nowMs: number): ProfileScore {
    try {
      return this.step(p, nowMs);
    } catch {
      // Only a bug can land here (inputs are sanitised by the encoder); a neutral score keeps the learner alive.
      return NEUTRAL;
    }
  }

  private step(p: DetectorInput, nowMs: number): ProfileScore {
    this.observedCount++;
    const e = encodeProfile(p, this.enc);
    this.lookUp(e);
    const sketchRaw = this.sketchScore();
    this.encodeFeatures(e);
    const treeRaw = this.trees.score(this.features);

    const calibrating = this.observedCount > this.warmUp;
    let raw: number;
    let calibrated = 0;
    if (this.scoring === 'sketch') raw = sketchRaw;
    else if (this.scoring === 'trees') raw = treeRaw;
    else {
      // Calibrate each view on its own sample, take the larger: each view flags what it sees best.
      const ct = this.treeCalibrator.calibrate(treeRaw);
      const cs = this.sketchCalibrator.calibrate(sketchRaw);
      raw = ct > cs ? ct : cs;
      if (calibrating) {
        this.treeCalibrator.admit(treeRaw);
        this.sketchCalibrator.admit(sketchRaw);
      }
    }
    if (calibrating) {
      calibrated = this.finalCalibrator.calibrate(raw);
      this.finalCalibrator.admit(raw);
    }
    if (!calibrating || this.gate.shouldLearn(calibrated, this.finalCalibrator.count)) this.learn(e, nowMs);
    const reasons = calibrating && calibrated >= this.reasonsFrom ? this.explain(e, calibrated) : EMPTY_REASONS;
    return { raw, calibrated, reasons };
  }

  /** Keys and count estimates of every factor. */
  private lookUp(e: EncodedProfile): void {
    const k = this.keys;
    const hourBin = (e.hour / HOUR_BIN_WIDTH) | 0;
    k[F_ENDPOINT] = key1(TAG_ENDPOINT, e.endpoint);
    k[F_METHOD] = key2(TAG_ENDPOINT_METHOD, e.endpoint, e.method);
    k[F_COUNTRY] = key2(TAG_ENDPOINT_COUNTRY, e.endpoint, e.country);
    k[F_UA] = key2(TAG_ENDPOINT_UA, e.endpoint, e.uaFamily);
    k[F_SIZE] = key2(TAG_ENDPOINT_SIZE, e.endpoint, e.sizeBin + 1);
    k[F_HOUR] = key2(TAG_COUNTRY_HOUR, e.country, hourBin);
    k[F_UA_ALL] = key1(TAG_UA, e.uaFamily);
    k[F_COUNTRY_ALL] = key1(TAG_COUNTRY, e.country);
    for (let i = 0; i < KEYS; i++) this.counts[i] = this.sketch.estimate(k[i]!);
  }

  /** Per-factor surprisals (nats) and their sum over the likelihood's factors. */
  private sketchScore(): number {
    const c = this.counts;
    const s = this.surprisal;
    const n = this.mass;
    const cE = c[F_ENDPOINT]!;
    const cC = c[F_COUNTRY_ALL]!;
    s[F_ENDPOINT] = -Math.log((cE + 1) / (n + 2));
    s[F_METHOD] = conditional(c[F_METHOD]!, cE);
    s[F_COUNTRY] = conditional(c[F_COUNTRY]!, cE);
    s[F_UA] = conditional(c[F_UA]!, cE);
    s[F_SIZE] = conditional(c[F_SIZE]!, cE);
    s[F_HOUR] = conditional(c[F_HOUR]!, cC);
    s[F_UA_ALL] = -Math.log((c[F_UA_ALL]! + 1) / (n + 2));
    s[F_COUNTRY_ALL] = -Math.log((cC + 1) / (n + 2));
    let total = 0;
    for (let i = 0; i < LIKELIHOOD_FACTORS; i++) total += s[i]!;
    return total;
  }

  private encodeFeatures(e: EncodedProfile): void {
    const x = this.features;
    for (let i = 0; i < FACTORS; i++) {
      const v = this.surprisal[i]! / SURPRISAL_SCALE;
      x[i] = v > 1 ? 1 : v;
    }
    x[FACTORS] = e.sizeBin < 0 ? 0 : Math.min(1, (e.sizeBin + 1) / SIZE_BINS);
    const angle = (2 * Math.PI * e.hour) / 24;
    x[FACTORS + 1] = 0.5 + 0.5 * Math.sin(angle);
    x[FACTORS + 2] = 0.5 + 0.5 * Math.cos(angle);
  }

  private learn(e: EncodedProfile, nowMs: number): void {
    for (let i = 0; i < KEYS; i++) this.sketch.add(this.keys[i]!);
    this.mass++;
    this.trees.learn(this.features);
    if (e.sizeBin >= 0) {
      const slot = this.keys[F_ENDPOINT]! & (SIZE_NORM_SLOTS - 1);
      this.sizeSum[slot]! += e.sizeBin;
      this.sizeCount[slot]!++;
    }
    this.learnedSinceDecay++;
    if (Number.isNaN(this.lastDecayMs) && Number.isFinite(nowMs)) this.lastDecayMs = nowMs;
    if (this.learnedSinceDecay < this.decayEvents) return;
    const clockAllows = !Number.isFinite(nowMs) || !(nowMs - this.lastDecayMs < this.decayMs);
    if (clockAllows || this.learnedSinceDecay >= 64 * this.decayEvents) this.decay(nowMs);
  }

  private decay(nowMs: number): void {
    this.sketch.halve();
    this.mass /= 2;
    for (let i = 0; i < SIZE_NORM_SLOTS; i++) {
      this.sizeSum[i]! /= 2;
      this.sizeCount[i]! /= 2;
    }
    this.learnedSinceDecay = 0;
    if (Number.isFinite(nowMs)) this.lastDecayMs = nowMs;
  }

  /** Short reasons, the most surprising first (only for high scores: this allocates). */
  private explain(e: EncodedProfile, calibrated: number): readonly string[] {
    const out: { s: number; text: string }[] = [];
    const c = this.counts;
    const cE = c[F_ENDPOINT]!;
    if (cE < RARE_COUNT && this.mass >= CONTEXT_MIN) out.push({ s: this.surprisal[F_ENDPOINT]!, text: `endpoint seen ${Math.round(cE)} times` });
    if (cE >= CONTEXT_MIN) {
      for (const f of [F_METHOD, F_COUNTRY, F_UA, F_SIZE]) {
        const n = Math.min(c[f]!, cE);
        if (n < RARE_COUNT || n / cE < 0.001) out.push({ s: this.surprisal[f]!, text: `${FACTOR_LABELS[f]} seen ${Math.round(n)} times` });
      }
      if (e.sizeBin >= 0) {
        const slot = this.keys[F_ENDPOINT]! & (SIZE_NORM_SLOTS - 1);
        const cnt = this.sizeCount[slot]!;
        if (cnt >= CONTEXT_MIN) {
          const norm = this.sizeSum[slot]! / cnt;
          if (e.sizeBin - norm >= 4) out.push({ s: this.surprisal[F_SIZE]! + 0.5, text: 'size far above endpoint norm' });
          else if (norm - e.sizeBin >= 4) out.push({ s: this.surprisal[F_SIZE]! + 0.5, text: 'size far below endpoint norm' });
        }
      }
    }
    const cC = c[F_COUNTRY_ALL]!;
    if (cC >= CONTEXT_MIN && Math.min(c[F_HOUR]!, cC) < RARE_COUNT)
      out.push({ s: this.surprisal[F_HOUR]!, text: `country×hour seen ${Math.round(Math.min(c[F_HOUR]!, cC))} times` });
    if (c[F_UA_ALL]! < RARE_COUNT && this.mass >= CONTEXT_MIN)
      out.push({ s: this.surprisal[F_UA_ALL]!, text: `uaFamily seen ${Math.round(c[F_UA_ALL]!)} times` });
    if (out.length === 0) {
      return [`unusual mix of features (rarer than ${(calibrated * 100).toFixed(1)}% of recent traffic)`];
    }
    out.sort((a, b) => b.s - a.s);
    return out.slice(0, MAX_REASONS).map((r) => r.text);
  }
}

/** −log p(value | context), add-one smoothed over a binary "this value / another" split. */
function conditional(pair: number, context: number): number {
  const c = pair < context ? pair : context; // sketch collisions can push a pair above its context
  return -Math.log((c + 1) / (context + 2));
}

export function createProfileDetector(options: ProfileDetectorOptions = {}): ProfileDetector {
  return new SketchProfileDetector(options);
}
