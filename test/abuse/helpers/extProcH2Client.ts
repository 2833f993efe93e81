// A lean ext_proc client on node:http2 for floods: one stream per request, the
// request-headers message pre-encoded with Envoy's official protos, the reply decoded with
// them, and each stream closed the way Envoy closes it (END_STREAM, then RST_STREAM at once).
// Cheaper per request than the grpc-js based emulator, so that on a 2-core machine the
// sidecar, not the client, is what a flood measures. Follows GOAWAY to a new connection (the
// sidecar recycles connections) and never retries: a request that fails is reported.
import * as http2 from 'node:http2';
import { performance } from 'node:perf_hooks';
import { officialExtProcClient } from '../../helpers/envoyEmulator.js';
import { encodeProcessingRequest, grpcFrame, PROCESS_PATH } from './rawH2.js';

export interface FloodRequest {
  readonly headers: readonly (readonly [string, string])[];
  /** Envoy's `source.address` attribute ("ip:port"). */
  readonly sourceAddress?: string;
}

export interface FloodAnswer {
  readonly ms: number;
  /** The cluster Envoy's router would pick (the route header's value, or the default). */
  readonly cluster: string | null;
  /** Why there is no decision: 'timeout', 'error: ...', 'spurious', or null. */
  readonly failure: string | null;
}

interface DecodedReply {
  request_headers?: {
    response?: { header_mutation?: { set_headers?: { header?: { key: string; raw_value?: Buffer } }[] } };
  };
}

const ROUTE_HEADER = 'x-proflag-cluster';
const DEFAULT_CLUSTER = 'backend_stable';

export function encodeRequest(r: FloodRequest): Buffer {
  const message: Record<string, unknown> = {
    request_headers: {
      headers: { headers: r.headers.map(([key, v]) => ({ key, raw_value: Buffer.from(v, 'latin1') })) },
      end_of_stream: true,
    },
  };
  if (r.sourceAddress) {
    message.attributes = {
      'envoy.filters.http.ext_proc': { fields: { 'source.address': { stringValue: r.sourceAddress } } },
    };
  }
  return grpcFrame(encodeProcessingRequest(message));
}

export class ExtProcH2Client {
  private session: http2.ClientHttp2Session | null = null;
  private readonly decode = officialExtProcClient().service.Process!.responseDeserialize as (b: Buffer) => DecodedReply;
  sessionsOpened = 0;

  constructor(
    private readonly address: string,
    private readonly messageTimeoutMs = 200,
  ) {}

  private current(): http2.ClientHttp2Session {
    if (this.session && !this.session.closed && !this.session.destroyed) return this.session;
    const s = http2.connect(`http://${this.address}`);
    this.sessionsOpened++;
    s.on('error', () => {});
    // After a GOAWAY no new stream may start here; streams already started finish.
    const retire = () => {
      if (this.session === s) this.session = null;
    };
    s.on('goaway', retire);
    s.on('close', retire);
    this.session = s;
    return s;
  }

  request(r: FloodRequest | Buffer): Promise<FloodAnswer> {
    const body = Buffer.isBuffer(r) ? r : encodeRequest(r);
    const t0 = performance.now();
    return new Promise((resolve) => {
      let stream: http2.ClientHttp2Stream;
      try {
        stream = this.current().request(
          { ':method': 'POST', ':path': PROCESS_PATH, 'content-type': 'application/grpc', te: 'trailers' },
          { endStream: false },
        );
      } catch (err) {
        this.session = null;
        resolve({ ms: performance.now() - t0, cluster: null, failure: `error: ${(err as Error).message}` });
        return;
      }
      let done = false;
      let buffered: Buffer = Buffer.alloc(0);
      const finish = (answer: Omit<FloodAnswer, 'ms'>) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        // Envoy's close: END_STREAM, then at once RST_STREAM.
        if (!stream.closed) {
          stream.end();
          stream.close(http2.constants.NGHTTP2_CANCEL);
        }
        resolve({ ms: performance.now() - t0, ...answer });
      };
      const timer = setTimeout(() => finish({ cluster: null, failure: 'timeout' }), this.messageTimeoutMs);
      stream.on('data', (chunk: Buffer) => {
        buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
        if (buffered.length < 5) return;
        const length = buffered.readUInt32BE(1);
        if (buffered.length < 5 + length) return;
        let reply: DecodedReply;
        try {
          reply = this.decode(buffered.subarray(5, 5 + length));
        } catch (err) {
          finish({ cluster: null, failure: `error: undecodable reply (${(err as Error).message})` });
          return;
        }
        if (!reply.request_headers) {
          finish({ cluster: null, failure: 'spurious' });
          return;
        }
        let cluster = DEFAULT_CLUSTER;
        for (const h of reply.request_headers.response?.header_mutation?.set_headers ?? []) {
          if (h.header?.key === ROUTE_HEADER) cluster = h.header.raw_value?.toString('latin1') ?? DEFAULT_CLUSTER;
        }
        finish({ cluster, failure: null });
      });
      stream.on('error', (err: Error) => finish({ cluster: null, failure: `error: ${err.message}` }));
      stream.on('close', () => finish({ cluster: null, failure: `error: closed without a reply (${stream.rstCode})` }));
      stream.write(body);
    });
  }

  close(): void {
    this.session?.close();
    this.session = null;
  }
}
