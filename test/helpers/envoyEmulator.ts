// An Envoy-emulating ext_proc client, built on Envoy's OFFICIAL protos (shipped in
// @grpc/grpc-js-xds), that behaves as the ext_proc filter does (ENVOY-EXTPROC.md):
// one stream per HTTP request, request headers with raw_value only (value empty) plus the
// HCM-added headers, attributes on the first message, one reply per message of the same
// phase within message_timeout, mutations applied with Envoy's rules, the route
// re-resolved on clear_route_cache through a cluster_header route with a default fallback,
// and the stream closed with END_STREAM then RST_STREAM. It also plays the rest of the
// exchange when asked to: `immediate_response` as a local reply (no response phase for it),
// `mode_override` (with allow_mode_override), an upstream that answers per cluster, and the
// response-headers phase with Envoy's mutation rules for responses.
import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

const require = createRequire(import.meta.url);

interface OfficialHeaderValue {
  key: string;
  value?: string;
  raw_value?: Buffer;
}
interface OfficialImmediateResponse {
  status?: { code?: string | number };
  headers?: CommonResponse['header_mutation'];
  body?: Buffer;
  details?: string;
}
interface OfficialProcessingMode {
  request_header_mode?: string;
  response_header_mode?: string;
  request_body_mode?: string;
  response_body_mode?: string;
}
interface OfficialResponse {
  request_headers?: { response?: CommonResponse };
  request_body?: { response?: CommonResponse };
  response_headers?: { response?: CommonResponse };
  immediate_response?: OfficialImmediateResponse;
  dynamic_metadata?: { fields?: Record<string, unknown> };
  mode_override?: OfficialProcessingMode;
  response?: string;
}
interface CommonResponse {
  status?: string;
  header_mutation?: {
    set_headers?: { header?: OfficialHeaderValue; append?: { value?: boolean } }[];
    remove_headers?: string[];
  };
  clear_route_cache?: boolean;
}

let clientCtor: grpc.ServiceClientConstructor | null = null;
/** envoy.type.v3.StatusCode names → numbers, from the same official protos. */
const statusCodes = new Map<string, number>();

/** The ExternalProcessor client generated from Envoy's own protos. */
export function officialExtProcClient(): grpc.ServiceClientConstructor {
  if (clientCtor) return clientCtor;
  const base = path.dirname(require.resolve('@grpc/grpc-js-xds/package.json'));
  const includeDirs = ['envoy-api', 'xds', 'googleapis', 'protoc-gen-validate'].map((d) => path.join(base, 'deps', d));
  const def = protoLoader.loadSync('envoy/service/ext_proc/v3/external_processor.proto', {
    keepCase: true,
    longs: String,
    enums: String,
    defaults: false,
    oneofs: true,
    includeDirs,
  });
  const statusEnum = def['envoy.type.v3.StatusCode'] as { type?: { value?: { name: string; number: number }[] } };
  for (const v of statusEnum.type?.value ?? []) statusCodes.set(v.name, v.number);
  const pkg = grpc.loadPackageDefinition(def) as unknown as {
    envoy: { service: { ext_proc: { v3: { ExternalProcessor: grpc.ServiceClientConstructor } } } };
  };
  clientCtor = pkg.envoy.service.ext_proc.v3.ExternalProcessor;
  return clientCtor;
}

/** An immediate_response status as Envoy reads it: the enum's number; below 200 (or unset) is 200. */
function immediateStatus(code: string | number | undefined): number {
  const n = typeof code === 'number' ? code : code === undefined ? 0 : (statusCodes.get(code) ?? Number(code));
  return Number.isFinite(n) && n >= 200 ? n : 200;
}

export interface EmulatedRequest {
  method?: string;
  path: string;
  authority?: string;
  headers?: Record<string, string | Buffer>;
  /** Sent as the `source.address` attribute ("ip:port"), as with request_attributes. */
  sourceAddress?: string;
  /** True when a body follows (end_of_stream false on the headers). */
  hasBody?: boolean;
  /** Body chunks, sent when the emulator's request body mode is not NONE (implies hasBody). */
  body?: Buffer[];
}

/** What the upstream cluster answers; 'reset' ends the request without response headers. */
export type UpstreamAnswer = { status: number; headers?: Record<string, string> } | 'reset';

/** The upstream as seen by the router: which cluster, and the request as it arrives there. */
export interface UpstreamRequest {
  cluster: string;
  path: string;
  headers: ReadonlyMap<string, string>;
}

export interface EmulatorOptions {
  routeHeader?: string;
  defaultCluster?: string;
  messageTimeoutMs?: number;
  failureModeAllow?: boolean;
  /** response_header_mode SEND: also send response headers and expect their reply. */
  sendResponseHeaders?: boolean;
  /** route_config.internal_only_headers: strip the route header before filters. */
  internalOnlyHeaders?: string[];
  /** processing_mode.request_body_mode: NONE (default), BUFFERED (one message) or STREAMED. */
  requestBodyMode?: 'NONE' | 'BUFFERED' | 'STREAMED';
  /** allow_mode_override: honour `mode_override` in replies to headers messages. */
  allowModeOverride?: boolean;
  /** Prefix routes tried (in order) after the cluster_header route and before the default. */
  pathRoutes?: readonly { prefix: string; cluster: string }[];
  /** The upstream's answer (now, or later: a slow backend); default 200 with no headers. */
  upstream?: (req: UpstreamRequest) => UpstreamAnswer | Promise<UpstreamAnswer>;
}

export interface EmulatedOutcome {
  /** HTTP status the client would see: 200 from upstream, 500/504 for ext_proc failures. */
  status: number;
  /** Upstream cluster the router picked. */
  cluster: string;
  /** Request headers as the upstream receives them (route header already stripped). */
  upstreamHeaders: Map<string, string>;
  /** True when Envoy continued without the processor (fail-open, or the server closed OK). */
  processorSkipped: boolean;
  dynamicMetadata: Record<string, unknown> | null;
  /** Mutations Envoy would silently ignore (mutation_rules defaults). */
  rejectedMutations: number;
  error: string | null;
  /** The `:path` the upstream receives (after any rewrite). */
  path: string;
  /** True when the answer is a local reply from `immediate_response` (no upstream was called). */
  localReply: boolean;
  /** The body the client gets from a local reply (empty otherwise: the emulator has no bodies). */
  body: Buffer;
  /** `%RESPONSE_CODE_DETAILS%` of a local reply (spaces become `_`), else null. */
  details: string | null;
  /** Response headers as the client receives them (after the response-phase mutation). */
  responseHeaders: Map<string, string>;
  /** Whether the response_headers message was sent to the processor. */
  responsePhaseSent: boolean;
  /** ProcessingRequest messages Envoy sent on this stream. */
  messagesSent: number;
}

/**
 * mutation_rules defaults: changes to these are silently ignored (and counted). `:path` and,
 * in responses, `:status` are mutable; the other pseudo-headers, `host` and `x-envoy-*` are not.
 */
function ignoredByDefault(name: string, direction: 'request' | 'response'): boolean {
  if (name === 'host' || name.startsWith('x-envoy-')) return true;
  if (!name.startsWith(':')) return false;
  return direction === 'request' ? name !== ':path' : name !== ':status';
}

const VALID_NAME = /^:?[a-z0-9!#$%&'*+.^_`|~-]+$/;

class MutationError extends Error {}

type HeaderMode = 'SEND' | 'SKIP';

export class EnvoyEmulator {
  private readonly client: grpc.Client & { Process(): grpc.ClientDuplexStream<unknown, OfficialResponse> };
  private readonly opts: Required<EmulatorOptions>;

  constructor(address: string, options: EmulatorOptions = {}) {
    const Ctor = officialExtProcClient();
    this.client = new Ctor(address, grpc.credentials.createInsecure()) as never;
    this.opts = {
      routeHeader: options.routeHeader ?? 'x-proflag-cluster',
      defaultCluster: options.defaultCluster ?? 'backend_stable',
      messageTimeoutMs: options.messageTimeoutMs ?? 200,
      failureModeAllow: options.failureModeAllow ?? true,
      sendResponseHeaders: options.sendResponseHeaders ?? false,
      internalOnlyHeaders: options.internalOnlyHeaders ?? [],
      requestBodyMode: options.requestBodyMode ?? 'NONE',
      allowModeOverride: options.allowModeOverride ?? false,
      pathRoutes: options.pathRoutes ?? [],
      upstream: options.upstream ?? (() => ({ status: 200 })),
    };
  }

  close(): void {
    this.client.close();
  }

  /** Build the header list Envoy would send: pseudo-headers, HCM additions, client headers. */
  private envoyHeaders(req: EmulatedRequest): Map<string, Buffer> {
    const h = new Map<string, Buffer>();
    h.set(':authority', Buffer.from(req.authority ?? 'shop.example.com'));
    h.set(':path', Buffer.from(req.path));
    h.set(':method', Buffer.from(req.method ?? 'GET'));
    h.set(':scheme', Buffer.from('http'));
    for (const [k, v] of Object.entries(req.headers ?? {})) {
      const key = k.toLowerCase();
      if (this.opts.internalOnlyHeaders.includes(key)) continue;
      h.set(key, Buffer.isBuffer(v) ? v : Buffer.from(v, 'latin1'));
    }
    h.set('x-forwarded-proto', Buffer.from('http'));
    h.set('x-request-id', Buffer.from(randomUUID()));
    return h;
  }

  async request(req: EmulatedRequest): Promise<EmulatedOutcome> {
    const headers = this.envoyHeaders(req);
    const call = this.client.Process();
    const replies: OfficialResponse[] = [];
    let waiter: ((r: OfficialResponse | Error) => void) | null = null;
    let streamError: Error | null = null;
    let closedByServer = false;
    call.on('data', (r: OfficialResponse) => (waiter ? waiter(r) : replies.push(r)));
    call.on('error', (e: Error) => {
      streamError = e;
      waiter?.(e);
    });
    call.on('end', () => {
      closedByServer = true;
      waiter?.(new Error('server closed the stream'));
    });

    const next = (): Promise<OfficialResponse | Error | 'timeout'> =>
      new Promise((resolve) => {
        const queued = replies.shift();
        if (queued) return resolve(queued);
        if (streamError) return resolve(streamError);
        if (closedByServer) return resolve(new Error('server closed the stream'));
        const timer = setTimeout(() => {
          waiter = null;
          resolve('timeout');
        }, this.opts.messageTimeoutMs);
        waiter = (r) => {
          clearTimeout(timer);
          waiter = null;
          resolve(r);
        };
      });

    const outcome: EmulatedOutcome = {
      status: 200,
      // The router resolves the route from the headers as they arrive, before ext_proc answers.
      cluster: this.routeFor(headers),
      upstreamHeaders: new Map(),
      processorSkipped: false,
      dynamicMetadata: null,
      rejectedMutations: 0,
      error: null,
      path: req.path,
      localReply: false,
      body: Buffer.alloc(0),
      details: null,
      responseHeaders: new Map(),
      responsePhaseSent: false,
      messagesSent: 0,
    };
    // Once the processor is skipped (fail-open or a clean close), nothing more goes to it.
    let processorActive = true;
    let streamClosed = false;
    const closeStream = () => {
      if (streamClosed) return;
      streamClosed = true;
      // Envoy's close(): END_STREAM, then at once RST_STREAM.
      call.end();
      call.cancel();
    };
    const send = (message: Record<string, unknown>) => {
      outcome.messagesSent++;
      call.write(message);
    };
    const snapshotUpstream = () => {
      outcome.upstreamHeaders = new Map();
      for (const [k, v] of headers)
        if (k !== this.opts.routeHeader) outcome.upstreamHeaders.set(k, v.toString('latin1'));
      outcome.path = headers.get(':path')?.toString('latin1') ?? '';
    };
    const finish = () => {
      closeStream();
      if (!outcome.localReply && outcome.upstreamHeaders.size === 0) snapshotUpstream();
      return outcome;
    };
    /** A failed exchange: fail-open continues without the processor, fail-closed replies `status`. */
    const fail = (why: string, status: number): 'failed-closed' | 'skipped' => {
      outcome.error = why;
      processorActive = false;
      closeStream();
      if (this.opts.failureModeAllow) {
        outcome.processorSkipped = true;
        return 'skipped';
      }
      outcome.status = status;
      return 'failed-closed';
    };
    /** Await one reply; null when the processor is out of the picture (skipped or failed). */
    const awaitReply = async (phase: string): Promise<OfficialResponse | 'failed-closed' | null> => {
      const reply = await next();
      if (reply === 'timeout') return fail(`per-message timeout${phase}`, 504) === 'skipped' ? null : 'failed-closed';
      if (reply instanceof Error) {
        // A clean OK close before replying means "continue without me", whatever the mode.
        if (closedByServer && !streamError) {
          outcome.processorSkipped = true;
          processorActive = false;
          closeStream();
          return null;
        }
        return fail(reply.message, 500) === 'skipped' ? null : 'failed-closed';
      }
      return reply;
    };
    const localReply = (immediate: OfficialImmediateResponse) => {
      outcome.localReply = true;
      outcome.status = immediateStatus(immediate.status?.code);
      outcome.body = Buffer.isBuffer(immediate.body) ? immediate.body : Buffer.alloc(0);
      outcome.details = typeof immediate.details === 'string' ? immediate.details.replace(/ /g, '_') : null;
      outcome.responseHeaders = new Map();
      // Checked with the mutation rules since 1.32: bad entries are dropped, the reply still goes.
      for (const opt of immediate.headers?.set_headers ?? []) {
        const h = opt.header;
        if (!h || !VALID_NAME.test(h.key) || h.key.startsWith(':') || ignoredByDefault(h.key, 'response')) {
          outcome.rejectedMutations++;
          continue;
        }
        const value = Buffer.isBuffer(h.raw_value) ? h.raw_value.toString('latin1') : '';
        if (/[\r\n\0]/.test(value)) {
          outcome.rejectedMutations++;
          continue;
        }
        outcome.responseHeaders.set(h.key, value);
      }
      processorActive = false;
      closeStream();
      return outcome;
    };

    let responseHeaderMode: HeaderMode = this.opts.sendResponseHeaders ? 'SEND' : 'SKIP';
    let requestBodyMode: string = this.opts.requestBodyMode;

    const first: Record<string, unknown> = {
      request_headers: {
        headers: { headers: [...headers].map(([key, v]) => ({ key, raw_value: v })) },
        end_of_stream: !(req.hasBody || req.body),
      },
    };
    if (req.sourceAddress) {
      first.attributes = {
        'envoy.filters.http.ext_proc': { fields: { 'source.address': { stringValue: req.sourceAddress } } },
      };
    }
    send(first);

    const reply = await awaitReply('');
    if (reply === 'failed-closed') return finish();
    if (reply !== null) {
      // Envoy applies dynamic_metadata with an immediate_response too (ENVOY-EXTPROC §5).
      if (reply.dynamic_metadata) outcome.dynamicMetadata = reply.dynamic_metadata as Record<string, unknown>;
      if (reply.immediate_response) return localReply(reply.immediate_response);
      if (!reply.request_headers) {
        if (fail(`spurious reply ${reply.response ?? '(empty)'}`, 500) === 'failed-closed') return finish();
      } else {
        try {
          this.applyMutation(headers, reply.request_headers.response, outcome, 'request');
        } catch (err) {
          // Invalid mutations fail closed whatever failure_mode_allow says.
          outcome.status = 500;
          outcome.error = (err as Error).message;
          return finish();
        }
        if (reply.dynamic_metadata) outcome.dynamicMetadata = reply.dynamic_metadata as Record<string, unknown>;
        if (reply.mode_override && this.opts.allowModeOverride) {
          // Header modes left DEFAULT mean "unchanged"; body modes are always literal.
          const o = reply.mode_override;
          if (o.response_header_mode === 'SEND' || o.response_header_mode === 'SKIP') {
            responseHeaderMode = o.response_header_mode;
          }
          requestBodyMode = o.request_body_mode ?? 'NONE';
        }
      }
    }

    if (processorActive && req.body && requestBodyMode !== 'NONE') {
      // BUFFERED: the whole body in one message; STREAMED: one message per chunk.
      const chunks = requestBodyMode === 'BUFFERED' ? [Buffer.concat(req.body)] : req.body;
      for (let i = 0; i < chunks.length && processorActive; i++) {
        send({ request_body: { body: chunks[i], end_of_stream: i === chunks.length - 1 } });
        const r = await awaitReply(' (body)');
        if (r === 'failed-closed') return finish();
        if (r === null) break;
        if (r.immediate_response) return localReply(r.immediate_response);
        if (!r.request_body) {
          if (fail('spurious body-phase reply', 500) === 'failed-closed') return finish();
          break;
        }
        try {
          this.applyMutation(headers, r.request_body.response, outcome, 'request');
        } catch (err) {
          outcome.status = 500;
          outcome.error = (err as Error).message;
          return finish();
        }
        if (r.dynamic_metadata) outcome.dynamicMetadata = r.dynamic_metadata as Record<string, unknown>;
      }
    }

    // The router: the upstream sees the mutated request on the (re-)resolved cluster.
    snapshotUpstream();
    const answer = await this.opts.upstream({
      cluster: outcome.cluster,
      path: outcome.path,
      headers: outcome.upstreamHeaders,
    });
    if (answer === 'reset') {
      // No response headers: Envoy answers 503 itself; a local reply is not sent to ext_proc.
      outcome.status = 503;
      outcome.details = 'upstream_reset_before_response_started';
      return finish();
    }
    outcome.status = answer.status;
    const response = new Map<string, Buffer>([[':status', Buffer.from(String(answer.status))]]);
    for (const [k, v] of Object.entries(answer.headers ?? {})) response.set(k.toLowerCase(), Buffer.from(v, 'latin1'));
    response.set('x-envoy-upstream-service-time', Buffer.from('1'));

    if (processorActive && responseHeaderMode === 'SEND') {
      outcome.responsePhaseSent = true;
      send({
        response_headers: {
          headers: { headers: [...response].map(([key, v]) => ({ key, raw_value: v })) },
          end_of_stream: true,
        },
      });
      const r2 = await awaitReply(' (response)');
      if (r2 === 'failed-closed') return finish();
      if (r2 !== null) {
        if (r2.immediate_response) return localReply(r2.immediate_response);
        if (!r2.response_headers) {
          if (fail('spurious response-phase reply', 500) === 'failed-closed') return finish();
        } else {
          try {
            this.applyMutation(response, r2.response_headers.response, outcome, 'response');
          } catch (err) {
            // After response headers were started Envoy would reset; before, a 500 local reply.
            outcome.status = 500;
            outcome.error = (err as Error).message;
            return finish();
          }
        }
      }
    }
    const status = Number(response.get(':status')?.toString('latin1'));
    if (Number.isInteger(status) && status >= 200) outcome.status = status;
    for (const [k, v] of response) if (k !== ':status') outcome.responseHeaders.set(k, v.toString('latin1'));
    return finish();
  }

  /** What the router picks: the cluster_header route, then the prefix routes, then the default. */
  private routeFor(headers: Map<string, Buffer>): string {
    const value = headers.get(this.opts.routeHeader)?.toString('latin1');
    if (value && value.length > 0) return value;
    const path = headers.get(':path')?.toString('latin1') ?? '';
    for (const route of this.opts.pathRoutes) if (path.startsWith(route.prefix)) return route.cluster;
    return this.opts.defaultCluster;
  }

  private applyMutation(
    headers: Map<string, Buffer>,
    common: CommonResponse | undefined,
    outcome: EmulatedOutcome,
    direction: 'request' | 'response',
  ): void {
    const mutation = common?.header_mutation;
    for (const opt of mutation?.set_headers ?? []) {
      const h = opt.header;
      if (!h) continue;
      const hasValue = typeof h.value === 'string' && h.value.length > 0;
      const hasRaw = Buffer.isBuffer(h.raw_value) && h.raw_value.length > 0;
      if (hasValue && hasRaw) throw new MutationError('Only one of value or raw_value in HeaderValue may be set');
      const value = hasRaw ? h.raw_value! : Buffer.alloc(0); // value-only becomes empty (envoy#31555)
      if (/[\r\n\0]/.test(value.toString('latin1')) || !VALID_NAME.test(h.key)) {
        throw new MutationError(`invalid header ${JSON.stringify(h.key)}`);
      }
      if (ignoredByDefault(h.key, direction)) {
        outcome.rejectedMutations++;
        continue;
      }
      if (h.key.startsWith(':')) {
        // Pseudo-headers can't be appended; an invalid :status (< 200) or an empty :path is ignored.
        const text = value.toString('latin1');
        const invalid = h.key === ':status' ? !(Number(text) >= 200 && Number(text) <= 999) : !text.startsWith('/');
        if (opt.append?.value === true || invalid) {
          outcome.rejectedMutations++;
          continue;
        }
        headers.set(h.key, value);
        continue;
      }
      if (opt.append?.value === true && headers.has(h.key)) {
        headers.set(h.key, Buffer.concat([headers.get(h.key)!, Buffer.from(','), value]));
      } else headers.set(h.key, value);
    }
    for (const name of mutation?.remove_headers ?? []) {
      if (name.startsWith(':') || name === 'host') throw new MutationError(`cannot remove ${name}`);
      if (ignoredByDefault(name, direction)) {
        outcome.rejectedMutations++;
        continue;
      }
      headers.delete(name);
    }
    // The route was resolved before ext_proc answered; only clear_route_cache (with a
    // header_mutation present, even an empty one) makes Envoy resolve it again. Only the
    // request direction of a downstream filter clears it.
    if (direction === 'request' && common?.clear_route_cache && mutation) outcome.cluster = this.routeFor(headers);
  }
}
