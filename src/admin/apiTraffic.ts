// Per-flag traffic over the last minutes, for the console's sparklines: the per-flag counter
// `proflag_flag_evaluations_total{flag,variant,result}` (CONTRACT §8) of every serving process,
// sampled every few seconds into a small ring of deltas per flag and result (`match`: the flag
// applied; `shadow`: it matched in shadow mode; the other results as the counter names them).
//
// Deltas are taken per process and series, then added: a worker that restarts (its counters
// start from zero) costs no negative step and no double count, only what it counted between
// its last reading and its end.
import type { EvaluationCount } from './apiServed.js';

export type TrafficSource = 'evaluations' | 'none';

export interface TrafficSeries {
  /** Requests per interval over every result, oldest first (aligned with `times`). */
  readonly total: number[];
  /** The same split by the counter's `result` label. */
  readonly byResult: Record<string, number[]>;
}

export interface TrafficHistory {
  readonly source: TrafficSource;
  readonly intervalMs: number;
  /** End of each interval, epoch ms. */
  readonly times: number[];
  /** By flag name. */
  readonly series: Record<string, TrafficSeries>;
}

/** One process's counters (worker null: this process). Null counts: the metric is missing there. */
export interface ProcessCounts {
  readonly worker: string | null;
  readonly counts: readonly EvaluationCount[] | null;
}

export interface TrafficSamplerOptions {
  /** Reads every serving process's counters. */
  readonly read: () => Promise<readonly ProcessCounts[]>;
  /** Default 2,000 ms. */
  readonly intervalMs?: number;
  /** Intervals kept. Default 150 (5 minutes at 2 s). */
  readonly points?: number;
  /** Series kept at most (the rest are not tracked). Default 5,000. */
  readonly maxSeries?: number;
  /** Called after a tick in which some count grew. */
  readonly onChange?: () => void;
  readonly now?: () => number;
}

export class TrafficSampler {
  readonly #o: Required<Omit<TrafficSamplerOptions, 'onChange'>> & { onChange: (() => void) | null };
  #source: TrafficSource = 'none';
  #times: number[] = [];
  #series = new Map<string, { total: number[]; byResult: Map<string, number[]> }>();
  /** Last cumulative value per process and raw series. */
  #last = new Map<string, number>();
  #timer: NodeJS.Timeout | null = null;
  #ticking = false;

  constructor(options: TrafficSamplerOptions) {
    this.#o = {
      read: options.read,
      intervalMs: options.intervalMs ?? 2_000,
      points: options.points ?? 150,
      maxSeries: options.maxSeries ?? 5_000,
      onChange: options.onChange ?? null,
      now: options.now ?? Date.now,
    };
  }

  start(): void {
    if (this.#timer) return;
    void this.tick();
    this.#timer = setInterval(() => void this.tick(), this.#o.intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
  }

  get source(): TrafficSource {
    return this.#source;
  }

  /** Read the counters once and append one interval. */
  async tick(): Promise<void> {
    if (this.#ticking) return;
    this.#ticking = true;
    try {
      let processes: readonly ProcessCounts[];
      try {
        processes = await this.#o.read();
      } catch {
        processes = []; // no process answered: an interval without counts
      }
      if (processes.some((p) => p.counts !== null)) this.#source = 'evaluations';
      this.#append(processes);
    } finally {
      this.#ticking = false;
    }
  }

  #append(processes: readonly ProcessCounts[]): void {
    const first = this.#times.length === 0 && this.#last.size === 0;
    const deltas = new Map<string, Map<string, number>>();
    for (const p of processes) {
      for (const v of p.counts ?? []) {
        if (v.flag === '') continue;
        const key = `${p.worker ?? ''}\0${v.flag}\0${v.variant}\0${v.result}`;
        const before = this.#last.get(key);
        this.#last.set(key, v.value);
        // A counter that went down was reset: count what it holds now.
        const delta = before === undefined ? (first ? 0 : v.value) : v.value >= before ? v.value - before : v.value;
        let byResult = deltas.get(v.flag);
        if (!byResult) deltas.set(v.flag, (byResult = new Map()));
        byResult.set(v.result, (byResult.get(v.result) ?? 0) + delta);
      }
    }
    const n = this.#times.length;
    this.#times.push(this.#o.now());
    let grew = false;
    for (const [name, byResult] of deltas) {
      let s = this.#series.get(name);
      if (!s) {
        if (this.#series.size >= this.#o.maxSeries) continue;
        s = { total: new Array<number>(n).fill(0), byResult: new Map() };
        this.#series.set(name, s);
      }
      let total = 0;
      for (const [result, d] of byResult) {
        let arr = s.byResult.get(result);
        if (!arr) s.byResult.set(result, (arr = new Array<number>(s.total.length).fill(0)));
        arr.push(d);
        total += d;
      }
      s.total.push(total);
      if (total > 0) grew = true;
    }
    // Series without a value this tick get a zero, so every array stays aligned with `times`.
    for (const s of this.#series.values()) {
      if (s.total.length < this.#times.length) s.total.push(0);
      for (const arr of s.byResult.values()) if (arr.length < this.#times.length) arr.push(0);
    }
    if (this.#times.length > this.#o.points) {
      const cut = this.#times.length - this.#o.points;
      this.#times.splice(0, cut);
      for (const s of this.#series.values()) {
        s.total.splice(0, cut);
        for (const arr of s.byResult.values()) arr.splice(0, cut);
      }
    }
    if (grew) this.#o.onChange?.();
  }

  history(): TrafficHistory {
    const series: Record<string, TrafficSeries> = {};
    for (const [name, s] of this.#series) {
      series[name] = {
        total: [...s.total],
        byResult: Object.fromEntries([...s.byResult].map(([k, v]) => [k, [...v]])),
      };
    }
    return { source: this.#source, intervalMs: this.#o.intervalMs, times: [...this.#times], series };
  }
}
