// Per-flag traffic over the last minutes, for the console's sparklines: the per-flag counters
// of /metrics sampled every few seconds into a small ring of deltas.
//
// Source, best first:
//   - `proflag_flag_evaluations_total{flag,variant,result}` (CONTRACT §8), once it exists in the
//     registry: requests per flag and result (matched, shadow, ...);
//   - until then `proflag_routed_total{cluster}`: requests routed per cluster, shown for each
//     flag that routes there (shared between flags that route to one cluster; the page says so).
import type { Registry } from 'prom-client';

export const EVALUATIONS_METRIC = 'proflag_flag_evaluations_total';
export const ROUTED_METRIC = 'proflag_routed_total';

export type TrafficSource = 'evaluations' | 'routed' | 'none';

export interface TrafficSeries {
  /** Requests per interval, oldest first (aligned with `times`). */
  readonly total: number[];
  /** The same split by the counter's `result` label (evaluations only). */
  readonly byResult: Record<string, number[]>;
}

export interface TrafficHistory {
  readonly source: TrafficSource;
  readonly intervalMs: number;
  /** End of each interval, epoch ms. */
  readonly times: number[];
  /** Evaluations: by flag name. Routed: by cluster name. */
  readonly series: Record<string, TrafficSeries>;
}

export interface TrafficSamplerOptions {
  readonly registry: Registry;
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

interface MetricValue {
  readonly labels: Record<string, string | number | undefined>;
  readonly value: number;
}

export class TrafficSampler {
  readonly #o: Required<Omit<TrafficSamplerOptions, 'onChange'>> & { onChange: (() => void) | null };
  #source: TrafficSource = 'none';
  #times: number[] = [];
  #series = new Map<string, { total: number[]; byResult: Map<string, number[]> }>();
  /** Last cumulative value per raw series key. */
  #last = new Map<string, number>();
  #timer: NodeJS.Timeout | null = null;
  #ticking = false;

  constructor(options: TrafficSamplerOptions) {
    this.#o = {
      registry: options.registry,
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
      const evaluations = this.#o.registry.getSingleMetric(EVALUATIONS_METRIC);
      const routed = this.#o.registry.getSingleMetric(ROUTED_METRIC);
      const source: TrafficSource = evaluations ? 'evaluations' : routed ? 'routed' : 'none';
      if (source !== this.#source) {
        // A new source starts a new history (the series mean something else).
        this.#source = source;
        this.#times = [];
        this.#series.clear();
        this.#last.clear();
      }
      const metric = evaluations ?? routed;
      const values: readonly MetricValue[] = metric ? ((await metric.get()).values as MetricValue[]) : [];
      this.#append(values, source);
    } finally {
      this.#ticking = false;
    }
  }

  #append(values: readonly MetricValue[], source: TrafficSource): void {
    const first = this.#times.length === 0 && this.#last.size === 0;
    const deltas = new Map<string, Map<string, number>>();
    for (const v of values) {
      const name = String((source === 'evaluations' ? v.labels.flag : v.labels.cluster) ?? '');
      if (name === '') continue;
      const result = source === 'evaluations' ? String(v.labels.result ?? 'matched') : 'routed';
      const key = `${name}\0${String(v.labels.variant ?? '')}\0${result}`;
      const before = this.#last.get(key);
      this.#last.set(key, v.value);
      // A counter that went down was reset: count what it holds now.
      const delta = before === undefined ? (first ? 0 : v.value) : v.value >= before ? v.value - before : v.value;
      let byResult = deltas.get(name);
      if (!byResult) deltas.set(name, (byResult = new Map()));
      byResult.set(result, (byResult.get(result) ?? 0) + delta);
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
