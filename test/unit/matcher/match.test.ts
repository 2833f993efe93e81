import { describe, expect, it } from 'vitest';
import { parseFlagValue, type FlagDefinition } from '../../../src/flags/schema.js';
import { compileSnapshot, type UaIndexBuilder } from '../../../src/matcher/compile.js';
import { decide, scoreFlag } from '../../../src/matcher/match.js';
import type { Snapshot } from '../../../src/matcher/snapshot.js';
import type { UaIndex, UaRangeInput } from '../../../src/matcher/uaIndex.js';
import { headersOf, profileOf } from '../../helpers/profiles.js';

function flag(doc: Record<string, unknown>): FlagDefinition {
  const r = parseFlagValue({ enabled: true, ...doc });
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  return r.flag;
}

function snapshotOf(flags: FlagDefinition[], builder?: UaIndexBuilder) {
  return compileSnapshot(flags, { version: 1, source: 'test', rejected: [] }, { uaIndexBuilder: builder ?? null });
}

describe('scoring (CONTRACT §3)', () => {
  const f = flag({
    name: 'weighted',
    threshold: 0.75,
    profile: {
      method: { in: ['GET', 'POST'], weight: 1 },
      endpoint: { in: ['/checkout', '/checkout/**'], weight: 2 },
      geo: { in: ['DE', 'FR'], weight: 1 },
      payloadSize: { min: 0, max: 8192, weight: 0.5 },
      timeOfDay: { min: 8, max: 20, weight: 0.5 },
    },
  });
  const snap = snapshotOf([f]);
  const compiled = snap.flags[0]!;

  it('is the weighted share of matching dimensions', () => {
    const all = profileOf({ method: 'POST', endpoint: '/checkout/pay', country: 'DE', payloadSize: 100, hour: 9 });
    expect(scoreFlag(compiled, all, null)).toBe(1);
    // geo misses: (1 + 2 + 0.5 + 0.5) / 5
    expect(scoreFlag(compiled, { ...all, country: 'US' }, null)).toBeCloseTo(4 / 5);
    // endpoint misses: (1 + 1 + 0.5 + 0.5) / 5
    expect(scoreFlag(compiled, { ...all, endpoint: '/cart' }, null)).toBeCloseTo(3 / 5);
  });

  it('counts a missing feature as no match', () => {
    const p = profileOf({ method: 'GET', endpoint: '/checkout', country: null, payloadSize: null, hour: 9 });
    expect(scoreFlag(compiled, p, null)).toBeCloseTo((1 + 2 + 0.5) / 5);
  });

  it('matches at the threshold and not below it', () => {
    const at = profileOf({ method: 'GET', endpoint: '/checkout', country: 'DE', payloadSize: null, hour: 3 });
    expect(scoreFlag(compiled, at, null)).toBeCloseTo(0.8);
    expect(decide(snap, at, headersOf()).matches.map((m) => m.flag.name)).toEqual(['weighted']);
    const below = { ...at, country: 'US' };
    expect(decide(snap, below, headersOf()).matches).toEqual([]);
  });

  it('wraps time-of-day ranges past midnight', () => {
    const night = snapshotOf([flag({ name: 'night', profile: { timeOfDay: { min: 22, max: 5 } } })]);
    const hours = Array.from({ length: 24 }, (_, h) => h).filter(
      (h) => decide(night, profileOf({ hour: h }), headersOf()).matches.length > 0,
    );
    expect(hours).toEqual([0, 1, 2, 3, 4, 5, 22, 23]);
  });

  it('open-ended size ranges', () => {
    const big = snapshotOf([flag({ name: 'big', profile: { payloadSize: { min: 1000 } } })]);
    expect(decide(big, profileOf({ payloadSize: 999 }), headersOf()).matches).toHaveLength(0);
    expect(decide(big, profileOf({ payloadSize: 10 ** 9 }), headersOf()).matches).toHaveLength(1);
  });

  it('a flag without a profile matches every request; a disabled one none', () => {
    const s = snapshotOf([flag({ name: 'all' }), flag({ name: 'off', enabled: false })]);
    expect(decide(s, profileOf(), headersOf()).matches.map((m) => m.flag.name)).toEqual(['all']);
    expect(s.flagCount).toBe(2);
  });
});

describe('decision: priority, ties, actions', () => {
  const a = flag({
    name: 'a-low',
    priority: 1,
    actions: { route: { cluster: 'low' }, requestHeaders: { set: { 'x-shared': 'low', 'x-a': '1' } } },
  });
  const b = flag({
    name: 'b-high',
    priority: 5,
    actions: { route: { cluster: 'high' }, requestHeaders: { set: { 'x-shared': 'high' }, remove: ['x-a'] } },
  });
  const c = flag({ name: 'c-header-only', priority: 9, actions: { requestHeaders: { set: { 'x-c': 'yes' } } } });

  it('the highest priority routes; header conflicts go to the same winner', () => {
    const d = decide(snapshotOf([a, b, c]), profileOf(), headersOf());
    expect(d.matches.map((m) => m.flag.name)).toEqual(['c-header-only', 'b-high', 'a-low']);
    expect(d.route).toEqual({ cluster: 'high', flag: 'b-high' });
    expect(Object.fromEntries(d.setHeaders)).toEqual({ 'x-c': 'yes', 'x-shared': 'high' });
    expect(d.removeHeaders).toEqual(['x-a']);
  });

  it('equal priority: higher score wins, then the name', () => {
    const p1 = flag({
      name: 'zeta',
      threshold: 0.5,
      profile: { method: { in: ['GET'] }, geo: { in: ['DE'] } },
      actions: { route: { cluster: 'zeta' } },
    });
    const p2 = flag({
      name: 'alpha',
      threshold: 0.5,
      profile: { method: { in: ['GET'] }, geo: { in: ['FR'] } },
      actions: { route: { cluster: 'alpha' } },
    });
    const s = snapshotOf([p1, p2]);
    // DE: zeta 1.0 > alpha 0.5; FR: zeta 0.5 < alpha 1.0
    expect(decide(s, profileOf({ country: 'DE' }), headersOf()).route?.cluster).toBe('zeta');
    expect(decide(s, profileOf({ country: 'FR' }), headersOf()).route?.cluster).toBe('alpha');
    const tie = snapshotOf([
      flag({ name: 'bbb', actions: { route: { cluster: 'b' } } }),
      flag({ name: 'aaa', actions: { route: { cluster: 'a' } } }),
    ]);
    expect(decide(tie, profileOf(), headersOf()).route?.cluster).toBe('a');
  });

  it('value false is an explicit off: listed, never routes, no header actions', () => {
    const off = flag({
      name: 'off',
      value: false,
      priority: 100,
      actions: { route: { cluster: 'x' }, requestHeaders: { set: { 'x-off': '1' } } },
    });
    const d = decide(snapshotOf([off, a]), profileOf(), headersOf());
    expect(d.matches.map((m) => `${m.flag.name}=${m.value}`)).toEqual(['off=false', 'a-low=true']);
    expect(d.route?.cluster).toBe('low');
    expect(d.setHeaders.has('x-off')).toBe(false);
  });
});

describe('rollouts and variants', () => {
  const users = Array.from({ length: 4000 }, (_, i) => `user-${i}`);
  const rollout = (percent: number) =>
    snapshotOf([
      flag({
        name: 'ramp',
        rollout: { percent, stickiness: 'header:x-user-id' },
        variants: [
          { name: 'control', weight: 1 },
          { name: 'treatment', weight: 3 },
        ],
      }),
    ]);
  const assign = (percent: number) =>
    new Map(
      users.map((u) => {
        const d = decide(rollout(percent), profileOf(), headersOf({ 'x-user-id': u }));
        return [u, d.matches[0]?.variant ?? null] as const;
      }),
    );

  it('gets close to the percent and the variant weights, stably', () => {
    const at20 = assign(20);
    const inside = [...at20.values()].filter((v) => v !== null);
    expect(inside.length / users.length).toBeGreaterThan(0.17);
    expect(inside.length / users.length).toBeLessThan(0.23);
    const treatment = inside.filter((v) => v === 'treatment').length / inside.length;
    expect(treatment).toBeGreaterThan(0.68);
    expect(treatment).toBeLessThan(0.82);
    expect(assign(20)).toEqual(at20);
  });

  it('raising the percent only adds units and keeps their variants', () => {
    const at20 = assign(20);
    const at60 = assign(60);
    for (const [u, v] of at20) if (v !== null) expect(at60.get(u)).toBe(v);
    expect([...at60.values()].filter((v) => v !== null).length).toBeGreaterThan(
      [...at20.values()].filter((v) => v !== null).length,
    );
  });

  it('falls back to the client when the sticky header is missing', () => {
    const s = rollout(50);
    const byClient = (clientKey: string) => decide(s, profileOf({ clientKey }), headersOf()).matches.length;
    const results = Array.from({ length: 400 }, (_, i) => byClient(`c${i}`));
    const share = results.reduce((x, y) => x + y, 0) / results.length;
    expect(share).toBeGreaterThan(0.4);
    expect(share).toBeLessThan(0.6);
    expect(byClient('c7')).toBe(byClient('c7'));
  });

  it('cookie stickiness reads the named cookie', () => {
    const s = snapshotOf([flag({ name: 'ck', rollout: { percent: 50, stickiness: 'cookie:uid' } })]);
    const inOut = Array.from(
      { length: 200 },
      (_, i) => decide(s, profileOf({ clientKey: 'same' }), headersOf({ cookie: `a=b; uid=${i}; z=1` })).matches.length,
    );
    const share = inOut.reduce((x, y) => x + y, 0) / inOut.length;
    expect(share).toBeGreaterThan(0.35);
    expect(share).toBeLessThan(0.65);
  });

  it('variant actions are merged over the flag actions', () => {
    const s = snapshotOf([
      flag({
        name: 'v',
        actions: { route: { cluster: 'base' }, requestHeaders: { set: { 'x-base': '1' } } },
        variants: [{ name: 'only', weight: 1, actions: { route: { cluster: 'var' } } }],
      }),
    ]);
    const d = decide(s, profileOf(), headersOf());
    expect(d.route?.cluster).toBe('var');
    expect(d.setHeaders.get('x-base')).toBe('1');
    expect(d.matches[0]!.value).toBe('only');
  });
});

describe('user-agent ranges through the injected index', () => {
  // A tiny exact index over 2-d "embeddings" keeps this test about the scoring rule.
  const builder: UaIndexBuilder = {
    embed: (ua) => (ua.startsWith('A') ? new Float32Array([1, 0]) : new Float32Array([0, 1])),
    build(inputs: readonly UaRangeInput[]): UaIndex {
      const nearestDistances = (vector: Float32Array | null, hash: string | null) => {
        const out = new Float64Array(inputs.length).fill(Infinity);
        for (const input of inputs) {
          if (hash && input.hashes.includes(hash)) out[input.slot] = 0;
          else if (vector)
            for (const e of input.exemplars) {
              const d = 1 - (e[0]! * vector[0]! + e[1]! * vector[1]!);
              out[input.slot] = Math.min(out[input.slot]!, d);
            }
        }
        return out;
      };
      return {
        slots: inputs.length,
        nearestDistances,
        query(vector, hash) {
          const all = nearestDistances(vector, hash);
          return { distance: (slot) => all[slot] ?? Infinity };
        },
      };
    },
  };
  const s = snapshotOf(
    [
      flag({
        name: 'ua',
        threshold: 0.5,
        profile: { userAgent: { similarTo: ['A-browser'], hashes: ['00112233445566778899aabb'], maxDistance: 0.4 } },
      }),
    ],
    builder,
  );

  it('scores 1 − d / maxDistance, 0 beyond reach, and exact hashes as d = 0', () => {
    const f = s.flags[0]!;
    const near = new Float32Array([Math.cos(0.3), Math.sin(0.3)]);
    const d = 1 - Math.cos(0.3);
    expect(scoreFlag(f, profileOf({ uaVector: near }), s.uaIndex!.nearestDistances(near, null))).toBeCloseTo(
      1 - d / 0.4,
    );
    const far = new Float32Array([0, 1]);
    expect(scoreFlag(f, profileOf({ uaVector: far }), s.uaIndex!.nearestDistances(far, null))).toBe(0);
    expect(decide(s, profileOf({ uaHash: '00112233445566778899aabb' }), headersOf()).matches).toHaveLength(1);
    expect(decide(s, profileOf({}), headersOf()).matches).toHaveLength(0);
  });

  it('reuses the index when the exemplars did not change', () => {
    const flags = [flag({ name: 'ua', profile: { userAgent: { similarTo: ['A'] } } }), flag({ name: 'other' })];
    const first = compileSnapshot(flags, { version: 1, source: 't', rejected: [] }, { uaIndexBuilder: builder });
    const second = compileSnapshot(
      [...flags, flag({ name: 'third' })],
      { version: 2, source: 't', rejected: [] },
      { uaIndexBuilder: builder, previous: first },
    );
    expect(second.uaIndex).toBe(first.uaIndex);
    const changed = compileSnapshot(
      [flag({ name: 'ua', profile: { userAgent: { similarTo: ['B'] } } })],
      { version: 3, source: 't', rejected: [] },
      { uaIndexBuilder: builder, previous: second },
    );
    expect(changed.uaIndex).not.toBe(first.uaIndex);
  });
});

describe('compile', () => {
  it('rejects duplicate names and keeps the first', () => {
    const s = snapshotOf([flag({ name: 'dup', priority: 1 }), flag({ name: 'dup', priority: 2 })]);
    expect(s.flags.map((f) => f.priority)).toEqual([1]);
    expect(s.rejected[0]?.key).toBe('dup');
  });
  it('is frozen', () => {
    const s = snapshotOf([flag({ name: 'x' })]);
    expect(Object.isFrozen(s)).toBe(true);
    expect(Object.isFrozen(s.flags)).toBe(true);
    expect(Object.isFrozen(s.flags[0])).toBe(true);
  });
});

describe('candidate index', () => {
  it('gives the same decisions as scoring every flag', () => {
    const defs: FlagDefinition[] = [];
    const endpoints = ['/a', '/a/b', '/c/*', '/d/**', '/e'];
    for (let i = 0; i < 60; i++) {
      defs.push(
        flag({
          name: `f${i}`,
          priority: i % 7,
          threshold: [1, 0.75, 0.5, 0.25][i % 4],
          profile: {
            endpoint: { in: [endpoints[i % endpoints.length]!], weight: 1 + (i % 3) },
            method: { in: [i % 2 ? 'GET' : 'POST'] },
            ...(i % 5 === 0 ? { geo: { in: ['DE'] } } : {}),
          },
          actions: { route: { cluster: `c${i}` } },
        }),
      );
    }
    const withPrefilter = snapshotOf(defs);
    const without: Snapshot = { ...withPrefilter, prefilter: undefined };
    const required = withPrefilter.prefilter!.stats.required;
    expect(required.endpoint).toBeGreaterThan(0);
    expect(required.endpoint).toBeLessThan(60);
    expect(required.method).toBeGreaterThan(0);
    for (const endpoint of ['/a', '/a/b', '/c/x', '/c', '/d', '/d/y/z', '/e', '/zz', null]) {
      for (const method of ['GET', 'POST']) {
        for (const country of ['DE', null]) {
          const p = profileOf({ endpoint, method, country });
          const names = (s: Snapshot) => decide(s, p, headersOf()).matches.map((m) => m.flag.name);
          expect(names(withPrefilter)).toEqual(names(without));
        }
      }
    }
    expect(withPrefilter.prefilter!.stats.memoised).toBe(8);
  });

  it('prunes by required dimension only: a flag that can reach its threshold without one is kept', () => {
    const s = snapshotOf([
      // Needs both: weight 1 + 1, threshold 1.
      flag({ name: 'both', profile: { method: { in: ['POST'] }, geo: { in: ['DE'] } } }),
      // 0.5 is reachable with either dimension alone.
      flag({ name: 'either', threshold: 0.5, profile: { method: { in: ['POST'] }, geo: { in: ['DE'] } } }),
      // The size window and the hour window are required; 4 of 5 weights reach 0.8 without geo.
      flag({
        name: 'sized',
        threshold: 0.8,
        profile: {
          payloadSize: { min: 100, max: 200, weight: 2 },
          timeOfDay: { min: 22, max: 2, weight: 2 },
          geo: { in: ['FR'] },
        },
      }),
    ]);
    const bits = (p: Partial<Parameters<typeof profileOf>[0]>) => {
      const selected = s.prefilter!.select(profileOf(p)).candidates;
      return s.flags.filter((f) => (selected[f.index >>> 5]! >>> (f.index & 31)) & 1).map((f) => f.name);
    };
    expect(bits({ method: 'POST', country: 'DE', hour: 12 })).toEqual(['both', 'either']);
    expect(bits({ method: 'GET', country: 'DE', hour: 12 })).toEqual(['either']);
    expect(bits({ method: 'GET', country: null, hour: 12 })).toEqual(['either']);
    expect(bits({ method: 'GET', payloadSize: 100, hour: 23 })).toEqual(['either', 'sized']);
    expect(bits({ method: 'GET', payloadSize: 200, hour: 0 })).toEqual(['either', 'sized']);
    expect(bits({ method: 'GET', payloadSize: 201, hour: 23 })).toEqual(['either']);
    expect(bits({ method: 'GET', payloadSize: 150, hour: 3 })).toEqual(['either']);
    expect(bits({ method: 'GET', payloadSize: null, hour: 23 })).toEqual(['either']);
    // Winner first: 'sized' scores 0.8, 'either' 0.5.
    const d = decide(s, profileOf({ payloadSize: 150, hour: 1, country: 'DE' }), headersOf());
    expect(d.matches.map((m) => [m.flag.name, m.score])).toEqual([
      ['sized', 0.8],
      ['either', 0.5],
    ]);
  });
});
