// Is a range's traffic new? The checks a range passes against the traffic history before it is
// proposed (docs/learning.md, "The novelty check, and generalisation"):
//   - checkNovelty: a significant rate increase after an onset (history.ts#noveltySplit), with
//     enough baseline before it and little of the earlier traffic inside the range;
//   - generalizeRange: drop dimensions that keep the range from holding more of the pattern,
//     as long as the wider range still passes.
import { noveltySplit, type NoveltySplit, type RangeTester, type TrafficHistory } from './history.js';
import type { NotProposedCode } from './notProposed.js';
import { percent, type DimensionCoverage } from './proposal.js';
import { rangeDimensions, type LearnedRange } from './range.js';

export interface NoveltyCriteria {
  /** Events the history must hold before the onset. */
  readonly minBefore: number;
  /** Range hits needed after the onset. */
  readonly minHitsAfter: number;
  /** Rate after / smoothed rate before, at least. */
  readonly minLift: number;
  /** Poisson z-score of the increase, at least. */
  readonly minZ: number;
  /** Share of the traffic before the onset the range may hold. */
  readonly maxBackgroundShare: number;
}

export type NoveltyResult =
  | { readonly ok: true; readonly split: NoveltySplit; readonly positions: Int32Array; readonly count: number }
  | { readonly ok: false; readonly code: NotProposedCode; readonly reason: string };

export function checkNovelty(history: TrafficHistory, range: RangeTester, c: NoveltyCriteria): NoveltyResult {
  const scan = history.scan(range);
  const split = noveltySplit(scan.positions, scan.count, scan.length, c);
  if (split === null) return noOnset(scan.positions, scan.count, scan.length, c);
  if (split.z < c.minZ)
    return {
      ok: false,
      code: 'not-significant',
      reason: `increase not significant: z ${split.z.toFixed(1)} (needs ${c.minZ}), rate ${percent(split.restShare)} before, ${percent(split.recentShare)} since`,
    };
  if (split.restShare > c.maxBackgroundShare) {
    return {
      ok: false,
      code: 'background',
      reason: `rate before the onset ${percent(split.restShare)} of traffic (at most ${percent(c.maxBackgroundShare)}): the range also holds older traffic`,
    };
  }
  return { ok: true, split, positions: scan.positions, count: scan.count };
}

const grouped = (n: number): string => n.toLocaleString('en-US');

/** Why no split qualified: too little history before the hits, or no rise at all. */
function noOnset(
  positions: Int32Array,
  count: number,
  length: number,
  c: NoveltyCriteria,
): { readonly ok: false; readonly code: NotProposedCode; readonly reason: string } {
  let late = 0;
  for (let j = count - 1; j >= 0 && positions[j]! >= c.minBefore; j--) late++;
  if (length < c.minBefore + c.minHitsAfter || late < c.minHitsAfter) {
    return {
      ok: false,
      code: 'short-baseline',
      reason: `too little baseline: ${grouped(late)} of the range's ${grouped(count)} hits come after the first ${grouped(c.minBefore)} events of the history (${grouped(length)} events; needs ${c.minHitsAfter})`,
    };
  }
  return {
    ok: false,
    code: 'no-onset',
    reason: `no onset: rate ${percent(length > 0 ? count / length : 0)} over the last ${grouped(length)} events, with no rise of ${c.minLift}× or more (stationary)`,
  };
}

/** Dimensions the generalisation may drop, in the profile's key names. */
const DROPPABLE: readonly (keyof DimensionCoverage)[] = [
  'method',
  'endpoint',
  'geo',
  'userAgent',
  'payloadSize',
  'timeOfDay',
];

export function withoutDimension(r: LearnedRange, dim: keyof DimensionCoverage): LearnedRange | null {
  switch (dim) {
    case 'method':
      return r.methods ? { ...r, methods: null } : null;
    case 'endpoint':
      return r.endpoints ? { ...r, endpoints: null } : null;
    case 'geo':
      return r.countries ? { ...r, countries: null } : null;
    case 'userAgent':
      return r.userAgent ? { ...r, userAgent: null } : null;
    case 'payloadSize':
      return r.size ? { ...r, size: null } : null;
    case 'timeOfDay':
      return r.hours ? { ...r, hours: null } : null;
  }
}

export interface Generalized {
  readonly range: LearnedRange;
  readonly split: NoveltySplit;
  readonly dropped: readonly (keyof DimensionCoverage)[];
}

/**
 * Drop dimensions that keep the range from holding more of the pattern: greedily remove the
 * dimension whose removal adds the most *excess* hits since the onset (hits beyond the wider
 * range's rate before the onset: the pattern's own events, not background traffic a wider range
 * lets in; at least 5 % more), as long as the wider range still passes checkNovelty. A pattern
 * split over values its cluster did not collect (a scraper's second endpoint that a nearer
 * cluster took) is then covered by its distinctive dimensions (user agents, countries). Ranges
 * keep at least two dimensions, one of them an endpoint, a country or a user agent.
 */
export function generalizeRange(
  history: TrafficHistory,
  range: LearnedRange,
  found: { readonly split: NoveltySplit; readonly positions: Int32Array; readonly count: number },
  testerOf: (r: LearnedRange) => RangeTester,
  c: NoveltyCriteria,
): Generalized {
  const onset = found.split.onset;
  const excessOf = (ps: Int32Array, n: number, length: number): number => {
    let before = 0;
    while (before < n && ps[before]! < onset) before++;
    return n - before - (before / Math.max(1, onset)) * (length - onset);
  };
  let best = { range, split: found.split, excess: excessOf(found.positions, found.count, history.length) };
  const dropped: (keyof DimensionCoverage)[] = [];
  for (;;) {
    if (rangeDimensions(best.range) <= 2) break;
    let next: { range: LearnedRange; split: NoveltySplit; excess: number; dim: keyof DimensionCoverage } | null = null;
    for (const dim of DROPPABLE) {
      const wider = withoutDimension(best.range, dim);
      if (wider === null || rangeDimensions(wider) < 2) continue;
      if (!wider.endpoints && !wider.countries && !wider.userAgent) continue;
      const scan = history.scan(testerOf(wider));
      const excess = excessOf(scan.positions, scan.count, scan.length);
      if (excess < best.excess * 1.05 + 2 || (next !== null && excess <= next.excess)) continue;
      const s = noveltySplit(scan.positions, scan.count, scan.length, c);
      if (s === null || s.z < c.minZ || s.restShare > c.maxBackgroundShare) continue;
      next = { range: wider, split: s, excess, dim };
    }
    if (next === null) break;
    best = next;
    dropped.push(next.dim);
  }
  return { range: best.range, split: best.split, dropped };
}
