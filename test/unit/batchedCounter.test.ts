// Batched counter children: increments reach prom-client when the metric is read, exactly.
import { Counter, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { batchedChild } from '../../src/telemetry/batchedCounter.js';

describe('batchedChild', () => {
  it('hands every increment to the counter on get() and on a registry scrape', async () => {
    const registry = new Registry();
    const counter = new Counter({ name: 't_total', help: 't', labelNames: ['k'] as const, registers: [registry] });
    const a = batchedChild(counter, 'a');
    const b = batchedChild(counter, 'b');
    for (let i = 0; i < 5; i++) a.inc();
    b.inc();
    counter.labels('a').inc(10); // direct increments still count
    expect((await counter.get()).values.map((v) => [v.labels.k, v.value])).toEqual([
      ['a', 15],
      ['b', 1],
    ]);
    a.inc();
    expect(await registry.metrics()).toContain('t_total{k="a"} 16');
    expect((await counter.get()).values.find((v) => v.labels.k === 'a')?.value).toBe(16);
  });
});
