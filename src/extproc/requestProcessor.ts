// The hot path for one request-headers message: the decoded headers view → profile →
// decision → plan → the encoded reply (cached per distinct reply), plus the response phase the
// decision asks for. Never throws: any failure becomes CONTINUE with no mutation.
//
// What Envoy gets (CONTRACT §4, §6): an immediate_response when a flag's `respond` wins (its
// token bucket had a token); else the request mutation (route header, flags header, the flags'
// headers, a rewritten `:path` with clear_route_cache) and, when a flag changes response
// headers or the request is in an experiment, a response phase: the reply carries
// mode_override (response headers SEND) and the stream answers Envoy's response_headers
// message with the planned mutation and reports the status to the experiments recorder.
// Nothing here knows the transport: the stream hands in a RequestHeadersView and sends
// `outcome.reply` as it is.
import { performance } from 'node:perf_hooks';
import type { HeaderLookup, RequestProfile } from '../features/profile.js';
import { sizeBin } from '../features/size.js';
import { decide, type Decision, type FlagMatch } from '../matcher/match.js';
import type { Snapshot } from '../matcher/snapshot.js';
import { NO_MUTATION, planMutation, type MutationPlan, type RoutingOptions } from '../routing/mutationPlan.js';
import { rewrittenPath } from '../routing/pathRewrite.js';
import {
  planImmediateResponse,
  planResponseHeaders,
  type ImmediateResponsePlan,
  type ResponseHeadersPlan,
} from '../routing/transformPlan.js';
import type { Logger } from '../telemetry/logger.js';
import { batchedChild } from '../telemetry/batchedCounter.js';
import type { Metrics } from '../telemetry/metrics.js';
import { RequestHeaders, type RequestHeadersView } from './headerMap.js';
import type { CommonResponse, HttpHeaders, ProcessingRequest, ProcessingResponse, ProtoStruct } from './protocol.js';
import {
  encodeProcessingResponse,
  ExtraHeaderReply,
  UNCHANGED_REPLY,
  withResponseHeadersRequested,
} from './replyEncoder.js';
import { ATTRIBUTES_KEY } from './requestDecoder.js';
import { encodeResponseHeadersReply, type ResponsePhase } from './responsePhase.js';

export { ATTRIBUTES_KEY };

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
  /**
   * Experiments (src/experiments/recorder.ts): the outcome observer of a request whose matches
   * put it in an experiment, null for every other request (which then needs no response phase).
   */
  readonly experiments?: OutcomeObservers | null;
  /**
   * A further response phase for a request (tests, tools), asked after the planned one; or null.
   * The edge keeps the phase and answers Envoy's response_headers message with it.
   */
  readonly responsePhase?: ((decision: Decision, headers: RequestHeadersView) => ResponsePhase | null) | null;
}

/** What the request path asks of the experiments recorder. */
export interface OutcomeObservers {
  observerFor(snapshot: Snapshot, matches: readonly FlagMatch[]): ResponsePhase['observe'];
}

/** `source.address` from a ProcessingRequest object's attributes (object form; tests, tools). */
export function sourceAddressOf(req: ProcessingRequest): string | null {
  const attrs = req.attributes?.[ATTRIBUTES_KEY];
  const value = attrs?.fields?.['source.address'];
  return value && typeof value.stringValue === 'string' ? value.stringValue : null;
}

/** The view the processor reads, from a ProcessingRequest object (tests, benches, tools). */
export function headersViewOf(req: ProcessingRequest, msg: HttpHeaders | undefined): RequestHeaders {
  const view = new RequestHeaders(msg?.headers?.headers);
  view.sourceAddress = sourceAddressOf(req);
  view.endOfStream = msg?.end_of_stream === true;
  return view;
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

function respondMetadata(reply: ImmediateResponsePlan, snapshot: Snapshot, stale: boolean, ns: string): ProtoStruct {
  const fields: NonNullable<ProtoStruct['fields']> = {
    respond: { stringValue: reply.flag },
    status: { numberValue: reply.status },
    version: { numberValue: snapshot.version ?? -1 },
    stale: { boolValue: stale },
  };
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
  // rewritePath: Envoy lets ext_proc set :path (not the other pseudo-headers); the cleared
  // route cache makes it route on the new path.
  if (plan.path !== null) {
    response.header_mutation!.set_headers!.push({
      header: { key: ':path', raw_value: Buffer.from(plan.path, 'latin1') },
      append: { value: false },
    });
  }
  if (plan.clearRouteCache) response.clear_route_cache = true;
  return response;
}

/** The response_headers reply of a planned response-header mutation. */
export function responseHeadersReply(plan: ResponseHeadersPlan): Buffer {
  return encodeResponseHeadersReply({
    set_headers: plan.set.map(([key, value]) => ({
      header: { key, raw_value: Buffer.from(value, 'latin1') },
      append: { value: false },
    })),
    remove_headers: [...plan.remove],
  });
}

/** An immediate_response outcome: the request ends here with the flag's reply. */
export function immediateOutcome(plan: ImmediateResponsePlan, dynamicMetadata: ProtoStruct | null): HeadersOutcome {
  const message: ProcessingResponse = {
    immediate_response: {
      status: { code: plan.status },
      headers: {
        set_headers: plan.headers.map(([key, value]) => ({
          header: { key, raw_value: Buffer.from(value, 'latin1') },
          append: { value: false },
        })),
      },
      body: Buffer.from(plan.body, 'utf8'),
      ...(plan.details !== null ? { details: plan.details } : {}),
    },
  };
  if (dynamicMetadata) message.dynamic_metadata = dynamicMetadata;
  return Object.freeze({
    response: {},
    dynamicMetadata,
    reply: encodeProcessingResponse(message),
    immediate: true,
    responsePhase: null,
    cluster: null,
  });
}

/** The processor's answer to one request-headers message. */
export interface HeadersOutcome {
  /** The decision as a CommonResponse (also what a body-phase decision replies with). */
  readonly response: CommonResponse;
  readonly dynamicMetadata: ProtoStruct | null;
  /**
   * The whole request-headers reply, encoded: {request_headers, dynamic_metadata}, or an
   * immediate_response; with mode_override when `responsePhase` is set.
   */
  readonly reply: Buffer;
  /** True when `reply` is an immediate_response (valid in reply to any phase). */
  readonly immediate: boolean;
  /** What the stream keeps for Envoy's response_headers message, or null. */
  readonly responsePhase: ResponsePhase | null;
  /** The routed cluster, for metrics. */
  readonly cluster: string | null;
}

export function headersOutcome(
  response: CommonResponse,
  dynamicMetadata: ProtoStruct | null,
  cluster: string | null,
  responsePhase: ResponsePhase | null = null,
): HeadersOutcome {
  const message: ProcessingResponse = { request_headers: { response } };
  if (dynamicMetadata) message.dynamic_metadata = dynamicMetadata;
  const encoded = encodeProcessingResponse(message);
  return Object.freeze({
    response,
    dynamicMetadata,
    reply: responsePhase ? withResponseHeadersRequested(encoded) : encoded,
    immediate: false,
    responsePhase,
    cluster,
  });
}

/** The same outcome, keeping `phase` for the response: the reply gains mode_override. */
export function withResponsePhase(outcome: HeadersOutcome, phase: ResponsePhase): HeadersOutcome {
  if (outcome.responsePhase !== null) throw new Error('the outcome already has a response phase');
  return Object.freeze({
    ...outcome,
    reply: outcome.immediate ? outcome.reply : withResponseHeadersRequested(outcome.reply),
    responsePhase: outcome.immediate ? null : phase,
  });
}

/** The same outcome whose (already requested) response phase also reports to `observe`. */
function withObserver(outcome: HeadersOutcome, observe: NonNullable<ResponsePhase['observe']>): HeadersOutcome {
  const phase = outcome.responsePhase;
  if (phase === null) return withResponsePhase(outcome, { reply: UNCHANGED_REPLY.response_headers, observe });
  if (phase.observe !== null) throw new Error('the response phase already has an observer');
  return Object.freeze({ ...outcome, responsePhase: Object.freeze({ reply: phase.reply, observe }) });
}

let continueUnchanged: HeadersOutcome | null = null;
/** CONTINUE with no mutation. */
export function continueUnchangedOutcome(): HeadersOutcome {
  return (continueUnchanged ??= headersOutcome({}, null, null));
}

/** Distinct replies remembered per snapshot; the memo is cleared when full. */
export const MAX_CACHED_REPLIES = 4096;

/**
 * A reply is a function of the matches (flag and variant, in winner order), which of
 * proflag's headers the client sent, and staleness: the same key, the same bytes.
 */
function replyKey(decision: Decision, routeSent: boolean, flagsSent: boolean, stale: boolean): string {
  let key = `${stale ? 's' : '-'}${routeSent ? 'r' : '-'}${flagsSent ? 'f' : '-'}`;
  for (const m of decision.matches) key += m.variant === null ? `,${m.flag.index}` : `,${m.flag.index}:${m.variant}`;
  return key;
}

export function createRequestProcessor(deps: RequestProcessorDeps) {
  const { snapshots, extract, routing, metrics, logger } = deps;
  const now = deps.now ?? Date.now;
  const sink = deps.sink ?? null;
  const experiments = deps.experiments ?? null;
  const extraPhase = deps.responsePhase ?? null;
  const ns = deps.metadataNamespace === undefined ? 'proflag' : deps.metadataNamespace;
  const decisions = {
    match: batchedChild(metrics.decisions, 'match'),
    nomatch: batchedChild(metrics.decisions, 'nomatch'),
    fallback: metrics.decisions.labels('fallback'),
  };
  const decisionFallback = metrics.fallbacks.labels('PROFLAG_ERR_DECISION');
  const routedByCluster = new Map<string, { inc(): void }>();
  const replies = new WeakMap<Snapshot, Map<string, HeadersOutcome>>();
  /** Per cached reply: its rewritePath template (the reply without :path, encoded once). */
  const rewriteTemplates = new WeakMap<HeadersOutcome, ExtraHeaderReply>();
  // Immediate replies by the compiled `respond` they send (one per flag or variant), with the
  // staleness the metadata reports.
  const immediateReplies = new WeakMap<
    Snapshot,
    Map<object, { fresh: HeadersOutcome | null; stale: HeadersOutcome | null }>
  >();
  const unchanged = continueUnchangedOutcome();

  /** The request mutation (and response phase, when response headers change) of a plan. */
  function continueOutcome(snapshot: Snapshot, decision: Decision, plan: MutationPlan, stale: boolean): HeadersOutcome {
    const outcome = headersOutcome(
      toCommonResponse(plan),
      ns && decision.matches.length > 0 ? metadataFor(plan, snapshot, stale, ns) : null,
      plan.cluster,
    );
    const response = planResponseHeaders(decision);
    return response === null
      ? outcome
      : withResponsePhase(outcome, { reply: responseHeadersReply(response), observe: null });
  }

  function replyFor(snapshot: Snapshot, decision: Decision, headers: RequestHeadersView): HeadersOutcome {
    const stale = snapshots.stale;
    if (decision.respond !== null) return immediateFor(snapshot, decision, stale);
    const routeSent = headers.has(routing.routeHeader);
    const flagsSent = headers.has(routing.flagsHeader);
    if (decision.rewritePath !== null) {
      const path = rewrittenPath(headers.get(':path') ?? null, decision.rewritePath);
      // A rewritten path is the request's own: the reply is the decision's cached one plus :path.
      if (path !== null) return withRewrittenPath(cachedReply(snapshot, decision, routeSent, flagsSent, stale), path);
    }
    if (decision.matches.length === 0 && !routeSent && !flagsSent) return unchanged;
    return cachedReply(snapshot, decision, routeSent, flagsSent, stale);
  }

  function cachedReply(
    snapshot: Snapshot,
    decision: Decision,
    routeSent: boolean,
    flagsSent: boolean,
    stale: boolean,
  ): HeadersOutcome {
    const key = replyKey(decision, routeSent, flagsSent, stale);
    let memo = replies.get(snapshot);
    if (!memo) replies.set(snapshot, (memo = new Map()));
    const hit = memo.get(key);
    if (hit) return hit;
    const plan = planMutation(decision, { routeHeaderSent: routeSent, flagsHeaderSent: flagsSent }, routing);
    const outcome = continueOutcome(snapshot, decision, plan, stale);
    if (memo.size >= MAX_CACHED_REPLIES) memo.clear();
    memo.set(key, outcome);
    return outcome;
  }

  function withRewrittenPath(base: HeadersOutcome, path: string): HeadersOutcome {
    let template = rewriteTemplates.get(base);
    if (!template) rewriteTemplates.set(base, (template = new ExtraHeaderReply(base.response, base.reply)));
    return Object.freeze({ ...base, response: template.response(':path', path), reply: template.reply(':path', path) });
  }

  function immediateFor(snapshot: Snapshot, decision: Decision, stale: boolean): HeadersOutcome {
    const respond = decision.respond!;
    let memo = immediateReplies.get(snapshot);
    if (!memo) immediateReplies.set(snapshot, (memo = new Map()));
    let entry = memo.get(respond.reply);
    if (!entry) memo.set(respond.reply, (entry = { fresh: null, stale: null }));
    const hit = stale ? entry.stale : entry.fresh;
    if (hit) return hit;
    const plan = planImmediateResponse(decision);
    // An unsendable status is refused at load; if one ever got here, the request goes on.
    const outcome =
      plan === null ? unchanged : immediateOutcome(plan, ns ? respondMetadata(plan, snapshot, stale, ns) : null);
    if (stale) entry.stale = outcome;
    else entry.fresh = outcome;
    return outcome;
  }

  function countRouted(cluster: string): void {
    let counter = routedByCluster.get(cluster);
    if (!counter) routedByCluster.set(cluster, (counter = batchedChild(metrics.routed, cluster)));
    counter.inc();
  }

  /**
   * Decide for one request's headers. `countedBodyBytes` is the body size counted in the body
   * phase (PROFLAG_BODY_SIZE) for a request that had no content-length.
   */
  return function processRequestHeaders(headers: RequestHeadersView, countedBodyBytes?: number): HeadersOutcome {
    const started = performance.now();
    try {
      const snapshot = snapshots.current;
      const nowMs = now();
      let profile = extract({ headers, sourceAddress: headers.sourceAddress, nowMs });
      if (countedBodyBytes !== undefined && profile.payloadSize === null) {
        profile = { ...profile, payloadSize: countedBodyBytes, sizeBin: sizeBin(countedBodyBytes) };
      }
      // The request time feeds the respond buckets: a reply is only sent when one is granted.
      const decision: Decision = decide(snapshot, profile, headers, nowMs);
      metrics.flagCounters.countDecision(snapshot, decision);
      let outcome = replyFor(snapshot, decision, headers);
      // In an experiment: the response's status and timing go to the recorder. A request
      // decided in the body phase is left out: mode_override only works in a headers reply, so
      // Envoy would not send its response headers and the stream's end would read as "no
      // response". A local reply (another flag's respond) has no response phase either: it is
      // counted as no response at once, never as a success, never lost.
      const observe =
        experiments !== null && decision.matches.length > 0 && countedBodyBytes === undefined
          ? experiments.observerFor(snapshot, decision.matches)
          : null;
      if (outcome.immediate) {
        if (observe) observe(null, performance.now() - started);
      } else {
        if (observe) outcome = withObserver(outcome, observe);
        if (extraPhase !== null && outcome.responsePhase === null) {
          const phase = extraPhase(decision, headers);
          if (phase !== null) outcome = withResponsePhase(outcome, phase);
        }
      }
      if (sink) sink(profile);
      (decision.matches.length > 0 ? decisions.match : decisions.nomatch).inc();
      if (outcome.cluster !== null) countRouted(outcome.cluster);
      metrics.decisionSeconds.observe((performance.now() - started) / 1000);
      return outcome;
    } catch (err) {
      decisions.fallback.inc();
      decisionFallback.inc();
      logger.error(
        { code: 'PROFLAG_ERR_DECISION', err: (err as Error).message },
        'decision failed; continuing unchanged',
      );
      return unchanged;
    }
  };
}

export type RequestProcessor = ReturnType<typeof createRequestProcessor>;
