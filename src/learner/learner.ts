// The Request Profile Learner's orchestrator: one sampled profile in, at most a few proposal
// documents out. Pure apart from the clock value passed in: no I/O, no timers; the runner
// (runner.ts) feeds it off the hot path and writes what it returns.
//
// Per event:
//   1. user-agent family from the embedding (core/uaFamily.ts),
//   2. anomaly score from the detector (core/detector/), calibrated to "rarer than x of traffic",
//   3. the event's compact keys go into the traffic history (core/history.ts),
//   4. an anomalous event joins its nearest cluster (core/clustering.ts); a non-anomalous one
//      that lies in a cluster's candidate range is absorbed by that cluster (a gated detector
//      keeps most of a new pattern surprising, but not always all of it; absorbing keeps the
//      cluster's support and client counts whole),
//   5. a cluster at the privacy floor is turned into a range (core/proposal.ts) and checked
//      against the history: the range's traffic must have *started* recently (a significant rate
//      increase after an onset, core/history.ts#noveltySplit) and must hold little of the
//      traffic before it. Only then is a proposal emitted; it is re-emitted now and then with
//      fresh evidence, under the same id.
// Memory is bounded by construction: fixed history ring, capped clusters with bounded sketches,
// capped user-agent families and caches, capped proposal bookkeeping.
import type { RequestProfile } from '../features/profile.js';
import { sizeBin as sizeBinOf } from '../features/size.js';
import { embedUserAgent } from '../features/userAgent.js';
import { parseFlagValue, type FlagDefinition } from '../flags/schema.js';
import { Clustering, type Cluster, type ClusterMember } from './core/clustering.js';
import { createProfileDetector, type ProfileDetector, type ProfileScore } from './core/detector/profileDetector.js';
import { hexPrefix32 } from './core/hashing.js';
import { noveltySplit, TrafficHistory } from './core/history.js';
import { explainLearnerState, type LearnerState, type RecordedReason } from './core/explain.js';
import type { NotProposed } from './core/notProposed.js';
import { checkNovelty, generalizeRange, type NoveltyCriteria } from './core/novelty.js';
import {
  DEFAULT_PROPOSAL_POLICY,
  proposalIdOf,
  rangeOfCluster,
  type DimensionCoverage,
  type ProposalPolicy,
} from './core/proposal.js';
import { proposalDocument } from './core/proposalDocument.js';
import { LearnerRandom } from './core/random.js';
import { fillEventKeys, newEventKeys, RangePredicate, type LearnedRange } from './core/range.js';
import { UaFamilies, type UaFamiliesOptions } from './core/uaFamily.js';

/** The profile fields the learner reads (a RequestProfile, or a decoded fleet sample). */
export type LearnerInput = Pick<
  RequestProfile,
  'method' | 'endpoint' | 'payloadSize' | 'sizeBin' | 'hour' | 'country' | 'uaHash' | 'uaVector' | 'clientKey'
>;

export interface LearnerOptions {
  /** The anomaly detector (default: createProfileDetector({ seed }), core/detector/). */
  readonly detector?: ProfileDetector;
  /** Privacy floor k: distinct clients (and events) per proposal and per published value. Default 50. */
  readonly minClients?: number;
  /** Calibrated score at or above which an event is anomalous (clustered). Default 0.9. */
  readonly anomalyThreshold?: number;
  /** Share of a pattern its range should hold. Default 0.97. */
  readonly targetCoverage?: number;
  /** Potential clusters kept. Default 48. */
  readonly maxClusters?: number;
  /** New (outlier) clusters kept. Default 128. */
  readonly maxOutliers?: number;
  readonly clusterRadius?: number;
  /** Half-life of cluster weights, in events. Default 20,000. */
  readonly halfLifeEvents?: number;
  /** Events kept in the traffic history. Default 65,536 (~1.5 MB). */
  readonly historyEvents?: number;
  /** Baseline events needed before a pattern's onset. Default 5,000. */
  readonly minBaselineEvents?: number;
  /** Events before anomalies are clustered at all (detector warm-up). Default 2,000. */
  readonly warmupEvents?: number;
  /** Rate after onset / rate before, at least. Default 4. */
  readonly minLift?: number;
  /** Poisson z-score of the increase, at least. Default 5. */
  readonly minZ?: number;
  /** Share of the traffic before onset the range may hold (precision). Default 0.01. */
  readonly maxBackgroundShare?: number;
  /** Members before a cluster gets a candidate range and absorbs in-range traffic. Default 8. */
  readonly candidateAfter?: number;
  /** Events between re-checks of a cluster at the floor that is not proposed yet. Default 1,000. */
  readonly recheckEvents?: number;
  /** Events between updates of an emitted proposal. Default 5,000. */
  readonly updateEvents?: number;
  /** Proposal ids remembered (for dedupe and updates). Default 100. */
  readonly maxProposals?: number;
  readonly seed?: number;
  readonly families?: Omit<UaFamiliesOptions, 'embed'>;
  readonly policy?: Partial<Omit<ProposalPolicy, 'minClients' | 'targetCoverage'>>;
}

export interface ProposalEmission {
  /** Deterministic id (CONTRACT §2: `<prefix>proposal:<id>`). */
  readonly id: string;
  /** The flag-shaped proposal, validated with the flag schema (`enabled: false`). */
  readonly document: FlagDefinition;
  /** True the first time this learner emits the id. */
  readonly created: boolean;
  readonly range: LearnedRange;
}

export interface LearnerStats {
  readonly observed: number;
  readonly anomalies: number;
  readonly absorbed: number;
  readonly clusters: number;
  readonly clustersCreated: number;
  readonly proposalsEmitted: number;
  readonly proposalsInvalid: number;
  readonly families: number;
  readonly memoryBytes: number;
}

const NONE: readonly ProposalEmission[] = Object.freeze([]);

interface TrackedProposal {
  readonly createdMs: number;
  clusterId: number;
}

export class Learner {
  readonly minClients: number;
  private readonly detector: ProfileDetector;
  private readonly families: UaFamilies;
  private readonly clustering: Clustering;
  private readonly history: TrafficHistory;
  private readonly policy: ProposalPolicy;
  private readonly criteria: NoveltyCriteria;
  private readonly keys = newEventKeys();
  private readonly o: Required<Omit<LearnerOptions, 'detector' | 'families' | 'policy' | 'seed'>>;
  private readonly proposals = new Map<string, TrackedProposal>();
  private readonly retired = new Set<string>();
  private observedCount = 0;
  private anomalyCount = 0;
  private absorbedCount = 0;
  private emitted = 0;
  private invalid = 0;
  /** Why the last check of each cluster did not propose (GET /learner, tests). */
  readonly lastReasons = new Map<number, RecordedReason>();

  constructor(options: LearnerOptions) {
    const k = options.minClients ?? 50;
    if (!Number.isInteger(k) || k < 2) throw new RangeError(`minClients must be an integer ≥ 2, got ${k}`);
    this.minClients = k;
    this.o = {
      minClients: k,
      anomalyThreshold: options.anomalyThreshold ?? 0.9,
      targetCoverage: options.targetCoverage ?? 0.97,
      maxClusters: options.maxClusters ?? 48,
      maxOutliers: options.maxOutliers ?? 128,
      clusterRadius: options.clusterRadius ?? 0.4,
      halfLifeEvents: options.halfLifeEvents ?? 20_000,
      historyEvents: options.historyEvents ?? 65_536,
      minBaselineEvents: options.minBaselineEvents ?? 5_000,
      warmupEvents: options.warmupEvents ?? 2_000,
      minLift: options.minLift ?? 4,
      minZ: options.minZ ?? 5,
      maxBackgroundShare: options.maxBackgroundShare ?? 0.01,
      candidateAfter: options.candidateAfter ?? 8,
      recheckEvents: options.recheckEvents ?? 1_000,
      updateEvents: options.updateEvents ?? 5_000,
      maxProposals: options.maxProposals ?? 100,
    };
    this.detector = options.detector ?? createProfileDetector({ seed: options.seed ?? 1 });
    const rng = new LearnerRandom(options.seed ?? 1);
    const familyRadius = options.families?.radius ?? 0.2;
    this.families = new UaFamilies({ ...options.families, radius: familyRadius, embed: embedUserAgent });
    this.clustering = new Clustering({
      maxClusters: this.o.maxClusters,
      maxOutliers: this.o.maxOutliers,
      promoteWeight: 3,
      radius: this.o.clusterRadius,
      halfLifeEvents: this.o.halfLifeEvents,
      clientFloor: k,
      maxIdleEvents: 10 * this.o.halfLifeEvents,
      rng,
    });
    this.history = new TrafficHistory(this.o.historyEvents);
    this.criteria = {
      minBefore: this.o.minBaselineEvents,
      minHitsAfter: Math.ceil(k / 2),
      minLift: this.o.minLift,
      minZ: this.o.minZ,
      maxBackgroundShare: this.o.maxBackgroundShare,
    };
    this.policy = {
      ...DEFAULT_PROPOSAL_POLICY,
      ...options.policy,
      familyRadius,
      minClients: k,
      targetCoverage: this.o.targetCoverage,
    };
  }

  /** Learn from one profile seen at nowMs; returns the proposals to write (usually none). */
  observe(p: LearnerInput, nowMs: number): readonly ProposalEmission[] {
    const seq = this.history.total;
    this.observedCount++;
    const family = this.families.assign(p.uaHash, p.uaVector);
    const sizeBin = p.sizeBin !== undefined ? p.sizeBin : sizeBinOf(p.payloadSize);
    const score: ProfileScore = this.detector.observe(
      { method: p.method, endpoint: p.endpoint, country: p.country, uaFamily: family.id, sizeBin, hour: p.hour },
      nowMs,
    );
    const keys = fillEventKeys(this.keys, p, family.index);
    this.history.push(keys, nowMs);
    if (seq < this.o.warmupEvents) return NONE;

    const anomalous = score.calibrated >= this.o.anomalyThreshold;
    let cluster: Cluster | null = null;
    let member: ClusterMember | null = null;
    const makeMember = (): ClusterMember => ({
      method: p.method,
      endpoint: p.endpoint,
      country: p.country,
      uaHash: p.uaHash,
      family,
      payloadSize: p.payloadSize,
      sizeBin,
      hour: p.hour,
      client: hexPrefix32(p.clientKey),
      vector: p.uaVector,
      timeMs: nowMs,
      seq,
      score: score.calibrated,
    });
    if (anomalous) {
      this.anomalyCount++;
      member = makeMember();
      cluster = this.clustering.assign(member);
    } else {
      for (const c of this.clustering.clusters) {
        if (c.candidate !== null && c.candidate.test(keys, p.uaVector)) {
          member = makeMember();
          this.clustering.absorb(c, member);
          this.absorbedCount++;
          cluster = c;
          break;
        }
      }
    }
    if (cluster === null) return NONE;
    this.maybeCandidate(cluster);
    return this.maybePropose(cluster, seq, nowMs);
  }

  /** Stop updating a proposal that was approved or rejected (its key is gone). */
  retire(id: string): void {
    this.retired.add(id);
    this.proposals.delete(id);
    if (this.retired.size > 10 * this.o.maxProposals) {
      const oldest = this.retired.values().next().value;
      if (oldest !== undefined) this.retired.delete(oldest);
    }
  }

  get stats(): LearnerStats {
    return {
      observed: this.observedCount,
      anomalies: this.anomalyCount,
      absorbed: this.absorbedCount,
      clusters: this.clustering.clusters.length,
      clustersCreated: this.clustering.stats.created,
      proposalsEmitted: this.emitted,
      proposalsInvalid: this.invalid,
      families: this.families.size,
      memoryBytes: this.memoryBytes,
    };
  }

  /** Estimated bytes held by the learner and its detector. */
  get memoryBytes(): number {
    return (
      this.detector.memoryBytes +
      this.families.memoryBytes +
      this.clustering.memoryBytes +
      this.history.memoryBytes +
      (this.proposals.size + this.retired.size) * 96 +
      this.lastReasons.size * 96
    );
  }

  /**
   * A read-only snapshot of the learner's state for GET /learner, built now from what the
   * learner keeps anyway (nothing is recorded per sample for it). Nothing under the privacy floor.
   */
  explain(maxClusters?: number): LearnerState {
    const length = this.history.length;
    return explainLearnerState({
      clusters: this.clustering.clusters,
      families: this.families,
      reasons: this.lastReasons,
      isRetired: (id) => this.retired.has(id),
      proposals: this.proposals,
      nowMs: length > 0 ? this.history.timeAt(length - 1) : Number.NaN,
      seq: this.history.total,
      historyEvents: length,
      stats: {
        anomalies: this.anomalyCount,
        absorbed: this.absorbedCount,
        emitted: this.emitted,
        invalid: this.invalid,
        created: this.clustering.stats.created,
        memoryBytes: this.memoryBytes,
      },
      detector: { observed: this.detector.observed, warmUpEvents: this.detector.warmUpEvents ?? null },
      o: { ...this.o, coverageTarget: this.o.targetCoverage },
      ...(maxClusters !== undefined ? { maxClusters } : {}),
    });
  }

  /** Clusters (read-only view for tests and diagnostics). */
  get clusters(): readonly Cluster[] {
    return this.clustering.clusters;
  }

  // --------------------------------------------------------------------------------------------

  /**
   * Give a growing cluster a draft range so it can absorb in-range traffic, but only a range
   * that held little traffic before the cluster appeared (else it would swallow normal traffic).
   */
  private maybeCandidate(c: Cluster): void {
    if (c.events < this.o.candidateAfter) return;
    if (c.candidateEvents > 0 && c.events < 2 * c.candidateEvents) return;
    c.candidateEvents = c.events;
    const before = c.firstSeq - this.history.firstSeq;
    if (before < this.o.minBaselineEvents) return;
    const draft = rangeOfCluster(c, this.families, this.policy, true);
    if (!draft.ok) {
      c.candidate = null;
      return;
    }
    // Absorb only for a draft range whose traffic rose recently and was rare before: a cluster
    // of stationary noise must not swallow the normal traffic that resembles it.
    const predicate = this.predicateOf(draft.range);
    const scan = this.history.scan(predicate);
    const split = noveltySplit(scan.positions, scan.count, scan.length, {
      minBefore: this.o.minBaselineEvents,
      minHitsAfter: Math.ceil(this.o.candidateAfter / 2),
      minLift: this.o.minLift,
    });
    c.candidate = split !== null && split.restShare <= this.o.maxBackgroundShare ? predicate : null;
  }

  private predicateOf(range: LearnedRange): RangePredicate {
    const ref = range.userAgent?.reference;
    return new RangePredicate(range, ref ? embedUserAgent(ref.userAgent) : null);
  }

  private maybePropose(c: Cluster, seq: number, nowMs: number): readonly ProposalEmission[] {
    if (c.events < this.minClients || !c.clients.reachedFloor) return NONE;
    if (c.proposalId !== null) {
      if (this.retired.has(c.proposalId)) return NONE;
      if (seq - c.lastEmitSeq < this.o.updateEvents) return NONE;
    } else if (c.failedChecks > 0) {
      // Back off: the first re-checks follow growth (a pattern filling in its values), later
      // ones wait exponentially longer (stationary clusters the detector keeps flagging).
      const grown =
        c.failedChecks <= 3 && c.events - c.lastCheckEvents >= Math.max(5, Math.ceil(c.lastCheckEvents * 0.1));
      const interval = this.o.recheckEvents * 2 ** Math.min(6, Math.max(0, c.failedChecks - 3));
      if (!grown && seq - c.lastCheckSeq < interval) return NONE;
    }
    c.lastCheckEvents = c.events;
    c.lastCheckSeq = seq;
    const result = this.check(c, seq, nowMs);
    if ('code' in result) {
      this.lastReasons.set(c.id, { code: result.code, message: result.message, seq });
      if (this.lastReasons.size > 4 * this.o.maxClusters) {
        const first = this.lastReasons.keys().next().value;
        if (first !== undefined) this.lastReasons.delete(first);
      }
      if (c.proposalId !== null)
        c.lastEmitSeq = seq; // keep the last good version; try later
      else c.failedChecks++;
      return NONE;
    }
    return [result];
  }

  private check(c: Cluster, seq: number, nowMs: number): ProposalEmission | NotProposed {
    const r = rangeOfCluster(c, this.families, this.policy);
    if (!r.ok) return { code: r.code, message: r.reason };
    const novelty = checkNovelty(this.history, this.predicateOf(r.range), this.criteria);
    if (!novelty.ok) return { code: novelty.code, message: novelty.reason };
    const general = generalizeRange(this.history, r.range, novelty, (range) => this.predicateOf(range), this.criteria);
    const range = general.range;
    const coverage = general.dropped.reduce((cov, dim) => cov / (r.dimensions[dim] ?? 1), r.coverage);
    const dimensions: DimensionCoverage = { ...r.dimensions };
    for (const dim of general.dropped) delete dimensions[dim];
    const id = c.proposalId ?? proposalIdOf(range);
    if (this.retired.has(id))
      return { code: 'retired', message: `the same pattern's proposal ${id} was approved or rejected` };
    const tracked = this.proposals.get(id);
    const created = tracked === undefined;
    const topFamily = c.families.entries()[0];
    const document = proposalDocument({
      id,
      cluster: c,
      family: topFamily ? this.families.byId(topFamily.value) : undefined,
      familyShare: topFamily && c.families.total > 0 ? topFamily.count / c.families.total : 0,
      range,
      coverage: Math.min(1, coverage),
      dimensions,
      split: general.split,
      onsetMs: this.history.timeAt(novelty.split.onset),
      minClients: this.minClients,
      observedEvents: seq + 1,
      nowMs,
      createdMs: tracked?.createdMs ?? nowMs,
    });
    const parsed = parseFlagValue(document);
    if (!parsed.ok) {
      this.invalid++;
      return {
        code: 'invalid',
        message: `invalid proposal: ${parsed.issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`,
      };
    }
    if (created) {
      this.proposals.set(id, { createdMs: nowMs, clusterId: c.id });
      if (this.proposals.size > this.o.maxProposals) {
        const oldest = this.proposals.keys().next().value;
        if (oldest !== undefined) this.proposals.delete(oldest);
      }
    } else tracked.clusterId = c.id;
    c.proposalId = id;
    c.lastEmitSeq = seq;
    c.lastEmitEvents = c.events;
    c.failedChecks = 0;
    this.emitted++;
    this.lastReasons.delete(c.id);
    return { id, document: parsed.flag, created, range };
  }
}
