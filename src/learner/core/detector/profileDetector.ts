// The anomaly detector proflag runs on sampled request profiles (docs/learning.md, "Anomaly
// detector"). In constant memory:
//  - a count-min sketch of categorical values and combinations, read as a small Bayesian network
//    centred on the endpoint: p(endpoint), p(method|endpoint), p(country|endpoint),
//    p(uaFamily|endpoint), p(sizeBin|endpoint), p(hourBin|country), plus the uaFamily and country
//    marginals. Each factor gives a surprisal −ln p (rare values, rare combinations).
//  - a second, ungated sketch with a short memory: how much faster each key arrives now than in
//    the reference (bursts).
//  - Half-Space Trees over those surprisals and the burst lift (scaled to [0,1]), the size bin and
//    the hour on the circle: their mass deficit catches bursts and unusual mixtures.
// The raw score is the trees' mass deficit plus the largest single surprisal, both in nats (the
// best of the measured alternatives, docs/learning.md). It is calibrated against an unbiased
// random reservoir of recent scores, so that `calibrated` reads "rarer than this share of recent
// traffic". The model does not learn profiles at or above the gate quantile, except a small
// random share, so that bursts cannot teach it that they are normal. Pure: time comes in as an
// argument, randomness from seeded generators.

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
   * Bursts: the ungated short-memory sketch is halved every `burstHalfLife` events (default
   * 4,096); its width defaults to 16,384.
   */
  recentSketchWidth?: number;
  burstHalfLife?: number;
  /**
   * Forgetting of the reference sketch: every counter is halved once at least `decayEvents`
   * events were learned since the last halving (default 65,536) and at least `decayMs` passed
   * (default 15 minutes), or after 64 × decayEvents whatever the clock says.
   */
  decayEvents?: number;
  decayMs?: number;
  /** Gate: profiles calibrated at or above this are not learned (default 0.95); 1 disables the gate. */
  gateQuantile?: number;
  /** Share of gated profiles learned anyway, at random (default 0.02). */
  gatePassShare?: number;
  /** Reservoir of recent scores: size (default 2,048) and mean age in events (default 50,000). */
  calibrationSize?: number;
  calibrationHorizon?: number;
  /** Events before scores are calibrated and gated (default: one window); calibrated is 0 until then. */
  warmUp?: number;
  /** Reasons are written for profiles calibrated at or above this (default 0.95). */
  reasonsFrom?: number;
}

export interface ProfileScore {
  /**
   * Rarity in nats, higher = rarer: the profile's mass deficit in the trees, ln(1 + W·2^D) −
   * ln(1 + mass), plus the surprisal −ln p of its rarest factor (or the burst lift).
   */
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
  /** Events before scores are calibrated (until then every score is 0); for GET /learner. */
  readonly warmUpEvents?: number;
}

export const PROFILE_DETECTOR_DEFAULTS = {
  seed: 1,
  trees: 25,
  depth: 10,
  window: 10_000,
  sketchWidth: 65_536,
  sketchDepth: 4,
  recentSketchWidth: 16_384,
  burstHalfLife: 4_096,
  decayEvents: 65_536,
  decayMs: 15 * 60_000,
  gateQuantile: 0.95,
  gatePassShare: 0.02,
  calibrationSize: 2_048,
  calibrationHorizon: 50_000,
  reasonsFrom: 0.95,
} as const;

// Factors, in the order of the key, surprisal and feature arrays.
const F_ENDPOINT = 0;
const F_METHOD = 1; // method | endpoint
const F_COUNTRY = 2; // country | endpoint
const F_UA = 3; // uaFamily | endpoint
const F_SIZE = 4; // sizeBin | endpoint
const F_HOUR = 5; // hourBin | country
const F_UA_ALL = 6; // uaFamily
const F_COUNTRY_ALL = 7; // country (also the context of hourBin | country)
const KEYS = 8;
const F_BURST = 8; // the largest rise of a key's recent rate over its reference rate
const FACTORS = 9;

const KEY_LABELS = [
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

/** Surprisal (nats) mapped to 1 in the trees' features: about a one-in-two-million event. */
const SURPRISAL_SCALE = 14.5;
const HOUR_BIN_WIDTH = 3;
const SIZE_BINS = 40;
/** Hashed per-endpoint size norms (decayed sum and count of size bins). */
const SIZE_NORM_SLOTS = 4_096;
/** Reasons: a value counts as "rare" below this estimated count... */
const RARE_COUNT = 3;
/** ...or below this share of its context, when the context has at least CONTEXT_MIN events. */
const RARE_SHARE = 0.001;
const CONTEXT_MIN = 30;
/** Size bins (factors of two) from the endpoint's mean that count as "far". */
const SIZE_FAR_BINS = 4;
/** A burst reason needs a key at least this many times its usual rate. */
const BURST_LIFT = Math.log(20);
const MAX_REASONS = 4;

const TREE_DIMENSIONS = FACTORS + 3; // surprisals and lift, size bin, sin and cos of the hour
const EMPTY_REASONS: readonly string[] = Object.freeze([]);
const NEUTRAL: ProfileScore = Object.freeze({ raw: 0, calibrated: 0, reasons: EMPTY_REASONS });

function positiveInt(name: string, v: number): number {
  if (!Number.isInteger(v) || v < 1) throw new RangeError(`${name} must be a positive integer, got ${v}`);
  return v;
}

function unitInterval(name: string, v: number): number {
  if (!(v >= 0 && v <= 1)) throw new RangeError(`${name} must be in [0,1], got ${v}`);
  return v;
}

/** −ln p(value | context), add-one smoothed over a binary "this value / another" split. */
function conditional(pair: number, context: number): number {
  const c = pair < context ? pair : context; // sketch collisions can push a pair above its context
  return -Math.log((c + 1) / (context + 2));
}

class SketchTreeDetector implements ProfileDetector {
  readonly memoryBytes: number;
  private observedCount = 0;
  /** Gated reference counts: what traffic usually looks like. */
  private readonly sketch: CountMinSketch;
  /** Every event (ungated), short memory: the recent rate of each key. */
  private readonly recent: CountMinSketch;
  private readonly trees: HalfSpaceTrees;
  private readonly calibrator: ScoreCalibrator;
  private readonly gate: LearningGate;
  private readonly warmUp: number;
  private readonly natsPerUnit: number;
  private readonly reasonsFrom: number;
  private readonly decayEvents: number;
  private readonly decayMs: number;
  private readonly burstHalfLife: number;
  /** Learned events, halved with the reference sketch (the denominator of the marginals). */
  private mass = 0;
  private learnedSinceDecay = 0;
  private lastDecayMs = Number.NaN;
  private recentMass = 0;
  private recentSinceDecay = 0;
  private burstKey = 0;
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
    const sketchDepth = positiveInt('sketchDepth', o.sketchDepth ?? d.sketchDepth);
    this.sketch = new CountMinSketch({
      width: positiveInt('sketchWidth', o.sketchWidth ?? d.sketchWidth),
      depth: sketchDepth,
      seed: seed * 31 + 1,
    });
    this.recent = new CountMinSketch({
      width: positiveInt('recentSketchWidth', o.recentSketchWidth ?? d.recentSketchWidth),
      depth: sketchDepth,
      seed: seed * 31 + 2,
    });
    this.trees = new HalfSpaceTrees({
      dimensions: TREE_DIMENSIONS,
      trees: o.trees ?? d.trees,
      depth: o.depth ?? d.depth,
      window,
      seed: seed * 31 + 3,
      workspace: 'unit', // the features are in [0,1] by construction
    });
    this.calibrator = new ScoreCalibrator({
      capacity: o.calibrationSize ?? d.calibrationSize,
      horizon: o.calibrationHorizon ?? d.calibrationHorizon,
      seed: seed * 31 + 4,
    });
    this.gate = new LearningGate({
      quantile: unitInterval('gateQuantile', o.gateQuantile ?? d.gateQuantile),
      passShare: unitInterval('gatePassShare', o.gatePassShare ?? d.gatePassShare),
      seed: seed * 31 + 5,
    });
    this.warmUp = o.warmUp ?? window;
    if (!(this.warmUp >= 0)) throw new RangeError(`warmUp must be ≥ 0, got ${this.warmUp}`);
    this.natsPerUnit = Math.log(1 + window * 2 ** this.trees.depth);
    this.reasonsFrom = unitInterval('reasonsFrom', o.reasonsFrom ?? d.reasonsFrom);
    this.decayEvents = positiveInt('decayEvents', o.decayEvents ?? d.decayEvents);
    this.decayMs = o.decayMs ?? d.decayMs;
    if (!(this.decayMs >= 0)) throw new RangeError(`decayMs must be ≥ 0, got ${this.decayMs}`);
    this.burstHalfLife = positiveInt('burstHalfLife', o.burstHalfLife ?? d.burstHalfLife);
    this.sizeSum = new Float64Array(SIZE_NORM_SLOTS);
    this.sizeCount = new Float64Array(SIZE_NORM_SLOTS);
    this.memoryBytes =
      this.sketch.memoryBytes +
      this.recent.memoryBytes +
      this.trees.memoryBytes +
      this.calibrator.memoryBytes +
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

  get warmUpEvents(): number {
    return this.warmUp;
  }

  observe(p: DetectorInput, nowMs: number): ProfileScore {
    try {
      return this.step(p, nowMs);
    } catch {
      // Only a bug can land here (the encoder sanitises inputs); a neutral score keeps the learner alive.
      return NEUTRAL;
    }
  }

  private step(p: DetectorInput, nowMs: number): ProfileScore {
    this.observedCount++;
    const e = encodeProfile(p, this.enc);
    this.lookUp(e);
    this.surprisals();
    this.encodeFeatures(e);
    // Both views in nats, added (a product of rarities): the trees' mass deficit, strongest on bursts
    // and mixtures, and the surprisal of the rarest factor, strongest on a single rare value.
    let rarest = 0;
    for (let i = 0; i < FACTORS; i++) if (this.surprisal[i]! > rarest) rarest = this.surprisal[i]!;
    const raw = this.trees.score(this.features) * this.natsPerUnit + rarest;
    const calibrating = this.observedCount > this.warmUp;
    let calibrated = 0;
    if (calibrating) {
      calibrated = this.calibrator.calibrate(raw);
      this.calibrator.admit(raw);
    }
    if (!calibrating || this.gate.shouldLearn(calibrated, this.calibrator.count)) this.learn(e, nowMs);
    this.learnRecent();
    const reasons = calibrating && calibrated >= this.reasonsFrom ? this.explain(e, calibrated) : EMPTY_REASONS;
    return { raw, calibrated, reasons };
  }

  /** Keys and reference count estimates of every factor. */
  private lookUp(e: EncodedProfile): void {
    const k = this.keys;
    k[F_ENDPOINT] = key1(TAG_ENDPOINT, e.endpoint);
    k[F_METHOD] = key2(TAG_ENDPOINT_METHOD, e.endpoint, e.method);
    k[F_COUNTRY] = key2(TAG_ENDPOINT_COUNTRY, e.endpoint, e.country);
    k[F_UA] = key2(TAG_ENDPOINT_UA, e.endpoint, e.uaFamily);
    k[F_SIZE] = key2(TAG_ENDPOINT_SIZE, e.endpoint, e.sizeBin + 1);
    k[F_HOUR] = key2(TAG_COUNTRY_HOUR, e.country, (e.hour / HOUR_BIN_WIDTH) | 0);
    k[F_UA_ALL] = key1(TAG_UA, e.uaFamily);
    k[F_COUNTRY_ALL] = key1(TAG_COUNTRY, e.country);
    for (let i = 0; i < KEYS; i++) this.counts[i] = this.sketch.estimate(k[i]!);
  }

  /** Per-factor surprisals (nats) and the burst lift (nats: ln of recent rate / reference rate). */
  private surprisals(): void {
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
    const norm = Math.log(n + 2) - Math.log(this.recentMass + 2);
    let lift = 0;
    for (let i = 0; i < KEYS; i++) {
      const l = Math.log(this.recent.estimate(this.keys[i]!) + 1) - Math.log(c[i]! + 1) + norm;
      if (l > lift) {
        lift = l;
        this.burstKey = i;
      }
    }
    s[F_BURST] = lift;
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
    const clock = Number.isFinite(nowMs);
    if (Number.isNaN(this.lastDecayMs) && clock) this.lastDecayMs = nowMs;
    if (this.learnedSinceDecay < this.decayEvents) return;
    const clockAllows = !clock || Number.isNaN(this.lastDecayMs) || nowMs - this.lastDecayMs >= this.decayMs;
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

  private learnRecent(): void {
    for (let i = 0; i < KEYS; i++) this.recent.add(this.keys[i]!);
    this.recentMass++;
    if (++this.recentSinceDecay < this.burstHalfLife) return;
    this.recent.halve();
    this.recentMass /= 2;
    this.recentSinceDecay = 0;
  }

  /** Short reasons, the most surprising first (only for high scores: this allocates). */
  private explain(e: EncodedProfile, calibrated: number): readonly string[] {
    const out: { s: number; text: string }[] = [];
    const c = this.counts;
    const s = this.surprisal;
    const seen = (n: number) => `${Math.round(n)} time${Math.round(n) === 1 ? '' : 's'}`;
    const cE = c[F_ENDPOINT]!;
    if (cE < RARE_COUNT && this.mass >= CONTEXT_MIN) out.push({ s: s[F_ENDPOINT]!, text: `endpoint seen ${seen(cE)}` });
    if (cE >= CONTEXT_MIN) {
      for (const f of [F_METHOD, F_COUNTRY, F_UA, F_SIZE]) {
        const n = Math.min(c[f]!, cE);
        if (n < RARE_COUNT || n / cE < RARE_SHARE) out.push({ s: s[f]!, text: `${KEY_LABELS[f]} seen ${seen(n)}` });
      }
      if (e.sizeBin >= 0) {
        const slot = this.keys[F_ENDPOINT]! & (SIZE_NORM_SLOTS - 1);
        const count = this.sizeCount[slot]!;
        if (count >= CONTEXT_MIN) {
          const norm = this.sizeSum[slot]! / count;
          if (e.sizeBin - norm >= SIZE_FAR_BINS)
            out.push({ s: s[F_SIZE]! + 0.5, text: 'size far above endpoint norm' });
          else if (norm - e.sizeBin >= SIZE_FAR_BINS)
            out.push({ s: s[F_SIZE]! + 0.5, text: 'size far below endpoint norm' });
        }
      }
    }
    const cC = c[F_COUNTRY_ALL]!;
    if (cC < RARE_COUNT && this.mass >= CONTEXT_MIN)
      out.push({ s: s[F_COUNTRY_ALL]!, text: `country seen ${seen(cC)}` });
    else if (cC >= CONTEXT_MIN && Math.min(c[F_HOUR]!, cC) < RARE_COUNT)
      out.push({ s: s[F_HOUR]!, text: `country×hour seen ${seen(Math.min(c[F_HOUR]!, cC))}` });
    if (c[F_UA_ALL]! < RARE_COUNT && this.mass >= CONTEXT_MIN)
      out.push({ s: s[F_UA_ALL]!, text: `uaFamily seen ${seen(c[F_UA_ALL]!)}` });
    const lift = s[F_BURST]!;
    if (lift >= BURST_LIFT)
      out.push({ s: lift, text: `${KEY_LABELS[this.burstKey]} at ${Math.round(Math.exp(lift))}× its usual rate` });
    if (out.length === 0)
      return [`unusual mix of features (rarer than ${(calibrated * 100).toFixed(1)}% of recent traffic)`];
    out.sort((a, b) => b.s - a.s);
    const texts: string[] = [];
    for (let i = 0; i < out.length && texts.length < MAX_REASONS; i++) texts.push(out[i]!.text);
    return texts;
  }
}

export function createProfileDetector(options: ProfileDetectorOptions = {}): ProfileDetector {
  return new SketchTreeDetector(options);
}
