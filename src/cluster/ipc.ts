// The messages between the primary and its workers (node:cluster's IPC channel, with
// 'advanced' serialization: structured clone, so typed arrays travel as they are), and the
// request/response on top of it that lets the primary's admin routes ask a worker a topic
// (servingTopics.ts). Every message carries `proflag`: its kind.
//
// Worker → primary:
//   learning  once, before any sample: the worker's store kind (the primary's learner needs it)
//   up        the worker serves gRPC (after its first load)
//   samples   a batch of sampled request profiles (derived fields only) for the primary's learner
//   answer    the answer to an `ask`
// Primary → worker:
//   ask       a topic with a payload, answered once
//   stop      drain and exit 0 (what SIGTERM does to a single process)
import type { RequestProfile } from '../features/profile.js';
import { SERVING_TOPICS, type ServingState, type ServingTopic } from '../admin/servingTopics.js';

export type StoreKind = 'redis' | 'file';

export type WorkerMessage =
  | { readonly proflag: 'learning'; readonly storeKind: StoreKind }
  | { readonly proflag: 'up'; readonly grpcPort: number; readonly pid: number }
  | { readonly proflag: 'samples'; readonly profiles: readonly RequestProfile[] }
  | { readonly proflag: 'answer'; readonly id: number; readonly ok: true; readonly value: unknown }
  | { readonly proflag: 'answer'; readonly id: number; readonly ok: false; readonly error: string };

export type PrimaryMessage =
  | { readonly proflag: 'ask'; readonly id: number; readonly topic: ServingTopic; readonly payload: unknown }
  | { readonly proflag: 'stop' };

const WORKER_KINDS = new Set(['learning', 'up', 'samples', 'answer']);
const PRIMARY_KINDS = new Set(['ask', 'stop']);

function kindOf(msg: unknown): unknown {
  return typeof msg === 'object' && msg !== null ? (msg as { proflag?: unknown }).proflag : undefined;
}

export function isWorkerMessage(msg: unknown): msg is WorkerMessage {
  return WORKER_KINDS.has(kindOf(msg) as string);
}

export function isPrimaryMessage(msg: unknown): msg is PrimaryMessage {
  return PRIMARY_KINDS.has(kindOf(msg) as string);
}

interface Pending {
  resolve(value: unknown): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
}

/**
 * The primary's side of one worker: asks with a deadline, matched to their answers by id.
 * `send` returns false when the worker's channel is gone (the ask then fails at once).
 */
export class AskChannel {
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;
  #closed: string | null = null;

  constructor(private readonly send: (msg: PrimaryMessage) => boolean) {}

  ask(topic: ServingTopic, payload: unknown, timeoutMs: number): Promise<unknown> {
    if (this.#closed !== null) return Promise.reject(new Error(this.#closed));
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new Error(`no answer to ${topic} within ${timeoutMs} ms`));
      }, timeoutMs);
      timer.unref();
      this.#pending.set(id, { resolve, reject, timer });
      let sent = false;
      try {
        sent = this.send({ proflag: 'ask', id, topic, payload });
      } catch {
        sent = false;
      }
      if (!sent) this.#settle(id, new Error('the worker channel is closed'));
    });
  }

  /** Feed an `answer` message from the worker. */
  onAnswer(msg: Extract<WorkerMessage, { proflag: 'answer' }>): void {
    this.#settle(msg.id, msg.ok ? undefined : new Error(msg.error), msg.ok ? msg.value : undefined);
  }

  /** The worker is gone: every pending ask fails with `reason`, and so do later ones. */
  close(reason: string): void {
    this.#closed = reason;
    for (const id of [...this.#pending.keys()]) this.#settle(id, new Error(reason));
  }

  get pending(): number {
    return this.#pending.size;
  }

  #settle(id: number, err: Error | undefined, value?: unknown): void {
    const p = this.#pending.get(id);
    if (!p) return; // timed out already
    this.#pending.delete(id);
    clearTimeout(p.timer);
    if (err) p.reject(err);
    else p.resolve(value);
  }
}

/** The worker's side: answer every `ask` from the topics, with this process's state. */
export async function answerAsk(
  state: ServingState,
  msg: Extract<PrimaryMessage, { proflag: 'ask' }>,
): Promise<Extract<WorkerMessage, { proflag: 'answer' }>> {
  const handler = Object.hasOwn(SERVING_TOPICS, msg.topic) ? SERVING_TOPICS[msg.topic] : undefined;
  if (!handler) return { proflag: 'answer', id: msg.id, ok: false, error: `unknown topic ${String(msg.topic)}` };
  try {
    return { proflag: 'answer', id: msg.id, ok: true, value: await handler(state, msg.payload) };
  } catch (err) {
    return { proflag: 'answer', id: msg.id, ok: false, error: (err as Error).message };
  }
}
