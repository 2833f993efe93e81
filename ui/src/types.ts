// The JSON the console API answers (src/admin/api*.ts; docs/console.md). Kept apart from the
// server's own types: the page is built for the browser and imports nothing from src/.

export interface Capabilities {
  store: 'redis' | 'file';
  tokenRequired: boolean;
  changes: boolean;
  experimentResults: boolean;
  learner: boolean;
  preview: boolean;
  trafficSource: TrafficSource;
  /** Serving processes (PROFLAG_WORKERS). */
  workers: number;
  actor: string;
}

export interface LastChange {
  version: number | null;
  who: string;
  action: string;
  time: number;
  detail: string;
}

export interface FlagView {
  name: string;
  enabled: boolean;
  mode: 'enforce' | 'shadow';
  value: boolean | string | number;
  priority: number;
  threshold: number;
  description: string | null;
  profile: string[];
  actions: string[];
  clusters: string[];
  variants: Array<{ name: string; weight: number }> | null;
  experiment: { control: string | null; guardrails: number } | null;
  lastChange: LastChange | null;
}

export interface FlagsResponse {
  version: number | null;
  source: string;
  compiledAt: number;
  complete: boolean;
  flags: FlagView[];
  rejected: Array<{ key: string; reason: string }>;
  sync: { stale: boolean; feedConnected: boolean; ageMs: number | null; lastError: string | null };
}

export interface ReplicaView {
  replica: string;
  version: number | null;
  lastSyncAt: number | null;
  ageMs: number | null;
  stale: boolean;
  feedConnected: boolean;
  dataLossSuspected: boolean;
  lastError: string | null;
  flagCount: number;
  rejected: Array<{ key: string; reason: string }>;
  self?: boolean;
}

export interface ReplicasResponse {
  version: number | null;
  source: 'redis' | 'local';
  replicas: ReplicaView[];
}

export type TrafficSource = 'evaluations' | 'none';

export interface TrafficResponse {
  source: TrafficSource;
  intervalMs: number;
  times: number[];
  series: Record<string, { total: number[]; byResult: Record<string, number[]> }>;
}

export interface ProposalEvidence {
  support: number | null;
  clients: number | null;
  onset: string | null;
  firstSeen: string | null;
  lastSeen: string | null;
  shareOfTraffic: number | null;
  backgroundShare: number | null;
  lift: number | null;
  score: number | null;
  coverage: number | null;
  uaFamily: string | null;
}

export interface ProposalView {
  id: string;
  createdAt: number;
  name: string | null;
  explain: string | null;
  evidence: ProposalEvidence;
  profile: string[];
  preview: { matched: number; of: number } | null;
  problem: string | null;
}

export interface ProposalsResponse {
  available: boolean;
  proposals: ProposalView[];
  samples: { size: number; capacity: number } | null;
}

export interface ExplainFlag {
  name: string;
  priority: number;
  threshold: number;
  score: number;
  dimensions: Partial<Record<Dimension, number>>;
  result: string;
  variant: string | null;
}

export type Dimension = 'method' | 'endpoint' | 'geo' | 'payloadSize' | 'timeOfDay' | 'userAgent';

export interface ExplainResponse {
  profile: {
    method: string;
    endpoint: string | null;
    payloadSize: number | null;
    hour: number;
    country: string | null;
    continent: string | null;
    uaHash: string | null;
    uaVector: 'present' | null;
  };
  snapshot: { version: number | null; source: string; compiledAt: number };
  flags: ExplainFlag[];
  decision: { route: string | null; flags: string[] };
}

export interface AuditEntry {
  id: string;
  who: string;
  action: string;
  name: string;
  before: number;
  after: number;
  time: number;
  detail: string | null;
  reason: string | null;
}

/** A guardrail change (the audit entry, with the trip record's variant and metric). */
export interface GuardrailEvent {
  id: string;
  time: number;
  who: string;
  action: string;
  detail: string;
  reason: string | null;
  before: number | null;
  after: number | null;
  variant: string | null;
  metric: string | null;
}

export interface ExperimentListResponse {
  experiments: Array<{ name: string; experiment: unknown }>;
  resultsAvailable: boolean;
}

export interface ExperimentResponse {
  name: string;
  experiment: unknown;
  resultsAvailable: boolean;
  /** The report (CONTRACT §7 plus extras); null: no outcomes recorded yet. */
  results: unknown;
  guardrails: GuardrailEvent[];
}
