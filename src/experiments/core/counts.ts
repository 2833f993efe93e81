// Per-variant outcome counts, how they add up, and their names as Redis hash fields.
// Counters are plain numbers (exact integers below 2^53), so merging replicas and minutes is
// addition and the merged result does not depend on the order.
import { addHistogram, emptyHistogram, HISTOGRAM_BUCKETS } from './histogram.js';

export interface VariantCounts {
  requests: number;
  status5xx: number;
  status4xx: number;
  /** Streams that ended before response headers (reset, local reply): never a success. */
  noResponse: number;
  /** Response headers whose :status was not an integer in 100–599. */
  invalidStatus: number;
  /** Time to response headers, in the buckets of histogram.ts. */
  readonly latency: Float64Array;
}

/** Errors: 5xx, no response and an unusable :status — every outcome that is not a real answer. */
export function errorsOf(c: VariantCounts): number {
  return c.status5xx + c.noResponse + c.invalidStatus;
}

export function emptyVariantCounts(): VariantCounts {
  return { requests: 0, status5xx: 0, status4xx: 0, noResponse: 0, invalidStatus: 0, latency: emptyHistogram() };
}

export function addVariantCounts(into: VariantCounts, from: VariantCounts): void {
  into.requests += from.requests;
  into.status5xx += from.status5xx;
  into.status4xx += from.status4xx;
  into.noResponse += from.noResponse;
  into.invalidStatus += from.invalidStatus;
  addHistogram(into.latency, from.latency);
}

/** Order of the scalar counters in the recorder's arrays and in `COUNTER_FIELDS`. */
export const COUNTER_REQUESTS = 0;
export const COUNTER_5XX = 1;
export const COUNTER_4XX = 2;
export const COUNTER_NO_RESPONSE = 3;
export const COUNTER_INVALID_STATUS = 4;
export const SCALAR_COUNTERS = 5;

/** Hash field suffixes of the scalar counters (`<generation>:<variant>:<suffix>`), by index. */
export const COUNTER_FIELDS: readonly string[] = Object.freeze(['n', '5xx', '4xx', 'nr', 'bad']);
/** Latency bucket i is the field suffix `h<i>`. */
export const LATENCY_FIELD_PREFIX = 'h';

/** `<generation>:<variant>:<counter>`; neither generation (hex) nor variant names contain ':'. */
export function counterField(generation: string, variant: string, counter: string): string {
  return `${generation}:${variant}:${counter}`;
}

export interface ParsedField {
  readonly generation: string;
  readonly variant: string;
  /** 0–4: a scalar counter (COUNTER_*); ≥ 100: latency bucket (index − 100). */
  readonly slot: number;
}

/** Parses a hash field written by counterField; null for anything else (never trusted blindly). */
export function parseCounterField(field: string): ParsedField | null {
  const first = field.indexOf(':');
  const last = field.lastIndexOf(':');
  if (first <= 0 || last <= first + 1 || last === field.length - 1) return null;
  const generation = field.slice(0, first);
  const variant = field.slice(first + 1, last);
  const counter = field.slice(last + 1);
  if (variant.includes(':')) return null;
  const scalar = COUNTER_FIELDS.indexOf(counter);
  if (scalar >= 0) return { generation, variant, slot: scalar };
  if (counter.startsWith(LATENCY_FIELD_PREFIX)) {
    const digits = counter.slice(LATENCY_FIELD_PREFIX.length);
    if (!/^\d{1,3}$/.test(digits)) return null;
    const bucket = Number(digits);
    if (bucket < HISTOGRAM_BUCKETS) return { generation, variant, slot: 100 + bucket };
  }
  return null;
}

/** Adds `delta` to the counter a parsed field names. Negative or non-integer deltas are refused. */
export function addToCounts(counts: VariantCounts, slot: number, delta: number): boolean {
  if (!(Number.isSafeInteger(delta) && delta >= 0)) return false;
  switch (slot) {
    case COUNTER_REQUESTS:
      counts.requests += delta;
      return true;
    case COUNTER_5XX:
      counts.status5xx += delta;
      return true;
    case COUNTER_4XX:
      counts.status4xx += delta;
      return true;
    case COUNTER_NO_RESPONSE:
      counts.noResponse += delta;
      return true;
    case COUNTER_INVALID_STATUS:
      counts.invalidStatus += delta;
      return true;
    default:
      if (slot >= 100 && slot < 100 + HISTOGRAM_BUCKETS) {
        counts.latency[slot - 100]! += delta;
        return true;
      }
      return false;
  }
}
