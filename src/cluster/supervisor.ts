// The primary's workers (node:cluster): forks PROFLAG_WORKERS of them, one per slot 1..N,
// restarts one that exits without being asked to (with capped, jittered backoff, counted),
// and drains them all on stop. Each worker is a whole sidecar (its own store connection,
// snapshot, gRPC listener); node:cluster shares the listening socket, and on Linux the
// primary accepts connections and hands them to the workers in turn (round-robin), so any
// server that listens through Node's net/http2 listen() works unchanged.
import cluster, { type Worker } from 'node:cluster';
import { backoffDelay, type BackoffOptions } from '../store/backoff.js';
import type { Logger } from '../telemetry/logger.js';
import { AskChannel, isWorkerMessage, type PrimaryMessage, type WorkerMessage } from './ipc.js';

export type SlotState = 'starting' | 'running' | 'restarting' | 'stopping';

/** One slot as others may see it. */
export interface SlotView {
  readonly slot: number;
  readonly pid: number | null;
  readonly state: SlotState;
  /** Asks to the worker in this slot; null while it has none. */
  readonly channel: AskChannel | null;
}

export interface SupervisorOptions {
  readonly workers: number;
  /** Extra environment of every worker. */
  readonly env: Readonly<Record<string, string>>;
  readonly logger: Logger;
  /** Messages other than answers and `up` (samples, learning). */
  readonly onMessage: (slot: number, msg: WorkerMessage) => void;
  /** A worker serves gRPC (first start or restart). */
  readonly onUp?: (slot: number, grpcPort: number) => void;
  /** A worker exited; `channel` was its ask channel (already closed). */
  readonly onExit?: (slot: number, channel: AskChannel, expected: boolean) => void;
  /** A worker exited unasked and will be forked again. */
  readonly onRestart?: (slot: number) => void;
  readonly backoff?: BackoffOptions;
  /** A worker that served at least this long before dying restarts without delay growth. */
  readonly healthyAfterMs?: number;
}

interface Slot {
  readonly slot: number;
  worker: Worker | null;
  channel: AskChannel | null;
  state: SlotState;
  /** When the current worker started serving (ms), null before. */
  upAt: number | null;
  /** Consecutive short-lived workers: the backoff attempt. */
  failures: number;
  timer: NodeJS.Timeout | null;
}

const DEFAULT_RESTART_BACKOFF: BackoffOptions = { baseMs: 250, maxMs: 10_000 };

export class Supervisor {
  readonly #o: SupervisorOptions;
  readonly #slots: Slot[];
  #started = false;
  #stopping = false;
  #restarts = 0;
  #startWaiters: { resolve(): void; reject(err: Error): void } | null = null;

  constructor(options: SupervisorOptions) {
    this.#o = options;
    this.#slots = Array.from({ length: options.workers }, (_, i) => ({
      slot: i + 1,
      worker: null,
      channel: null,
      state: 'starting' as SlotState,
      upAt: null,
      failures: 0,
      timer: null,
    }));
  }

  /** Workers that exited unasked (and were restarted). */
  get restarts(): number {
    return this.#restarts;
  }

  slots(): readonly SlotView[] {
    return this.#slots.map((s) => ({
      slot: s.slot,
      pid: s.worker?.process.pid ?? null,
      state: s.state,
      channel: s.channel,
    }));
  }

  /** Slots whose worker serves now. */
  running(): readonly SlotView[] {
    return this.slots().filter((s) => s.state === 'running' && s.channel !== null);
  }

  /**
   * Fork every worker. Resolves when all serve; rejects when one exits before they all do
   * (after stopping the others): a worker that cannot start would only fail again.
   */
  start(): Promise<void> {
    const all = new Promise<void>((resolve, reject) => (this.#startWaiters = { resolve, reject }));
    for (const s of this.#slots) this.#fork(s);
    return all.then(
      () => {
        this.#started = true;
      },
      async (err: Error) => {
        await this.stop(2_000);
        throw err;
      },
    );
  }

  /** Ask every worker to drain and exit; SIGKILL what is left after graceMs + 3 s. */
  async stop(graceMs: number): Promise<void> {
    this.#stopping = true;
    const live: Promise<void>[] = [];
    for (const s of this.#slots) {
      if (s.timer) clearTimeout(s.timer);
      s.timer = null;
      const worker = s.worker;
      if (!worker) continue;
      s.state = 'stopping';
      live.push(this.#exitOf(worker));
      if (!this.#send(worker, { proflag: 'stop' })) worker.process.kill('SIGTERM');
    }
    if (live.length === 0) return;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      Promise.all(live).then(() => false),
      new Promise<boolean>((r) => (timer = setTimeout(() => r(true), graceMs + 3_000))),
    ]);
    clearTimeout(timer);
    if (timedOut) {
      this.#o.logger.warn('workers still running after the grace period: killing them');
      this.abort();
      await Promise.race([Promise.all(live), new Promise((r) => setTimeout(r, 1_000))]);
    }
  }

  /** Kill every worker now (a second signal). */
  abort(): void {
    this.#stopping = true;
    for (const s of this.#slots) {
      if (s.timer) clearTimeout(s.timer);
      s.timer = null;
      s.worker?.process.kill('SIGKILL');
    }
  }

  #send(worker: Worker, msg: PrimaryMessage): boolean {
    if (!worker.isConnected()) return false;
    try {
      return worker.send(msg, undefined, () => {});
    } catch {
      return false;
    }
  }

  #exitOf(worker: Worker): Promise<void> {
    if (worker.process.exitCode !== null || worker.process.signalCode !== null) return Promise.resolve();
    return new Promise((resolve) => worker.once('exit', () => resolve()));
  }

  #fork(s: Slot): void {
    s.timer = null;
    s.state = 'starting';
    s.upAt = null;
    const worker = cluster.fork(this.#o.env);
    const channel = new AskChannel((msg) => this.#send(worker, msg));
    s.worker = worker;
    s.channel = null; // asks only once it serves
    worker.on('message', (msg: unknown) => {
      if (!isWorkerMessage(msg)) return;
      switch (msg.proflag) {
        case 'answer':
          channel.onAnswer(msg);
          return;
        case 'up':
          if (s.worker !== worker || this.#stopping) return;
          s.state = 'running';
          s.upAt = Date.now();
          s.channel = channel;
          this.#o.logger.info({ worker: s.slot, pid: msg.pid }, 'worker serving');
          this.#o.onUp?.(s.slot, msg.grpcPort);
          this.#checkAllUp();
          return;
        default:
          this.#o.onMessage(s.slot, msg);
      }
    });
    // Errors of the IPC channel surface as failed sends and the exit below.
    worker.on('error', () => {});
    worker.on('exit', (code: number | null, signal: string | null) => this.#onExit(s, worker, channel, code, signal));
  }

  #checkAllUp(): void {
    if (this.#started || !this.#startWaiters) return;
    if (this.#slots.every((s) => s.state === 'running')) this.#startWaiters.resolve();
  }

  #onExit(s: Slot, worker: Worker, channel: AskChannel, code: number | null, signal: string | null): void {
    channel.close(`worker ${s.slot} exited`);
    if (s.worker !== worker) return;
    const expected = this.#stopping;
    s.worker = null;
    s.channel = null;
    this.#o.onExit?.(s.slot, channel, expected);
    if (expected) return;
    const why = { worker: s.slot, pid: worker.process.pid, exitCode: code, signal };
    if (!this.#started) {
      s.state = 'restarting';
      this.#startWaiters?.reject(
        new Error(`worker ${s.slot} exited (exit code ${code}, signal ${signal}) before serving`),
      );
      return;
    }
    const healthy = s.upAt !== null && Date.now() - s.upAt >= (this.#o.healthyAfterMs ?? 30_000);
    s.failures = healthy ? 1 : s.failures + 1;
    const delay = backoffDelay(s.failures, this.#o.backoff ?? DEFAULT_RESTART_BACKOFF);
    this.#restarts++;
    s.state = 'restarting';
    this.#o.logger.error({ code: 'PROFLAG_ERR_WORKER', ...why, restartInMs: delay }, 'worker exited; restarting it');
    this.#o.onRestart?.(s.slot);
    s.timer = setTimeout(() => this.#fork(s), delay);
  }
}
