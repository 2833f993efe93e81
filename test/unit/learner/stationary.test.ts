// QUALITY.md learning bars, negative side, on small versions of the benchmark's scenarios:
// stationary traffic gives no proposals; a flood of unique user agents and paths gives no
// proposal and does not grow the learner's memory.
import { describe, expect, it } from 'vitest';
import { floodScenario, stationaryScenario } from '../../../bench/scenarios/catalog.js';
import { runScenario } from '../../../bench/scenarios/evaluate.js';
import { Learner } from '../../../src/learner/learner.js';

describe('learning on traffic without a new pattern', () => {
  it('proposes nothing on 60,000 requests of stationary traffic (the benchmark runs 1,000,000)', () => {
    const learner = new Learner({});
    const run = runScenario(stationaryScenario(60_000), learner);
    expect(run.emitted.map((e) => e.emission.document.description)).toEqual([]);
    expect(learner.stats.anomalies).toBeGreaterThan(1_000); // the detector did flag things: none was new
  });

  it('proposes nothing and stays bounded under a flood of unique user agents and paths (20 % of traffic)', () => {
    const learner = new Learner({});
    const run = runScenario(floodScenario({ baseline: 12_000, after: 28_000 }), learner);
    expect(run.emitted).toHaveLength(0);
    // Caps: history ring, clusters, families, sketches. ~5 MB with the detector's 2.8 MB.
    expect(run.peakMemoryBytes).toBeLessThan(8_000_000);
    expect(learner.stats.clusters).toBeLessThanOrEqual(48 + 128);
  });
});
