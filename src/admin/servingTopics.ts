// What the admin port may ask of a serving process (the sidecar itself, or each worker when
// PROFLAG_WORKERS > 1), by topic. The admin server never reaches into a sidecar's snapshot or
// store directly: a route asks `serving.askOne(topic, payload)` (any one serving process) or
// `serving.askAll(topic, payload)` (each of them, to combine), and the same route works with
// one process (answered in place, localServing below) and with workers (answered over IPC by
// src/cluster/). Adding a route that needs a sidecar's state = one topic line here + one
// route line in adminServer.ts. Answers cross a process boundary with workers: return plain
// data (structured-cloneable: objects, arrays, numbers, strings, typed arrays, Maps), never
// functions or class instances with behaviour.
import type { Registry } from 'prom-client';
import type { ProfileExtractor } from '../extproc/requestProcessor.js';
import type { HeaderLookup } from '../features/profile.js';
import { explain, type Explanation } from '../matcher/explain.js';
import type { ExperimentReport } from '../experiments/core/report.js';
import type { SnapshotHolder } from '../store/snapshotHolder.js';
import type { FlagCatalog } from './apiCatalog.js';
import { evaluationCounts, servedFlags, summaryOf } from './apiServed.js';

/** What a serving process lends to the topics below. */
export interface ServingState {
  readonly holder: SnapshotHolder;
  readonly extract: ProfileExtractor;
  readonly registry: Registry;
  /** Experiment reports (Redis store only; null otherwise). */
  readonly experiments?: {
    report(flag: string, options: { sinceMs?: number; relativeEffect?: number }): Promise<ExperimentReport | null>;
  } | null;
  /** The console's reads (apiServed.ts): every definition behind each snapshot, the store kind. */
  readonly catalog?: FlagCatalog | null;
  readonly storeKind?: 'redis' | 'file';
}

/** GET /experiments/NAME's question to a serving process. */
export interface ExperimentReportInput {
  readonly flag: string;
  readonly sinceMs?: number;
  readonly relativeEffect?: number;
}

export interface ReadinessState {
  /** True once a snapshot has been loaded from the configured store. */
  readonly ready: boolean;
  readonly stale: boolean;
  readonly version: number | null;
  /** Ms since the last successful sync, null before the first. */
  readonly syncAgeMs: number | null;
  readonly source: string;
  readonly detail?: Record<string, unknown>;
}

/** /explain's input, validated by the admin server. */
export interface ExplainInput {
  /** Header names lower-case. */
  readonly headers: Readonly<Record<string, string>>;
  readonly sourceAddress: string | null;
}

export function readinessOf(holder: SnapshotHolder): ReadinessState {
  const sync = holder.sync;
  return {
    ready: sync.loaded,
    stale: sync.stale,
    version: sync.version,
    syncAgeMs: sync.ageMs,
    source: sync.source,
    detail: {
      flags: sync.flagCount,
      rejected: sync.rejectedCount,
      feedConnected: sync.feedConnected,
      dataLossSuspected: sync.dataLossSuspected,
      lastError: sync.lastError,
    },
  };
}

export function explainRequest(state: ServingState, input: ExplainInput): Explanation {
  const map = new Map(Object.entries(input.headers));
  const headers: HeaderLookup = { get: (n) => map.get(n) };
  const nowMs = Date.now();
  const profile = state.extract({ headers, sourceAddress: input.sourceAddress, nowMs });
  return explain(state.holder.current, profile, headers, nowMs);
}

/** The topics, one line each. A handler gets the serving process's state and the payload. */
export const SERVING_TOPICS = {
  readiness: (s: ServingState) => readinessOf(s.holder),
  metrics: (s: ServingState) => s.registry.getMetricsAsJSON(),
  explain: (s: ServingState, payload: unknown) => explainRequest(s, payload as ExplainInput),
  /** undefined: this process has no experiments (file store); null: no such experiment. */
  experimentReport: async (s: ServingState, payload: unknown) => {
    if (!s.experiments) return undefined;
    const { flag, ...options } = payload as ExperimentReportInput;
    return s.experiments.report(flag, options);
  },
  /** The console (api.ts): every flag in words, the sync state, the experiment flags. */
  consoleFlags: (s: ServingState, payload: unknown) =>
    servedFlags(s.holder, s.catalog ?? null, (payload as { tz: string }).tz),
  /** The console's live events: what is served now (version, counts, compile time). */
  servedSummary: (s: ServingState) => summaryOf(s.holder.current),
  /** The console's sparklines: proflag_flag_evaluations_total of this process. */
  flagEvaluations: (s: ServingState) => evaluationCounts(s.registry),
  storeKind: (s: ServingState) => s.storeKind ?? null,
} satisfies Record<string, (state: ServingState, payload: unknown) => unknown>;

export type ServingTopic = keyof typeof SERVING_TOPICS;

/** One serving process's answer. */
export type ServingAnswer =
  | { readonly worker: string | null; readonly ok: true; readonly value: unknown }
  | { readonly worker: string | null; readonly ok: false; readonly error: string };

export interface ServingProcesses {
  /** Worker processes (1: the sidecar answers in place). */
  readonly count: number;
  /** One serving process answers (with workers: each in turn). Rejects when none can. */
  askOne(topic: ServingTopic, payload?: unknown): Promise<ServingAnswer & { readonly ok: true }>;
  /** Every serving process answers; a failure is an answer with ok false, never a rejection. */
  askAll(topic: ServingTopic, payload?: unknown): Promise<readonly ServingAnswer[]>;
}

/** The single process: topics answered in place (worker null). */
export function localServing(state: ServingState): ServingProcesses {
  const answer = async (topic: ServingTopic, payload: unknown): Promise<ServingAnswer> => {
    try {
      return { worker: null, ok: true, value: await SERVING_TOPICS[topic](state, payload) };
    } catch (err) {
      return { worker: null, ok: false, error: (err as Error).message };
    }
  };
  return {
    count: 1,
    async askOne(topic, payload) {
      return { worker: null, ok: true, value: await SERVING_TOPICS[topic](state, payload) };
    },
    async askAll(topic, payload) {
      return [await answer(topic, payload)];
    },
  };
}
