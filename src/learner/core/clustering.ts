// Online clustering of anomalous events into readable groups.
//
// Leader / k-prototypes style clustering with a DenStream-like outlier buffer: an event joins
// the nearest cluster when its distance is within `radius`, else it founds a new *outlier*
// cluster of weight 1. Cluster weights decay with a half-life in events; an outlier cluster
// whose weight reaches `promoteWeight` becomes a *potential* cluster. The two kinds have their
// own capacities and each evicts its slowest member when full (by rateScore: the weight it would
// settle at, so a young fast-growing pattern is not evicted for being young), so a stream of one-off anomalies
// churns through the outlier buffer without pushing out established clusters, and established
// clusters (even stationary noise the detector keeps flagging) cannot starve a new pattern's
// first events of room: they wait in the outlier buffer for their next event.
//
// The distance suits categorical data (LEARNING.md: micro-clusters on raw dimensions split
// profiles per country; readable, few clusters are what a range needs): for each dimension
// 1 − (share of the event's value among the cluster's events), weighted, averaged:
//   endpoint 2, user-agent family 2, country 1.5, method 1, size bin 1 (same bin, or half for a
//   neighbouring bin). The hour is left out: a pattern runs at any hour and its window is only
//   published once a full day has been seen.
//
// Each cluster keeps bounded sketches for the proposal: top values per categorical dimension
// with exact client counts up to the floor (topValues.ts), a size reservoir (sizeSketch.ts),
// an hour histogram, the sum of member UA embeddings, and its distinct clients (distinct.ts).
import { ClientCounter } from './distinct.js';
import { HourHistogram } from './hourWindow.js';
import type { LearnerRandom } from './random.js';
import type { RangePredicate } from './range.js';
import { SizeSketch } from './sizeSketch.js';
import { TopValues } from './topValues.js';
import type { UaFamily } from './uaFamily.js';

export interface ClusterMember {
  readonly method: string;
  readonly endpoint: string | null;
  readonly country: string | null;
  readonly uaHash: string | null;
  readonly family: UaFamily;
  readonly payloadSize: number | null;
  readonly sizeBin: number | null;
  readonly hour: number;
  /** 32-bit hash of the client key. */
  readonly client: number;
  readonly vector: Float32Array | null;
  readonly timeMs: number;
  readonly seq: number;
  /** Calibrated anomaly score of the event. */
  readonly score: number;
}

export interface ClusteringOptions {
  /** Potential clusters kept. */
  readonly maxClusters: number;
  /** Outlier clusters kept (new clusters, weight below promoteWeight). */
  readonly maxOutliers: number;
  /** Decayed weight at which an outlier cluster becomes a potential cluster. */
  readonly promoteWeight: number;
  /** Largest distance (0..1) at which an event joins a cluster. */
  readonly radius: number;
  /** Half-life of a cluster's weight, in observed events. */
  readonly halfLifeEvents: number;
  /** The privacy floor k: client counts are exact up to it. */
  readonly clientFloor: number;
  /** Clusters idle for longer than this (events) are dropped first. */
  readonly maxIdleEvents: number;
  readonly rng: LearnerRandom;
}

const W_ENDPOINT = 2;
const W_FAMILY = 2;
const W_COUNTRY = 1.5;
const W_METHOD = 1;
const W_SIZE = 1;
const W_TOTAL = W_ENDPOINT + W_FAMILY + W_COUNTRY + W_METHOD + W_SIZE;
const UA_DIMS = 64;

export class Cluster {
  readonly methods: TopValues;
  readonly endpoints: TopValues;
  readonly countries: TopValues;
  readonly uaHashes: TopValues;
  readonly families: TopValues;
  readonly sizes: SizeSketch;
  readonly hours = new HourHistogram();
  readonly clients: ClientCounter;
  readonly uaSum = new Float64Array(UA_DIMS);
  uaCount = 0;
  /** Events in the cluster: anomalous ones assigned to it plus absorbed in-range ones. */
  events = 0;
  anomalous = 0;
  scoreSum = 0;
  firstSeen = 0;
  lastSeen = 0;
  firstSeq = 0;
  lastSeq = 0;
  /** Decayed weight at weightSeq. */
  weight = 0;
  /** True once promoted from the outlier buffer. */
  potential = false;
  weightSeq = 0;
  /** Candidate range, once the cluster is big enough: in-range events are absorbed. */
  candidate: RangePredicate | null = null;
  candidateEvents = 0;
  /** Proposal bookkeeping (learner.ts). */
  proposalId: string | null = null;
  lastCheckEvents = 0;
  lastCheckSeq = 0;
  /** Checks at the floor that did not propose, in a row. */
  failedChecks = 0;
  lastEmitSeq = 0;
  lastEmitEvents = 0;

  constructor(
    readonly id: number,
    o: ClusteringOptions,
  ) {
    const k = o.clientFloor;
    this.methods = new TopValues(6, k);
    this.endpoints = new TopValues(16, k);
    this.countries = new TopValues(16, k);
    this.uaHashes = new TopValues(24, k);
    this.families = new TopValues(8, k);
    this.sizes = new SizeSketch(128, o.rng);
    this.clients = new ClientCounter(k, 10);
  }

  /** Decayed weight at `seq`. */
  weightAt(seq: number, halfLife: number): number {
    return this.weight * Math.pow(2, -(seq - this.weightSeq) / halfLife);
  }

  /**
   * The weight this cluster would settle at if it kept its rate: decayed weight divided by
   * (1 − 2^(−age / halfLife)). Equal to the weight for old clusters, and for a young cluster
   * proportional to its event rate, so that a pattern a few hundred events old competes with
   * long-established clusters on its rate, not on the weight it has not had time to gather.
   */
  rateScore(seq: number, halfLife: number): number {
    const age = Math.max(1, seq - this.firstSeq + 1);
    return this.weightAt(seq, halfLife) / (1 - Math.pow(2, -age / halfLife));
  }

  /** Distance of an event to this cluster, 0 (typical) to 1 (nothing in common). */
  distance(m: ClusterMember): number {
    const sim =
      W_ENDPOINT * this.endpoints.share(m.endpoint ?? '') +
      W_FAMILY * this.families.share(m.family.id) +
      W_COUNTRY * this.countries.share(m.country ?? '') +
      W_METHOD * this.methods.share(m.method) +
      W_SIZE * this.sizes.affinity(m.sizeBin);
    return 1 - sim / W_TOTAL;
  }

  add(m: ClusterMember, anomalous: boolean, halfLife: number): void {
    if (this.events === 0) {
      this.firstSeen = m.timeMs;
      this.firstSeq = m.seq;
      this.weightSeq = m.seq;
    }
    this.events++;
    if (anomalous) {
      this.anomalous++;
      this.scoreSum += m.score;
    }
    if (m.timeMs > this.lastSeen) this.lastSeen = m.timeMs;
    if (m.timeMs < this.firstSeen) this.firstSeen = m.timeMs;
    this.lastSeq = m.seq;
    this.weight = this.weightAt(m.seq, halfLife) + 1;
    this.weightSeq = m.seq;
    const c = m.client;
    this.methods.add(m.method, c);
    this.endpoints.add(m.endpoint ?? '', c);
    this.countries.add(m.country ?? '', c);
    this.uaHashes.add(m.uaHash ?? '', c);
    this.families.add(m.family.id, c);
    this.sizes.add(m.payloadSize, m.sizeBin);
    this.hours.add(m.hour);
    this.clients.add(c);
    const v = m.vector;
    if (v !== null && v.length >= UA_DIMS) {
      for (let d = 0; d < UA_DIMS; d++) this.uaSum[d]! += v[d]!;
      this.uaCount++;
    }
  }

  /** Mean calibrated score of the anomalous members. */
  get meanScore(): number {
    return this.anomalous === 0 ? 0 : this.scoreSum / this.anomalous;
  }

  /** Normalised mean user-agent embedding, or null without user agents. */
  uaCentroid(): Float32Array | null {
    if (this.uaCount === 0) return null;
    let norm = 0;
    for (let d = 0; d < UA_DIMS; d++) norm += this.uaSum[d]! * this.uaSum[d]!;
    if (norm === 0) return null;
    const inv = 1 / Math.sqrt(norm);
    const out = new Float32Array(UA_DIMS);
    for (let d = 0; d < UA_DIMS; d++) out[d] = this.uaSum[d]! * inv;
    return out;
  }

  get memoryBytes(): number {
    return (
      this.methods.memoryBytes +
      this.endpoints.memoryBytes +
      this.countries.memoryBytes +
      this.uaHashes.memoryBytes +
      this.families.memoryBytes +
      this.sizes.memoryBytes +
      this.clients.memoryBytes +
      this.uaSum.byteLength +
      24 * 8 +
      256
    );
  }
}

export class Clustering {
  private readonly list: Cluster[] = [];
  private created = 0;
  private evicted = 0;
  private potentials = 0;

  constructor(private readonly o: ClusteringOptions) {}

  get clusters(): readonly Cluster[] {
    return this.list;
  }

  /** Clusters created and dropped since the start. */
  get stats(): { readonly created: number; readonly evicted: number } {
    return { created: this.created, evicted: this.evicted };
  }

  /** Put an anomalous event into its nearest cluster (or a new one); returns that cluster. */
  assign(m: ClusterMember): Cluster {
    let best: Cluster | null = null;
    let bestDistance = Infinity;
    for (const c of this.list) {
      const d = c.distance(m);
      if (d < bestDistance || (d === bestDistance && best !== null && c.events > best.events)) {
        bestDistance = d;
        best = c;
      }
    }
    if (best === null || bestDistance > this.o.radius) {
      best = new Cluster(this.created + 1, this.o);
      this.makeRoom(false, m.seq);
      this.list.push(best);
      this.created++;
    }
    best.add(m, true, this.o.halfLifeEvents);
    this.maybePromote(best, m.seq);
    return best;
  }

  /** Count a non-anomalous event that lies in a cluster's candidate range. */
  absorb(c: Cluster, m: ClusterMember): void {
    c.add(m, false, this.o.halfLifeEvents);
    this.maybePromote(c, m.seq);
  }

  remove(c: Cluster): void {
    const i = this.list.indexOf(c);
    if (i >= 0) {
      this.list.splice(i, 1);
      if (c.potential) this.potentials--;
      this.evicted++;
    }
  }

  private maybePromote(c: Cluster, seq: number): void {
    if (c.potential || c.weight < this.o.promoteWeight) return;
    this.makeRoom(true, seq);
    c.potential = true;
    this.potentials++;
  }

  /** Evict the slowest (or an idle) cluster of one kind when that kind is at capacity. */
  private makeRoom(potential: boolean, seq: number): void {
    const count = potential ? this.potentials : this.list.length - this.potentials;
    const capacity = potential ? this.o.maxClusters : this.o.maxOutliers;
    if (count < capacity) return;
    let victim: Cluster | null = null;
    let victimWeight = Infinity;
    for (const x of this.list) {
      if (x.potential !== potential) continue;
      const w = seq - x.lastSeq > this.o.maxIdleEvents ? -1 : x.rateScore(seq, this.o.halfLifeEvents);
      if (w < victimWeight) {
        victimWeight = w;
        victim = x;
      }
    }
    if (victim !== null) this.remove(victim);
  }

  get memoryBytes(): number {
    let bytes = 0;
    for (const c of this.list) bytes += c.memoryBytes;
    return bytes;
  }
}
