// Per-flag evaluation counters (CONTRACT §8): proflag_flag_evaluations_total{flag,variant,result}
// and proflag_flag_respond_limited_total{flag}.
//
// A request only adds to a Float64Array of the snapshot it was decided on, at offsets fixed
// when that snapshot is first seen (flag × variant row × result); nothing is formatted or
// looked up by name on the request path. The figures become labelled series only when
// /metrics is scraped (prom-client's collect). Labels come from flag and variant names alone,
// so the series are bounded by the flag set.
//
// A reload replaces the snapshot: the counts of the old one are folded into totals kept by
// (flag, variant, result) name, which the new one's counts add to, so a reload neither resets
// nor loses counts. Totals of flags that are gone from the new snapshot (deleted or disabled)
// are dropped, which bounds the series by the current flag set; Prometheus reads a flag that
// comes back from 0 as a counter reset.
import type { Counter } from 'prom-client';
import type { CompiledFlag } from '../matcher/compiledFlag.js';
import type { Decision, FlagMatch } from '../matcher/match.js';
import type { Snapshot } from '../matcher/snapshot.js';

/**
 * What became of a flag for one request:
 *   - match: it applied (listed in the flags header);
 *   - shadow: it matched in shadow mode (applied nowhere);
 *   - respond_limited: it matched, but its respondLimit bucket was empty, so it did not apply;
 *   - rollout_excluded: its score reached the threshold, its rollout left the unit out;
 *   - below_threshold: decide() scored it below its threshold (flags the prefilter ruled out
 *     on a required dimension are not scored, so not counted: a "near miss" count).
 */
export const FLAG_RESULTS = ['match', 'shadow', 'respond_limited', 'rollout_excluded', 'below_threshold'] as const;
export type FlagResultLabel = (typeof FLAG_RESULTS)[number];

const MATCH = 0;
const SHADOW = 1;
const RESPOND_LIMITED = 2;
const ROLLOUT_EXCLUDED = 3;
const BELOW_THRESHOLD = 4;
const RESULTS = FLAG_RESULTS.length;

export interface FlagCount {
  readonly flag: string;
  /** The variant's name, '' where there is none (no variants, or no variant chosen). */
  readonly variant: string;
  readonly result: FlagResultLabel;
  readonly count: number;
}

/** The counts of one snapshot: row r of flag i starts at base[i] + r * RESULTS. */
class SnapshotCounts {
  readonly base: Int32Array;
  readonly counts: Float64Array;

  constructor(readonly snapshot: Snapshot) {
    const flags = snapshot.flags;
    this.base = new Int32Array(flags.length);
    let size = 0;
    for (let i = 0; i < flags.length; i++) {
      this.base[i] = size;
      // Row 0: no variant; row v + 1: variant v.
      size += (1 + (flags[i]!.variants?.length ?? 0)) * RESULTS;
    }
    this.counts = new Float64Array(size);
  }

  /** Calls `each` for every non-zero count. */
  forEach(each: (flag: string, variant: string, result: FlagResultLabel, count: number) => void): void {
    const flags = this.snapshot.flags;
    for (let i = 0; i < flags.length; i++) {
      const flag = flags[i]!;
      const rows = 1 + (flag.variants?.length ?? 0);
      for (let row = 0; row < rows; row++) {
        const at = this.base[i]! + row * RESULTS;
        for (let r = 0; r < RESULTS; r++) {
          const n = this.counts[at + r]!;
          if (n !== 0) each(flag.name, row === 0 ? '' : flag.variants![row - 1]!.name, FLAG_RESULTS[r]!, n);
        }
      }
    }
  }
}

const key = (flag: string, variant: string, result: string) => `${flag}\u0000${variant}\u0000${result}`;

export class FlagCounters {
  private current: SnapshotCounts | null = null;
  /** Totals of replaced snapshots, by flag, variant and result. */
  private readonly carried = new Map<string, FlagCount>();

  /** Count one decision made on `snapshot`. Cheap: a few array increments. */
  countDecision(snapshot: Snapshot, decision: Decision): void {
    let table = this.current;
    if (table === null || table.snapshot !== snapshot) table = this.switchTo(snapshot);
    const { base, counts } = table;
    const matches = decision.matches;
    for (let k = 0; k < matches.length; k++) counts[matchOffset(base, matches[k]!, MATCH)]! += 1;
    const shadow = decision.shadow;
    for (let k = 0; k < shadow.length; k++) counts[matchOffset(base, shadow[k]!, SHADOW)]! += 1;
    const limited = decision.respondLimited;
    for (let k = 0; k < limited.length; k++) counts[matchOffset(base, limited[k]!, RESPOND_LIMITED)]! += 1;
    const excluded = decision.rolloutExcluded;
    for (let k = 0; k < excluded.length; k++) counts[flagOffset(base, excluded[k]!, ROLLOUT_EXCLUDED)]! += 1;
    const below = decision.belowThreshold;
    for (let k = 0; k < below.length; k++) counts[flagOffset(base, below[k]!, BELOW_THRESHOLD)]! += 1;
  }

  /** Every non-zero count, replaced snapshots included (tests, the console, the export). */
  counts(): FlagCount[] {
    const merged = new Map<string, FlagCount>(this.carried);
    this.current?.forEach((flag, variant, result, count) => {
      const k = key(flag, variant, result);
      const before = merged.get(k)?.count ?? 0;
      merged.set(k, { flag, variant, result, count: before + count });
    });
    return [...merged.values()];
  }

  /** prom-client collect() of proflag_flag_evaluations_total. */
  collectEvaluations(counter: Counter<'flag' | 'variant' | 'result'>): void {
    counter.reset();
    for (const c of this.counts()) counter.inc({ flag: c.flag, variant: c.variant, result: c.result }, c.count);
  }

  /** prom-client collect() of proflag_flag_respond_limited_total. */
  collectRespondLimited(counter: Counter<'flag'>): void {
    counter.reset();
    const byFlag = new Map<string, number>();
    for (const c of this.counts()) {
      if (c.result === 'respond_limited') byFlag.set(c.flag, (byFlag.get(c.flag) ?? 0) + c.count);
    }
    for (const [flag, count] of byFlag) counter.inc({ flag }, count);
  }

  private switchTo(snapshot: Snapshot): SnapshotCounts {
    const old = this.current;
    if (old !== null) {
      old.forEach((flag, variant, result, count) => {
        const k = key(flag, variant, result);
        this.carried.set(k, { flag, variant, result, count: (this.carried.get(k)?.count ?? 0) + count });
      });
    }
    // Drop the totals of flags that are gone, unless this is an older snapshot coming back.
    if (old === null || snapshot.compiledAt >= old.snapshot.compiledAt) {
      const names = new Set(snapshot.flags.map((f) => f.name));
      for (const [k, c] of this.carried) if (!names.has(c.flag)) this.carried.delete(k);
    }
    this.current = new SnapshotCounts(snapshot);
    return this.current;
  }
}

/** Offset of a match's result: its variant's row (row 0 without variants). */
function matchOffset(base: Int32Array, m: FlagMatch, result: number): number {
  return base[m.flag.index]! + (m.variantIndex + 1) * RESULTS + result;
}

/** Offset of a result without a variant (row 0). */
function flagOffset(base: Int32Array, flag: CompiledFlag, result: number): number {
  return base[flag.index]! + result;
}
