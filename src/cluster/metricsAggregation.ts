// /metrics of the primary: the workers' registries (and the primary's own metrics) combined
// into one Prometheus text, with prom-client's AggregatorRegistry.aggregate:
//   - counters and histograms are summed over workers (bucket by bucket);
//   - gauges are combined by their declared `aggregator` (metrics.ts: the store version is
//     the minimum over workers, staleness the maximum, ...; undeclared: the sum);
//   - per-process metrics (proflag_process_*: CPU, memory, event loop) stay per process, with
//     a `worker` label ("1".."N", or "primary"), since a sum would hide a sick worker;
//   - the primary contributes only what it owns (its process metrics, proflag_cluster_*, and
//     proflag_learner_* from the one learner it runs); its idle copies of the serving metrics
//     would bend the gauges.
// A worker that dies takes its counters with it; so that the sums never go backwards (which
// Prometheus would read as a reset), the counters and histograms of its last answer are kept
// as "retired" and added in. Counts it made after that last scrape are lost, as they are
// when any process restarts.
import { AggregatorRegistry, type MetricObjectWithValues, type MetricValue, type Registry } from 'prom-client';

export type MetricJson = MetricObjectWithValues<MetricValue<string>> & { aggregator?: string };

export const PER_PROCESS_PREFIX = 'proflag_process_';
const PRIMARY_OWNED_PREFIXES = [PER_PROCESS_PREFIX, 'proflag_cluster_', 'proflag_learner_'];

export interface WorkerMetrics {
  /** The worker's label value (its slot, "1".."N"). */
  readonly worker: string;
  readonly metrics: readonly MetricJson[];
}

function labelled(metric: MetricJson, worker: string): MetricJson {
  return {
    ...metric,
    // One value per (worker, labels): any aggregator keeps it; 'omit' (process start time)
    // would drop a figure worth keeping per process.
    aggregator: 'first',
    values: metric.values.map((v) => ({ ...v, labels: { ...v.labels, worker } })),
  };
}

function perProcessLabelled(metrics: readonly MetricJson[], worker: string): MetricJson[] {
  return metrics.map((m) => (m.name.startsWith(PER_PROCESS_PREFIX) ? labelled(m, worker) : m));
}

// prom-client's typings say an enum; at run time `type` is the exposition name.
const isCumulative = (m: MetricJson): boolean => {
  const type = m.type as unknown as string;
  return type === 'counter' || type === 'histogram';
};

/** The metrics a dead worker leaves to the sums: its counters and histograms. */
export function retirable(metrics: readonly MetricJson[]): MetricJson[] {
  return metrics.filter((m) => isCumulative(m) && !m.name.startsWith(PER_PROCESS_PREFIX));
}

/** Fold a dead worker's retirable metrics into the retired ones (summed). */
export async function retire(retired: readonly MetricJson[], dead: readonly MetricJson[]): Promise<MetricJson[]> {
  const folded = AggregatorRegistry.aggregate([retired, retirable(dead)]) as Registry;
  return (await folded.getMetricsAsJSON()) as MetricJson[];
}

/** The combined registry (render it with `.metrics()`). */
export function aggregateMetrics(
  primary: readonly MetricJson[],
  workers: readonly WorkerMetrics[],
  retired: readonly MetricJson[] = [],
): Registry {
  const own = primary.filter((m) => PRIMARY_OWNED_PREFIXES.some((p) => m.name.startsWith(p)));
  const sources: MetricJson[][] = [perProcessLabelled(own, 'primary')];
  for (const w of workers) sources.push(perProcessLabelled(w.metrics, w.worker));
  if (retired.length > 0) sources.push([...retired]);
  return AggregatorRegistry.aggregate(sources) as Registry;
}

/** The sum of a counter's values in one registry's JSON (0 when absent). */
export function counterTotal(metrics: readonly MetricJson[], name: string): number {
  const m = metrics.find((x) => x.name === name);
  return m ? m.values.reduce((s, v) => s + v.value, 0) : 0;
}
