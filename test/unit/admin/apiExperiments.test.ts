// The console's experiment extras: the per-minute series from the buckets, the window it
// covers, the guardrail history (audit entries with their trip records), and the change
// path's refusals as HTTP answers.
import { describe, expect, it } from 'vitest';
import { changeError } from '../../../src/admin/apiChanges.js';
import { guardrailHistory, readSeries, seriesWindow, withSeries } from '../../../src/admin/apiExperiments.js';
import { HttpError } from '../../../src/admin/apiHttp.js';
import { ChangeRefused, type AuditEntry } from '../../../src/changes/index.js';
import { counterField } from '../../../src/experiments/core/counts.js';
import { bucketOf } from '../../../src/experiments/core/histogram.js';
import type { TripRecord } from '../../../src/experiments/core/report.js';
import type { RedisClient } from '../../../src/store/redisConnection.js';

/** Just enough of a Redis client: pipelined HGETALLs over a map of hashes. */
function fakeRedis(hashes: Record<string, Record<string, string>>): RedisClient {
  return {
    pipeline() {
      const keys: string[] = [];
      const p = {
        hgetall(key: string) {
          keys.push(key);
          return p;
        },
        exec: async () => keys.map((k) => [null, hashes[k] ?? {}]),
      };
      return p;
    },
  } as unknown as RedisClient;
}

describe('experiment series', () => {
  const gen = 'abcd0123';
  const bucket = (minute: number) => `p:exp:x:m:${minute}`;
  const counts = (variant: string, n: number, errors: number, ms: number, generation = gen) => ({
    [counterField(generation, variant, 'n')]: String(n),
    [counterField(generation, variant, '5xx')]: String(errors),
    [counterField(generation, variant, `h${bucketOf(ms)}`)]: String(n),
  });

  it('reads one point per minute and variant, from the first to the last busy minute', async () => {
    const redis = fakeRedis({
      [bucket(101)]: { ...counts('a', 100, 1, 40), ...counts('b', 90, 9, 80) },
      // 102: nothing at all (counted as 0 between busy minutes)
      [bucket(103)]: { ...counts('a', 50, 0, 40), ...counts('b', 60, 3, 80), ...counts('a', 999, 999, 1, 'other') },
      [bucket(104)]: { 'junk-field': '5' },
    });
    const series = await readSeries(redis, 'p:', 'x', gen, 100, 105);
    expect([...series.keys()].sort()).toEqual(['a', 'b']);
    const a = series.get('a')!;
    expect(a.map((p) => [p.t / 60_000, p.requests, p.errors])).toEqual([
      [101, 100, 1],
      [102, 0, 0],
      [103, 50, 0],
    ]);
    expect(a[0]!.errorRate).toBe(0.01);
    expect(a[1]!.errorRate).toBeNull();
    expect(a[1]!.latencyMs.p95).toBeNull();
    // Every answer in one bucket: the p95 lies inside that bucket (~9 % wide).
    expect(series.get('b')![0]!.latencyMs.p95).toBeGreaterThan(80 * 0.9);
    expect(series.get('b')![0]!.latencyMs.p95).toBeLessThan(80 * 1.1);
    expect(series.get('b')![2]!.errorRate).toBe(0.05);
    expect(await readSeries(fakeRedis({}), 'p:', 'x', gen, 100, 105)).toEqual(new Map());
  });

  it('plots the last hour of the report window, for its generation', () => {
    const report = {
      generation: gen,
      window: { from: new Date(100 * 60_000).toISOString(), to: new Date(300 * 60_000).toISOString() },
    };
    expect(seriesWindow(report)).toEqual({ generation: gen, fromMinute: 241, toMinute: 300 });
    expect(
      seriesWindow({ ...report, window: { ...report.window, from: new Date(290 * 60_000).toISOString() } }),
    ).toMatchObject({ fromMinute: 290 });
    expect(seriesWindow({ variants: [] })).toBeNull();
    const withIt = withSeries({ variants: [{ name: 'a' }, { name: 'b', series: [] }] }, new Map([['a', []]]));
    expect(withIt.variants).toEqual([
      { name: 'a', series: [] },
      { name: 'b', series: [] },
    ]);
  });
});

describe('guardrail history', () => {
  const entry = (over: Partial<AuditEntry>): AuditEntry => ({
    id: '1-0',
    who: 'guardrail',
    action: 'guardrail',
    name: 'x',
    before: 3,
    after: 4,
    time: 1_000,
    reason: 'guardrail',
    detail: 'treatment too many errors',
    ...over,
  });
  const trip = (over: Partial<TripRecord>): TripRecord =>
    ({
      at: new Date(1_000).toISOString(),
      flag: 'x',
      generation: 'g',
      variant: 'treatment',
      metric: 'errorRate',
      detail: 'treatment too many errors',
      check: {},
      ...over,
    }) as TripRecord;

  it("lists the flag's guardrail changes, with the trip's variant and metric, newest first", () => {
    const history = guardrailHistory(
      'x',
      [
        entry({ id: '3-0', time: 3_000, who: 'console', action: 'disable', reason: null }),
        entry({ id: '2-0', time: 2_000, name: 'other' }),
        entry({}),
      ],
      [trip({}), trip({ at: new Date(5_000).toISOString(), detail: 'beta p95 too slow', metric: 'latencyP95' })],
    );
    expect(history).toEqual([
      expect.objectContaining({ time: 5_000, variant: 'treatment', metric: 'latencyP95', before: null }),
      expect.objectContaining({ id: '1-0', variant: 'treatment', metric: 'errorRate', before: 3, after: 4 }),
    ]);
  });
});

describe('change path refusals', () => {
  it('answers each refusal with its status and code; other errors pass through', () => {
    const invalid = changeError(
      new ChangeRefused('invalid', 'x: name: bad', ['name: is not lower-case', 'a problem']),
    ) as HttpError;
    expect(invalid).toMatchObject({ status: 400, code: 'invalid' });
    expect(invalid.message).toMatch(/^refused, nothing changed/);
    expect(invalid.detail).toEqual([
      { path: 'name', message: 'is not lower-case' },
      { path: '', message: 'a problem' },
    ]);
    expect(changeError(new ChangeRefused('not-found', 'no flag'))).toMatchObject({ status: 404, code: 'not-found' });
    expect(changeError(new ChangeRefused('exists', 'exists'))).toMatchObject({ status: 409, code: 'exists' });
    expect(changeError(new ChangeRefused('conflict', 'c'))).toMatchObject({ status: 409, code: 'conflict' });
    const other = new Error('Redis away');
    expect(changeError(other)).toBe(other);
  });
});
