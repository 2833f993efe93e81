// ProcessingResponse → bytes, by hand, for every reply shape proflag sends: the phase replies
// (CommonResponse with header_mutation — raw_value only, append false —, remove_headers,
// clear_route_cache, body_mutation, trailers), immediate_response, dynamic_metadata (Struct),
// mode_override and override_message_timeout. Same bytes as protobufjs/proto-loader for the
// same object (a field is written when it is present, defaults included), which
// test/contract/replyEncoder.contract.test.ts checks against Envoy's official protos.
//
// Field numbers: ProcessingResponse: request_headers 1, response_headers 2, request_body 3,
//   response_body 4, request_trailers 5, response_trailers 6, immediate_response 7,
//   dynamic_metadata 8, mode_override 9, override_message_timeout 10.
// HeadersResponse/BodyResponse: response 1. TrailersResponse: header_mutation 1.
// CommonResponse: status 1, header_mutation 2, body_mutation 3, trailers 4, clear_route_cache 5.
// HeaderMutation: set_headers 1, remove_headers 2. HeaderValueOption: header 1, append 2
//   (BoolValue: value 1), append_action 3, keep_empty_value 4. HeaderValue: key 1, value 2,
//   raw_value 3. HeaderMap: headers 1. BodyMutation: body 1, clear_body 2.
// ImmediateResponse: status 1 (HttpStatus: code 1), headers 2, body 3, grpc_status 4 (status 1),
//   details 5. ProcessingMode: request_header_mode 1 … response_trailer_mode 6.
// Struct: fields 1 (entry key 1, value 2). Value: null 1, number 2, string 3, bool 4,
//   struct 5, list 6 (ListValue: values 1). Duration: seconds 1, nanos 2.
import type {
  BodyMutation,
  CommonResponse,
  HeaderMap,
  HeaderMutation,
  HeaderValue,
  HeaderValueOption,
  ImmediateResponse,
  ProcessingMode,
  ProcessingResponse,
  ProtoDuration,
  ProtoStruct,
  ProtoValue,
} from './protocol.js';
import { WireWriter } from './protoWire.js';

const HEADER_SEND_MODE: Record<string, number> = { DEFAULT: 0, SEND: 1, SKIP: 2 };
const BODY_SEND_MODE: Record<string, number> = { NONE: 0, STREAMED: 1, BUFFERED: 2, BUFFERED_PARTIAL: 3 };
const RESPONSE_STATUS: Record<string, number> = { CONTINUE: 0, CONTINUE_AND_REPLACE: 1 };
const APPEND_ACTION: Record<string, number> = {
  APPEND_IF_EXISTS_OR_ADD: 0,
  ADD_IF_ABSENT: 1,
  OVERWRITE_IF_EXISTS_OR_ADD: 2,
  OVERWRITE_IF_EXISTS: 3,
};
/** envoy.type.v3.StatusCode names (ImmediateResponse.status.code may be a name or a number). */
const HTTP_STATUS: Record<string, number> = Object.fromEntries(
  (
    'Empty=0 Continue=100 OK=200 Created=201 Accepted=202 NonAuthoritativeInformation=203 NoContent=204 ' +
    'ResetContent=205 PartialContent=206 MultiStatus=207 AlreadyReported=208 IMUsed=226 MultipleChoices=300 ' +
    'MovedPermanently=301 Found=302 SeeOther=303 NotModified=304 UseProxy=305 TemporaryRedirect=307 ' +
    'PermanentRedirect=308 BadRequest=400 Unauthorized=401 PaymentRequired=402 Forbidden=403 NotFound=404 ' +
    'MethodNotAllowed=405 NotAcceptable=406 ProxyAuthenticationRequired=407 RequestTimeout=408 Conflict=409 ' +
    'Gone=410 LengthRequired=411 PreconditionFailed=412 PayloadTooLarge=413 URITooLong=414 ' +
    'UnsupportedMediaType=415 RangeNotSatisfiable=416 ExpectationFailed=417 MisdirectedRequest=421 ' +
    'UnprocessableEntity=422 Locked=423 FailedDependency=424 UpgradeRequired=426 PreconditionRequired=428 ' +
    'TooManyRequests=429 RequestHeaderFieldsTooLarge=431 InternalServerError=500 NotImplemented=501 ' +
    'BadGateway=502 ServiceUnavailable=503 GatewayTimeout=504 HTTPVersionNotSupported=505 ' +
    'VariantAlsoNegotiates=506 InsufficientStorage=507 LoopDetected=508 NotExtended=510 ' +
    'NetworkAuthenticationRequired=511'
  )
    .split(' ')
    .map((pair) => {
      const [name, code] = pair.split('=');
      return [name!, Number(code)];
    }),
);

function enumValue(table: Record<string, number>, value: string | number, what: string): number {
  if (typeof value === 'number') return value;
  const n = table[value];
  if (n === undefined) throw new TypeError(`unknown ${what} ${JSON.stringify(value)}`);
  return n;
}

function writeHeaderValue(w: WireWriter, field: number, h: HeaderValue): void {
  const m = w.beginLen(field);
  if (h.key != null) w.string(1, h.key);
  if (h.value != null) w.string(2, h.value);
  if (h.raw_value != null) w.bytes(3, h.raw_value);
  w.endLen(m);
}

function writeHeaderMutation(w: WireWriter, field: number, mutation: HeaderMutation): void {
  const m = w.beginLen(field);
  for (const opt of mutation.set_headers ?? []) writeHeaderValueOption(w, opt);
  for (const name of mutation.remove_headers ?? []) w.string(2, name);
  w.endLen(m);
}

function writeHeaderValueOption(w: WireWriter, opt: HeaderValueOption): void {
  const m = w.beginLen(1);
  if (opt.header != null) writeHeaderValue(w, 1, opt.header);
  if (opt.append != null) {
    const a = w.beginLen(2);
    if (opt.append.value != null) w.uint(1, opt.append.value ? 1 : 0);
    w.endLen(a);
  }
  if (opt.append_action != null) w.uint(3, enumValue(APPEND_ACTION, opt.append_action, 'append_action'));
  if (opt.keep_empty_value != null) w.uint(4, opt.keep_empty_value ? 1 : 0);
  w.endLen(m);
}

function writeHeaderMap(w: WireWriter, field: number, map: HeaderMap): void {
  const m = w.beginLen(field);
  for (const h of map.headers ?? []) writeHeaderValue(w, 1, h);
  w.endLen(m);
}

function writeBodyMutation(w: WireWriter, field: number, body: BodyMutation): void {
  const m = w.beginLen(field);
  if (body.body != null) w.bytes(1, body.body);
  else if (body.clear_body != null) w.uint(2, body.clear_body ? 1 : 0);
  w.endLen(m);
}

function writeCommonResponse(w: WireWriter, field: number, c: CommonResponse): void {
  const m = w.beginLen(field);
  if (c.status != null) w.uint(1, enumValue(RESPONSE_STATUS, c.status, 'CommonResponse.status'));
  if (c.header_mutation != null) writeHeaderMutation(w, 2, c.header_mutation);
  if (c.body_mutation != null) writeBodyMutation(w, 3, c.body_mutation);
  if (c.trailers != null) writeHeaderMap(w, 4, c.trailers);
  if (c.clear_route_cache != null) w.uint(5, c.clear_route_cache ? 1 : 0);
  w.endLen(m);
}

/** HeadersResponse and BodyResponse: { response?: CommonResponse } at field 1. */
function writePhaseResponse(w: WireWriter, field: number, phase: { response?: CommonResponse }): void {
  const m = w.beginLen(field);
  if (phase.response != null) writeCommonResponse(w, 1, phase.response);
  w.endLen(m);
}

function writeImmediateResponse(w: WireWriter, field: number, r: ImmediateResponse): void {
  const m = w.beginLen(field);
  if (r.status != null) {
    const s = w.beginLen(1);
    if (r.status.code != null) w.uint(1, enumValue(HTTP_STATUS, r.status.code, 'HTTP status'));
    w.endLen(s);
  }
  if (r.headers != null) writeHeaderMutation(w, 2, r.headers);
  if (r.body != null) w.bytes(3, r.body);
  if (r.grpc_status != null) {
    const g = w.beginLen(4);
    if (r.grpc_status.status != null) w.uint(1, r.grpc_status.status);
    w.endLen(g);
  }
  if (r.details != null) w.string(5, r.details);
  w.endLen(m);
}

function writeStruct(w: WireWriter, field: number, s: ProtoStruct): void {
  const m = w.beginLen(field);
  for (const [key, value] of Object.entries(s.fields ?? {})) {
    const e = w.beginLen(1);
    w.string(1, key);
    writeValue(w, 2, value);
    w.endLen(e);
  }
  w.endLen(m);
}

function writeValue(w: WireWriter, field: number, v: ProtoValue): void {
  const m = w.beginLen(field);
  if (v.nullValue != null) w.uint(1, 0);
  else if (v.numberValue != null) w.double(2, v.numberValue);
  else if (v.stringValue != null) w.string(3, v.stringValue);
  else if (v.boolValue != null) w.uint(4, v.boolValue ? 1 : 0);
  else if (v.structValue != null) writeStruct(w, 5, v.structValue);
  else if (v.listValue != null) {
    const l = w.beginLen(6);
    for (const item of v.listValue.values ?? []) writeValue(w, 1, item);
    w.endLen(l);
  }
  w.endLen(m);
}

function writeProcessingMode(w: WireWriter, field: number, mode: ProcessingMode): void {
  const m = w.beginLen(field);
  if (mode.request_header_mode != null) w.uint(1, enumValue(HEADER_SEND_MODE, mode.request_header_mode, 'mode'));
  if (mode.response_header_mode != null) w.uint(2, enumValue(HEADER_SEND_MODE, mode.response_header_mode, 'mode'));
  if (mode.request_body_mode != null) w.uint(3, enumValue(BODY_SEND_MODE, mode.request_body_mode, 'mode'));
  if (mode.response_body_mode != null) w.uint(4, enumValue(BODY_SEND_MODE, mode.response_body_mode, 'mode'));
  if (mode.request_trailer_mode != null) w.uint(5, enumValue(HEADER_SEND_MODE, mode.request_trailer_mode, 'mode'));
  if (mode.response_trailer_mode != null) w.uint(6, enumValue(HEADER_SEND_MODE, mode.response_trailer_mode, 'mode'));
  w.endLen(m);
}

function writeDuration(w: WireWriter, field: number, d: ProtoDuration): void {
  const m = w.beginLen(field);
  if (d.seconds != null) {
    const seconds = Number(d.seconds);
    if (!Number.isSafeInteger(seconds) || seconds < 0) throw new RangeError(`Duration seconds ${d.seconds}`);
    w.uint(1, seconds);
  }
  if (d.nanos != null) {
    if (!Number.isInteger(d.nanos) || d.nanos < 0) throw new RangeError(`Duration nanos ${d.nanos}`);
    w.uint(2, d.nanos);
  }
  w.endLen(m);
}

const writer = new WireWriter(1024);

/**
 * Encode a ProcessingResponse (the object shapes of protocol.ts). The oneof is whichever phase
 * field is present (the first, if a caller set several). Throws TypeError/RangeError on a
 * value that has no encoding (an unknown enum name, a negative duration): a programming error.
 */
export function encodeProcessingResponse(reply: ProcessingResponse): Buffer {
  const w = writer;
  w.pos = 0;
  if (reply.request_headers != null) writePhaseResponse(w, 1, reply.request_headers);
  else if (reply.response_headers != null) writePhaseResponse(w, 2, reply.response_headers);
  else if (reply.request_body != null) writePhaseResponse(w, 3, reply.request_body);
  else if (reply.response_body != null) writePhaseResponse(w, 4, reply.response_body);
  else if (reply.request_trailers != null) {
    const m = w.beginLen(5);
    if (reply.request_trailers.header_mutation != null)
      writeHeaderMutation(w, 1, reply.request_trailers.header_mutation);
    w.endLen(m);
  } else if (reply.response_trailers != null) {
    const m = w.beginLen(6);
    if (reply.response_trailers.header_mutation != null)
      writeHeaderMutation(w, 1, reply.response_trailers.header_mutation);
    w.endLen(m);
  } else if (reply.immediate_response != null) writeImmediateResponse(w, 7, reply.immediate_response);
  if (reply.dynamic_metadata != null) writeStruct(w, 8, reply.dynamic_metadata);
  if (reply.mode_override != null) writeProcessingMode(w, 9, reply.mode_override);
  if (reply.override_message_timeout != null) writeDuration(w, 10, reply.override_message_timeout);
  return w.finish();
}

/**
 * `mode_override: { response_header_mode: SEND }`, to append to an encoded request-headers
 * reply (protobuf fields may come in any order; 9 after 1 and 8 is also the canonical order).
 * Body modes left out mean NONE (ENVOY-EXTPROC §5): proflag never needs bodies after deciding.
 */
export const MODE_OVERRIDE_SEND_RESPONSE_HEADERS: Buffer = encodeProcessingResponse({
  mode_override: { response_header_mode: 'SEND' },
});

/** An encoded reply plus mode_override asking Envoy for the response headers. */
export function withResponseHeadersRequested(reply: Buffer): Buffer {
  return Buffer.concat([reply, MODE_OVERRIDE_SEND_RESPONSE_HEADERS]);
}

/** Replies that leave everything unchanged, one per phase. */
export const UNCHANGED_REPLY = Object.freeze({
  request_headers: encodeProcessingResponse({ request_headers: {} }),
  response_headers: encodeProcessingResponse({ response_headers: {} }),
  request_body: encodeProcessingResponse({ request_body: {} }),
  response_body: encodeProcessingResponse({ response_body: {} }),
  request_trailers: encodeProcessingResponse({ request_trailers: {} }),
  response_trailers: encodeProcessingResponse({ response_trailers: {} }),
});

/**
 * A request-headers reply that differs from request to request only by one header set last
 * and clear_route_cache (rewritePath's `:path`). Such replies cannot be cached whole, and the
 * general encoder, called for a small share of requests, stays in V8's baseline tier: it cost
 * 10-25 µs per rewritten request in the decision bench. Here the rest of the reply is encoded
 * once; each request writes a few bytes around it. Same bytes as encodeProcessingResponse of
 * the full message (test/contract/protocolCodec.contract.test.ts).
 */
export class ExtraHeaderReply {
  readonly #base: CommonResponse;
  readonly #status: Buffer;
  readonly #sets: Buffer;
  readonly #removes: Buffer;
  readonly #bodyAndTrailers: Buffer;
  /** The reply's fields after request_headers (dynamic_metadata, mode_override). */
  readonly #rest: Buffer;

  /**
   * @param base the CommonResponse without the extra header
   * @param baseReply that response's encoded reply (request_headers field first, as
   *   encodeProcessingResponse writes it), whose later fields are kept as they are
   */
  constructor(base: CommonResponse, baseReply: Buffer) {
    this.#base = base;
    const piece = (write: (w: WireWriter) => void): Buffer => {
      const w = writer;
      w.pos = 0;
      write(w);
      return w.finish();
    };
    this.#status = piece((w) => {
      if (base.status != null) w.uint(1, enumValue(RESPONSE_STATUS, base.status, 'CommonResponse.status'));
    });
    this.#sets = piece((w) => {
      for (const opt of base.header_mutation?.set_headers ?? []) writeHeaderValueOption(w, opt);
    });
    this.#removes = piece((w) => {
      for (const name of base.header_mutation?.remove_headers ?? []) w.string(2, name);
    });
    this.#bodyAndTrailers = piece((w) => {
      if (base.body_mutation != null) writeBodyMutation(w, 3, base.body_mutation);
      if (base.trailers != null) writeHeaderMap(w, 4, base.trailers);
    });
    this.#rest = baseReply.subarray(lengthOfFirstField(baseReply));
  }

  /** The CommonResponse with `key: value` set last and clear_route_cache. */
  response(key: string, value: string): CommonResponse {
    const base = this.#base;
    return {
      ...base,
      header_mutation: {
        set_headers: [
          ...(base.header_mutation?.set_headers ?? []),
          { header: { key, raw_value: Buffer.from(value, 'latin1') }, append: { value: false } },
        ],
        remove_headers: [...(base.header_mutation?.remove_headers ?? [])],
      },
      clear_route_cache: true,
    };
  }

  /** The encoded reply of response(key, value), with the base reply's later fields. */
  reply(key: string, value: string): Buffer {
    const w = writer;
    w.pos = 0;
    const phase = w.beginLen(1);
    const common = w.beginLen(1);
    w.raw(this.#status);
    const mutation = w.beginLen(2);
    w.raw(this.#sets);
    const option = w.beginLen(1);
    const header = w.beginLen(1);
    w.string(1, key, 'latin1');
    w.string(3, value, 'latin1');
    w.endLen(header);
    const append = w.beginLen(2);
    w.uint(1, 0);
    w.endLen(append);
    w.endLen(option);
    w.raw(this.#removes);
    w.endLen(mutation);
    w.raw(this.#bodyAndTrailers);
    w.uint(5, 1);
    w.endLen(common);
    w.endLen(phase);
    w.raw(this.#rest);
    return w.finish();
  }
}

/** Bytes taken by the first (length-delimited) field of an encoded message. */
function lengthOfFirstField(bytes: Buffer): number {
  let pos = 1; // the tag: fields 1-15 take one byte
  let len = 0;
  for (let shift = 0; ; shift += 7) {
    const b = bytes[pos++]!;
    len += (b & 0x7f) * 2 ** shift;
    if (b < 0x80) break;
  }
  return pos + len;
}
