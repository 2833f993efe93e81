// The user-agent nearest-exemplar index of a snapshot: built once when the snapshot compiles
// (only when exemplars changed), then read-only. Pure apart from the native hnswlib-node
// library, which does no I/O here.
//
// Layout:
//   - Exemplar vectors are L2-normalised and deduplicated: identical vectors become one point
//     (duplicates degrade HNSW recall badly), and each slot (flag) keeps the points it uses.
//   - Every slot has the normalised centroid of its exemplars and its angular radius (the
//     largest angle from the centroid to one of them, plus a little slack for rounding).
//
// Distances (`query(...).distance(slot)`, what decide() and explain use) are exact: the
// smallest 1 − q·e over the slot's exemplars e, in float64 with one fixed summation order, so
// the same request always gets the same number, bit for bit, whoever asks and in whatever
// order. They are computed per slot, only when a flag asks: a request pays for the slots of
// the few flags it actually scores, not for every UA range of the snapshot. Before comparing
// a slot's exemplars one by one, one dot product with its centroid bounds them all (triangle
// inequality on angles): when even that bound is beyond the slot's maxDistance, the answer is
// Infinity without touching the exemplars, which is the common case for an unrelated user
// agent. The bound only ever answers Infinity where the exact scan would too.
//
// Answers are cached per UA hash in a bounded cache of recent ones: per user agent, the
// distances of the slots asked so far (a few, or a whole row when explain asks for all); the
// index is immutable, so a cached distance stays right for the index's whole life.
//
// The HNSW graph (wanted when there are at least bruteForceBelow distinct points) answers only
// nearestPoints: the k nearest exemplars of a vector over the whole snapshot, which is what a
// graph is good at with many points (diagnostics, the similarity-quality bars). It is never
// used for a distance that scores a flag: a graph is approximate, and a missed neighbour would
// change a decision. So the graph is built lazily, when nearestPoints first needs it, never as
// part of a snapshot compile (10,000 points take ~0.5 s to insert, and decisions never wait
// for it): in this thread at once (GraphSource 'sync', tests and tools), by the caller's
// asynchronous builder (the sidecar's worker thread), answering exhaustively meanwhile, or
// before the index is returned ('eager', benchmarks that time the build).
import hnswlib from 'hnswlib-node';
import { RecentCache } from '../features/userAgent.js';
import { cosineDistanceOf, createNearestScanner, dotAt, type NearestScanner } from './nearestKernel.js';
import type { UaIndex, UaIndexParams, UaQuery, UaRangeInput } from './uaIndex.js';

// hnswlib-node is CommonJS whose named exports Node's ESM loader cannot detect.
const { HierarchicalNSW } = hnswlib;
type HierarchicalNSW = InstanceType<typeof HierarchicalNSW>;

export interface UaIndexOptions {
  /** From this many distinct points on, nearestPoints searches an HNSW graph (default 256). */
  readonly bruteForceBelow?: number;
  /** User agents whose distances are cached (per UA hash), default 10,000 ... */
  readonly cacheEntries?: number;
  /** ... and at most this many bytes of cached answers (default 16 MiB). */
  readonly cacheBytes?: number;
  /** Seed of the graph's level generator, for reproducible builds (default 100). */
  readonly seed?: number;
  /**
   * When the graph is built (only ever when nearestPoints needs one): 'lazy' (default) on the
   * first nearestPoints call, in this thread; 'eager' before buildUaIndex returns.
   */
  readonly graph?: 'lazy' | 'eager';
}

/**
 * Where an index gets its graph from on first use: built in this thread at once, or by an
 * asynchronous builder (a worker thread) while nearestPoints answers exhaustively.
 */
export type GraphSource =
  { readonly kind: 'sync' } | { readonly kind: 'async'; build(prepared: PreparedUaIndex): Promise<HierarchicalNSW> };

export const DEFAULT_BRUTE_FORCE_BELOW = 256;
const DEFAULT_CACHE_ENTRIES = 10_000;
const DEFAULT_CACHE_BYTES = 16 * 1024 * 1024;
/** Slack for float rounding in the angular bounds. */
const ANGLE_EPSILON = 1e-6;
/** Slots with fewer exemplars are compared directly: the bound would cost as much. */
const BOUND_MIN_POINTS = 4;

/** The index with read-only diagnostics (tests and benchmarks). */
export interface UaIndexWithDiagnostics extends UaIndex {
  /** Distinct exemplar vectors (points). */
  readonly points: number;
  /**
   * True when nearestPoints goes through an HNSW graph (false: exhaustive comparison). The
   * graph itself is built on first use (see graphBuilt).
   */
  readonly usesGraph: boolean;
  /** True once the graph exists (it is built when nearestPoints first needs it). */
  readonly graphBuilt: boolean;
  /**
   * Start building the graph if it is wanted and not built yet; resolves true once it serves
   * nearestPoints, false when the index needs none or the build failed (nearestPoints then
   * stays exhaustive: exact, only slower).
   */
  whenGraphReady(): Promise<boolean>;
  /** Point ids of the k nearest points as the index finds them (graph or exhaustive). */
  nearestPoints(vector: Float32Array, k: number): Int32Array;
}

interface Built {
  readonly dim: number;
  readonly n: number;
  readonly slots: number;
  /** n × dim, normalised. */
  readonly points: Float64Array;
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

/** Work between pauses of the asynchronous prepare (exemplars or centroid points). */
const PREPARE_BATCH = 1000;

/**
 * Distinct exemplar vectors, deduplicated by their exact bytes and normalised straight into
 * one growing array. Plain methods, not generator code: V8 optimises these loops on the
 * first compile already (a generator's own loops stay unoptimised for the whole first call,
 * which made a cold compile several times slower).
 */
class PointSet {
  n = 0;
  points: Float64Array;
  /** The input bytes of each point, to tell equal vectors from hash collisions. */
  private readonly words: Int32Array[] = [];
  private readonly byHash = new Map<number, number>();
  /** Next point with the same hash (-1: none). */
  private readonly sameHash: number[] = [];

  constructor(
    private readonly dim: number,
    capacity: number,
  ) {
    this.points = new Float64Array(Math.max(1, capacity) * dim);
  }

  /** The point of vector e (added when new); -1 when e is unusable (wrong size, zero, not finite). */
  pointOf(e: Float32Array): number {
    const dim = this.dim;
    if (e.length !== dim) return -1;
    const words = new Int32Array(e.buffer, e.byteOffset, dim);
    let h = 0x811c9dc5;
    for (let i = 0; i < dim; i++) h = Math.imul(h ^ words[i]!, 16777619);
    const first = this.byHash.get(h);
    for (let p = first ?? -1; p !== -1; p = this.sameHash[p]!) if (sameWords(this.words[p]!, words)) return p;
    const p = this.n;
    if ((p + 1) * dim > this.points.length) {
      const grown = new Float64Array(this.points.length * 2);
      grown.set(this.points);
      this.points = grown;
    }
    if (!normaliseInto(e, dim, this.points, p * dim)) return -1;
    this.n++;
    this.words.push(words);
    this.sameHash.push(first ?? -1);
    this.byHash.set(h, p);
    return p;
  }
}

function sameWords(a: Int32Array, b: Int32Array): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** out[0..dim) += points[at..at+dim) */
function addInto(out: Float64Array, points: Float64Array, at: number, dim: number): void {
  for (let i = 0; i < dim; i++) out[i]! += points[at + i]!;
}

/** Largest angle (radians) from the centroid at `cAt` to the points `pts`. */
function radiusOf(centroids: Float64Array, cAt: number, points: Float64Array, pts: Int32Array, dim: number): number {
  let radius = 0;
  for (let k = 0; k < pts.length; k++) {
    const c = dotAt(centroids, cAt, points, pts[k]! * dim, dim);
    const angle = Math.acos(c > 1 ? 1 : c < -1 ? -1 : c);
    if (angle > radius) radius = angle;
  }
  return radius;
}

/** The preparation as steps: yields every PREPARE_BATCH units so a caller can pause. */
function* prepareSteps(inputs: readonly UaRangeInput[]): Generator<void, Built, void> {
  let work = 0;
  let slots = 0;
  let dim = 0;
  let exemplars = 0;
  for (const input of inputs) {
    if (Number.isInteger(input.slot) && input.slot >= 0 && input.slot + 1 > slots) slots = input.slot + 1;
    if (dim === 0) for (const e of input.exemplars) if (dim === 0 && e.length > 0) dim = e.length;
    exemplars += input.exemplars.length;
  }
  const set = new PointSet(dim, exemplars);
  const slotPointSets: Set<number>[] = Array.from({ length: slots }, () => new Set<number>());
  const slotReach = new Float64Array(slots).fill(Infinity);
  const reachGiven = new Uint8Array(slots);
  const hashSlotSets = new Map<string, Set<number>>();

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
    const slotSet = slotPointSets[slot]!;
    for (const e of input.exemplars) {
      if (++work % PREPARE_BATCH === 0) yield;
      const p = set.pointOf(e);
      if (p >= 0) slotSet.add(p);
    }
    for (const h of input.hashes) {
      if (typeof h !== 'string') continue;
      let hs = hashSlotSets.get(h);
      if (!hs) hashSlotSets.set(h, (hs = new Set()));
      hs.add(slot);
    }
  }

  const n = set.n;
  const points = set.points.length === n * dim ? set.points : set.points.slice(0, n * dim);
  const slotPoints = slotPointSets.map((s) => Int32Array.from(s));

  // Centroid and angular radius of every slot.
  const slotCentroid = new Float64Array(slots * dim);
  const slotRadius = new Float64Array(slots).fill(Math.PI);
  const sum = new Float64Array(dim);
  for (let s = 0; s < slots; s++) {
    const pts = slotPoints[s]!;
    if (pts.length === 0) continue;
    work += pts.length;
    if (work >= PREPARE_BATCH) {
      work = 0;
      yield;
    }
    sum.fill(0);
    for (let k = 0; k < pts.length; k++) addInto(sum, points, pts[k]! * dim, dim);
    if (!normaliseInto(sum, dim, slotCentroid, s * dim)) continue;
    slotRadius[s] = radiusOf(slotCentroid, s * dim, points, pts, dim) + ANGLE_EPSILON;
  }

  return {
    dim,
    n,
    slots,
    points,
    slotPoints,
    slotReach,
    slotCentroid,
    slotRadius,
    hashSlots: new Map([...hashSlotSets].map(([h, hs]) => [h, Int32Array.from(hs)])),
  };
}

/** Row value of a slot whose distance has not been computed yet. */
const NOT_COMPUTED = NaN;
/** Distances a query keeps in short lists before it takes a row of every slot. */
const SPARSE_SLOTS = 8;

/**
 * One user agent's view of the index: its per-slot distances, computed on demand and kept.
 * A request asks for a few slots at most, so the first few are kept in two short lists; a
 * full row of slots is allocated only when more are asked for (explain, nearestDistances).
 * Cached per UA hash and shared by every request with that hash.
 */
class SlotQuery implements UaQuery {
  private readonly slotsKept: number[] = [];
  private readonly distancesKept: number[] = [];
  /** Per slot: the distance, or NaN when not computed yet; null while the lists suffice. */
  private row: Float64Array | null = null;
  /** 0: not looked at yet; 1: usable (normalised on demand); 2: unusable. */
  state = 0;

  constructor(
    private readonly index: UaIndexImpl,
    readonly vector: Float32Array | null,
    hashHits: Int32Array | undefined,
    private readonly slotCount: number,
  ) {
    if (hashHits !== undefined) for (let i = 0; i < hashHits.length; i++) this.keep(hashHits[i]!, 0);
  }

  distance(slot: number): number {
    // Not a slot of this index (also a fractional or negative number): nothing is within reach.
    if (!(slot >= 0 && slot < this.slotCount && Number.isInteger(slot))) return Infinity;
    const row = this.row;
    if (row !== null) {
      const d = row[slot]!;
      if (d === d) return d;
    } else {
      const kept = this.slotsKept;
      for (let i = 0; i < kept.length; i++) if (kept[i] === slot) return this.distancesKept[i]!;
    }
    const computed = this.index.slotDistance(this, slot);
    this.keep(slot, computed);
    return computed;
  }

  /** Every slot computed (the all-slots answer); returns the row. */
  fill(): Float64Array {
    const row = this.toRow();
    for (let s = 0; s < row.length; s++) if (row[s] !== row[s]) row[s] = this.index.slotDistance(this, s);
    return row;
  }

  private keep(slot: number, d: number): void {
    if (this.row === null && this.slotsKept.length < SPARSE_SLOTS) {
      this.slotsKept.push(slot);
      this.distancesKept.push(d);
    } else {
      this.toRow()[slot] = d;
    }
  }

  private toRow(): Float64Array {
    if (this.row === null) {
      const row = new Float64Array(this.slotCount).fill(NOT_COMPUTED);
      for (let i = 0; i < this.slotsKept.length; i++) row[this.slotsKept[i]!] = this.distancesKept[i]!;
      this.slotsKept.length = 0;
      this.distancesKept.length = 0;
      this.row = row;
    }
    return this.row;
  }
}

class UaIndexImpl implements UaIndexWithDiagnostics {
  readonly slots: number;
  private readonly b: Built;
  /** The graph once built; null before (or when none is wanted). */
  private graph: HierarchicalNSW | null;
  /** How the graph is built on first use; null when none is wanted. */
  private readonly graphSource: GraphSource | null;
  private graphPending: Promise<boolean> | null = null;
  private readonly graphParams: { readonly m: number; readonly efConstruction: number; readonly randomSeed: number };
  private readonly ef: number;
  private readonly cache: RecentCache<string, SlotQuery>;
  /** The exact scans of the slots' exemplars. */
  private readonly scanner: NearestScanner;
  /** The normalised vector of `normalisedFor` (one at a time: queries are synchronous). */
  private readonly q: Float64Array;
  private normalisedFor: SlotQuery | null = null;
  private readonly queryArray: number[];

  constructor(
    built: Built,
    graph: HierarchicalNSW | null,
    graphSource: GraphSource | null,
    graphParams: UaIndexImpl['graphParams'],
    ef: number,
    cacheEntries: number,
    cacheBytes: number,
  ) {
    this.scanner = createNearestScanner(built.points, built.dim, built.slotPoints);
    // The scanner may hold its own copy of the points: use it everywhere, keep one copy.
    const b: Built = { ...built, points: this.scanner.points };
    this.b = b;
    this.slots = b.slots;
    this.graph = graph;
    this.graphSource = graph === null ? graphSource : null;
    this.graphParams = graphParams;
    this.ef = ef;
    // Per entry, at worst: a row of every slot, the object and the embedding it keeps alive.
    const entryBytes = b.slots * 8 + 320;
    this.cache = new RecentCache<string, SlotQuery>(
      Math.max(1, cacheEntries),
      Math.max(1, cacheBytes),
      (_hash, v) => entryBytes + (v.vector ? v.vector.byteLength + 96 : 0),
    );
    this.q = this.scanner.query;
    this.queryArray = new Array<number>(b.dim).fill(0);
  }

  get points(): number {
    return this.b.n;
  }

  get usesGraph(): boolean {
    return this.graph !== null || this.graphSource !== null;
  }

  get graphBuilt(): boolean {
    return this.graph !== null;
  }

  whenGraphReady(): Promise<boolean> {
    if (this.graph !== null) return Promise.resolve(true);
    const source = this.graphSource;
    if (source === null) return Promise.resolve(false);
    if (source.kind === 'sync') {
      try {
        return Promise.resolve(this.graphNow() !== null);
      } catch {
        return Promise.resolve(false);
      }
    }
    this.graphPending ??= source.build(this.b).then(
      (graph) => {
        graph.setEf(this.ef);
        this.graph = graph;
        return true;
      },
      () => false, // the builder reports its own failures; queries stay exhaustive
    );
    return this.graphPending;
  }

  /** The graph for a query now: built in place (sync source), or null while it is pending. */
  private graphNow(): HierarchicalNSW | null {
    if (this.graph !== null || this.graphSource === null) return this.graph;
    if (this.graphSource.kind === 'async') {
      void this.whenGraphReady();
      return null;
    }
    const graph = buildGraphWith(this.b, this.graphParams);
    graph.setEf(this.ef);
    this.graph = graph;
    return graph;
  }

  query(vector: Float32Array | null, uaHash: string | null): SlotQuery {
    if (uaHash === null) return this.newQuery(vector, null);
    let hit = this.cache.get(uaHash);
    if (hit === undefined) {
      hit = this.newQuery(vector, uaHash);
      this.cache.set(uaHash, hit);
    }
    return hit;
  }

  nearestDistances(vector: Float32Array | null, uaHash: string | null): Float64Array {
    return this.query(vector, uaHash).fill();
  }

  nearestPoints(vector: Float32Array, k: number): Int32Array {
    const b = this.b;
    const kk = Math.max(0, Math.min(k | 0, b.n));
    this.normalisedFor = null;
    if (kk === 0 || !normaliseInto(vector, b.dim, this.q)) return new Int32Array(0);
    const graph = this.graphNow();
    if (graph !== null) {
      const arr = this.queryArray;
      for (let i = 0; i < arr.length; i++) arr[i] = this.q[i]!;
      graph.setEf(Math.max(this.ef, kk));
      try {
        return Int32Array.from(graph.searchKnn(arr, kk).neighbors);
      } finally {
        graph.setEf(this.ef);
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

  private newQuery(vector: Float32Array | null, uaHash: string | null): SlotQuery {
    const hits = uaHash !== null ? this.b.hashSlots.get(uaHash) : undefined;
    return new SlotQuery(this, vector ?? null, hits, this.b.slots);
  }

  /** The exact distance of one slot (never cached here: SlotQuery keeps it). Never throws. */
  slotDistance(query: SlotQuery, slot: number): number {
    const b = this.b;
    const pts = b.slotPoints[slot];
    if (pts === undefined || pts.length === 0) return Infinity;
    if (query.state === 0)
      query.state = query.vector !== null && b.n > 0 && normaliseInto(query.vector, b.dim, this.q) ? 1 : 2;
    else if (query.state === 1 && this.normalisedFor !== query) normaliseInto(query.vector!, b.dim, this.q);
    if (query.state !== 1) return Infinity;
    this.normalisedFor = query;
    const dim = b.dim;
    const q = this.q;
    const reach = b.slotReach[slot]!;
    if (reach !== Infinity && pts.length >= BOUND_MIN_POINTS) {
      // Every exemplar is at least (angle to the centroid − radius) away from q.
      const c = dotAt(q, 0, b.slotCentroid, slot * dim, dim);
      const gap = Math.acos(c > 1 ? 1 : c < -1 ? -1 : c) - b.slotRadius[slot]!;
      if (gap > 0 && 1 - Math.cos(gap) > reach) return Infinity;
    }
    const best = this.scanner.nearest(slot);
    return best > reach ? Infinity : best;
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
  return buildGraphWith(b, graphBuildParams(params, options));
}

function buildGraphWith(b: PreparedUaIndex, buildParams: ReturnType<typeof graphBuildParams>): HierarchicalNSW {
  const graph = new HierarchicalNSW('cosine', b.dim);
  // Exactly the distinct points: nothing is added later, so no resize is ever needed.
  graph.initIndex({ maxElements: b.n, ...buildParams });
  // Points must be plain arrays (hnswlib-node rejects typed arrays).
  const point = new Array<number>(b.dim).fill(0);
  for (let p = 0; p < b.n; p++) {
    for (let i = 0; i < b.dim; i++) point[i] = b.points[p * b.dim + i]!;
    graph.addPoint(point, p);
  }
  return graph;
}

/**
 * The index over prepared points. `graph` is a built graph, or where one comes from on first
 * use (ignored when the points need none: nearestPoints is then exhaustive).
 */
export function assembleUaIndex(
  b: PreparedUaIndex,
  graph: HierarchicalNSW | GraphSource,
  params: UaIndexParams,
  options: UaIndexOptions = {},
): UaIndexWithDiagnostics {
  const ef = Math.max(params.ef | 0, 1);
  const wanted = needsGraph(b, options);
  const isSource = 'kind' in graph;
  const built = wanted && !isSource ? graph : null;
  // ef is not part of a built or loaded graph's state: set it here.
  built?.setEf(ef);
  const source = wanted && isSource ? graph : null;
  return new UaIndexImpl(
    b,
    built,
    source,
    graphBuildParams(params, options),
    ef,
    options.cacheEntries ?? DEFAULT_CACHE_ENTRIES,
    options.cacheBytes ?? DEFAULT_CACHE_BYTES,
  );
}

/**
 * The index of a snapshot's user-agent ranges, on this thread. Its graph (when the points need
 * one) is built on the first nearestPoints call, or at once with `graph: 'eager'`; an eager
 * build throws on a native failure (compileSnapshot turns that into a rejected entry).
 */
export function buildUaIndex(
  inputs: readonly UaRangeInput[],
  params: UaIndexParams,
  options: UaIndexOptions = {},
): UaIndexWithDiagnostics {
  const b = prepare(inputs);
  const eager = options.graph === 'eager' && needsGraph(b, options);
  return assembleUaIndex(b, eager ? buildGraph(b, params, options) : { kind: 'sync' }, params, options);
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
