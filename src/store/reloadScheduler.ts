// Turns a stream of "something changed" signals (pub/sub messages, folder events, the resync
// timer, a reconnect) into few reloads: at most one reload runs, and at most one more is
// pending behind it, however many signals arrive. A short debounce lets a burst settle
// before the first read. A failed reload is retried with backoff unless a new signal comes
// first.

export interface SchedulerTimers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const realTimers: SchedulerTimers = {
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms);
    // Timers alone must not keep a process alive (tests, a shutdown in progress).
    t.unref();
    return t;
  },
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

export interface ReloadSchedulerOptions {
  /** Wait this long after a signal before reloading (signals in between join it). */
  readonly debounceMs: number;
  /** One reload; resolves true on success. A rejection counts as a failure. */
  readonly run: (reason: string) => Promise<boolean>;
  /** Delay before retry number `attempt` after consecutive failures. */
  readonly retryDelayMs: (attempt: number) => number;
  readonly timers?: SchedulerTimers;
}

export class ReloadScheduler {
  readonly #debounceMs: number;
  readonly #run: (reason: string) => Promise<boolean>;
  readonly #retryDelayMs: (attempt: number) => number;
  readonly #timers: SchedulerTimers;
  #timer: unknown = null;
  #timerIsRetry = false;
  #running: Promise<void> | null = null;
  #pending = false;
  #pendingReason = '';
  #failures = 0;
  #stopped = false;
  #runs = 0;
  #idleWaiters: Array<() => void> = [];

  constructor(options: ReloadSchedulerOptions) {
    this.#debounceMs = options.debounceMs;
    this.#run = options.run;
    this.#retryDelayMs = options.retryDelayMs;
    this.#timers = options.timers ?? realTimers;
  }

  /** How many reloads have started. */
  get runs(): number {
    return this.#runs;
  }

  get busy(): boolean {
    return this.#running !== null || this.#timer !== null;
  }

  /** Ask for a reload. Cheap; call it as often as signals arrive. */
  request(reason: string): void {
    if (this.#stopped) return;
    if (!this.#pending) this.#pendingReason = reason;
    this.#pending = true;
    if (this.#running !== null) return; // picked up when the running reload ends
    if (this.#timer !== null) {
      if (!this.#timerIsRetry) return; // a debounce is already waiting
      // A fresh signal beats a long retry wait (e.g. the connection is back).
      this.#timers.clearTimeout(this.#timer);
      this.#timer = null;
    }
    this.#arm(this.#debounceMs, false);
  }

  /** Stop scheduling; a reload in progress finishes. */
  stop(): void {
    this.#stopped = true;
    this.#pending = false;
    if (this.#timer !== null) this.#timers.clearTimeout(this.#timer);
    this.#timer = null;
    this.#settleIdle();
  }

  /** Resolves when no reload runs and none is waiting to start. */
  whenIdle(): Promise<void> {
    if (!this.busy) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  #arm(ms: number, isRetry: boolean): void {
    this.#timerIsRetry = isRetry;
    this.#timer = this.#timers.setTimeout(() => {
      this.#timer = null;
      this.#start();
    }, ms);
  }

  #start(): void {
    if (this.#stopped || this.#running !== null) return;
    const reason = this.#pending ? this.#pendingReason : 'retry';
    this.#pending = false;
    this.#runs += 1;
    this.#running = this.#execute(reason);
  }

  async #execute(reason: string): Promise<void> {
    let ok = false;
    try {
      ok = await this.#run(reason);
    } catch {
      ok = false;
    }
    this.#running = null;
    if (this.#stopped) return this.#settleIdle();
    this.#failures = ok ? 0 : this.#failures + 1;
    if (this.#pending) this.#arm(this.#debounceMs, false);
    else if (!ok) this.#arm(this.#retryDelayMs(this.#failures), true);
    this.#settleIdle();
  }

  #settleIdle(): void {
    if (this.busy && !this.#stopped) return;
    if (this.#running !== null) return;
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const w of waiters) w();
  }
}
