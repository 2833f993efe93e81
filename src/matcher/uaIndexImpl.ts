// The user-agent nearest-exemplar index of a snapshot: built once when the snapshot compiles
// (only when exemplars changed), then read-only. Pure apart from the native hnswlib-node
// library, which does no I/O here.
//
// Layout:
//   - Exemplar vectors are L2-normalised and deduplicated: identical vectors become one point
//     (duplicates degrade HNSW recall badly), and each point keeps the slots (flags) using it.
//   - Few points (< bruteForceBelow, 256 by default): no graph; a query compares every point
//     (on the 2-core bench machine 64 points cost ≈ 7-9 µs, 256 ≈ 35 µs, a graph query
//     ≈ 25-35 µs: see bench/features.bench.ts, `index.small*`).
//   - More points: an HNSW graph (cosine; M, efConstruction, ef from UaIndexParams; ef is set
//     after the build and never below k). A query asks for the k nearest points (k = 16) and
//     assigns each to its slots. A slot none of whose exemplars came back is bounded twice:
//     its exemplars are at least as far as the k-th neighbour (up to the graph's approximation)
//     and at least as far as the angle to the slot's centroid minus the slot's angular radius
//     (triangle inequality on angles). Only when both bounds are within the slot's maxDistance
//     are its exemplars compared exactly; else its answer is Infinity. A slot without a
//     maxDistance is always compared exactly.
//   - Distances returned are recomputed exactly (1 − dot product in float64) whichever path
//     found the point, so the same request always gets the same number.
//   - Results are cached per UA hash in a bounded LRU (the index is immutable, so a cached
//     answer stays right for the index's whole life).
import hnswlib from 'hnswlib-node';
import { LRUCache } from 'lru-cache';
import type { UaIndex, UaIndexParams, UaRangeInput } from './uaIndex.js';

// hnswlib-node is CommonJS whose named exports Node's ESM loader cannot detect.
const { HierarchicalNSW } = hnswlib;
type HierarchicalNSW = InstanceType<typeof HierarchicalNSW>;

export interface UaIndexOptions {
  /** Neighbours fetched per query (default 16, at most the number of points). */
  readonly k?: number;
  /** Below this many distinct points the index compares exhaustively (default 256). */
  readonly bruteForceBelow?: number;
  /** Cached answers (per UA hash), default 10,000 ... */
  readonly cacheEntries?: number;
  /** ... and at most this many bytes of cached answers (default 16 MiB). */
  readonly cacheBytes?: number;
  /** Seed of the graph's level generator, for reproducible builds (default 100). */
  readonly seed?: number;
}

export const DEFAULT_UA_INDEX_K = 16;
export const DEFAULT_BRUTE_FORCE_BELOW = 256;
const DEFAULT_CACHE_ENTRIES = 10_000;
const DEFAULT_CACHE_BYTES = 16 * 1024 * 1024;
/** Slack for float rounding in the angular bounds. */
const ANGLE_EPSILON = 1e-6;

/** The index with read-only diagnostics (tests and benchmarks). */
export interface UaIndexWithDiagnostics extends UaIndex {
  /** Distinct exemplar vectors (points). */
  readonly points: number;
  /** True when queries go through the HNSW graph (false: exhaustive comparison). */
  readonly usesGraph: boolean;
  /** Point ids of the k nearest points as the index finds them (graph or exhaustive). */
  nearestPoints(vector: Float32Array, k: number): Int32Array;
}

interface Built {
  readonly dim: number;
  readonly n: number;
  readonly slots: number;
  /** n × dim, normalised. */
  readonly points: Float64Array;
  readonly pointSlots: readonly Int32Array[];
  readonly slotPoints: readonly Int32Array[];
  /** maxDistance per slot; Infinity when not given. */
  readonly slotReach: Float64Array;
  /** slots × dim, the normalised mean of each slot's exemplars (zeros when undefined). */
  readonly slotCentroid: Float64Array;
  /** Largest angle (radians) from a slot's centroid to its exemplars; π when undefined. */
  readonly slotRadius: Float64Array;
  readonly hashSlots: ReadonlyMap<string, Int32Array>;
}

/** Normalise v into out (length dim); false when v is unusable (wrong size, zero, not finite). */
function normaliseInto(v: ArrayLike<number>, dim: number, out: Float64Array, at = 0): boolean {
  if (v.length !== dim || dim === 0) return false;
  let s = 0;
  for (let i = 0; i < dim; i++) {
    const x = v[i]!;
    if (!Number.isFinite(x)) return false;
    s += x * x;
  }
  if (!(s > 0)) return false;
  const inv = 1 / Math.sqrt(s);
  for (let i = 0; i < dim; i++) out[at + i] = v[i]! * inv;
  return true;
}

function dotAt(a: Float64Array, aAt: number, b: Float64Array, bAt: number, dim: number): number {
  let s0 = 0;
  let s1 = 0;
  let i = 0;
  for (; i + 1 < dim; i += 2) {
    s0 += a[aAt + i]! * b[bAt + i]!;
    s1 += a[aAt + i + 1]! * b[bAt + i + 1]!;
  }
  if (i < dim) s0 += a[aAt + i]! * b[bAt + i]!;
  return s0 + s1;
}

function cosineDistanceOf(dot: number): number {
  const d = 1 - dot;
  return d < 0 ? 0 : d > 2 ? 2 : d;
}

/** Work between pauses of the asynchronous prepare (exemplars or centroid points). */
const PREPARE_BATCH = 1000;

/** The preparation as steps: yields every PREPARE_BATCH units so a caller can pause. */
function* prepareSteps(inputs: readonly UaRangeInput[]): Generator<void, Built, void> {
  let work = 0;
  let slots = 0;
  let dim = 0;
  for (const input of inputs) {
    if (Number.isInteger(input.slot) && input.slot >= 0 && input.slot + 1 > slots) slots = input.slot + 1;
    if (dim === 0) for (const e of input.exemplars) if (dim === 0 && e.length > 0) dim = e.length;
  }
  const keyToPoint = new Map<string, number>();
  const vectors: Float64Array[] = [];
  const pointSlotSets: Set<number>[] = [];
  const slotPointSets: Set<number>[] = Array.from({ length: slots }, () => new Set<number>());
  const slotReach = new Float64Array(slots).fill(Infinity);
  const reachGiven = new Uint8Array(slots);
  const hashSlotSets = new Map<string, Set<number>>();
  const scratch = new Float64Array(dim);

  for (const input of inputs) {
    const slot = input.slot;
    if (!Number.isInteger(slot) || slot < 0) continue;
    const md = input.maxDistance;
    if (md !== undefined && Number.isFinite(md) && md >= 0) {
      // Several inputs for one slot (not expected): the widest reach wins. Cosine distance ≤ 2.
      const reach = Math.min(md, 2);
      slotReach[slot] = reachGiven[slot] ? Math.max(slotReach[slot]!, reach) : reach;
      reachGiven[slot] = 1;
    }
    for (const e of input.exemplars) {
      if (++work % PREPARE_BATCH === 0) yield;
      if (e.length !== dim) continue;
      // Identical input bytes give identical normalised vectors: key by the input itself.
      const key = Buffer.from(e.buffer, e.byteOffset, e.byteLength).toString('latin1');
      let p = keyToPoint.get(key);
      if (p === undefined) {
        if (!normaliseInto(e, dim, scratch)) continue;
        p = vectors.length;
        keyToPoint.set(key, p);
        vectors.push(Float64Array.from(scratch));
        pointSlotSets.push(new Set());
      }
      pointSlotSets[p]!.add(slot);
      slotPointSets[slot]!.add(p);
    }
    for (const h of input.hashes) {
      if (typeof h !== 'string') continue;
      let set = hashSlotSets.get(h);
      if (!set) hashSlotSets.set(h, (set = new Set()));
      set.add(slot);
    }
  }

  const n = vectors.length;
  const points = new Float64Array(n * dim);
  vectors.forEach((v, i) => points.set(v, i * dim));
  const slotPoints = slotPointSets.map((s) => Int32Array.from(s));

  // Centroid and angular radius of every slot.
  const slotCentroid = new Float64Array(slots * dim);
  const slotRadius = new Float64Array(slots).fill(Math.PI);
  const sum = new Float64Array(dim);
  for (let s = 0; s < slots; s++) {
    const pts = slotPoints[s]!;
    if (pts.length === 0) continue;
    sum.fill(0);
    for (const p of pts) {
      if (++work % PREPARE_BATCH === 0) yield;
      for (let i = 0; i < dim; i++) sum[i]! += points[p * dim + i]!;
    }
    if (!normaliseInto(sum, dim, slotCentroid, s * dim)) continue;
    let radius = 0;
    for (const p of pts) {
      const c = dotAt(slotCentroid, s * dim, points, p * dim, dim);
      const angle = Math.acos(c > 1 ? 1 : c < -1 ? -1 : c);
      if (angle > radius) radius = angle;
    }
    slotRadius[s] = radius + ANGLE_EPSILON;
  }

  return {
    dim,
    n,
    slots,
    points,
    pointSlots: pointSlotSets.map((s) => Int32Array.from(s)),
    slotPoints,
    slotReach,
    slotCentroid,
    slotRadius,
    hashSlots: new Map([...hashSlotSets].map(([h, s]) => [h, Int32Array.from(s)])),
  };
}

class UaIndexImpl implements UaIndexWithDiagnostics {
  readonly slots: number;
  private readonly b: Built;
  private readonly graph: HierarchicalNSW | null;
  private readonly k: number;
  private readonly ef: number;
  private readonly cache: LRUCache<string, Float64Array>;
  /** The answer "nothing within reach", shared. */
  private readonly none: Float64Array;
  private readonly q: Float64Array;
  private readonly queryArray: number[];

  constructor(
    b: Built,
    graph: HierarchicalNSW | null,
    k: number,
    ef: number,
    cacheEntries: number,
    cacheBytes: number,
  ) {
    this.b = b;
    this.slots = b.slots;
    this.graph = graph;
    this.k = Math.max(1, Math.min(k, b.n));
    this.ef = ef;
    this.cache = new LRUCache<string, Float64Array>({
      max: Math.max(1, cacheEntries),
      maxSize: Math.max(1, cacheBytes),
      sizeCalculation: (v) => v.byteLength + 64,
    });
    this.none = new Float64Array(b.slots).fill(Infinity);
    this.q = new Float64Array(b.dim);
    this.queryArray = new Array<number>(b.dim).fill(0);
  }

  get points(): number {
    return this.b.n;
  }

  get usesGraph(): boolean {
    return this.graph !== null;
  }

  nearestDistances(vector: Float32Array | null, uaHash: string | null): Float64Array {
    if (uaHash !== null) {
      const hit = this.cache.get(uaHash);
      if (hit !== undefined) return hit;
    }
    let out: Float64Array | null;
    try {
      out = this.compute(vector, uaHash);
    } catch {
      out = null;
    }
    if (out === null) out = this.none;
    if (uaHash !== null) this.cache.set(uaHash, out);
    return out;
  }

  nearestPoints(vector: Float32Array, k: number): Int32Array {
    const b = this.b;
    const kk = Math.max(0, Math.min(k | 0, b.n));
    if (kk === 0 || !normaliseInto(vector, b.dim, this.q)) return new Int32Array(0);
    if (this.graph !== null) {
      this.graph.setEf(Math.max(this.ef, kk));
      try {
        return Int32Array.from(this.searchGraph(kk));
      } finally {
        this.graph.setEf(this.ef);
      }
    }
    const d = new Float64Array(b.n);
    const ids = new Int32Array(b.n);
    for (let p = 0; p < b.n; p++) {
      d[p] = cosineDistanceOf(dotAt(this.q, 0, b.points, p * b.dim, b.dim));
      ids[p] = p;
    }
    ids.sort((x, y) => d[x]! - d[y]! || x - y);
    return ids.slice(0, kk);
  }

  private compute(vector: Float32Array | null, uaHash: string | null): Float64Array | null {
    const b = this.b;
    const hashHits = uaHash !== null ? b.hashSlots.get(uaHash) : undefined;
    const usable = vector !== null && b.n > 0 && normaliseInto(vector, b.dim, this.q);
    if (!usable && hashHits === undefined) return null;
    const out = new Float64Array(b.slots).fill(Infinity);
    if (usable) {
      if (this.graph === null) this.exhaustive(out);
      else this.viaGraph(out);
      // Beyond a slot's reach the answer is Infinity, whichever path computed it.
      const reach = b.slotReach;
      for (let s = 0; s < out.length; s++) if (out[s]! > reach[s]!) out[s] = Infinity;
    }
    if (hashHits !== undefined) for (let i = 0; i < hashHits.length; i++) out[hashHits[i]!] = 0;
    return out;
  }

  private assign(p: number, d: number, out: Float64Array): void {
    const slots = this.b.pointSlots[p]!;
    for (let i = 0; i < slots.length; i++) {
      const s = slots[i]!;
      if (d < out[s]!) out[s] = d;
    }
  }

  private exhaustive(out: Float64Array): void {
    const { n, dim, points } = this.b;
    const q = this.q;
    for (let p = 0; p < n; p++) this.assign(p, cosineDistanceOf(dotAt(q, 0, points, p * dim, dim)), out);
  }

  private searchGraph(k: number): number[] {
    const arr = this.queryArray;
    for (let i = 0; i < arr.length; i++) arr[i] = this.q[i]!;
    return this.graph!.searchKnn(arr, k).neighbors;
  }

  private viaGraph(out: Float64Array): void {
    const b = this.b;
    const { dim, points } = b;
    const q = this.q;
    const labels = this.searchGraph(this.k);
    if (labels.length < this.k) {
      // The graph returned fewer neighbours than asked (not expected): be exact.
      this.exhaustive(out);
      return;
    }
    let kth = 0;
    for (let i = 0; i < labels.length; i++) {
      const p = labels[i]!;
      const d = cosineDistanceOf(dotAt(q, 0, points, p * dim, dim));
      if (d > kth) kth = d;
      this.assign(p, d, out);
    }
    // Slots none of whose exemplars came back.
    for (let s = 0; s < b.slots; s++) {
      if (out[s] !== Infinity) continue;
      const pts = b.slotPoints[s]!;
      if (pts.length === 0) continue;
      const reach = b.slotReach[s]!;
      if (kth > reach) continue;
      if (reach !== Infinity) {
        const c = dotAt(q, 0, b.slotCentroid, s * dim, dim);
        const gap = Math.acos(c > 1 ? 1 : c < -1 ? -1 : c) - b.slotRadius[s]!;
        if (gap > 0 && 1 - Math.cos(gap) > reach) continue;
      }
      let best = Infinity;
      for (let i = 0; i < pts.length; i++) {
        const d = cosineDistanceOf(dotAt(q, 0, points, pts[i]! * dim, dim));
        if (d < best) best = d;
      }
      out[s] = best;
    }
  }
}

/** The deduplicated, normalised exemplars of a snapshot, before any graph is built. */
export type PreparedUaIndex = Built;

function prepare(inputs: readonly UaRangeInput[]): Built {
  const steps = prepareSteps(inputs);
  let step = steps.next();
  while (!step.done) step = steps.next();
  return step.value;
}

export function prepareUaIndex(inputs: readonly UaRangeInput[]): PreparedUaIndex {
  return prepare(inputs);
}

/** prepareUaIndex that gives the event loop a turn every few thousand exemplars. */
export async function prepareUaIndexAsync(inputs: readonly UaRangeInput[]): Promise<PreparedUaIndex> {
  const steps = prepareSteps(inputs);
  let step = steps.next();
  while (!step.done) {
    await new Promise<void>((resolve) => setImmediate(resolve));
    step = steps.next();
  }
  return step.value;
}

/** Whether `prepared` is queried through an HNSW graph (else exhaustively). */
export function needsGraph(prepared: PreparedUaIndex, options: UaIndexOptions = {}): boolean {
  return prepared.n > 0 && prepared.n >= (options.bruteForceBelow ?? DEFAULT_BRUTE_FORCE_BELOW);
}

/** The graph's build parameters, shared by the in-thread and the worker-thread builds. */
export function graphBuildParams(params: UaIndexParams, options: UaIndexOptions = {}) {
  return {
    m: Math.max(2, params.m | 0),
    efConstruction: Math.max(1, params.efConstruction | 0),
    randomSeed: options.seed ?? 100,
  };
}

/** Build the HNSW graph over the prepared points, on this thread. */
export function buildGraph(b: PreparedUaIndex, params: UaIndexParams, options: UaIndexOptions = {}): HierarchicalNSW {
  const graph = new HierarchicalNSW('cosine', b.dim);
  // Exactly the distinct points: nothing is added later, so no resize is ever needed.
  graph.initIndex({ maxElements: b.n, ...graphBuildParams(params, options) });
  // Points must be plain arrays (hnswlib-node rejects typed arrays).
  const point = new Array<number>(b.dim).fill(0);
  for (let p = 0; p < b.n; p++) {
    for (let i = 0; i < b.dim; i++) point[i] = b.points[p * b.dim + i]!;
    graph.addPoint(point, p);
  }
  return graph;
}

/** The index over prepared points and their graph (null: exhaustive queries). */
export function assembleUaIndex(
  b: PreparedUaIndex,
  graph: HierarchicalNSW | null,
  params: UaIndexParams,
  options: UaIndexOptions = {},
): UaIndexWithDiagnostics {
  const k = Math.max(1, options.k ?? DEFAULT_UA_INDEX_K);
  const ef = Math.max(params.ef | 0, Math.min(k, b.n), 1);
  // ef is not part of a built or loaded graph's state: set it here.
  graph?.setEf(ef);
  return new UaIndexImpl(
    b,
    graph,
    k,
    ef,
    options.cacheEntries ?? DEFAULT_CACHE_ENTRIES,
    options.cacheBytes ?? DEFAULT_CACHE_BYTES,
  );
}

/**
 * Build the index of a snapshot's user-agent ranges on this thread. Throws only on a native
 * failure of the graph build (compileSnapshot turns that into a rejected entry).
 */
export function buildUaIndex(
  inputs: readonly UaRangeInput[],
  params: UaIndexParams,
  options: UaIndexOptions = {},
): UaIndexWithDiagnostics {
  const b = prepare(inputs);
  return assembleUaIndex(b, needsGraph(b, options) ? buildGraph(b, params, options) : null, params, options);
}

export { HierarchicalNSW };

/** The pair compileSnapshot needs (CompileOptions.uaIndexBuilder). */
export interface UaIndexBuilderLike {
  embed(userAgent: string): Float32Array;
  build(inputs: readonly UaRangeInput[], params: UaIndexParams): UaIndex;
}

/** A builder with a given embedder, e.g. `uaIndexBuilder(embedUserAgent)`. */
export function uaIndexBuilder(embed: (ua: string) => Float32Array, options: UaIndexOptions = {}): UaIndexBuilderLike {
  return { embed, build: (inputs, params) => buildUaIndex(inputs, params, options) };
}
