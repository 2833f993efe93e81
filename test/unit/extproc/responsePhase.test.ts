// The response phase in the stream state machine, with hand-made ResponsePhase objects and a
// fake call; every reply is decoded with Envoy's OFFICIAL protos.
import { describe, expect, it } from 'vitest';
import type { ProcessingRequest, ProcessingResponse } from '../../../src/extproc/protocol.js';
import { encodeProcessingResponse } from '../../../src/extproc/replyEncoder.js';
import {
  createRequestProcessor,
  headersOutcome,
  headersViewOf,
  withResponsePhase,
  type HeadersOutcome,
} from '../../../src/extproc/requestProcessor.js';
import { encodeResponseHeadersReply, type ResponsePhase } from '../../../src/extproc/responsePhase.js';
import { createStreamHandler, type CallListener, type ExtProcCall } from '../../../src/extproc/stream.js';
import { parseFlagValue } from '../../../src/flags/schema.js';
import { compileSnapshot } from '../../../src/matcher/compile.js';
import { createLogger } from '../../../src/telemetry/logger.js';
import { createMetrics, type Metrics } from '../../../src/telemetry/metrics.js';
import { officialProcessMethod, raw } from '../../helpers/officialExtProc.js';
import { profileOf } from '../../helpers/profiles.js';

const official = officialProcessMethod();
const encode = official.requestSerialize as (m: ProcessingRequest) => Buffer;
const decode = official.responseDeserialize as (b: Buffer) => ProcessingResponse;

class FakeCall implements ExtProcCall {
  written: ProcessingResponse[] = [];
  finished = 0;
  listener!: CallListener;
  sendMessage(bytes: Buffer): boolean {
    this.written.push(decode(bytes));
    return true;
  }
  finish(): void {
    this.finished++;
  }
  send(message: ProcessingRequest): void {
    this.listener.onMessage(encode(message));
  }
}

const REQUEST_HEADERS: ProcessingRequest = {
  request_headers: { headers: { headers: [raw(':path', '/'), raw(':method', 'GET')] }, end_of_stream: true },
};
const responseHeaders = (status: string): ProcessingRequest => ({
  response_headers: { headers: { headers: [raw(':status', status), raw('content-type', 'text/html')] } },
});

/** A phase that records its observations. */
function recordingPhase(reply = encodeResponseHeadersReply({ set_headers: [{ header: raw('x-variant', 'b') }] })) {
  const seen: [number | null, number][] = [];
  const phase: ResponsePhase = { reply, observe: (status, elapsedMs) => seen.push([status, elapsedMs]) };
  return { phase, seen };
}

function setup(outcome: HeadersOutcome, options: { countBodies?: boolean } = {}) {
  const metrics = createMetrics({ defaultMetrics: false });
  const handle = createStreamHandler({
    processRequestHeaders: () => outcome,
    metrics,
    logger: createLogger('silent'),
    ...options,
  });
  const call = new FakeCall();
  call.listener = handle(call);
  return { call, metrics };
}

async function phaseCounts(metrics: Metrics): Promise<Record<string, number>> {
  return Object.fromEntries((await metrics.responsePhase.get()).values.map((v) => [v.labels.outcome, v.value]));
}

describe('response phase', () => {
  it('asks for the response headers, answers them with the kept reply, observes the status once', async () => {
    const { phase, seen } = recordingPhase();
    const outcome = withResponsePhase(headersOutcome({ clear_route_cache: true }, null, null), phase);
    const { call, metrics } = setup(outcome);
    call.send(REQUEST_HEADERS);
    call.send(responseHeaders('503'));
    call.send(responseHeaders('200')); // nobody asked for this one any more
    call.listener.onHalfClose();

    expect(call.written[0]).toMatchObject({
      response: 'request_headers',
      request_headers: { response: { clear_route_cache: true } },
      mode_override: { response_header_mode: 'SEND' },
    });
    expect(call.written[0]!.mode_override!.request_body_mode).toBeUndefined();
    expect(call.written[1]).toMatchObject({
      response: 'response_headers',
      response_headers: { response: { header_mutation: { set_headers: [{ header: { key: 'x-variant' } }] } } },
    });
    expect(call.written[2]).toEqual({ response: 'response_headers', response_headers: {} });
    expect(seen).toHaveLength(1);
    expect(seen[0]![0]).toBe(503);
    expect(seen[0]![1]).toBeGreaterThanOrEqual(0);
    expect(call.finished).toBe(1);
    expect(await phaseCounts(metrics)).toEqual({ requested: 1, answered: 1, unrequested: 1 });
  });

  it('observes NaN for a :status that is not a number', () => {
    const { phase, seen } = recordingPhase();
    const { call } = setup(withResponsePhase(headersOutcome({}, null, null), phase));
    call.send(REQUEST_HEADERS);
    call.send(responseHeaders('abc'));
    expect(seen).toHaveLength(1);
    expect(Number.isNaN(seen[0]![0])).toBe(true);
  });

  it.each([
    ['a half-close', (call: FakeCall) => call.listener.onHalfClose()],
    ["Envoy's reset", (call: FakeCall) => call.listener.onAbort('cancelled')],
    ['a broken stream', (call: FakeCall) => call.listener.onAbort('error')],
    ['a timeout', (call: FakeCall) => call.listener.onAbort('timeout')],
    ['a message of no kind', (call: FakeCall) => call.send({ metadata_context: {} })],
  ])('observes null, once, when the stream ends first by %s', async (_name, end) => {
    const { phase, seen } = recordingPhase();
    const { call, metrics } = setup(withResponsePhase(headersOutcome({}, null, null), phase));
    call.send(REQUEST_HEADERS);
    end(call);
    call.listener.onAbort('cancelled');
    call.send(responseHeaders('200'));
    expect(seen.map(([s]) => s)).toEqual([null]);
    expect((await phaseCounts(metrics)).ended_first).toBe(1);
  });

  it('answers response headers nobody asked for unchanged, and counts them', async () => {
    const { call, metrics } = setup(headersOutcome({}, null, null));
    call.send(REQUEST_HEADERS);
    call.send(responseHeaders('200'));
    expect(call.written[0]!.mode_override).toBeUndefined();
    expect(call.written[1]).toEqual({ response: 'response_headers', response_headers: {} });
    expect(await phaseCounts(metrics)).toEqual({ unrequested: 1 });
  });

  it('survives an observer that throws, and counts it', async () => {
    const phase: ResponsePhase = {
      reply: encodeResponseHeadersReply(null),
      observe: () => {
        throw new Error('bug');
      },
    };
    const { call, metrics } = setup(withResponsePhase(headersOutcome({}, null, null), phase));
    call.send(REQUEST_HEADERS);
    call.send(responseHeaders('200'));
    expect(call.written).toHaveLength(2);
    expect((await phaseCounts(metrics)).observe_error).toBe(1);
  });

  it('a phase without an observer still answers the response headers', () => {
    const { call } = setup(
      withResponsePhase(headersOutcome({}, null, null), { reply: encodeResponseHeadersReply(null), observe: null }),
    );
    call.send(REQUEST_HEADERS);
    call.send(responseHeaders('200'));
    expect(call.written.map((w) => w.response)).toEqual(['request_headers', 'response_headers']);
  });

  it('keeps a phase decided in the body phase (no mode_override there) for configured response headers', () => {
    const { phase, seen } = recordingPhase();
    const { call } = setup(withResponsePhase(headersOutcome({ clear_route_cache: true }, null, null), phase), {
      countBodies: true,
    });
    call.send({ request_headers: { headers: { headers: [raw(':method', 'POST')] }, end_of_stream: false } });
    call.send({ request_body: { body: Buffer.from('hello'), end_of_stream: true } });
    call.send(responseHeaders('201'));
    expect(call.written.map((w) => w.response)).toEqual(['request_headers', 'request_body', 'response_headers']);
    expect(call.written[1]!.mode_override).toBeUndefined();
    expect(call.written[1]!.request_body?.response?.clear_route_cache).toBe(true);
    expect(seen.map(([s]) => s)).toEqual([201]);
  });

  it('an immediate_response outcome carries no phase and no mode_override', () => {
    const immediate: HeadersOutcome = Object.freeze({
      response: {},
      dynamicMetadata: null,
      reply: encodeProcessingResponse({ immediate_response: { status: { code: 'Forbidden' } } }),
      immediate: true,
      responsePhase: null,
      cluster: null,
    });
    const { phase } = recordingPhase();
    const out = withResponsePhase(immediate, phase);
    expect(out.responsePhase).toBeNull();
    expect(decode(out.reply)).toEqual({
      response: 'immediate_response',
      immediate_response: { status: { code: 'Forbidden' } },
    });
  });
});

describe('the request processor seam', () => {
  const flag = parseFlagValue({ name: 'all', enabled: true, actions: { route: { cluster: 'c' } } });
  if (!flag.ok) throw new Error('flag');
  const snapshot = compileSnapshot([flag.flag], { version: 1, source: 't', rejected: [] });

  it('reads a headers view and returns the encoded reply plus the phase its hook asks for', () => {
    const { phase } = recordingPhase();
    const asked: string[] = [];
    const process = createRequestProcessor({
      snapshots: { current: snapshot, stale: false },
      extract: () => profileOf(),
      routing: { routeHeader: 'x-proflag-cluster', flagsHeader: 'x-proflag-flags', maxFlagsHeaderLength: 1024 },
      metrics: createMetrics({ defaultMetrics: false }),
      logger: createLogger('silent'),
      responsePhase: (decision, headers) => {
        asked.push(`${decision.matches.length}:${headers.get(':path')}`);
        return headers.get(':path') === '/observed' ? phase : null;
      },
    });
    const plain = process(headersViewOf({}, { headers: { headers: [raw(':path', '/')] } }));
    const observed = process(headersViewOf({}, { headers: { headers: [raw(':path', '/observed')] } }));
    expect(asked).toEqual(['1:/', '1:/observed']);
    expect(plain.responsePhase).toBeNull();
    expect(decode(plain.reply).mode_override).toBeUndefined();
    expect(observed.responsePhase).toBe(phase);
    const reply = decode(observed.reply);
    expect(reply.mode_override).toEqual({ response_header_mode: 'SEND' });
    expect(reply.request_headers?.response?.header_mutation?.set_headers?.map((s) => s.header.key)).toEqual([
      'x-proflag-cluster',
      'x-proflag-flags',
    ]);
  });
});
