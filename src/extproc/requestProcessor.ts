// The hot path for one request-headers message: headers → profile → decision → plan →
// Envoy's CommonResponse. Never throws: any failure becomes CONTINUE with no mutation.
import { performance } from 'node:perf_hooks';
import type { HeaderLookup, RequestProfile } from '../features/profile.js';
import { sizeBin } from '../features/size.js';
import { decide, type Decision } from '../matcher/match.js';
import type { Snapshot } from '../matcher/snapshot.js';
import { NO_MUTATION, planMutation, type MutationPlan, type RoutingOptions } from '../routing/mutationPlan.js';
import type { Logger } from '../telemetry/logger.js';
import type { Metrics } from '../telemetry/metrics.js';
import { RequestHeaders } from './headerMap.js';
import type { CommonResponse, HttpHeaders, ProcessingRequest, ProtoStruct } from './protocol.js';

export type ProfileExtractor = (input: {
  headers: HeaderLookup;
  sourceAddress: string | null;
  nowMs: number;
}) => RequestProfile;

/** Where a sampled profile goes for learning; must return at once (drop, never block). */
export type ProfileSink = (profile: RequestProfile) => void;

export interface SnapshotSource {
  readonly current: Snapshot;
  /** True when the change feed has been lost longer than the configured bound. */
  readonly stale: boolean;
}

export interface RequestProcessorDeps {
  readonly snapshots: SnapshotSource;
  readonly extract: ProfileExtractor;
  readonly routing: RoutingOptions;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly sink?: ProfileSink | null;
  readonly now?: () => number;
  /** Namespace of the dynamic metadata Envoy may accept (metadata_options.receiving_namespaces). */
  readonly metadataNamespace?: string | null;
}

export const ATTRIBUTES_KEY = 'envoy.filters.http.ext_proc';

/** `source.address` from the request attributes, when Envoy was configured to send it. */
export function sourceAddressOf(req: ProcessingRequest): string | null {
  const attrs = req.attributes?.[ATTRIBUTES_KEY];
  const value = attrs?.fields?.['source.address'];
  return value && typeof value.stringValue === 'string' ? value.stringValue : null;
}

function metadataFor(plan: MutationPlan, snapshot: Snapshot, stale: boolean, ns: string): ProtoStruct {
  const fields: NonNullable<ProtoStruct['fields']> = {
    flags: { stringValue: plan.flags },
    version: { numberValue: snapshot.version ?? -1 },
    stale: { boolValue: stale },
  };
  if (plan.cluster !== null) fields.cluster = { stringValue: plan.cluster };
  return { fields: { [ns]: { structValue: { fields } } } };
}

export function toCommonResponse(plan: MutationPlan): CommonResponse {
  if (plan === NO_MUTATION) return {};
  const response: CommonResponse = {
    status: 'CONTINUE',
    // raw_value only: current Envoy rejects value+raw_value and empties a value-only header.
    header_mutation: {
      set_headers: plan.set.map(([key, value]) => ({
        header: { key, raw_value: Buffer.from(value, 'latin1') },
        append: { value: false },
      })),
      remove_headers: [...plan.remove],
    },
  };
  if (plan.clearRouteCache) response.clear_route_cache = true;
  return response;
}

export interface HeadersOutcome {
  readonly response: CommonResponse;
  readonly dynamicMetadata: ProtoStruct | null;
}

const CONTINUE_UNCHANGED: HeadersOutcome = Object.freeze({ response: {}, dynamicMetadata: null });

export function createRequestProcessor(deps: RequestProcessorDeps) {
  const { snapshots, extract, routing, metrics, logger } = deps;
  const now = deps.now ?? Date.now;
  const sink = deps.sink ?? null;
  const ns = deps.metadataNamespace === undefined ? 'proflag' : deps.metadataNamespace;
  const decisions = {
    match: metrics.decisions.labels('match'),
    nomatch: metrics.decisions.labels('nomatch'),
    fallback: metrics.decisions.labels('fallback'),
  };
  const decisionFallback = metrics.fallbacks.labels('PROFLAG_ERR_DECISION');

  /**
   * Decide for one request's headers. `countedBodyBytes` is the body size counted in the body
   * phase (PROFLAG_BODY_SIZE) for a request that had no content-length.
   */
  return function processRequestHeaders(
    req: ProcessingRequest,
    headersMsg: HttpHeaders,
    countedBodyBytes?: number,
  ): HeadersOutcome {
    const started = performance.now();
    try {
      const headers = new RequestHeaders(headersMsg.headers?.headers);
      const snapshot = snapshots.current;
      let profile = extract({ headers, sourceAddress: sourceAddressOf(req), nowMs: now() });
      if (countedBodyBytes !== undefined && profile.payloadSize === null) {
        profile = { ...profile, payloadSize: countedBodyBytes, sizeBin: sizeBin(countedBodyBytes) };
      }
      const decision: Decision = decide(snapshot, profile, headers);
      const plan = planMutation(
        decision,
        { routeHeaderSent: headers.has(routing.routeHeader), flagsHeaderSent: headers.has(routing.flagsHeader) },
        routing,
      );
      if (sink) sink(profile);
      (decision.matches.length > 0 ? decisions.match : decisions.nomatch).inc();
      if (plan.cluster !== null) metrics.routed.labels(plan.cluster).inc();
      metrics.decisionSeconds.observe((performance.now() - started) / 1000);
      if (plan === NO_MUTATION) return CONTINUE_UNCHANGED;
      return {
        response: toCommonResponse(plan),
        dynamicMetadata: ns && decision.matches.length > 0 ? metadataFor(plan, snapshot, snapshots.stale, ns) : null,
      };
    } catch (err) {
      decisions.fallback.inc();
      decisionFallback.inc();
      logger.error({ code: 'PROFLAG_ERR_DECISION', err: (err as Error).message }, 'decision failed; continuing unchanged');
      return CONTINUE_UNCHANGED;
    }
  };
}

export type RequestProcessor = ReturnType<typeof createRequestProcessor>;
