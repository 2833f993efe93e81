// The per-stream state machine with a fake call: no sockets, every path deterministic.
import { describe, expect, it } from 'vitest';
import { loadExtProcPackage } from '../../../src/extproc/protocol.js';
import type { ProcessingRequest, ProcessingResponse } from '../../../src/extproc/protocol.js';
import { headersOutcome, type HeadersOutcome } from '../../../src/extproc/requestProcessor.js';
import { createStreamHandler, type CallListener, type ExtProcCall } from '../../../src/extproc/stream.js';
import { createLogger } from '../../../src/telemetry/logger.js';
import { createMetrics } from '../../../src/telemetry/metrics.js';

const method = loadExtProcPackage().service.Process!;
const encode = method.requestSerialize as (m: ProcessingRequest) => Buffer;
const decode = method.responseDeserialize as (b: Buffer) => ProcessingResponse;

/** A call as the transport presents it; events are delivered as grpcCall.ts delivers them. */
class FakeCall implements ExtProcCall {
  written: ProcessingResponse[] = [];
  ended = 0;
  failWrites = false;
  listener: CallListener | null = null;
  sendMessage(bytes: Buffer): boolean {
    if (this.failWrites) return false;
    // Replies are decoded as Envoy would see them.
    this.written.push(decode(bytes));
    return true;
  }
  finish(): void {
    this.ended++;
  }
  emit(event: 'data' | 'end' | 'cancelled' | 'error', message?: ProcessingRequest | Error): void {
    const l = this.listener!;
    if (event === 'data') l.onMessage(encode(message as ProcessingRequest));
    else if (event === 'end') l.onHalfClose();
    else l.onAbort(event);
  }
}

function setup(outcome: HeadersOutcome = headersOutcome({}, null, null), throwing = false) {
  const metrics = createMetrics({ defaultMetrics: false });
  const handle = createStreamHandler({
    processRequestHeaders: () => {
      if (throwing) throw new Error('boom');
      return outcome;
    },
    metrics,
    logger: createLogger('silent'),
  });
  const call = new FakeCall();
  call.listener = handle(call);
  return { call, metrics };
}

const headers: ProcessingRequest = { request: 'request_headers', request_headers: { end_of_stream: true } };

describe('stream state machine', () => {
  it('replies once per message, in kind, and ends once on end', () => {
    const { call } = setup(
      headersOutcome({ clear_route_cache: true }, { fields: { proflag: { structValue: { fields: {} } } } }, null),
    );
    call.emit('data', headers);
    call.emit('data', { request: 'response_headers', response_headers: {} });
    call.emit('end');
    call.emit('end');
    expect(call.written).toEqual([
      {
        response: 'request_headers',
        request_headers: { response: { clear_route_cache: true } },
        dynamic_metadata: { fields: { proflag: { structValue: {}, kind: 'structValue' } } },
      },
      { response: 'response_headers', response_headers: {} },
    ]);
    expect(call.ended).toBe(1);
  });

  it('writes nothing after cancel (Envoy reset) and does not end', () => {
    const { call } = setup();
    call.emit('cancelled');
    call.emit('data', headers);
    expect(call.written).toEqual([]);
    expect(call.ended).toBe(0);
  });

  it('treats a write failure as a closed stream', () => {
    const { call } = setup();
    call.failWrites = true;
    call.emit('data', headers);
    call.failWrites = false;
    call.emit('data', headers);
    expect(call.written).toEqual([]);
  });

  it('ends with OK on a message of no kind and ignores what follows', async () => {
    const { call, metrics } = setup();
    call.emit('data', {});
    call.emit('data', headers);
    expect(call.written).toEqual([]);
    expect(call.ended).toBe(1);
    const unknown = (await metrics.messages.get()).values.find((v) => v.labels.kind === 'unknown');
    expect(unknown?.value).toBe(1);
  });

  it('finds the kind without the oneof discriminator', () => {
    const { call } = setup();
    call.emit('data', { request_body: { body: Buffer.from('x') } });
    expect(call.written).toEqual([{ response: 'request_body', request_body: {} }]);
  });

  it('stays silent in observability mode', () => {
    const { call } = setup();
    call.emit('data', { ...headers, observability_mode: true });
    expect(call.written).toEqual([]);
  });

  it('counts how streams end', async () => {
    const { call, metrics } = setup();
    call.emit('error', new Error('reset'));
    call.emit('cancelled');
    const values = (await metrics.streams.get()).values;
    expect(values.map((v) => [v.labels.outcome, v.value])).toEqual([['error', 1]]);
  });
});
