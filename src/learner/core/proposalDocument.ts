// The proposal document: a flag (CONTRACT §3) with `enabled: false`, the range as its profile,
// no actions (the learner does not know the upstream clusters), the explanation as its
// description, and the evidence (CONTRACT §2: support, anomaly score, first/last seen, share of
// traffic, ...). Field meanings are in docs/learning.md, "Proposals".
import type { Cluster } from './clustering.js';
import type { NoveltySplit } from './history.js';
import { explainProposal, flagProfileOf, type DimensionCoverage } from './proposal.js';
import type { LearnedRange } from './range.js';
import type { UaFamily } from './uaFamily.js';

export const LEARNER_EVIDENCE_VERSION = 1;

export interface ProposalFacts {
  readonly id: string;
  readonly cluster: Cluster;
  /** The cluster's dominant user-agent family and its share of the cluster. */
  readonly family: UaFamily | undefined;
  readonly familyShare: number;
  readonly range: LearnedRange;
  readonly coverage: number;
  readonly dimensions: DimensionCoverage;
  readonly split: NoveltySplit;
  /** Time of the onset found in the history (NaN when unknown). */
  readonly onsetMs: number;
  readonly minClients: number;
  /** Events the learner has observed so far. */
  readonly observedEvents: number;
  readonly nowMs: number;
  readonly createdMs: number;
}

const round = (x: number, digits = 4): number => Number(x.toFixed(digits));

export function proposalDocument(f: ProposalFacts): Record<string, unknown> {
  const c = f.cluster;
  const clients = c.clients.count;
  const score = c.meanScore;
  const since = Number.isFinite(f.onsetMs) ? f.onsetMs : c.firstSeen;
  const explain = explainProposal({
    range: f.range,
    shareOfTraffic: f.split.recentShare,
    sinceMs: since,
    clients,
    score,
    familyLabel: f.family?.reference?.label ?? null,
    familyShare: f.familyShare,
  });
  const { profile, threshold } = flagProfileOf(f.range);
  return {
    name: `learned-${f.id}`,
    description: explain,
    enabled: false,
    value: true,
    priority: 0,
    threshold,
    profile,
    actions: {},
    evidence: {
      version: LEARNER_EVIDENCE_VERSION,
      id: f.id,
      explain,
      support: c.events,
      anomalousEvents: c.anomalous,
      clients,
      clientFloor: f.minClients,
      score: round(score, 3),
      onset: new Date(since).toISOString(),
      firstSeen: new Date(c.firstSeen).toISOString(),
      lastSeen: new Date(c.lastSeen).toISOString(),
      createdAt: new Date(f.createdMs).toISOString(),
      updatedAt: new Date(f.nowMs).toISOString(),
      shareOfTraffic: round(f.split.recentShare),
      backgroundShare: round(f.split.restShare, 5),
      lift: round(f.split.lift, 2),
      z: round(f.split.z, 1),
      coverage: round(f.coverage, 3),
      dimensions: f.dimensions,
      uaFamily: f.family
        ? { id: f.family.id, label: f.family.reference?.label ?? null, share: round(f.familyShare, 3) }
        : null,
      observedEvents: f.observedEvents,
    },
  };
}
