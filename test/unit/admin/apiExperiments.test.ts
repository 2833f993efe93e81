// The console's experiment extras: the guardrail history (audit entries with their trip
// records), and the change path's refusals as HTTP answers.
import { describe, expect, it } from 'vitest';
import { changeError } from '../../../src/admin/apiChanges.js';
import { guardrailHistory } from '../../../src/admin/apiExperiments.js';
import { HttpError } from '../../../src/admin/apiHttp.js';
import { ChangeRefused, type AuditEntry } from '../../../src/changes/index.js';
import type { TripRecord } from '../../../src/experiments/core/report.js';

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
