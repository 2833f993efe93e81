// A hand-rolled HTTP/2 client over a raw TCP socket, for the clients a well-behaved library
// never plays: one that stops reading, stops answering PINGs, sends half a gRPC frame, ignores
// the server's stream limit or never sends the connection preface. It writes frames exactly
// as told (headers as HPACK literals, no Huffman, no dynamic table) and records what the
// server sends back at frame level; it does not decode the server's header blocks.
import { createConnection, type Socket } from 'node:net';
import { officialExtProcClient } from '../../helpers/envoyEmulator.js';

export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
export const PROCESS_PATH = '/envoy.service.ext_proc.v3.ExternalProcessor/Process';

export const FRAME = { DATA: 0, HEADERS: 1, RST_STREAM: 3, SETTINGS: 4, PING: 6, GOAWAY: 7, WINDOW_UPDATE: 8 };
const FLAG_END_STREAM = 0x1;
const FLAG_ACK = 0x1;
const FLAG_END_HEADERS = 0x4;
export const SETTING = { MAX_CONCURRENT_STREAMS: 0x3, INITIAL_WINDOW_SIZE: 0x4 };

/** HPACK integer with an N-bit prefix (RFC 7541 §5.1). */
function hpackInt(value: number, prefixBits: number, firstByteFlags: number): number[] {
  const max = (1 << prefixBits) - 1;
  if (value < max) return [firstByteFlags | value];
  const out = [firstByteFlags | max];
  let rest = value - max;
  while (rest >= 128) {
    out.push((rest % 128) + 128);
    rest = Math.floor(rest / 128);
  }
  out.push(rest);
  return out;
}

/** A header block of "literal header field without indexing, new name" entries. */
export function hpackLiterals(headers: readonly (readonly [string, string | Buffer])[]): Buffer {
  const parts: Buffer[] = [];
  for (const [name, value] of headers) {
    const v = Buffer.isBuffer(value) ? value : Buffer.from(value, 'latin1');
    parts.push(Buffer.from([0x00, ...hpackInt(name.length, 7, 0)]), Buffer.from(name, 'latin1'));
    parts.push(Buffer.from(hpackInt(v.length, 7, 0)), v);
  }
  return Buffer.concat(parts);
}

export function frame(type: number, flags: number, streamId: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(streamId & 0x7fffffff, 5);
  return Buffer.concat([head, payload]);
}

/** The request headers of a gRPC call to the ext_proc Process method. */
export function grpcRequestHeaders(contentType = 'application/grpc'): [string, string][] {
  return [
    [':method', 'POST'],
    [':scheme', 'http'],
    [':path', PROCESS_PATH],
    [':authority', 'proflag'],
    ['content-type', contentType],
    ['te', 'trailers'],
  ];
}

/** gRPC length-prefixed message: flag byte, 4-byte big-endian length, message. */
export function grpcFrame(message: Buffer, options: { compressed?: boolean; claimedLength?: number } = {}): Buffer {
  const prefix = Buffer.alloc(5);
  prefix[0] = options.compressed ? 1 : 0;
  prefix.writeUInt32BE(options.claimedLength ?? message.length, 1);
  return Buffer.concat([prefix, message]);
}

/** Encode a ProcessingRequest with Envoy's official protos (the emulator's). */
export function encodeProcessingRequest(message: Record<string, unknown>): Buffer {
  const serialize = officialExtProcClient().service.Process!.requestSerialize as (v: unknown) => Buffer;
  return serialize(message);
}

/** A request_headers message carrying `headers` (raw_value only, as current Envoy sends). */
export function requestHeadersMessage(headers: readonly (readonly [string, string | Buffer])[]): Buffer {
  return encodeProcessingRequest({
    request_headers: {
      headers: {
        headers: headers.map(([key, v]) => ({ key, raw_value: Buffer.isBuffer(v) ? v : Buffer.from(v, 'latin1') })),
      },
      end_of_stream: true,
    },
  });
}

export interface ReceivedFrame {
  readonly type: number;
  readonly flags: number;
  readonly streamId: number;
  readonly payload: Buffer;
}

export interface RawH2Options {
  /** Send the connection preface and an empty SETTINGS frame at once (default true). */
  readonly preface?: boolean;
  /** Acknowledge the server's SETTINGS (default: when the preface was sent). */
  readonly ackSettings?: boolean;
  /** Answer the server's PINGs (default: when the preface was sent). */
  readonly answerPings?: boolean;
  /** Our SETTINGS entries (id → value) sent with the preface. */
  readonly settings?: Readonly<Record<number, number>>;
  /**
   * Act on what the server sends only this long after it arrived (in order), as a client
   * whose reading lags behind its writing does: it keeps opening streams on a connection
   * whose GOAWAY it has not read yet, and answers PINGs late.
   */
  readonly readLagMs?: number;
}

/**
 * One raw connection. Streams are numbered 1, 3, 5, ...; everything the server sends is
 * kept per stream (ended: RST_STREAM or END_STREAM seen) and per connection (GOAWAY, close).
 */
export class RawH2Connection {
  readonly socket: Socket;
  readonly connected: Promise<void>;
  /** Resolves when the server closes (or resets) the TCP connection. */
  readonly closed: Promise<void>;
  closedAt: number | null = null;
  /** The last GOAWAY the server sent. */
  goaway: { lastStreamId: number; errorCode: number; at: number } | null = null;
  /** Every GOAWAY, in order (a graceful close sends two). */
  readonly goaways: { lastStreamId: number; errorCode: number; at: number }[] = [];
  /** The server's first SETTINGS, id → value. */
  serverSettings: Map<number, number> | null = null;
  pingsReceived = 0;
  readonly frames: ReceivedFrame[] = [];
  /** Streams the server ended: id → how (RST_STREAM error code, or 'end' for END_STREAM). */
  readonly ended = new Map<number, number | 'end'>();
  /** DATA bytes received per stream. */
  readonly dataBytes = new Map<number, number>();
  /** When the first DATA of each stream was read (Date.now()). */
  readonly firstDataAt = new Map<number, number>();
  private nextStreamId = 1;
  private pending: Buffer = Buffer.alloc(0);
  private keepFrames = true;

  constructor(
    port: number,
    private readonly options: RawH2Options = {},
  ) {
    this.socket = createConnection({ host: '127.0.0.1', port });
    this.socket.setNoDelay(true);
    this.connected = new Promise((resolve, reject) => {
      this.socket.once('connect', () => resolve());
      this.socket.once('error', reject);
    });
    this.closed = new Promise((resolve) => {
      this.socket.once('close', () => {
        this.closedAt = Date.now();
        resolve();
      });
    });
    this.socket.on('error', () => {}); // a reset by the server is an outcome, seen as 'close'
    const lag = options.readLagMs ?? 0;
    this.socket.on(
      'data',
      lag > 0 ? (d: Buffer) => setTimeout(() => this.onData(d), lag) : (d: Buffer) => this.onData(d),
    );
    if (options.preface ?? true) {
      const entries = Object.entries(options.settings ?? {});
      const payload = Buffer.alloc(entries.length * 6);
      entries.forEach(([id, value], i) => {
        payload.writeUInt16BE(Number(id), i * 6);
        payload.writeUInt32BE(value, i * 6 + 2);
      });
      this.socket.write(Buffer.concat([PREFACE, frame(FRAME.SETTINGS, 0, 0, payload)]));
    }
  }

  /** Stop recording frame payloads (2,000 streams of replies need not be kept). */
  dropFramePayloads(): void {
    this.keepFrames = false;
  }

  /** Stop reading the socket: the kernel buffers fill, the server's writes back up. */
  stopReading(): void {
    this.socket.pause();
  }

  resumeReading(): void {
    this.socket.resume();
  }

  get isClosed(): boolean {
    return this.closedAt !== null;
  }

  write(bytes: Buffer): boolean {
    if (this.socket.destroyed) return false;
    return this.socket.write(bytes);
  }

  /** Open a stream with the gRPC request headers; its id. */
  openStream(headers: readonly (readonly [string, string | Buffer])[] = grpcRequestHeaders(), endStream = false) {
    const id = this.nextStreamId;
    this.nextStreamId += 2;
    const flags = FLAG_END_HEADERS | (endStream ? FLAG_END_STREAM : 0);
    this.write(frame(FRAME.HEADERS, flags, id, hpackLiterals(headers)));
    return id;
  }

  sendData(streamId: number, bytes: Buffer, endStream = false): void {
    // Frames of at most 16 KiB (the default SETTINGS_MAX_FRAME_SIZE); an empty one if empty.
    let off = 0;
    do {
      const chunk = bytes.subarray(off, off + 16_384);
      off += 16_384;
      const last = off >= bytes.length;
      this.write(frame(FRAME.DATA, last && endStream ? FLAG_END_STREAM : 0, streamId, chunk));
    } while (off < bytes.length);
  }

  /** A WINDOW_UPDATE for the connection (0) or a stream. */
  windowUpdate(streamId: number, increment: number): void {
    const p = Buffer.alloc(4);
    p.writeUInt32BE(increment, 0);
    this.write(frame(FRAME.WINDOW_UPDATE, 0, streamId, p));
  }

  destroy(): void {
    this.socket.destroy();
  }

  private onData(d: Buffer): void {
    this.pending = this.pending.length === 0 ? d : Buffer.concat([this.pending, d]);
    while (this.pending.length >= 9) {
      const length = this.pending.readUIntBE(0, 3);
      if (this.pending.length < 9 + length) break;
      const type = this.pending[3]!;
      const flags = this.pending[4]!;
      const streamId = this.pending.readUInt32BE(5) & 0x7fffffff;
      const payload = this.pending.subarray(9, 9 + length);
      this.pending = this.pending.subarray(9 + length);
      this.onFrame(
        { type, flags, streamId, payload: this.keepFrames ? Buffer.from(payload) : Buffer.alloc(0) },
        payload,
      );
    }
  }

  private onFrame(f: ReceivedFrame, payload: Buffer): void {
    this.frames.push(f);
    switch (f.type) {
      case FRAME.SETTINGS:
        if (f.flags & FLAG_ACK) return;
        if (this.serverSettings === null) {
          this.serverSettings = new Map();
          for (let i = 0; i + 6 <= payload.length; i += 6) {
            this.serverSettings.set(payload.readUInt16BE(i), payload.readUInt32BE(i + 2));
          }
        }
        if (this.options.ackSettings ?? this.options.preface ?? true) this.write(frame(FRAME.SETTINGS, FLAG_ACK, 0));
        return;
      case FRAME.PING:
        if (f.flags & FLAG_ACK) return;
        this.pingsReceived++;
        if (this.options.answerPings ?? this.options.preface ?? true)
          this.write(frame(FRAME.PING, FLAG_ACK, 0, Buffer.from(payload)));
        return;
      case FRAME.GOAWAY:
        this.goaway = {
          lastStreamId: payload.readUInt32BE(0) & 0x7fffffff,
          errorCode: payload.readUInt32BE(4),
          at: Date.now(),
        };
        this.goaways.push(this.goaway);
        return;
      case FRAME.RST_STREAM:
        this.ended.set(f.streamId, payload.readUInt32BE(0));
        return;
      case FRAME.DATA:
        this.dataBytes.set(f.streamId, (this.dataBytes.get(f.streamId) ?? 0) + payload.length);
        if (!this.firstDataAt.has(f.streamId)) this.firstDataAt.set(f.streamId, Date.now());
        if (f.flags & FLAG_END_STREAM) this.ended.set(f.streamId, 'end');
        return;
      case FRAME.HEADERS:
        if (f.flags & FLAG_END_STREAM) this.ended.set(f.streamId, 'end');
        return;
    }
  }
}

export const RST_CODE = {
  NO_ERROR: 0,
  PROTOCOL_ERROR: 1,
  INTERNAL_ERROR: 2,
  REFUSED_STREAM: 7,
  CANCEL: 8,
  ENHANCE_YOUR_CALM: 11,
};
