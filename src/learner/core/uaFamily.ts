// User-agent families for the detector and the clustering: a categorical id per user agent,
// derived from its embedding only (the raw string is never seen here).
//
// Leader clustering with fixed leaders: the reference user agents (uaReferences.ts) are the
// first leaders, so the common families get stable, readable ids ("chrome-android",
// "go-http-client"). A vector within `radius` (cosine distance) of its nearest leader joins that
// family. Otherwise it is "other" for now and its vector goes on probation: a candidate leader
// that becomes a learned family ("u1", "u2", ...) once `promoteAfter` classifications landed
// within `radius` of it. Probation keeps a flood of one-off user agents (every request a new
// random string) from filling the table with junk families: candidates live in a small ring
// and are overwritten, and "other" answers are not cached. Leaders never move and are never
// evicted, so a family id means the same thing for the whole life of the learner (the detector
// counts by it). Learned families are capped; beyond the cap everything new is "other".
// Assignments are cached by the keyed user-agent hash, in a bounded map.
//
// Because the embedding masks digit runs, every version of one client (Go-http-client/1.1 and
// /2.0, Chrome 120 and 126) has the same vector: families split by product and platform words,
// not by version.
import { UA_EMBED_DIMS } from '../../features/userAgent.js';
import { REFERENCE_USER_AGENTS, type ReferenceUserAgent } from './uaReferences.js';

export interface UaFamily {
  /** Dense index, 0 = no user agent, 1 = other (table full). */
  readonly index: number;
  readonly id: string;
  /** The reference this family is named after, or null for a learned or special family. */
  readonly reference: ReferenceUserAgent | null;
}

export interface UaFamiliesOptions {
  /** Learned families kept besides the references (default 256). */
  readonly maxLearned?: number;
  /** Candidate leaders on probation (default 256). */
  readonly probationSize?: number;
  /** Classifications (distinct or uncached user agents) a candidate needs to become a family (default 3). */
  readonly promoteAfter?: number;
  /** Cosine distance within which a vector joins a leader (default 0.2). */
  readonly radius?: number;
  /** User-agent hashes whose family is cached (default 8,192). */
  readonly cacheSize?: number;
  readonly references?: readonly ReferenceUserAgent[];
  /** Embeds the references' strings (the features' embedder); required when there are references. */
  readonly embed?: (ua: string) => Float32Array;
}

export const NO_UA_FAMILY: UaFamily = Object.freeze({ index: 0, id: 'none', reference: null });
export const OTHER_UA_FAMILY: UaFamily = Object.freeze({ index: 1, id: 'other', reference: null });

const DIMS = UA_EMBED_DIMS;

export class UaFamilies {
  readonly radius: number;
  private readonly families: UaFamily[] = [NO_UA_FAMILY, OTHER_UA_FAMILY];
  /** Leader vectors; leader i belongs to family leaderFamily[i]. */
  private readonly leaders: Float32Array;
  private readonly leaderFamily: Int32Array;
  private leaderCount = 0;
  private learned = 0;
  private readonly maxLearned: number;
  private readonly cache = new Map<string, UaFamily>();
  private readonly cacheSize: number;
  /** Leader index of each family index (-1 for "none" and "other"). */
  private readonly familyLeader: number[] = [-1, -1];
  private readonly probation: Float32Array;
  private readonly probationHits: Uint16Array;
  private probationCount = 0;
  private probationNext = 0;
  private readonly promoteAfter: number;

  constructor(options: UaFamiliesOptions = {}) {
    const references = options.references ?? (options.embed ? REFERENCE_USER_AGENTS : []);
    this.maxLearned = options.maxLearned ?? 256;
    this.radius = options.radius ?? 0.2;
    this.cacheSize = options.cacheSize ?? 8_192;
    const probationSize = options.probationSize ?? 256;
    this.promoteAfter = options.promoteAfter ?? 3;
    this.probation = new Float32Array(probationSize * DIMS);
    this.probationHits = new Uint16Array(probationSize);
    const capacity = references.length + this.maxLearned;
    this.leaders = new Float32Array(capacity * DIMS);
    this.leaderFamily = new Int32Array(capacity);
    for (const reference of references) {
      if (!options.embed) throw new Error('UaFamilies: references need an embed function');
      const family: UaFamily = Object.freeze({ index: this.families.length, id: reference.id, reference });
      this.families.push(family);
      this.familyLeader.push(-1);
      this.addLeader(options.embed(reference.userAgent), family.index);
    }
  }

  private addLeader(vector: Float32Array, familyIndex: number): void {
    this.leaders.set(vector.subarray(0, DIMS), this.leaderCount * DIMS);
    this.leaderFamily[this.leaderCount] = familyIndex;
    this.familyLeader[familyIndex] = this.leaderCount;
    this.leaderCount++;
  }

  /** Nearest leader: its index and cosine distance (index -1 when there are none). */
  private nearestLeader(vector: Float32Array): { leader: number; distance: number } {
    const leaders = this.leaders;
    let best = -1;
    let bestDot = -Infinity;
    for (let l = 0; l < this.leaderCount; l++) {
      const base = l * DIMS;
      let dot = 0;
      for (let d = 0; d < DIMS; d++) dot += leaders[base + d]! * vector[d]!;
      if (dot > bestDot) {
        bestDot = dot;
        best = l;
      }
    }
    return { leader: best, distance: best < 0 ? Infinity : Math.max(0, 1 - bestDot) };
  }

  /** The family of a user agent, from its keyed hash (cache key) and embedding. */
  assign(uaHash: string | null, vector: Float32Array | null): UaFamily {
    if (vector === null || vector.length < DIMS) return NO_UA_FAMILY;
    if (uaHash !== null) {
      const hit = this.cache.get(uaHash);
      if (hit !== undefined) return hit;
    }
    const family = this.classify(vector);
    if (uaHash !== null && family !== OTHER_UA_FAMILY) {
      if (this.cache.size >= this.cacheSize) this.cache.clear();
      this.cache.set(uaHash, family);
    }
    return family;
  }

  private classify(vector: Float32Array): UaFamily {
    const { leader, distance } = this.nearestLeader(vector);
    if (leader >= 0 && distance <= this.radius) return this.families[this.leaderFamily[leader]!]!;
    if (this.learned >= this.maxLearned || this.probationHits.length === 0) return OTHER_UA_FAMILY;
    // Probation: the nearest candidate within the radius gains a hit, else a new candidate.
    let best = -1;
    let bestDot = -Infinity;
    for (let c = 0; c < this.probationCount; c++) {
      const base = c * DIMS;
      let dot = 0;
      for (let d = 0; d < DIMS; d++) dot += this.probation[base + d]! * vector[d]!;
      if (dot > bestDot) {
        bestDot = dot;
        best = c;
      }
    }
    if (best >= 0 && 1 - bestDot <= this.radius) {
      const hits = ++this.probationHits[best]!;
      if (hits < this.promoteAfter) return OTHER_UA_FAMILY;
      const family = this.promote(this.probation.subarray(best * DIMS, best * DIMS + DIMS));
      // The slot is free again: the new leader answers for its neighbourhood.
      this.probationHits[best] = 0;
      this.probation.fill(0, best * DIMS, best * DIMS + DIMS);
      return family;
    }
    if (this.promoteAfter <= 1) return this.promote(vector);
    const slot = this.probationNext;
    this.probationNext = (slot + 1) % this.probationHits.length;
    if (this.probationCount < this.probationHits.length) this.probationCount++;
    this.probation.set(vector.subarray(0, DIMS), slot * DIMS);
    this.probationHits[slot] = 1;
    return OTHER_UA_FAMILY;
  }

  private promote(vector: Float32Array): UaFamily {
    this.learned++;
    const family: UaFamily = Object.freeze({ index: this.families.length, id: `u${this.learned}`, reference: null });
    this.families.push(family);
    this.familyLeader.push(-1);
    this.addLeader(vector, family.index);
    return family;
  }

  /** Cosine distance from a vector to the leader of a family (Infinity for "none" and "other"). */
  distanceToFamily(familyIndex: number, vector: Float32Array): number {
    const leader = this.familyLeader[familyIndex] ?? -1;
    if (leader < 0) return Infinity;
    const base = leader * DIMS;
    let dot = 0;
    for (let d = 0; d < DIMS; d++) dot += this.leaders[base + d]! * vector[d]!;
    return Math.max(0, 1 - dot);
  }

  /** The reference nearest to a vector and its cosine distance (null without references). */
  nearestReference(vector: Float32Array): { reference: ReferenceUserAgent; distance: number } | null {
    let best: ReferenceUserAgent | null = null;
    let bestDistance = Infinity;
    for (let l = 0; l < this.leaderCount; l++) {
      const family = this.families[this.leaderFamily[l]!]!;
      if (family.reference === null) continue;
      const base = l * DIMS;
      let dot = 0;
      for (let d = 0; d < DIMS; d++) dot += this.leaders[base + d]! * vector[d]!;
      const distance = Math.max(0, 1 - dot);
      if (distance < bestDistance) {
        bestDistance = distance;
        best = family.reference;
      }
    }
    return best === null ? null : { reference: best, distance: bestDistance };
  }

  byIndex(index: number): UaFamily | undefined {
    return this.families[index];
  }

  /** A family by its id ("chrome-android", "u3", "other"). */
  byId(id: string): UaFamily | undefined {
    const families = this.families;
    for (let i = 0; i < families.length; i++) if (families[i]!.id === id) return families[i];
    return undefined;
  }

  /** Families known (including "none" and "other"). */
  get size(): number {
    return this.families.length;
  }

  get learnedCount(): number {
    return this.learned;
  }

  get memoryBytes(): number {
    // Leaders and the cache (a 32-character hash key and an entry: ~120 bytes).
    return (
      this.leaders.byteLength +
      this.leaderFamily.byteLength +
      this.probation.byteLength +
      this.probationHits.byteLength +
      this.cache.size * 120 +
      this.families.length * 72
    );
  }
}
