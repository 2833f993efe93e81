// The hot-path recorder: one table per flag snapshot, with typed arrays indexed by (experiment
// flag, variant) slot: requests, 5xx, 4xx, no response, unusable :status, and the latency
// histogram. The response phase's `observe` writes one slot: O(1), no allocation, no I/O.
// The flusher (flusher.ts) drains the tables off the request path.
//
// Requests outside experiments never reach this code: observerFor() answers null for them
// (one typed-array read per matching flag), so the request gets no response phase from here.
// Tables of replaced snapshots stay drainable for RETIRED_GRACE_MS, since a stream that began
// under the old snapshot reports its outcome there.
import { bucketOf, HISTOGRAM_BUCKETS } from './core/histogram.js';
import {
  COUNTER_4XX,
  COUNTER_5XX,
  COUNTER_INVALID_STATUS,
  COUNTER_NO_RESPONSE,
  COUNTER_REQUESTS,
  SCALAR_COUNTERS,
  type VariantCounts,
} from './core/counts.js';
import { experimentSpecOf, type ExperimentFlagLike, type ExperimentSpec } from './core/spec.js';

/** What the response phase calls once per stream (TEAM.md interface 1). */
export type Observe = (status: number | null, elapsedMs: number) => void;

/** The parts of a FlagMatch the recorder reads (variantIndex: interface 2; variant name as fallback). */
export interface MatchLike {
  readonly flag: { readonly index: number };
  readonly variant: string | null;
  readonly variantIndex?: number;
}

export interface SnapshotLike {
  readonly flags: readonly ExperimentFlagLike[];
}

export interface RejectedExperiment {
  readonly flag: string;
  readonly reason: string;
}

const NO_SLOT = -1;

export class ExperimentTable {
  /** The experiments of this snapshot, in slot order. */
  readonly experiments: readonly ExperimentSpec[];
  /** Flags that declare an experiment this table cannot record (with why). */
  readonly rejected: readonly RejectedExperiment[];
  /** Flags whose generation differs from the previous table's (weights changed). */
  readonly changedGenerations: ReadonlySet<string>;
  readonly slots: number;
  /** slots × SCALAR_COUNTERS. */
  readonly counters: Float64Array;
  /** slots × HISTOGRAM_BUCKETS. */
  readonly latency: Float64Array;
  /** True once anything was observed since the last drain. */
  dirty = false;
  /** Set when the snapshot was replaced (ms since epoch), else 0. */
  retiredAt = 0;
  /** flag.index → first slot of that flag's variants, or -1. */
  readonly #firstSlot: Int32Array;
  /** flag.index → number of variants (for bounds checks). */
  readonly #variantCount: Int32Array;
  /** flag.index → variant name → slot, for matches without variantIndex. */
  readonly #slotByName: Map<number, Map<string, number>>;
  /** slot → experiment index, and slot → variant name. */
  readonly #slotExperiment: Int32Array;
  readonly #slotVariant: string[];
  readonly #observers: Observe[];

  constructor(flags: readonly ExperimentFlagLike[], previous: ExperimentTable | null = null) {
    let maxIndex = -1;
    for (const f of flags) if (f.index > maxIndex) maxIndex = f.index;
    this.#firstSlot = new Int32Array(maxIndex + 1).fill(NO_SLOT);
    this.#variantCount = new Int32Array(maxIndex + 1);
    this.#slotByName = new Map();
    const experiments: ExperimentSpec[] = [];
    const rejected: RejectedExperiment[] = [];
    const slotExperiment: number[] = [];
    const slotVariant: string[] = [];
    for (const flag of flags) {
      const result = experimentSpecOf(flag);
      if (result === null) continue;
      if (!result.ok) {
        rejected.push({ flag: flag.name, reason: result.reason });
        continue;
      }
      const spec = result.spec;
      const first = slotVariant.length;
      this.#firstSlot[flag.index] = first;
      this.#variantCount[flag.index] = spec.variants.length;
      const byName = new Map<string, number>();
      for (const v of spec.variants) {
        byName.set(v.name, slotVariant.length);
        slotExperiment.push(experiments.length);
        slotVariant.push(v.name);
      }
      this.#slotByName.set(flag.index, byName);
      experiments.push(spec);
    }
    this.experiments = Object.freeze(experiments);
    this.rejected = Object.freeze(rejected);
    this.slots = slotVariant.length;
    this.counters = new Float64Array(this.slots * SCALAR_COUNTERS);
    this.latency = new Float64Array(this.slots * HISTOGRAM_BUCKETS);
    this.#slotExperiment = Int32Array.from(slotExperiment);
    this.#slotVariant = slotVariant;
    this.#observers = slotVariant.map(
      (_, slot) => (status: number | null, elapsedMs: number) => this.observe(slot, status, elapsedMs),
    );
    const changed = new Set<string>();
    if (previous) {
      const before = new Map(previous.experiments.map((e) => [e.flag, e.generation]));
      for (const e of experiments) if (before.get(e.flag) !== e.generation) changed.add(e.flag);
    }
    this.changedGenerations = changed;
  }

  get hasExperiments(): boolean {
    return this.slots > 0;
  }

  /** The slot of (flag, variant), or -1 when that flag runs no experiment here. */
  slotOf(match: MatchLike): number {
    const index = match.flag.index;
    const first = index < this.#firstSlot.length ? this.#firstSlot[index]! : NO_SLOT;
    if (first === NO_SLOT) return NO_SLOT;
    const vi = match.variantIndex;
    if (vi !== undefined) return vi >= 0 && vi < this.#variantCount[index]! ? first + vi : NO_SLOT;
    return match.variant === null ? NO_SLOT : (this.#slotByName.get(index)?.get(match.variant) ?? NO_SLOT);
  }

  /**
   * Record one outcome. `status`: the response's :status, NaN when it was not a number, null
   * when the stream ended before response headers. `elapsedMs`: since proflag received the
   * request headers. Every call counts one request in exactly one class.
   */
  observe(slot: number, status: number | null, elapsedMs: number): void {
    if (!(slot >= 0 && slot < this.slots)) return;
    const base = slot * SCALAR_COUNTERS;
    const c = this.counters;
    c[base + COUNTER_REQUESTS]!++;
    this.dirty = true;
    if (status === null) {
      c[base + COUNTER_NO_RESPONSE]!++;
      return;
    }
    if (!(status >= 100 && status <= 599 && (status | 0) === status)) c[base + COUNTER_INVALID_STATUS]!++;
    else if (status >= 500) c[base + COUNTER_5XX]!++;
    else if (status >= 400) c[base + COUNTER_4XX]!++;
    this.latency[slot * HISTOGRAM_BUCKETS + bucketOf(elapsedMs)]!++;
  }

  /** The prebuilt observer of one slot (no allocation per request). */
  observer(slot: number): Observe | null {
    return this.#observers[slot] ?? null;
  }

  /**
   * The observer for a request's matches: null when none of them is in an experiment (the
   * common case, and then the request needs nothing from the response for experiments).
   */
  observerFor(matches: readonly MatchLike[]): Observe | null {
    if (this.slots === 0) return null;
    let single = NO_SLOT;
    let several: number[] | null = null;
    for (let i = 0; i < matches.length; i++) {
      const slot = this.slotOf(matches[i]!);
      if (slot === NO_SLOT) continue;
      if (single === NO_SLOT) single = slot;
      else (several ??= [single]).push(slot);
    }
    if (single === NO_SLOT) return null;
    if (several === null) return this.#observers[single]!;
    // A request in several experiments at once: rare, so one small closure is fine.
    const slots = several;
    return (status, elapsedMs) => {
      for (const s of slots) this.observe(s, status, elapsedMs);
    };
  }

  /** Hands every slot with counts to `sink` as VariantCounts and zeroes it. */
  drain(sink: (spec: ExperimentSpec, variant: string, counts: VariantCounts) => void): void {
    if (!this.dirty) return;
    this.dirty = false;
    for (let slot = 0; slot < this.slots; slot++) {
      const base = slot * SCALAR_COUNTERS;
      const requests = this.counters[base + COUNTER_REQUESTS]!;
      if (requests === 0) continue;
      const hBase = slot * HISTOGRAM_BUCKETS;
      const counts: VariantCounts = {
        requests,
        status5xx: this.counters[base + COUNTER_5XX]!,
        status4xx: this.counters[base + COUNTER_4XX]!,
        noResponse: this.counters[base + COUNTER_NO_RESPONSE]!,
        invalidStatus: this.counters[base + COUNTER_INVALID_STATUS]!,
        latency: this.latency.slice(hBase, hBase + HISTOGRAM_BUCKETS),
      };
      this.counters.fill(0, base, base + SCALAR_COUNTERS);
      this.latency.fill(0, hBase, hBase + HISTOGRAM_BUCKETS);
      sink(this.experiments[this.#slotExperiment[slot]!]!, this.#slotVariant[slot]!, counts);
    }
  }
}

/** How long the table of a replaced snapshot keeps taking (and flushing) late outcomes. */
export const RETIRED_GRACE_MS = 10 * 60_000;
/** At most this many replaced tables are kept; older ones are dropped after a last drain. */
export const MAX_RETIRED_TABLES = 16;

/**
 * The tables of the snapshots seen, for the hot path (tableFor / observerFor) and the flusher
 * (live tables). Builds a snapshot's table on first use (or at bind, off the request path).
 */
export class ExperimentRecorder {
  #lastSnapshot: SnapshotLike | null = null;
  #lastTable: ExperimentTable | null = null;
  readonly #bySnapshot = new WeakMap<SnapshotLike, ExperimentTable>();
  /** Current table last; earlier ones are retired. */
  #live: ExperimentTable[] = [];
  readonly #now: () => number;

  constructor(options: { now?: () => number } = {}) {
    this.#now = options.now ?? Date.now;
  }

  /** Build (or find) the table of a snapshot; call at snapshot swap to keep it off the hot path. */
  bind(snapshot: SnapshotLike): ExperimentTable {
    return this.tableFor(snapshot);
  }

  tableFor(snapshot: SnapshotLike): ExperimentTable {
    if (snapshot === this.#lastSnapshot) return this.#lastTable!;
    let table = this.#bySnapshot.get(snapshot);
    if (!table) {
      const current = this.#live.at(-1) ?? null;
      table = new ExperimentTable(snapshot.flags, current);
      this.#bySnapshot.set(snapshot, table);
      if (current) current.retiredAt = this.#now();
      this.#live.push(table);
    }
    this.#lastSnapshot = snapshot;
    this.#lastTable = table;
    return table;
  }

  /** The observer for one request's matches, or null when none is in an experiment. */
  observerFor(snapshot: SnapshotLike, matches: readonly MatchLike[]): Observe | null {
    if (matches.length === 0) return null;
    return this.tableFor(snapshot).observerFor(matches);
  }

  /** The experiments of the current snapshot (for the guardrail runner). */
  currentExperiments(): readonly ExperimentSpec[] {
    return this.#live.at(-1)?.experiments ?? [];
  }

  /**
   * Tables to drain: the current one and retired ones. Retired tables past the grace period
   * (or beyond MAX_RETIRED_TABLES) are removed after this call returns them one last time.
   */
  liveTables(): readonly ExperimentTable[] {
    const tables = this.#live.slice();
    const now = this.#now();
    const current = this.#live.at(-1);
    const retired = this.#live.length - 1;
    this.#live = this.#live.filter(
      (t, i) => t === current || (now - t.retiredAt < RETIRED_GRACE_MS && retired - i <= MAX_RETIRED_TABLES),
    );
    return tables;
  }
}
