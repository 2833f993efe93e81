import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseFlagDocument, parseFlagValue } from '../../../src/flags/schema.js';

const base = { name: 'ok', enabled: true };

describe('flag schema', () => {
  it('accepts every shipped example', () => {
    const dir = new URL('../../../examples/flags/', import.meta.url);
    const files = readdirSync(dir).filter((f) => f.endsWith('.json'));
    expect(files.length).toBeGreaterThanOrEqual(5);
    for (const file of files) {
      const r = parseFlagDocument(readFileSync(new URL(file, dir), 'utf8'));
      expect(r.ok ? 'ok' : `${file}: ${JSON.stringify(r.issues)}`).toBe('ok');
      if (r.ok) expect(`${r.flag.name}.json`).toBe(file);
    }
  });

  it('fills defaults', () => {
    const r = parseFlagValue(base);
    expect(r.ok && r.flag).toMatchObject({ value: true, priority: 0, threshold: 1, profile: {}, actions: {} });
  });

  const refusals: [string, unknown, string][] = [
    ['bad JSON', '{"name":', '(document)'],
    ['upper-case name', { ...base, name: 'Bad' }, 'name'],
    ['name too long', { ...base, name: 'a'.repeat(64) }, 'name'],
    ['enabled not boolean', { ...base, enabled: 'yes' }, 'enabled'],
    ['threshold above 1', { ...base, threshold: 1.5 }, 'threshold'],
    ['negative weight', { ...base, profile: { method: { in: ['GET'], weight: -1 } } }, 'profile.method.weight'],
    ['lower-case country', { ...base, profile: { geo: { in: ['DE', 'de'] } } }, 'profile.geo.in[1]'],
    ['hour 24', { ...base, profile: { timeOfDay: { min: 0, max: 24 } } }, 'profile.timeOfDay.max'],
    ['size min > max', { ...base, profile: { payloadSize: { min: 10, max: 1 } } }, 'profile.payloadSize'],
    ['empty range', { ...base, profile: { payloadSize: {} } }, 'profile.payloadSize'],
    ['unknown dimension', { ...base, profile: { colour: { in: ['red'] } } }, 'profile'],
    ['pattern without slash', { ...base, profile: { endpoint: { in: ['checkout'] } } }, 'profile.endpoint.in[0]'],
    [
      'CRLF in header value',
      { ...base, actions: { requestHeaders: { set: { 'x-a': 'v\r\nx-b: 1' } } } },
      'actions.requestHeaders.set.x-a',
    ],
    [
      'setting host',
      { ...base, actions: { requestHeaders: { set: { host: 'evil' } } } },
      'actions.requestHeaders.set.host',
    ],
    [
      'removing x-envoy-*',
      { ...base, actions: { requestHeaders: { remove: ['x-envoy-original-path'] } } },
      'actions.requestHeaders.remove[0]',
    ],
    ['bad cluster', { ...base, actions: { route: { cluster: 'a b' } } }, 'actions.route.cluster'],
    ['rollout over 100', { ...base, rollout: { percent: 101 } }, 'rollout.percent'],
    ['bad stickiness', { ...base, rollout: { percent: 5, stickiness: 'ip' } }, 'rollout.stickiness'],
    ['all-zero variants', { ...base, variants: [{ name: 'a', weight: 0 }] }, 'variants'],
  ];
  it.each(refusals)('refuses %s with the path', (_what, input, path) => {
    const r = typeof input === 'string' ? parseFlagDocument(input) : parseFlagValue(input);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.issues.map((i) => i.path)).toContain(path);
  });

  it('says what it got', () => {
    const r = parseFlagValue({ ...base, threshold: 'high' });
    expect(!r.ok && r.issues[0]!.message).toMatch(/got "high"/);
  });

  it('keeps unknown top-level fields with a warning', () => {
    const r = parseFlagValue({ ...base, owner: 'team-a' });
    expect(r.ok && r.warnings).toEqual(["unknown field 'owner' kept but ignored"]);
  });

  it('refuses a 1 MB document without parsing it', () => {
    const big = JSON.stringify({ ...base, description: 'x'.repeat(1_100_000) });
    const r = parseFlagDocument(big);
    expect(!r.ok && r.issues[0]!.message).toMatch(/more than/);
  });
});
