// The primary's /metrics: real registries (the sidecar's metric list) standing in for two
// workers and the primary.
import { Gauge } from 'prom-client';
import { describe, expect, it } from 'vitest';
import {
  aggregateMetrics,
  counterTotal,
  retire,
  type MetricJson,
  type WorkerMetrics,
} from '../../../src/cluster/metricsAggregation.js';
import { createClusterMetrics, createMetrics } from '../../../src/telemetry/metrics.js';
import { metricSum } from '../../helpers/proflagProcess.js';

/** A sidecar's registry with a stand-in process metric (the real ones vary by the second). */
function worker(decisions: number, version: number, memory: number) {
  const m = createMetrics({ defaultMetrics: false });
  m.decisions.labels('match').inc(decisions);
  m.decisions.labels('nomatch').inc(1);
  for (let i = 0; i < decisions; i++) m.decisionSeconds.observe(2e-5);
  m.storeVersion.set(version);
  m.storeFeedConnected.set(1);
  const rss = new Gauge({ name: 'proflag_process_resident_memory_bytes', help: 'rss', registers: [m.registry] });
  rss.set(memory);
  return m;
}

async function json(m: { registry: { getMetricsAsJSON(): Promise<unknown> } }): Promise<MetricJson[]> {
  return (await m.registry.getMetricsAsJSON()) as MetricJson[];
}

async function render(primary: MetricJson[], workers: WorkerMetrics[], retired: MetricJson[] = []): Promise<string> {
  return aggregateMetrics(primary, workers, retired).metrics();
}

describe('aggregateMetrics', () => {
  it('sums counters and histograms, takes gauges by their aggregator, keeps process metrics per process', async () => {
    const w1 = worker(10, 7, 100);
    const w2 = worker(5, 6, 200);
    const primary = createMetrics({ defaultMetrics: false });
    const cluster = createClusterMetrics(primary.registry);
    cluster.workers.set(2);
    primary.learnerObserved.inc(12);
    const ownRss = new Gauge({
      name: 'proflag_process_resident_memory_bytes',
      help: 'rss',
      registers: [primary.registry],
    });
    ownRss.set(50);
    const text = await render(await json(primary), [
      { worker: '1', metrics: await json(w1) },
      { worker: '2', metrics: await json(w2) },
    ]);
    expect(metricSum(text, 'proflag_decisions_total', { result: 'match' })).toBe(15);
    expect(metricSum(text, 'proflag_decisions_total')).toBe(17);
    expect(metricSum(text, 'proflag_decision_duration_seconds_count')).toBe(15);
    expect(metricSum(text, 'proflag_decision_duration_seconds_bucket', { le: '0.000025' })).toBe(15);
    // The laggard's version; connected only if every worker is.
    expect(metricSum(text, 'proflag_store_version')).toBe(6);
    expect(metricSum(text, 'proflag_store_feed_connected')).toBe(1);
    // Per process, with a worker label.
    expect(metricSum(text, 'proflag_process_resident_memory_bytes', { worker: '1' })).toBe(100);
    expect(metricSum(text, 'proflag_process_resident_memory_bytes', { worker: '2' })).toBe(200);
    expect(metricSum(text, 'proflag_process_resident_memory_bytes', { worker: 'primary' })).toBe(50);
    // The primary's own: its learner and cluster figures, not its idle serving metrics.
    expect(metricSum(text, 'proflag_learner_observed_total')).toBe(12);
    expect(metricSum(text, 'proflag_cluster_workers')).toBe(2);
    expect(text.match(/^proflag_store_version /gm)).toHaveLength(1);
  });

  it("keeps a dead worker's counters in the sums, so they never go backwards", async () => {
    const w1 = worker(10, 7, 100);
    const w2 = worker(5, 7, 200);
    const before = await render(
      [],
      [
        { worker: '1', metrics: await json(w1) },
        { worker: '2', metrics: await json(w2) },
      ],
    );
    expect(metricSum(before, 'proflag_decisions_total')).toBe(17);
    // Worker 2 dies; its replacement starts from zero.
    const retired = await retire([], await json(w2));
    const fresh = worker(0, 7, 90);
    const after = await render(
      [],
      [
        { worker: '1', metrics: await json(w1) },
        { worker: '2', metrics: await json(fresh) },
      ],
      retired,
    );
    // 17 before, plus the replacement's one nomatch.
    expect(metricSum(after, 'proflag_decisions_total')).toBe(17 + 1);
    expect(metricSum(after, 'proflag_decision_duration_seconds_count')).toBe(15);
    // Gauges and process metrics of the dead worker are not kept.
    expect(metricSum(after, 'proflag_process_resident_memory_bytes', { worker: '2' })).toBe(90);
    expect(metricSum(after, 'proflag_store_version')).toBe(7);
    // Retiring again accumulates.
    const twice = await retire(retired, await json(worker(3, 7, 1)));
    expect(counterTotal(twice, 'proflag_decisions_total')).toBe(6 + 4);
  });
});
