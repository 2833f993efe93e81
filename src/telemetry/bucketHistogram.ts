// An unlabelled Prometheus histogram for the request path. prom-client's Histogram builds a
// closure, validates and hashes the (empty) label set on every observe(): about 2 % of the
// sidecar's CPU under load. This one adds to a typed array and hands prom-client's registry the
// same shape as a Histogram's get() when the metric is read, so the text format, the JSON that
// PROFLAG_WORKERS aggregates and the tests see no difference.
import type { Registry } from 'prom-client';

export interface BucketHistogramOptions {
  readonly name: string;
  readonly help: string;
  /** Upper bounds, ascending; +Inf is implied. */
  readonly buckets: readonly number[];
  readonly registers: readonly Registry[];
}

interface ValuePair {
  readonly labels: Record<string, string | number>;
  readonly value: number;
  readonly metricName: string;
  /** Histogram#get gives buckets `exemplar: null` (no exemplars here); kept for equal JSON. */
  readonly exemplar?: null;
}

export class BucketHistogram {
  readonly name: string;
  readonly help: string;
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  readonly #bounds: Float64Array;
  /** Per-bucket (not cumulative) counts; the last slot is +Inf. */
  readonly #counts: Float64Array;
  #sum = 0;

  constructor(options: BucketHistogramOptions) {
    const bounds = options.buckets;
    for (let i = 1; i < bounds.length; i++) {
      if (!(bounds[i]! > bounds[i - 1]!)) throw new RangeError(`${options.name}: buckets must ascend`);
    }
    this.name = options.name;
    this.help = options.help;
    this.#bounds = Float64Array.from(bounds);
    this.#counts = new Float64Array(bounds.length + 1);
    for (const registry of options.registers) registry.registerMetric(this as never);
  }

  observe(value: number): void {
    if (!Number.isFinite(value)) return; // a clock oddity must not poison the sum
    const bounds = this.#bounds;
    let i = 0;
    while (i < bounds.length && value > bounds[i]!) i++;
    this.#counts[i]!++;
    this.#sum += value;
  }

  reset(): void {
    this.#counts.fill(0);
    this.#sum = 0;
  }

  /** What prom-client's Registry reads (and Histogram#get returns). */
  async get(): Promise<{ name: string; help: string; type: string; values: ValuePair[]; aggregator: string }> {
    const bucketName = `${this.name}_bucket`;
    const values: ValuePair[] = [];
    let cumulative = 0;
    for (let i = 0; i < this.#bounds.length; i++) {
      cumulative += this.#counts[i]!;
      values.push({ labels: { le: this.#bounds[i]! }, value: cumulative, metricName: bucketName, exemplar: null });
    }
    cumulative += this.#counts[this.#bounds.length]!;
    values.push({ labels: { le: '+Inf' }, value: cumulative, metricName: bucketName, exemplar: null });
    values.push({ labels: {}, value: this.#sum, metricName: `${this.name}_sum` });
    values.push({ labels: {}, value: cumulative, metricName: `${this.name}_count` });
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }
}
