// BucketHistogram reads exactly as prom-client's Histogram does: same text, same JSON, same
// aggregation across workers.
import { AggregatorRegistry, Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { BucketHistogram } from '../../../src/telemetry/bucketHistogram.js';

const BUCKETS = [5e-6, 1e-5, 2.5e-5, 1e-3];
const VALUES = [1e-6, 5e-6, 7e-6, 2.5e-5, 3e-5, 0.5, 2e-5, 1e-3, 1e-3];

function both() {
  const ours = new Registry();
  const theirs = new Registry();
  const a = new BucketHistogram({ name: 'h_seconds', help: 'h', buckets: BUCKETS, registers: [ours] });
  const b = new Histogram({ name: 'h_seconds', help: 'h', buckets: BUCKETS, registers: [theirs] });
  return { ours, theirs, a, b };
}

describe('BucketHistogram', () => {
  it('gives the same text, JSON and get() as prom-client Histogram for the same observations', async () => {
    const { ours, theirs, a, b } = both();
    for (const v of VALUES) {
      a.observe(v);
      b.observe(v);
    }
    expect(await ours.metrics()).toBe(await theirs.metrics());
    // As the workers hand it to the primary: JSON over IPC.
    const json = async (r: Registry) => JSON.parse(JSON.stringify(await r.getMetricsAsJSON())) as unknown;
    expect(await json(ours)).toEqual(await json(theirs));
    expect(await ours.metrics()).toContain('h_seconds_bucket{le="0.000025"} 5');
    expect(await ours.metrics()).toContain('h_seconds_count 9');
  });

  it('is empty like a fresh Histogram, and after reset()', async () => {
    const { ours, theirs, a } = both();
    expect(await ours.metrics()).toBe(await theirs.metrics());
    a.observe(1);
    a.reset();
    expect(await ours.metrics()).toBe(await theirs.metrics());
  });

  it('sums across workers as a Histogram does', async () => {
    const w1 = both();
    const w2 = both();
    VALUES.forEach((v, i) => {
      const w = i % 2 ? w1 : w2;
      w.a.observe(v);
      w.b.observe(v);
    });
    const ours = AggregatorRegistry.aggregate([await w1.ours.getMetricsAsJSON(), await w2.ours.getMetricsAsJSON()]);
    const theirs = AggregatorRegistry.aggregate([
      await w1.theirs.getMetricsAsJSON(),
      await w2.theirs.getMetricsAsJSON(),
    ]);
    expect(await ours.metrics()).toBe(await theirs.metrics());
  });

  it('refuses buckets that do not ascend, and ignores a non-finite value', async () => {
    expect(() => new BucketHistogram({ name: 'x', help: 'x', buckets: [2, 1], registers: [] })).toThrow(/ascend/);
    const { ours, a } = both();
    a.observe(Number.NaN);
    expect(await ours.metrics()).toContain('h_seconds_count 0');
  });
});
