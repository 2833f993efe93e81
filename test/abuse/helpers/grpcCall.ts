// One HTTP/2 call on node:http2 with exactly the bytes a test chooses (oversize messages,
// odd content types, flags and length prefixes), respecting flow control, and everything the
// server answered: HTTP status, grpc-status (headers or trailers), decoded replies, reset code.
import * as http2 from 'node:http2';
import { performance } from 'node:perf_hooks';
import { officialExtProcClient } from '../../helpers/envoyEmulator.js';
import { PROCESS_PATH } from './rawH2.js';
import { runQueueWaitMs } from './stallWatch.js';

export interface DecodedReply {
  response?: string;
  request_headers?: {
    response?: { header_mutation?: { set_headers?: { header?: { key: string; raw_value?: Buffer } }[] } };
  };
}

export interface CallOutcome {
  readonly httpStatus: number | null;
  readonly grpcStatus: number | null;
  readonly replies: readonly DecodedReply[];
  /** RST_STREAM code when the server reset the stream. */
  readonly rstCode: number | null;
  /** From the first byte written until the first reply or the end of the stream. */
  readonly ms: number;
  /** Neither a reply nor an end within the deadline. */
  readonly hung: boolean;
  /** How long the sidecar waited for a CPU meanwhile (options.sidecarPid; else NaN). */
  readonly sidecarWaitMs: number;
}

export const GRPC_HEADERS: http2.OutgoingHttpHeaders = Object.freeze({
  ':method': 'POST',
  ':path': PROCESS_PATH,
  'content-type': 'application/grpc',
  te: 'trailers',
});

export const GRPC_STATUS = { OK: 0, UNKNOWN: 2, INVALID_ARGUMENT: 3, RESOURCE_EXHAUSTED: 8, INTERNAL: 13 };

export interface CallOptions {
  readonly body: Buffer;
  /** Request headers; the gRPC ones by default. */
  readonly headers?: http2.OutgoingHttpHeaders;
  readonly deadlineMs: number;
  /** The sidecar's pid, to tell how long it waited for a CPU during the call. */
  readonly sidecarPid?: number;
}

/** Make one call on `session` (a fresh connection when omitted); the server's answer. */
export async function grpcCall(address: string, options: CallOptions, session?: http2.ClientHttp2Session) {
  const own = session ?? http2.connect(`http://${address}`);
  if (!session) own.on('error', () => {});
  try {
    return await callOn(own, options);
  } finally {
    if (!session) own.close();
  }
}

function callOn(session: http2.ClientHttp2Session, options: CallOptions): Promise<CallOutcome> {
  const decode = officialExtProcClient().service.Process!.responseDeserialize as (b: Buffer) => DecodedReply;
  return new Promise((resolve) => {
    const t0 = performance.now();
    const waited0 = options.sidecarPid ? runQueueWaitMs(options.sidecarPid) : NaN;
    const stream = session.request(options.headers ?? GRPC_HEADERS, { endStream: false });
    let httpStatus: number | null = null;
    let grpcStatus: number | null = null;
    const replies: DecodedReply[] = [];
    let buffered: Buffer = Buffer.alloc(0);
    let answeredAt: number | null = null;
    let done = false;
    const finish = (hung: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      const rstCode = stream.rstCode !== undefined && stream.rstCode !== 0 ? stream.rstCode : null;
      if (!stream.closed) stream.close(http2.constants.NGHTTP2_CANCEL);
      resolve({
        httpStatus,
        grpcStatus,
        replies,
        rstCode,
        ms: (answeredAt ?? performance.now()) - t0,
        hung,
        sidecarWaitMs: options.sidecarPid ? runQueueWaitMs(options.sidecarPid) - waited0 : NaN,
      });
    };
    const timer = setTimeout(() => finish(true), options.deadlineMs);
    const readStatus = (h: http2.IncomingHttpHeaders) => {
      if (h[':status'] !== undefined) httpStatus = Number(h[':status']);
      if (h['grpc-status'] !== undefined) grpcStatus = Number(h['grpc-status']);
    };
    stream.on('response', (h) => {
      readStatus(h);
      // A trailers-only answer (grpc-status in the headers) or an HTTP error is final.
      if (grpcStatus !== null || (httpStatus !== null && httpStatus !== 200)) {
        answeredAt ??= performance.now();
        finish(false);
      }
    });
    stream.on('trailers', (h) => {
      readStatus(h);
      answeredAt ??= performance.now();
    });
    stream.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      while (buffered.length >= 5 && buffered.length >= 5 + buffered.readUInt32BE(1)) {
        const length = buffered.readUInt32BE(1);
        try {
          replies.push(decode(buffered.subarray(5, 5 + length)));
        } catch {
          replies.push({ response: 'undecodable' });
        }
        buffered = buffered.subarray(5 + length);
        // The first reply is the answer; like Envoy, close at once.
        answeredAt ??= performance.now();
        finish(false);
      }
    });
    stream.on('end', () => finish(false));
    stream.on('error', () => finish(false));
    stream.on('close', () => finish(false));
    stream.write(options.body);
  });
}

/** The cluster a decided reply routes to (the route header's value), or null. */
export function routedCluster(reply: DecodedReply | undefined): string | null {
  for (const h of reply?.request_headers?.response?.header_mutation?.set_headers ?? []) {
    if (h.header?.key === 'x-proflag-cluster') return h.header.raw_value?.toString('latin1') ?? null;
  }
  return null;
}

/**
 * The part of a call's latency that is the sidecar's: the time it waited for a CPU (the
 * machine's doing, on a shared machine) taken off.
 */
export function sidecarMs(o: CallOutcome): number {
  return Number.isNaN(o.sidecarWaitMs) ? o.ms : o.ms - o.sidecarWaitMs;
}

/** "refused" (a non-OK gRPC status, an HTTP error, a reset), "decided", or "hung". */
export function verdict(o: CallOutcome): 'refused' | 'decided' | 'hung' | 'ended-ok' {
  if (o.hung) return 'hung';
  if (o.replies.some((r) => r.request_headers !== undefined)) return 'decided';
  if (o.rstCode !== null || (o.grpcStatus !== null && o.grpcStatus !== 0)) return 'refused';
  if (o.httpStatus !== null && o.httpStatus !== 200) return 'refused';
  return 'ended-ok';
}
