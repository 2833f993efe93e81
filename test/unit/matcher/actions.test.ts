// CONTRACT §6 in decide(): which flag's respond, rewrite and route win, what a reply ends,
// what shadow mode and an empty respondLimit bucket leave out; and the compiled form.
import { describe, expect, it } from 'vitest';
import { parseFlagValue, type FlagDefinition } from '../../../src/flags/schema.js';
import { compileSnapshot } from '../../../src/matcher/compile.js';
import { decide, type Decision } from '../../../src/matcher/match.js';
import type { Snapshot } from '../../../src/matcher/snapshot.js';
import { headersOf, profileOf } from '../../helpers/profiles.js';

const T0 = 1_700_000_000_000;

function flag(doc: Record<string, unknown>): FlagDefinition {
  const r = parseFlagValue({ enabled: true, ...doc });
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  return r.flag;
}

function snapshotOf(flags: FlagDefinition[], previous?: Snapshot): Snapshot {
  return compileSnapshot(flags, { version: 1, source: 'test', rejected: [] }, { previous: previous ?? null });
}

const names = (d: Decision) => d.matches.map((m) => m.flag.name);
const at = (s: Snapshot, nowMs = T0) => decide(s, profileOf(), headersOf(), nowMs);

const blocker = (name: string, priority: number, perSecond = 100, extra: Record<string, unknown> = {}) =>
  flag({
    name,
    priority,
    respondLimit: { perSecond },
    actions: {
      respond: { status: 429, headers: { 'retry-after': '30' }, body: `from ${name}` },
      requestHeaders: { set: { [`x-${name}`]: '1' } },
      route: { cluster: `c-${name}` },
    },
    ...extra,
  });

describe('respond', () => {
  it('the highest-priority respond wins and ends the request: no route, no headers, no rewrite', () => {
    const router = flag({
      name: 'router',
      priority: 50,
      actions: {
        route: { cluster: 'canary' },
        rewritePath: { prefix: '/a/', to: '/b/' },
        requestHeaders: { set: { 'x-r': '1' } },
        responseHeaders: { set: { 'x-s': '1' } },
      },
    });
    const d = at(snapshotOf([router, blocker('low', 1), blocker('high', 10)]));
    expect(d.respond).toEqual({
      flag: 'high',
      reply: { status: 429, headers: [['retry-after', '30']], body: 'from high', details: null },
    });
    expect(d.route).toBeNull();
    expect(d.rewritePath).toBeNull();
    expect(d.setHeaders.size).toBe(0);
    expect(d.responseSetHeaders.size).toBe(0);
    // Every matching flag is still reported (metadata, counters).
    expect(names(d)).toEqual(['router', 'high', 'low']);
  });

  it('over its limit, a flag counts as not matched at all and the next respond is tried', () => {
    const s = snapshotOf([blocker('high', 10, 1), blocker('low', 1, 1), flag({ name: 'plain' })]);
    const first = at(s, T0);
    expect(first.respond?.flag).toBe('high');
    // The same instant: high's one token is spent, so low answers; low did not spend before.
    const second = at(s, T0);
    expect(second.respond?.flag).toBe('low');
    expect(second.respondLimited.map((m) => m.flag.name)).toEqual(['high']);
    expect(names(second)).toEqual(['low', 'plain']);
    // Both empty: no reply; neither flag's route or headers apply, the others do.
    const third = at(s, T0 + 10);
    expect(third.respond).toBeNull();
    expect(third.respondLimited.map((m) => m.flag.name)).toEqual(['high', 'low']);
    expect(names(third)).toEqual(['plain']);
    expect(third.route).toBeNull();
    expect(third.setHeaders.size).toBe(0);
    // A second later each bucket has a token again.
    expect(at(s, T0 + 1000).respond?.flag).toBe('high');
  });

  it('a reply is only sent with the request time: without it every respond counts as over its limit', () => {
    const d = decide(snapshotOf([blocker('b', 1)]), profileOf(), headersOf());
    expect(d.respond).toBeNull();
    expect(d.respondLimited.map((m) => m.flag.name)).toEqual(['b']);
    expect(d.matches).toEqual([]);
  });

  it('a hand-made snapshot without buckets never replies', () => {
    const s = snapshotOf([blocker('b', 1)]);
    const bare: Snapshot = { ...s, respondLimiter: undefined };
    expect(at(bare).respond).toBeNull();
  });

  it('a variant can carry the respond; the flag keeps one bucket for all its variants', () => {
    const s = snapshotOf([
      flag({
        name: 'split',
        respondLimit: { perSecond: 1000 },
        rollout: { percent: 100, stickiness: 'header:x-user' },
        variants: [
          { name: 'pass', weight: 1 },
          { name: 'block', weight: 1, actions: { respond: { status: 503, body: 'maintenance' } } },
        ],
      }),
    ]);
    const seen = new Map<string, number>();
    for (let i = 0; i < 200; i++) {
      const d = decide(s, profileOf(), headersOf({ 'x-user': `u${i}` }), T0);
      const m = d.matches[0]!;
      expect(d.respond !== null).toBe(m.variant === 'block');
      expect(m.variantIndex).toBe(m.variant === 'block' ? 1 : 0);
      seen.set(m.variant!, (seen.get(m.variant!) ?? 0) + 1);
    }
    expect(seen.get('pass')).toBeGreaterThan(60);
    expect(seen.get('block')).toBeGreaterThan(60);
  });

  it('an explicit off never replies', () => {
    const d = at(snapshotOf([blocker('off', 1, 100, { value: false })]));
    expect(d.respond).toBeNull();
    expect(d.matches.map((m) => m.value)).toEqual(['false']);
  });

  it('a reload carries the buckets over by flag name', () => {
    const defs = [blocker('b', 1, 2)];
    const first = snapshotOf(defs);
    expect(at(first, T0).respond).not.toBeNull();
    expect(at(first, T0).respond).not.toBeNull();
    expect(at(first, T0).respond).toBeNull();
    const reloaded = snapshotOf(defs, first);
    expect(at(reloaded, T0).respond).toBeNull();
    expect(at(reloaded, T0 + 500).respond).not.toBeNull();
    // Without the previous snapshot the bucket would start full.
    expect(at(snapshotOf(defs), T0).respond).not.toBeNull();
  });
});

describe('shadow mode', () => {
  it('is evaluated like enforce but applies nothing and is not in matches', () => {
    const shadow = blocker('shadowed', 100, 100, {
      mode: 'shadow',
      actions: {
        respond: { status: 429 },
        route: { cluster: 'x' },
        rewritePath: { prefix: '/', to: '/x/' },
        requestHeaders: { set: { 'x-shadow': '1' } },
        responseHeaders: { set: { 'x-shadow': '1' } },
      },
    });
    const d = at(snapshotOf([shadow, flag({ name: 'plain', actions: { requestHeaders: { set: { 'x-p': '1' } } } })]));
    expect(d.shadow.map((m) => m.flag.name)).toEqual(['shadowed']);
    expect(names(d)).toEqual(['plain']);
    expect(d.respond).toBeNull();
    expect(d.respondLimited).toEqual([]);
    expect(d.route).toBeNull();
    expect(d.rewritePath).toBeNull();
    expect(Object.fromEntries(d.setHeaders)).toEqual({ 'x-p': '1' });
    expect(d.responseSetHeaders.size).toBe(0);
  });

  it('never spends a token', () => {
    const s = snapshotOf([blocker('shadowed', 1, 1, { mode: 'shadow' })]);
    for (let i = 0; i < 5; i++) expect(at(s).shadow).toHaveLength(1);
    expect(s.respondLimiter!.available(s.flags[0]!.respondLimit!.slot, T0)).toBe(true);
  });

  it('reports rollout exclusion like any flag', () => {
    const s = snapshotOf([flag({ name: 'nobody', mode: 'shadow', rollout: { percent: 0 } })]);
    const d = at(s);
    expect(d.shadow).toEqual([]);
    expect(d.rolloutExcluded.map((f) => f.name)).toEqual(['nobody']);
  });
});

describe('rewrite, route and headers', () => {
  it('route and rewrite each come from the first match that carries one', () => {
    const s = snapshotOf([
      flag({ name: 'a', priority: 3, actions: { requestHeaders: { set: { 'x-a': '1' } } } }),
      flag({ name: 'b', priority: 2, actions: { rewritePath: { prefix: '/api/v1/', to: '/api/v2/' } } }),
      flag({
        name: 'c',
        priority: 1,
        actions: { route: { cluster: 'cc' }, rewritePath: { prefix: '/', to: '/other/' } },
      }),
    ]);
    const d = at(s);
    expect(d.rewritePath).toEqual({ flag: 'b', prefix: '/api/v1/', to: '/api/v2/' });
    expect(d.route).toEqual({ cluster: 'cc', flag: 'c' });
  });

  it('response header changes of every match apply, a conflict going to the winner', () => {
    const s = snapshotOf([
      flag({ name: 'hi', priority: 2, actions: { responseHeaders: { set: { 'x-a': 'hi' }, remove: ['server'] } } }),
      flag({
        name: 'lo',
        priority: 1,
        actions: { responseHeaders: { set: { 'x-a': 'lo', 'x-b': 'lo', server: 'lo' }, remove: ['x-c'] } },
      }),
    ]);
    const d = at(s);
    expect(Object.fromEntries(d.responseSetHeaders)).toEqual({ 'x-a': 'hi', 'x-b': 'lo' });
    expect(d.responseRemoveHeaders).toEqual(['server', 'x-c']);
  });

  it("a variant's actions are merged over its flag's", () => {
    const s = snapshotOf([
      flag({
        name: 'v',
        actions: {
          rewritePath: { prefix: '/a', to: '/b' },
          responseHeaders: { set: { 'x-a': 'flag', 'x-b': 'flag' } },
        },
        variants: [
          {
            name: 'only',
            weight: 1,
            actions: {
              rewritePath: { prefix: '/a', to: '/c' },
              responseHeaders: { set: { 'x-a': 'v' }, remove: ['x-b'] },
            },
          },
        ],
      }),
    ]);
    const actions = s.flags[0]!.variants![0]!.actions;
    expect(actions.rewritePath).toEqual({ prefix: '/a', to: '/c' });
    expect(actions.responseSetHeaders).toEqual([['x-a', 'v']]);
    expect(actions.responseRemoveHeaders).toEqual(['x-b']);
    expect(s.flags[0]!.actions.responseSetHeaders).toEqual([
      ['x-a', 'flag'],
      ['x-b', 'flag'],
    ]);
  });
});

describe('compiled form (TEAM.md interface 2)', () => {
  it('mode, respondLimit slot, experiment with its control index, variantIndex', () => {
    const s = snapshotOf([
      flag({
        name: 'exp',
        mode: 'shadow',
        respondLimit: { perSecond: 5 },
        variants: [
          { name: 'treatment', weight: 1 },
          { name: 'control', weight: 1 },
        ],
        experiment: {
          control: 'control',
          guardrails: [{ metric: 'latencyP95', maxRelativeIncrease: 0.2, minRequests: 100, pValue: 0.05 }],
        },
      }),
      flag({ name: 'plain' }),
    ]);
    const [exp, plain] = [s.flags.find((f) => f.name === 'exp')!, s.flags.find((f) => f.name === 'plain')!];
    expect(exp.mode).toBe('shadow');
    expect(exp.respondLimit).toEqual({ perSecond: 5, slot: 0 });
    expect(exp.experiment).toEqual({
      control: 'control',
      controlIndex: 1,
      guardrails: [{ metric: 'latencyP95', maxRelativeIncrease: 0.2, minRequests: 100, pValue: 0.05 }],
    });
    expect(plain).toMatchObject({ mode: 'enforce', respondLimit: null, experiment: null });
    expect(s.respondLimiter!.size).toBe(1);
    const d = at(s);
    expect(d.matches[0]!.variantIndex).toBe(-1);
    expect([0, 1]).toContain(d.shadow[0]!.variantIndex);
  });
});
