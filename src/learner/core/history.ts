// The recent traffic history: a fixed ring of the last N sampled events in compact form
// (EventKeys and a timestamp: hashes and small integers, ~32 bytes an event, no strings), so that a candidate
// range can be checked against all recent traffic, anomalous or not.
//
// What the learner asks of it (noveltySplit): did this range's traffic *start* recently? A new
// pattern has a rate before its onset near the range's background rate and a much higher rate
// after; a rare but stationary segment (a small country, a long-tail endpoint) that the detector
// keeps calling unusual has the same rate throughout. The split that maximises a Poisson z-score
// of "hits after" against the rate before is found in one pass over the hit positions.
import type { EventKeys } from './range.js';

export interface RangeTester {
  testRow(methodH: number, endpointH: number, country: number, size: number, hour: number): boolean;
  testUserAgent(uaH: number, family: number, vector: Float32Array | null): boolean;
}

export class TrafficHistory {
  readonly capacity: number;
  private readonly methodH: Uint32Array;
  private readonly endpointH: Uint32Array;
  private readonly uaH: Uint32Array;
  private readonly size: Float64Array;
  private readonly country: Uint16Array;
  private readonly family: Uint16Array;
  private readonly hour: Uint8Array;
  private readonly time: Float64Array;
  private pushed = 0;
  private hits: Int32Array;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 16)
      throw new RangeError(`capacity must be an integer ≥ 16, got ${capacity}`);
    this.capacity = capacity;
    this.methodH = new Uint32Array(capacity);
    this.endpointH = new Uint32Array(capacity);
    this.uaH = new Uint32Array(capacity);
    this.size = new Float64Array(capacity);
    this.country = new Uint16Array(capacity);
    this.family = new Uint16Array(capacity);
    this.hour = new Uint8Array(capacity);
    this.time = new Float64Array(capacity);
    this.hits = new Int32Array(1024);
  }

  push(k: EventKeys, timeMs: number): void {
    const i = this.pushed % this.capacity;
    this.time[i] = timeMs;
    this.methodH[i] = k.methodH;
    this.endpointH[i] = k.endpointH;
    this.uaH[i] = k.uaH;
    this.size[i] = k.size;
    this.country[i] = k.country;
    this.family[i] = k.family > 0xffff ? 1 : k.family;
    this.hour[i] = k.hour;
    this.pushed++;
  }

  /** Events pushed since creation (the sequence number of the next one). */
  get total(): number {
    return this.pushed;
  }

  /** Events kept (≤ capacity). */
  get length(): number {
    return Math.min(this.pushed, this.capacity);
  }

  /** Time (epoch ms) of the kept event at a scan position (0 = oldest). */
  timeAt(position: number): number {
    const length = this.length;
    if (position < 0 || position >= length) return Number.NaN;
    return this.time[(this.pushed - length + position) % this.capacity]!;
  }

  /** Sequence number of the oldest kept event. */
  get firstSeq(): number {
    return this.pushed - this.length;
  }

  /**
   * Positions (0 = oldest kept event) of the kept events the range matches, ascending. The
   * returned array is reused by the next call.
   */
  scan(range: RangeTester): { readonly positions: Int32Array; readonly count: number; readonly length: number } {
    const length = this.length;
    const start = this.pushed - length;
    let count = 0;
    for (let p = 0; p < length; p++) {
      const i = (start + p) % this.capacity;
      if (!range.testRow(this.methodH[i]!, this.endpointH[i]!, this.country[i]!, this.size[i]!, this.hour[i]!))
        continue;
      if (!range.testUserAgent(this.uaH[i]!, this.family[i]!, null)) continue;
      if (count === this.hits.length) {
        const grown = new Int32Array(this.hits.length * 2);
        grown.set(this.hits);
        this.hits = grown;
      }
      this.hits[count++] = p;
    }
    // Give back memory after a scan of a broad range.
    const positions = this.hits.subarray(0, count);
    if (this.hits.length > 65_536 && count < 16_384) this.hits = new Int32Array(16_384);
    return { positions, count, length };
  }

  get memoryBytes(): number {
    return (
      this.methodH.byteLength +
      this.endpointH.byteLength +
      this.uaH.byteLength +
      this.size.byteLength +
      this.country.byteLength +
      this.family.byteLength +
      this.hour.byteLength +
      this.time.byteLength +
      this.hits.byteLength
    );
  }
}

export interface NoveltyOptions {
  /** Events the history must hold before the onset (the baseline). */
  readonly minBefore: number;
  /** Hits needed after the onset. */
  readonly minHitsAfter: number;
  /** Rate after / smoothed rate before. */
  readonly minLift: number;
}

export interface NoveltySplit {
  /** Position of the onset (the first hit of the "after" part). */
  readonly onset: number;
  readonly beforeEvents: number;
  readonly beforeHits: number;
  readonly afterEvents: number;
  readonly afterHits: number;
  /** Share of traffic in the range before the onset (its background rate). */
  readonly restShare: number;
  /** Share of traffic in the range since the onset. */
  readonly recentShare: number;
  readonly lift: number;
  /** Poisson z-score of the hits after the onset against the rate before it. */
  readonly z: number;
}

/**
 * The most significant rate increase among the splits at hit positions: before = [0, pos),
 * after = [pos, length). The rate before is add-one smoothed ((hits + 1) / events), so a range
 * never seen before still needs enough hits after to be significant. Null when no split meets
 * the options.
 */
export function noveltySplit(
  positions: Int32Array,
  count: number,
  length: number,
  o: NoveltyOptions,
): NoveltySplit | null {
  let best: NoveltySplit | null = null;
  for (let j = 0; j < count; j++) {
    const pos = positions[j]!;
    const afterHits = count - j;
    if (afterHits < o.minHitsAfter) break;
    if (pos < o.minBefore) continue;
    const afterEvents = length - pos;
    const baseRate = (j + 1) / pos;
    const expected = afterEvents * baseRate;
    const recentShare = afterHits / afterEvents;
    const lift = recentShare / baseRate;
    if (lift < o.minLift) continue;
    const z = (afterHits - expected) / Math.sqrt(expected);
    if (best === null || z > best.z) {
      best = {
        onset: pos,
        beforeEvents: pos,
        beforeHits: j,
        afterEvents,
        afterHits,
        restShare: j / pos,
        recentShare,
        lift,
        z,
      };
    }
  }
  return best;
}
