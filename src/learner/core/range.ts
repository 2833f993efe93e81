// A learned range: the flag-shaped description of a cluster (method, endpoint and country sets,
// user-agent hashes and/or a reference family, a size interval, an hour window), and its
// compiled predicate. The predicate mirrors how the matcher scores the proposal once approved
// (CONTRACT §3 with the proposal's weights and threshold): every categorical or numeric
// dimension must match, and the user agent must be one of the hashes or within half of
// `maxDistance` of the reference (a user-agent score ≥ 0.5).
//
// Events are compared through EventKeys: 32-bit hashes of the strings, computed once per event,
// the same form the traffic history stores, so a range can be evaluated against the history
// without keeping any string.
import { hashString32, hexPrefix32, packCountry } from './hashing.js';
import { hourInWindow } from './hourWindow.js';
import type { ReferenceUserAgent } from './uaReferences.js';

export interface EventKeys {
  /** hashString32 of the method (never 0). */
  methodH: number;
  /** hashString32 of the endpoint, 0 when there is none. */
  endpointH: number;
  /** packCountry of the country, 0 when unknown. */
  country: number;
  /** First 32 bits of the keyed user-agent hash, 0 when there is none. */
  uaH: number;
  /** Index of the user-agent family (0 = none). */
  family: number;
  /** Payload size in bytes, NaN when unknown. */
  size: number;
  hour: number;
}

export function methodKey(method: string): number {
  return hashString32(method, 0x6d) || 1;
}

export function endpointKey(endpoint: string | null): number {
  return endpoint === null ? 0 : hashString32(endpoint, 0x65) || 1;
}

export function uaKey(uaHash: string | null): number {
  return uaHash === null ? 0 : hexPrefix32(uaHash) || 1;
}

export function newEventKeys(): EventKeys {
  return { methodH: 0, endpointH: 0, country: 0, uaH: 0, family: 0, size: Number.NaN, hour: 0 };
}

export interface KeyedFields {
  readonly method: string;
  readonly endpoint: string | null;
  readonly country: string | null;
  readonly uaHash: string | null;
  readonly payloadSize: number | null;
  readonly hour: number;
}

/** Fill `out` with the keys of an event (no allocation). */
export function fillEventKeys(out: EventKeys, e: KeyedFields, family: number): EventKeys {
  out.methodH = methodKey(e.method);
  out.endpointH = endpointKey(e.endpoint);
  out.country = packCountry(e.country);
  out.uaH = uaKey(e.uaHash);
  out.family = family;
  out.size = e.payloadSize === null || !Number.isFinite(e.payloadSize) ? Number.NaN : e.payloadSize;
  out.hour = e.hour;
  return out;
}

export interface RangeUserAgent {
  /** Keyed hashes of member user agents with enough clients. */
  readonly hashes: readonly string[];
  /** A reference family the members belong to, or null. */
  readonly reference: ReferenceUserAgent | null;
  /** Family index of the reference (for history rows, which keep no vectors). */
  readonly referenceFamily: number;
  /** The proposal's `maxDistance` (a member scores ≥ 0.5 within half of it). */
  readonly maxDistance: number;
}

export interface LearnedRange {
  readonly methods: readonly string[] | null;
  readonly endpoints: readonly string[] | null;
  readonly countries: readonly string[] | null;
  readonly userAgent: RangeUserAgent | null;
  readonly size: { readonly min: number; readonly max: number } | null;
  readonly hours: { readonly start: number; readonly end: number } | null;
}

/** Dimensions a range defines. */
export function rangeDimensions(r: LearnedRange): number {
  return (
    (r.methods ? 1 : 0) +
    (r.endpoints ? 1 : 0) +
    (r.countries ? 1 : 0) +
    (r.userAgent ? 1 : 0) +
    (r.size ? 1 : 0) +
    (r.hours ? 1 : 0)
  );
}

export class RangePredicate {
  private readonly methods: Set<number> | null;
  private readonly endpoints: Set<number> | null;
  private readonly countries: Set<number> | null;
  private readonly uaHashes: Set<number> | null;
  private readonly referenceVector: Float32Array | null;
  private readonly referenceFamily: number;
  private readonly uaReach: number;
  private readonly sizeMin: number;
  private readonly sizeMax: number;
  private readonly hasSize: boolean;
  private readonly hours: Uint8Array | null;
  private readonly hasUa: boolean;

  constructor(
    readonly range: LearnedRange,
    referenceVector: Float32Array | null,
  ) {
    this.methods = range.methods ? new Set(range.methods.map(methodKey)) : null;
    this.endpoints = range.endpoints ? new Set(range.endpoints.map(endpointKey)) : null;
    this.countries = range.countries ? new Set(range.countries.map(packCountry)) : null;
    const ua = range.userAgent;
    this.hasUa = ua !== null;
    this.uaHashes = ua && ua.hashes.length > 0 ? new Set(ua.hashes.map(uaKey)) : null;
    this.referenceVector = ua?.reference ? referenceVector : null;
    this.referenceFamily = ua?.reference ? ua.referenceFamily : -1;
    this.uaReach = ua ? ua.maxDistance / 2 : 0;
    this.hasSize = range.size !== null;
    this.sizeMin = range.size?.min ?? 0;
    this.sizeMax = range.size?.max ?? 0;
    if (range.hours) {
      this.hours = new Uint8Array(24);
      for (let h = 0; h < 24; h++) this.hours[h] = hourInWindow(h, range.hours.start, range.hours.end) ? 1 : 0;
    } else this.hours = null;
  }

  /**
   * Whether an event lies in the range. With its embedding the user agent is compared by
   * distance to the reference; without (history rows) by family.
   */
  test(k: EventKeys, vector: Float32Array | null): boolean {
    if (!this.testRow(k.methodH, k.endpointH, k.country, k.size, k.hour)) return false;
    return this.testUserAgent(k.uaH, k.family, vector);
  }

  /** The non-user-agent dimensions, on plain values (the history's columns). */
  testRow(methodH: number, endpointH: number, country: number, size: number, hour: number): boolean {
    if (this.endpoints !== null && (endpointH === 0 || !this.endpoints.has(endpointH))) return false;
    if (this.countries !== null && (country === 0 || !this.countries.has(country))) return false;
    if (this.methods !== null && !this.methods.has(methodH)) return false;
    if (this.hasSize && !(size >= this.sizeMin && size <= this.sizeMax)) return false;
    if (this.hours !== null && this.hours[hour] !== 1) return false;
    return true;
  }

  testUserAgent(uaH: number, family: number, vector: Float32Array | null): boolean {
    if (!this.hasUa) return true;
    if (uaH === 0) return false;
    if (this.uaHashes !== null && this.uaHashes.has(uaH)) return true;
    if (this.referenceFamily < 0) return false;
    if (vector !== null && this.referenceVector !== null) {
      let dot = 0;
      const ref = this.referenceVector;
      for (let d = 0; d < ref.length; d++) dot += ref[d]! * vector[d]!;
      return 1 - dot <= this.uaReach;
    }
    return family === this.referenceFamily;
  }
}
