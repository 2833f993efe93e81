// An Envoy-emulating ext_proc client, built on Envoy's OFFICIAL protos (shipped in
// @grpc/grpc-js-xds), that behaves as the ext_proc filter does (ENVOY-EXTPROC.md):
// one stream per HTTP request, request headers with raw_value only (value empty) plus the
// HCM-added headers, attributes on the first message, one reply per message of the same
// phase within message_timeout, mutations applied with Envoy's rules, the route
// re-resolved on clear_route_cache through a cluster_header route with a default fallback,
// and the stream closed with END_STREAM then RST_STREAM.
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
interface OfficialResponse {
  request_headers?: { response?: CommonResponse };
  request_body?: { response?: CommonResponse };
  response_headers?: { response?: CommonResponse };
  immediate_response?: { status?: { code?: string | number } };
  dynamic_metadata?: { fields?: Record<string, unknown> };
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
  const pkg = grpc.loadPackageDefinition(def) as unknown as {
    envoy: { service: { ext_proc: { v3: { ExternalProcessor: grpc.ServiceClientConstructor } } } };
  };
  clientCtor = pkg.envoy.service.ext_proc.v3.ExternalProcessor;
  return clientCtor;
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
}

const ENVOY_OWNED = (name: string) => name.startsWith(':') || name === 'host' || name.startsWith('x-envoy-');

class MutationError extends Error {}

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
    };
    const finish = () => {
      // Envoy's close(): END_STREAM, then at once RST_STREAM.
      call.end();
      call.cancel();
      for (const [k, v] of headers)
        if (k !== this.opts.routeHeader) outcome.upstreamHeaders.set(k, v.toString('latin1'));
      return outcome;
    };
    const fail = (why: string, status: number) => {
      outcome.error = why;
      if (this.opts.failureModeAllow) outcome.processorSkipped = true;
      else outcome.status = status;
      return finish();
    };

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
    call.write(first);

    const reply = await next();
    if (reply === 'timeout') return fail('per-message timeout', 504);
    if (reply instanceof Error) {
      // A clean OK close before replying means "continue without me", whatever the mode.
      if (closedByServer && !streamError) {
        outcome.processorSkipped = true;
        return finish();
      }
      return fail(reply.message, 500);
    }
    if (reply.immediate_response) {
      outcome.status = Number(reply.immediate_response.status?.code ?? 200);
      return finish();
    }
    if (!reply.request_headers) return fail(`spurious reply ${reply.response ?? '(empty)'}`, 500);
    try {
      this.applyMutation(headers, reply.request_headers.response, outcome);
    } catch (err) {
      // Invalid mutations fail closed whatever failure_mode_allow says.
      outcome.status = 500;
      outcome.error = (err as Error).message;
      return finish();
    }
    if (reply.dynamic_metadata) outcome.dynamicMetadata = reply.dynamic_metadata as Record<string, unknown>;

    if (req.body && this.opts.requestBodyMode !== 'NONE') {
      // BUFFERED: the whole body in one message; STREAMED: one message per chunk.
      const chunks = this.opts.requestBodyMode === 'BUFFERED' ? [Buffer.concat(req.body)] : req.body;
      for (let i = 0; i < chunks.length; i++) {
        call.write({ request_body: { body: chunks[i], end_of_stream: i === chunks.length - 1 } });
        const r = await next();
        if (r === 'timeout') return fail('per-message timeout (body)', 504);
        if (r instanceof Error) return fail(r.message, 500);
        if (!r.request_body) return fail('spurious body-phase reply', 500);
        try {
          this.applyMutation(headers, r.request_body.response, outcome);
        } catch (err) {
          outcome.status = 500;
          outcome.error = (err as Error).message;
          return finish();
        }
        if (r.dynamic_metadata) outcome.dynamicMetadata = r.dynamic_metadata as Record<string, unknown>;
      }
    }

    if (this.opts.sendResponseHeaders) {
      call.write({
        response_headers: {
          headers: { headers: [{ key: ':status', raw_value: Buffer.from('200') }] },
          end_of_stream: true,
        },
      });
      const r2 = await next();
      if (r2 === 'timeout') return fail('per-message timeout (response)', 504);
      if (r2 instanceof Error) {
        if (!(closedByServer && !streamError)) return fail(r2.message, 500);
      } else if (!r2.response_headers) return fail('spurious response-phase reply', 500);
    }
    return finish();
  }

  /** What the cluster_header route (or the default route) picks for these headers. */
  private routeFor(headers: Map<string, Buffer>): string {
    const value = headers.get(this.opts.routeHeader)?.toString('latin1');
    return value && value.length > 0 ? value : this.opts.defaultCluster;
  }

  private applyMutation(
    headers: Map<string, Buffer>,
    common: CommonResponse | undefined,
    outcome: EmulatedOutcome,
  ): void {
    const mutation = common?.header_mutation;
    for (const opt of mutation?.set_headers ?? []) {
      const h = opt.header;
      if (!h) continue;
      const hasValue = typeof h.value === 'string' && h.value.length > 0;
      const hasRaw = Buffer.isBuffer(h.raw_value) && h.raw_value.length > 0;
      if (hasValue && hasRaw) throw new MutationError('Only one of value or raw_value in HeaderValue may be set');
      const value = hasRaw ? h.raw_value! : Buffer.alloc(0); // value-only becomes empty (envoy#31555)
      if (/[\r\n\0]/.test(value.toString('latin1')) || !/^[a-z0-9!#$%&'*+.^_`|~:-]+$/.test(h.key)) {
        throw new MutationError(`invalid header ${JSON.stringify(h.key)}`);
      }
      if (ENVOY_OWNED(h.key)) {
        outcome.rejectedMutations++;
        continue;
      }
      if (opt.append?.value === true && headers.has(h.key)) {
        headers.set(h.key, Buffer.concat([headers.get(h.key)!, Buffer.from(','), value]));
      } else headers.set(h.key, value);
    }
    for (const name of mutation?.remove_headers ?? []) {
      if (name.startsWith(':') || name === 'host') throw new MutationError(`cannot remove ${name}`);
      if (ENVOY_OWNED(name)) {
        outcome.rejectedMutations++;
        continue;
      }
      headers.delete(name);
    }
    // The route was resolved before ext_proc answered; only clear_route_cache (with a
    // header_mutation present, even an empty one) makes Envoy resolve it again.
    if (common?.clear_route_cache && mutation) outcome.cluster = this.routeFor(headers);
  }
}
