// Candidate pruning, so a request does not score every flag of a large snapshot.
//
// A dimension is *required* by a flag when the flag cannot reach its threshold without it:
// Σ other weights < threshold × Σ weights. Most flags require their endpoint, so a request
// only needs to score the flags whose endpoint patterns match its path, plus the flags that
// do not require one. Which flags match a path is memoised per snapshot (paths are already
// normalized, so their number is small); the memo is bounded and simply cleared when full.
import type { CompiledFlag } from './compiledFlag.js';

export const MAX_MEMOISED_ENDPOINTS = 8192;

/** True when `flag` cannot match a request whose endpoint does not match its patterns. */
export function requiresEndpoint(flag: CompiledFlag): boolean {
  if (!flag.endpoint || flag.totalWeight === 0) return false;
  const without = flag.totalWeight - flag.endpoint.weight;
  // A small epsilon keeps floating-point rounding from pruning a flag that exactly reaches it.
  return without < flag.threshold * flag.totalWeight - 1e-9;
}

export class EndpointPrefilter {
  /** Flags scored for every request (ascending indexes). */
  private readonly always: Int32Array;
  /** Flags scored only when their endpoint patterns match. */
  private readonly byEndpoint: readonly CompiledFlag[];
  private readonly merged = new Map<string, Int32Array>();

  constructor(flags: readonly CompiledFlag[]) {
    const always: number[] = [];
    const byEndpoint: CompiledFlag[] = [];
    for (const f of flags) {
      if (requiresEndpoint(f)) byEndpoint.push(f);
      else always.push(f.index);
    }
    this.always = Int32Array.from(always);
    this.byEndpoint = byEndpoint;
  }

  /** Indexes (into snapshot.flags, ascending) of the flags worth scoring for this endpoint. */
  candidates(endpoint: string | null): Int32Array {
    if (this.byEndpoint.length === 0) return this.always;
    if (endpoint === null) return this.always;
    const hit = this.merged.get(endpoint);
    if (hit) return hit;
    const matching: number[] = [];
    for (const f of this.byEndpoint) if (f.endpoint!.pattern.test(endpoint)) matching.push(f.index);
    const result = matching.length === 0 ? this.always : mergeSorted(this.always, matching);
    if (this.merged.size >= MAX_MEMOISED_ENDPOINTS) this.merged.clear();
    this.merged.set(endpoint, result);
    return result;
  }

  get stats(): { always: number; byEndpoint: number; memoised: number } {
    return { always: this.always.length, byEndpoint: this.byEndpoint.length, memoised: this.merged.size };
  }
}

function mergeSorted(a: Int32Array, b: readonly number[]): Int32Array {
  if (a.length === 0) return Int32Array.from(b);
  const out = new Int32Array(a.length + b.length);
  let i = 0;
  let j = 0;
  let k = 0;
  while (i < a.length && j < b.length) out[k++] = a[i]! < b[j]! ? a[i++]! : b[j++]!;
  while (i < a.length) out[k++] = a[i++]!;
  while (j < b.length) out[k++] = b[j++]!;
  return out;
}
