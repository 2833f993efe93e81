// proflag's hand-written wire codec against Envoy's OFFICIAL protos (from @grpc/grpc-js-xds):
// every reply shape the encoder writes is byte-identical to protobufjs' encoding of the same
// object and decodes with the official ProcessingResponse to what was meant; the request
// decoder reads what the official encoder writes; hostile bytes never throw.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { CommonResponse, ProcessingRequest, ProcessingResponse } from '../../src/extproc/protocol.js';
import {
  encodeProcessingResponse,
  ExtraHeaderReply,
  MODE_OVERRIDE_SEND_RESPONSE_HEADERS,
  UNCHANGED_REPLY,
  withResponseHeadersRequested,
} from '../../src/extproc/replyEncoder.js';
import { decodeProcessingRequest, REQUEST_KINDS } from '../../src/extproc/requestDecoder.js';
import { encodeResponseHeadersReply } from '../../src/extproc/responsePhase.js';
import { headersOutcome, toCommonResponse } from '../../src/extproc/requestProcessor.js';
import { NON_UTF8, officialProcessMethod, raw } from '../helpers/officialExtProc.js';

const official = officialProcessMethod();
const officialEncodeResponse = official.responseSerialize as (m: ProcessingResponse) => Buffer;
const officialDecodeResponse = official.responseDeserialize as (b: Buffer) => ProcessingResponse;
const officialEncodeRequest = official.requestSerialize as (m: ProcessingRequest) => Buffer;

/** Every reply shape proflag sends (and a few it may send for transformations/experiments). */
const REPLIES: Record<string, ProcessingResponse> = {
  'request_headers continue unchanged': { request_headers: {} },
  'request_headers with route, flags, remove, clear_route_cache, metadata': {
    request_headers: {
      response: {
        status: 'CONTINUE',
        header_mutation: {
          set_headers: [
            { header: raw('x-proflag-cluster', 'backend_canary'), append: { value: false } },
            { header: raw('x-proflag-flags', 'checkout-v2=true,search=treatment'), append: { value: false } },
            { header: raw('x-opaque', NON_UTF8), append: { value: false } },
            { header: raw('x-long', 'v'.repeat(300)), append: { value: false } },
          ],
          remove_headers: ['x-legacy-checkout', 'x-debug'],
        },
        clear_route_cache: true,
      },
    },
    dynamic_metadata: {
      fields: {
        proflag: {
          structValue: {
            fields: {
              flags: { stringValue: 'checkout-v2=true' },
              version: { numberValue: 42 },
              ratio: { numberValue: -0.125 },
              stale: { boolValue: false },
              nothing: { nullValue: 'NULL_VALUE' },
              list: { listValue: { values: [{ stringValue: 'a' }, { numberValue: 1.5 }] } },
              nested: { structValue: { fields: { deep: { stringValue: 'ü' } } } },
            },
          },
        },
      },
    },
  },
  'request_headers with mode_override (response phase)': {
    request_headers: { response: { header_mutation: { set_headers: [{ header: raw('x-a', 'b') }] } } },
    mode_override: { response_header_mode: 'SEND' },
  },
  'response_headers with a mutation': {
    response_headers: {
      response: {
        header_mutation: {
          set_headers: [{ header: raw('x-served-by', 'canary'), append: { value: false } }],
          remove_headers: ['server'],
        },
      },
    },
  },
  'response_headers unchanged': { response_headers: {} },
  immediate_response: {
    immediate_response: {
      status: { code: 'Forbidden' },
      headers: {
        set_headers: [{ header: raw('content-type', 'text/plain'), append: { value: false } }],
        remove_headers: ['set-cookie'],
      },
      body: Buffer.from('denied\n'),
      grpc_status: { status: 7 },
      details: 'proflag_quarantine',
    },
    dynamic_metadata: { fields: { proflag: { structValue: { fields: { respond: { stringValue: 'quarantine' } } } } } },
  },
  'immediate_response with a numeric status and an empty body': {
    immediate_response: { status: { code: 429 as unknown as string }, body: Buffer.alloc(0) },
  },
  'request_body replacing the body': {
    request_body: {
      response: {
        status: 'CONTINUE_AND_REPLACE',
        header_mutation: { set_headers: [{ header: raw(':method', 'POST') }] },
        body_mutation: { body: Buffer.from('replaced') },
        trailers: { headers: [raw('x-t', '1')] },
      },
    },
  },
  'response_body clearing the body': { response_body: { response: { body_mutation: { clear_body: true } } } },
  request_trailers: { request_trailers: { header_mutation: { remove_headers: ['x-checksum'] } } },
  response_trailers: { response_trailers: {} },
  'every mode and a message timeout': {
    request_headers: { response: {} },
    mode_override: {
      request_header_mode: 'SKIP',
      response_header_mode: 'SEND',
      request_body_mode: 'BUFFERED_PARTIAL',
      response_body_mode: 'STREAMED',
      request_trailer_mode: 'DEFAULT',
      response_trailer_mode: 'SKIP',
    },
    override_message_timeout: { seconds: '1', nanos: 500_000_000 },
  },
};

describe('reply encoder (hand-written) against the official protos', () => {
  it.each(Object.entries(REPLIES))('%s: same bytes as protobufjs, decodes to what was meant', (_name, reply) => {
    const ours = encodeProcessingResponse(reply);
    expect(ours.equals(officialEncodeResponse(reply))).toBe(true);
    const decoded = officialDecodeResponse(ours);
    if (typeof reply.immediate_response?.status.code === 'number') {
      // Enums decode as names (enums: String): 429 is TooManyRequests.
      expect(decoded.immediate_response?.status.code).toBe('TooManyRequests');
    } else expect(decoded).toMatchObject(reply as Record<string, unknown>);
  });

  it('a rewritten-path reply from its template: the same bytes as the whole message encoded, officially decodable', () => {
    const metadata = {
      fields: { proflag: { structValue: { fields: { flags: { stringValue: 'a,b' }, version: { numberValue: 7 } } } } },
    };
    const bases: CommonResponse[] = [
      {
        status: 'CONTINUE',
        header_mutation: {
          set_headers: [
            { header: { key: 'x-proflag-flags', raw_value: Buffer.from('a,b') }, append: { value: false } },
          ],
          remove_headers: ['x-proflag-route'],
        },
        clear_route_cache: true,
      },
      { status: 'CONTINUE', header_mutation: { set_headers: [], remove_headers: [] } },
      {},
    ];
    const longPath = '/v2/api/' + 'p'.repeat(300) + '?q=ä';
    for (const base of bases) {
      for (const withMetadata of [false, true]) {
        for (const phase of [false, true]) {
          const message: ProcessingResponse = { request_headers: { response: base } };
          if (withMetadata) message.dynamic_metadata = metadata;
          const encoded = encodeProcessingResponse(message);
          const baseReply = phase ? withResponseHeadersRequested(encoded) : encoded;
          const template = new ExtraHeaderReply(base, baseReply);
          for (const path of ['/v2/api/orders?x=1', longPath]) {
            const response = template.response(':path', path);
            const whole: ProcessingResponse = { request_headers: { response } };
            if (withMetadata) whole.dynamic_metadata = metadata;
            const expected = encodeProcessingResponse(whole);
            const ours = template.reply(':path', path);
            expect(ours.equals(phase ? withResponseHeadersRequested(expected) : expected)).toBe(true);
            const decoded = officialDecodeResponse(ours);
            const sets = decoded.request_headers?.response?.header_mutation?.set_headers ?? [];
            expect(sets.at(-1)?.header).toMatchObject({ key: ':path', raw_value: Buffer.from(path, 'latin1') });
            expect(decoded.request_headers?.response?.clear_route_cache).toBe(true);
            expect(decoded.mode_override?.response_header_mode ?? null).toBe(phase ? 'SEND' : null);
          }
        }
      }
    }
  });

  it('pre-encoded unchanged replies are the official empty phase replies', () => {
    for (const kind of REQUEST_KINDS) {
      const decoded = officialDecodeResponse(UNCHANGED_REPLY[kind]);
      expect(decoded.response).toBe(kind);
      expect(decoded[kind]).toEqual({});
    }
  });

  it('appending mode_override to an encoded reply gives the official message with response_header_mode SEND', () => {
    const outcome = headersOutcome(
      toCommonResponse({
        set: [['x-a', 'b']],
        remove: ['x-c'],
        clearRouteCache: true,
        flags: '',
        cluster: null,
        path: null,
      }),
      { fields: { proflag: { structValue: { fields: { flags: { stringValue: 'f=true' } } } } } },
      null,
    );
    const withOverride = withResponseHeadersRequested(outcome.reply);
    const decoded = officialDecodeResponse(withOverride);
    expect(decoded.mode_override).toEqual({ response_header_mode: 'SEND' });
    // Body modes are left out: Envoy reads them literally as NONE (ENVOY-EXTPROC §5).
    expect(decoded.mode_override?.request_body_mode).toBeUndefined();
    expect(decoded.request_headers?.response?.clear_route_cache).toBe(true);
    expect(decoded.dynamic_metadata).toBeDefined();
    expect(officialDecodeResponse(MODE_OVERRIDE_SEND_RESPONSE_HEADERS).mode_override).toEqual({
      response_header_mode: 'SEND',
    });
  });

  it('encodes response-headers replies for the response phase', () => {
    const decoded = officialDecodeResponse(
      encodeResponseHeadersReply({ set_headers: [{ header: raw('x-variant', 'b'), append: { value: false } }] }),
    );
    expect(decoded.response).toBe('response_headers');
    expect(decoded.response_headers?.response?.header_mutation?.set_headers?.[0]?.header?.raw_value).toEqual(
      Buffer.from('b'),
    );
    expect(officialDecodeResponse(encodeResponseHeadersReply(null))).toEqual({
      response: 'response_headers',
      response_headers: {},
    });
  });

  it('header values go out as raw_value only, never value', () => {
    const outcome = headersOutcome(
      toCommonResponse({
        set: [['x-k', 'v\u00ff']],
        remove: [],
        clearRouteCache: false,
        flags: '',
        cluster: null,
        path: null,
      }),
      null,
      null,
    );
    const h = officialDecodeResponse(outcome.reply).request_headers!.response!.header_mutation!.set_headers![0]!;
    expect(h.header.value).toBeUndefined();
    expect(h.header.raw_value).toEqual(Buffer.from([0x76, 0xff]));
    expect(h.append).toEqual({ value: false });
  });
});

describe('request decoder against the official encoder', () => {
  const headers = [
    raw(':authority', 'shop.example'),
    raw(':path', '/checkout?step=2'),
    raw(':method', 'POST'),
    raw('User-Agent', 'Mozilla/5.0'),
    raw('cookie', 'a=1'),
    raw('cookie', 'b=2'),
    raw('accept', 'x'),
    raw('accept', 'y'),
    raw('x-binary', NON_UTF8),
    { key: 'x-old', value: 'from-välue' },
    { key: 'x-both', value: 'ignored', raw_value: Buffer.from('raw') },
    raw('x-empty', ''),
  ];

  it('reads kind, headers, end_of_stream, source.address and skips metadata', () => {
    const bytes = officialEncodeRequest({
      request_headers: { headers: { headers }, end_of_stream: true },
      metadata_context: { filter_metadata: { proflag: { fields: { tenant: { stringValue: 'eu' } } } } },
      attributes: {
        other: { fields: { 'source.address': { stringValue: 'not this one' } } },
        'envoy.filters.http.ext_proc': {
          fields: {
            'request.id': { stringValue: 'r1' },
            'source.address': { stringValue: '10.0.0.7:51234' },
          },
        },
      },
    });
    const d = decodeProcessingRequest(bytes);
    expect(d.kind).toBe('request_headers');
    expect(d.malformed).toBe(false);
    const h = d.headers!;
    expect(h.endOfStream).toBe(true);
    expect(h.sourceAddress).toBe('10.0.0.7:51234');
    expect(h.get(':path')).toBe('/checkout?step=2');
    expect(h.get('user-agent')).toBe('Mozilla/5.0');
    expect(h.get('cookie')).toBe('a=1; b=2');
    expect(h.get('accept')).toBe('x, y');
    expect(h.get('x-binary')).toBe(NON_UTF8.toString('latin1'));
    expect(h.get('x-old')).toBe('from-välue');
    expect(h.get('x-both')).toBe('raw');
    expect(h.get('x-empty')).toBe('');
    expect(h.get('x-missing')).toBeUndefined();
    expect(h.has('x-empty')).toBe(true);
    expect(h.size).toBe(10);
  });

  it.each([
    ['response_headers', { response_headers: { headers: { headers: [raw(':status', '503')] } } }],
    ['request_body', { request_body: { body: Buffer.alloc(1234), end_of_stream: true } }],
    ['response_body', { response_body: { body: Buffer.alloc(0), end_of_stream: false } }],
    ['request_trailers', { request_trailers: { trailers: { headers: [raw('x', 'y')] } } }],
    ['response_trailers', { response_trailers: {} }],
  ] as const)('reads the kind of %s', (kind, message) => {
    const d = decodeProcessingRequest(officialEncodeRequest(message as ProcessingRequest));
    expect(d.kind).toBe(kind);
    if (kind === 'response_headers') expect(d.headers!.get(':status')).toBe('503');
    if (kind === 'request_body') expect([d.bodyLength, d.bodyEndOfStream]).toEqual([1234, true]);
  });

  it('reads observability_mode, and no kind from a message without one', () => {
    expect(
      decodeProcessingRequest(officialEncodeRequest({ request_headers: {}, observability_mode: true }))
        .observabilityMode,
    ).toBe(true);
    const none = decodeProcessingRequest(officialEncodeRequest({ metadata_context: {} }));
    expect([none.kind, none.malformed]).toEqual([null, false]);
  });

  it('keeps at most MAX_HEADERS headers and bounds a 1 MB value', () => {
    const many = Array.from({ length: 10_000 }, (_, i) => raw(`x-h-${i}`, 'v'));
    const d = decodeProcessingRequest(
      officialEncodeRequest({
        request_headers: { headers: { headers: [raw('user-agent', 'u'.repeat(1 << 20)), ...many] } },
      }),
    );
    expect(d.kind).toBe('request_headers');
    expect(d.headers!.get('user-agent')!.length).toBe(65_536);
    expect(d.headers!.get('x-h-510')).toBe('v');
    expect(d.headers!.get('x-h-511')).toBeUndefined(); // the 513th header
  });

  it('reads any header list as the official encoder wrote it (short and long keys and values, value, raw_value or both)', () => {
    const name = fc.constantFrom('user-agent', 'cookie', 'accept', 'x-a', 'X-Long-' + 'n'.repeat(130));
    const text = fc.oneof(fc.string({ maxLength: 20 }), fc.string({ minLength: 120, maxLength: 300 }));
    const header = fc.record({
      key: name,
      value: fc.option(text, { nil: undefined }),
      raw: fc.option(fc.oneof(fc.constant(''), text), { nil: undefined }),
    });
    fc.assert(
      fc.property(fc.array(header, { maxLength: 12 }), (list) => {
        const wire = list.map((h) => ({
          key: h.key,
          ...(h.value !== undefined ? { value: h.value } : {}),
          ...(h.raw !== undefined ? { raw_value: Buffer.from(h.raw, 'utf8') } : {}),
        }));
        const d = decodeProcessingRequest(officialEncodeRequest({ request_headers: { headers: { headers: wire } } }));
        expect(d.malformed).toBe(false);
        const seen = new Map<string, string>();
        for (const h of list) {
          const lower = h.key.toLowerCase();
          // raw_value with bytes (read as latin1) wins, else value, else empty.
          const v =
            h.raw !== undefined && h.raw.length > 0 ? Buffer.from(h.raw, 'utf8').toString('latin1') : (h.value ?? '');
          const before = seen.get(lower);
          seen.set(lower, before === undefined ? v : `${before}${lower === 'cookie' ? '; ' : ', '}${v}`);
        }
        for (const [k, v] of seen) expect(d.headers!.get(k)).toBe(v.slice(0, 65_536));
      }),
      { numRuns: 500 },
    );
  });

  it('never throws on arbitrary bytes, and flags truncated messages as malformed', () => {
    const good = officialEncodeRequest({ request_headers: { headers: { headers } } });
    for (let cut = 1; cut < good.length; cut += 7) {
      const d = decodeProcessingRequest(good.subarray(0, cut));
      if (d.kind !== null) expect(d.headers).not.toBeNull();
    }
    expect(decodeProcessingRequest(Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01])).malformed).toBe(true);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 256 }), (bytes) => {
        const d = decodeProcessingRequest(Buffer.from(bytes));
        if (d.headers) d.headers.get(':path');
      }),
      { numRuns: 2_000 },
    );
  });
});
