import { describe, expect, it } from 'vitest';
import { parseFlagValue } from '../../../src/flags/schema.js';
import { compileSnapshot } from '../../../src/matcher/compile.js';
import { decide, NO_DECISION } from '../../../src/matcher/match.js';
import { NO_MUTATION, planMutation, sanitizeHeaderValue } from '../../../src/routing/mutationPlan.js';
import { headersOf, profileOf } from '../../helpers/profiles.js';

const options = { routeHeader: 'x-proflag-cluster', flagsHeader: 'x-proflag-flags', maxFlagsHeaderLength: 60 };
const none = { routeHeaderSent: false, flagsHeaderSent: false };

function decisionFor(docs: Record<string, unknown>[]) {
  const flags = docs.map((d) => {
    const r = parseFlagValue({ enabled: true, ...d });
    if (!r.ok) throw new Error(JSON.stringify(r.issues));
    return r.flag;
  });
  return decide(compileSnapshot(flags, { version: 1, source: 't', rejected: [] }), profileOf(), headersOf());
}

describe('mutation plan (CONTRACT §4)', () => {
  it('no match and no client-sent headers: no mutation at all', () => {
    expect(planMutation(NO_DECISION, none, options)).toBe(NO_MUTATION);
  });

  it('client-sent route and flags headers are removed and the route cache cleared', () => {
    const p = planMutation(NO_DECISION, { routeHeaderSent: true, flagsHeaderSent: true }, options);
    expect(p.set).toEqual([]);
    expect(p.remove).toEqual(['x-proflag-cluster', 'x-proflag-flags']);
    expect(p.clearRouteCache).toBe(true);
  });

  it('a routing match sets route + flags headers and clears the route cache', () => {
    const d = decisionFor([
      {
        name: 'r',
        actions: { route: { cluster: 'canary' }, requestHeaders: { set: { 'x-a': '1' }, remove: ['x-b'] } },
      },
    ]);
    const p = planMutation(d, { routeHeaderSent: true, flagsHeaderSent: false }, options);
    expect(p.set).toEqual([
      ['x-proflag-cluster', 'canary'],
      ['x-proflag-flags', 'r=true'],
      ['x-a', '1'],
    ]);
    expect(p.remove).toEqual(['x-b']);
    expect(p.clearRouteCache).toBe(true);
  });

  it('a header-only match does not touch the route cache', () => {
    const p = planMutation(decisionFor([{ name: 'h', value: 'on, maybe=yes' }]), none, options);
    expect(p.clearRouteCache).toBe(false);
    expect(p.set).toEqual([['x-proflag-flags', 'h=on%2C%20maybe%3Dyes']]);
  });

  it('bounds the flags header at whole flags', () => {
    const docs = Array.from({ length: 20 }, (_, i) => ({ name: `flag-number-${i}` }));
    const p = planMutation(decisionFor(docs), none, options);
    const value = p.set.find(([k]) => k === 'x-proflag-flags')![1];
    expect(value.length).toBeLessThanOrEqual(60);
    for (const item of value.split(',')) expect(item).toMatch(/^flag-number-\d+=true$/);
  });

  it('sanitizes values', () => {
    expect(sanitizeHeaderValue('a\r\nb\u0000c\u007f')).toBe('abc');
    expect(sanitizeHeaderValue('x'.repeat(10_000))).toHaveLength(4096);
  });
});
