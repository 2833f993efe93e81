// gRPC length-prefixed message framing (gRPC over HTTP/2: 1 byte compressed flag, 4 bytes
// big-endian length, then the message). The reader is fed DATA chunks as they arrive and
// hands out whole messages; a message that spans chunks is assembled, one that does not is
// handed out as a view of the chunk (no copy). The size limit is checked on the length prefix,
// before a byte of the message is buffered: a prefix claiming 2 GB is refused at once. The
// bodies being assembled, all calls of the server together, stay within an AssemblyBudget: a
// client that announces large messages on many streams and never finishes them gets
// RESOURCE_EXHAUSTED once the budget is spent, instead of streams × message limit of memory.

export const FRAME_HEADER_BYTES = 5;

export type FrameProblem = 'too-large' | 'compressed' | 'over-budget';

export interface FrameSink {
  onMessage(message: Buffer): void;
  /** The stream must be failed; nothing more is delivered after this. */
  onFrameProblem(problem: FrameProblem, detail: string): void;
}

/** Bytes of message bodies being assembled across DATA frames, shared by every call of a server. */
export class AssemblyBudget {
  #used = 0;
  constructor(readonly limitBytes: number) {}

  get usedBytes(): number {
    return this.#used;
  }

  /** Take `n` bytes; false (nothing taken) when that would go over the limit. */
  reserve(n: number): boolean {
    if (this.#used + n > this.limitBytes) return false;
    this.#used += n;
    return true;
  }

  release(n: number): void {
    this.#used = Math.max(0, this.#used - n);
  }
}

const UNLIMITED = new AssemblyBudget(Number.POSITIVE_INFINITY);

export class MessageReader {
  /** An incomplete prefix carried over from the last chunk (fewer than 5 bytes). */
  private head: Buffer | null = null;
  /** The body of a message being assembled across chunks, allocated once its length is known. */
  private body: Buffer | null = null;
  private filled = 0;
  private failed = false;

  constructor(
    private readonly maxMessageBytes: number,
    private readonly sink: FrameSink,
    private readonly budget: AssemblyBudget = UNLIMITED,
  ) {}

  /** True when the stream ended in the middle of a frame. */
  get incomplete(): boolean {
    return this.head !== null || this.body !== null;
  }

  push(chunk: Buffer): void {
    if (this.failed) return;
    let buf = chunk;
    let pos = 0;
    if (this.body !== null) {
      const take = Math.min(this.body.length - this.filled, buf.length);
      buf.copy(this.body, this.filled, 0, take);
      this.filled += take;
      pos = take;
      if (this.filled < this.body.length) return;
      const message = this.body;
      this.body = null;
      this.budget.release(message.length);
      this.sink.onMessage(message);
      if (this.failed) return;
    } else if (this.head !== null) {
      buf = Buffer.concat([this.head, buf]);
      this.head = null;
    }
    while (buf.length - pos >= FRAME_HEADER_BYTES) {
      const flag = buf[pos]!;
      const len = buf.readUInt32BE(pos + 1);
      if (flag !== 0) {
        this.fail('compressed', `compressed flag ${flag}: this server accepts identity encoding only`);
        return;
      }
      if (len > this.maxMessageBytes) {
        this.fail('too-large', `message of ${len} bytes exceeds the limit of ${this.maxMessageBytes}`);
        return;
      }
      const start = pos + FRAME_HEADER_BYTES;
      const end = start + len;
      if (end > buf.length) {
        // Spans chunks: allocate the body once (its size is within the limits) and fill it.
        if (!this.budget.reserve(len)) {
          this.fail(
            'over-budget',
            `message of ${len} bytes would take the messages being assembled past ${this.budget.limitBytes} bytes`,
          );
          return;
        }
        this.body = Buffer.allocUnsafe(len);
        this.filled = buf.copy(this.body, 0, start);
        return;
      }
      this.sink.onMessage(buf.subarray(start, end));
      if (this.failed) return;
      pos = end;
    }
    if (pos < buf.length) this.head = Buffer.from(buf.subarray(pos));
  }

  /** Give back what an unfinished message holds (the stream is gone); nothing is read after. */
  dispose(): void {
    this.failed = true;
    this.head = null;
    if (this.body !== null) this.budget.release(this.body.length);
    this.body = null;
  }

  private fail(problem: FrameProblem, detail: string): void {
    this.dispose();
    this.sink.onFrameProblem(problem, detail);
  }
}

/** One message with its prefix, in a single buffer (one DATA write). */
export function frameMessage(message: Buffer): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + message.length);
  out[0] = 0;
  out.writeUInt32BE(message.length, 1);
  message.copy(out, FRAME_HEADER_BYTES);
  return out;
}
