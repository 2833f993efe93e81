// The ext_proc wire protocol: our trimmed protos (proto/) loaded once, plus TypeScript shapes
// of the objects @grpc/proto-loader produces and accepts with LOADER_OPTIONS.
// Only the gRPC edge (src/extproc/) should import this module; at run time the edge imports
// only its types (the server uses its own wire codec), tests and benches load the protos.
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

export { EXT_PROC_SERVICE_PATH } from './requestDecoder.js';

const SERVICE_NAME = 'envoy.service.ext_proc.v3.ExternalProcessor';
const PROTO_FILE = 'envoy/service/ext_proc/v3/external_processor.proto';

/**
 * The repo's proto/ directory. This file sits at src/extproc/ (tsx, vitest) or
 * dist/extproc/ (after the build), both two levels below the repo root.
 */
export const PROTO_DIR = fileURLToPath(new URL('../../proto/', import.meta.url));

/**
 * keepCase: our code and Envoy's docs use the proto's snake_case names.
 * enums: String keeps replies readable ('CONTINUE'); defaults: false keeps absent fields absent,
 * which the stream logic relies on to tell phases apart; oneofs: true adds the `request`
 * discriminator. Bytes stay Buffers (a string would be taken as base64).
 */
export const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: false,
  oneofs: true,
  includeDirs: [PROTO_DIR],
};

export interface ExtProcPackage {
  readonly service: grpc.ServiceDefinition;
  readonly ExternalProcessorClient: grpc.ServiceClientConstructor;
}

let loaded: ExtProcPackage | undefined;

/** Parse the protos on first use only; every server and client shares the result. */
export function loadExtProcPackage(): ExtProcPackage {
  if (loaded) return loaded;
  const definition = protoLoader.loadSync(PROTO_FILE, LOADER_OPTIONS);
  const service = definition[SERVICE_NAME];
  if (!service || !('Process' in service)) {
    throw new Error(`${SERVICE_NAME} not found in ${PROTO_DIR}${PROTO_FILE}`);
  }
  const grpcObject = grpc.loadPackageDefinition(definition);
  const ExternalProcessorClient = SERVICE_NAME.split('.').reduce<unknown>(
    (node, part) => (node as Record<string, unknown> | undefined)?.[part],
    grpcObject,
  ) as grpc.ServiceClientConstructor;
  loaded = Object.freeze({ service: service as grpc.ServiceDefinition, ExternalProcessorClient });
  return loaded;
}

// ---- google.protobuf.Struct / Value -------------------------------------------------------
// protobufjs bundles these with camelCase field names, and keepCase does not rename them:
// `{ string_value: 'x' }` would be dropped silently (ENVOY-EXTPROC §9).

export interface ProtoStruct {
  fields?: Record<string, ProtoValue>;
}

export interface ProtoValue {
  nullValue?: 'NULL_VALUE' | 0;
  numberValue?: number;
  stringValue?: string;
  boolValue?: boolean;
  structValue?: ProtoStruct;
  listValue?: { values?: ProtoValue[] };
  /** Set on decode (oneofs: true): which of the above is present. */
  kind?: 'nullValue' | 'numberValue' | 'stringValue' | 'boolValue' | 'structValue' | 'listValue';
}

/** google.protobuf.Duration; seconds is an int64, so it decodes as a string (longs: String). */
export interface ProtoDuration {
  seconds?: string | number;
  nanos?: number;
}

// ---- envoy.config.core.v3 ------------------------------------------------------------------

export interface HeaderValue {
  key: string;
  /** Empty from current Envoy, and must not be set in mutations (see raw_value). */
  value?: string;
  /** Where current Envoy puts and expects header values; need not be UTF-8. */
  raw_value?: Buffer;
}

export interface HeaderMap {
  headers?: HeaderValue[];
}

export interface Metadata {
  filter_metadata?: Record<string, ProtoStruct>;
  typed_filter_metadata?: Record<string, { type_url?: string; value?: Buffer }>;
}

export type HeaderAppendAction =
  'APPEND_IF_EXISTS_OR_ADD' | 'ADD_IF_ABSENT' | 'OVERWRITE_IF_EXISTS_OR_ADD' | 'OVERWRITE_IF_EXISTS';

export interface HeaderValueOption {
  header: HeaderValue;
  /** What ext_proc honours: unset/false overwrites, true appends. */
  append?: { value?: boolean };
  /** Ignored by ext_proc (envoy#36982); kept for completeness. */
  append_action?: HeaderAppendAction;
  keep_empty_value?: boolean;
}

// ---- envoy.service.ext_proc.v3: what Envoy sends --------------------------------------------

export interface HttpHeaders {
  headers?: HeaderMap;
  end_of_stream?: boolean;
}

export interface HttpBody {
  body?: Buffer;
  end_of_stream?: boolean;
}

export interface HttpTrailers {
  trailers?: HeaderMap;
}

export type ProcessingRequestKind =
  'request_headers' | 'response_headers' | 'request_body' | 'response_body' | 'request_trailers' | 'response_trailers';

export interface ProcessingRequest {
  /** The oneof discriminator; absent when no kind (or one unknown to us) was sent. */
  request?: ProcessingRequestKind;
  request_headers?: HttpHeaders;
  response_headers?: HttpHeaders;
  request_body?: HttpBody;
  response_body?: HttpBody;
  request_trailers?: HttpTrailers;
  response_trailers?: HttpTrailers;
  metadata_context?: Metadata;
  /** Keyed by "envoy.filters.http.ext_proc"; first message of each direction only. */
  attributes?: Record<string, ProtoStruct>;
  /** When true Envoy ignores replies, so none must be sent. */
  observability_mode?: boolean;
}

// ---- envoy.service.ext_proc.v3: what proflag sends ------------------------------------------

export interface HeaderMutation {
  set_headers?: HeaderValueOption[];
  remove_headers?: string[];
}

/** A oneof: set body or clear_body, not both. */
export interface BodyMutation {
  body?: Buffer;
  clear_body?: boolean;
}

export interface CommonResponse {
  status?: 'CONTINUE' | 'CONTINUE_AND_REPLACE';
  header_mutation?: HeaderMutation;
  body_mutation?: BodyMutation;
  trailers?: HeaderMap;
  /** Only effective together with a header_mutation (even an empty one). */
  clear_route_cache?: boolean;
}

export interface HeadersResponse {
  response?: CommonResponse;
}

export interface BodyResponse {
  response?: CommonResponse;
}

export interface TrailersResponse {
  header_mutation?: HeaderMutation;
}

export interface ImmediateResponse {
  /** A StatusCode enum name or number, e.g. { code: 'Forbidden' } or { code: 403 }; Envoy answers 200 when below 200. */
  status: { code: string | number };
  headers?: HeaderMutation;
  body?: Buffer;
  grpc_status?: { status?: number };
  details?: string;
}

export type HeaderSendMode = 'DEFAULT' | 'SEND' | 'SKIP';
export type BodySendMode = 'NONE' | 'STREAMED' | 'BUFFERED' | 'BUFFERED_PARTIAL';

export interface ProcessingMode {
  request_header_mode?: HeaderSendMode;
  response_header_mode?: HeaderSendMode;
  request_body_mode?: BodySendMode;
  response_body_mode?: BodySendMode;
  request_trailer_mode?: HeaderSendMode;
  response_trailer_mode?: HeaderSendMode;
}

/** Exactly one of the phase fields (or immediate_response) must be set, matching the request. */
export interface ProcessingResponse {
  /** Set on decode only (oneofs: true); ignored when encoding. */
  response?: ProcessingRequestKind | 'immediate_response';
  request_headers?: HeadersResponse;
  response_headers?: HeadersResponse;
  request_body?: BodyResponse;
  response_body?: BodyResponse;
  request_trailers?: TrailersResponse;
  response_trailers?: TrailersResponse;
  immediate_response?: ImmediateResponse;
  /** Top-level keys are namespaces whose values must be structValue. */
  dynamic_metadata?: ProtoStruct;
  mode_override?: ProcessingMode;
  override_message_timeout?: ProtoDuration;
}

// ---- pre-encoded replies --------------------------------------------------------------------
// Encoding a reply with proto-loader costs 3-10 µs (object conversion, then encode); most
// replies repeat (the same flags match the same kinds of requests), so the request processor
// caches their bytes. The server's serializer sends a pre-encoded reply's bytes as they are.

export const PRE_ENCODED: unique symbol = Symbol('proflag.preEncodedReply');

/** A reply whose wire bytes are already known. */
export interface PreEncodedReply {
  readonly [PRE_ENCODED]: Buffer;
}

export function preEncoded(bytes: Buffer): ProcessingResponse {
  return { [PRE_ENCODED]: bytes } as PreEncodedReply as ProcessingResponse;
}

/** Encode a reply with the service's own serializer. */
export function encodeProcessingResponse(reply: ProcessingResponse): Buffer {
  const serialize = loadExtProcPackage().service.Process!.responseSerialize as (v: ProcessingResponse) => Buffer;
  return serialize(reply);
}

/** The service's reply serializer, passing pre-encoded replies through. */
export function passThroughSerializer(
  inner: (value: ProcessingResponse) => Buffer,
): (value: ProcessingResponse) => Buffer {
  return (value) => (value as Partial<PreEncodedReply>)[PRE_ENCODED] ?? inner(value);
}
