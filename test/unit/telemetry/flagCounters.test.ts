// Per-flag counters (issue 11.1): exact counts per flag, variant and result; carried over a
// reload by name; exported on scrape as proflag_flag_evaluations_total and
// proflag_flag_respond_limited_total; the default process metrics without a doubled prefix.
import { describe, expect, it } from 'vitest';
import { parseFlagValue, type FlagDefinition } from '../../../src/flags/schema.js';
import { compileSnapshot } from '../../../src/matcher/compile.js';
import { decide } from '../../../src/matcher/match.js';
import type { Snapshot } from '../../../src/matcher/snapshot.js';
import { FlagCounters, type FlagCount } from '../../../src/telemetry/flagCounters.js';
import { createMetrics } from '../../../src/telemetry/metrics.js';
import { headersOf, profileOf } from '../../helpers/profiles.js';

const T0 = 1_700_000_000_000;

function flag(doc: Record<string, unknown>): FlagDefinition {
  const r = parseFlagValue({ enabled: true, ...doc });
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  return r.flag;
}

// Half the weight on the method: no dimension is required, so every request scores these
// (a flag that a required dimension rules out is not scored, so not counted below threshold).
const half = { threshold: 0.5, profile: { method: { in: ['GET'] }, geo: { in: ['DE'] } } };
const FLAGS = [
  flag({ name: 'get-only', ...half }),
  flag({ name: 'watch', mode: 'shadow', ...half }),
  flag({ name: 'strict-get', profile: { method: { in: ['GET'] } } }),
  flag({ name: 'nobody', rollout: { percent: 0 } }),
  flag({
    name: 'split',
    rollout: { percent: 100, stickiness: 'header:x-user' },
    variants: [
      { name: 'a', weight: 1 },
      { name: 'b', weight: 1 },
    ],
  }),
  flag({ name: 'limited', respondLimit: { perSecond: 1 }, actions: { respond: { status: 429 } } }),
];

function compile(flags: FlagDefinition[], compiledAt: number, previous?: Snapshot): Snapshot {
  return compileSnapshot(
    flags,
    { version: 1, source: 't', rejected: [] },
    { now: compiledAt, previous: previous ?? null },
  );
}

const sorted = (counts: FlagCount[]) =>
  counts
    .map((c) => `${c.flag}|${c.variant}|${c.result}=${c.count}`)
    .sort()
    .join('\n');

describe('FlagCounters', () => {
  it('counts each flag, variant and result exactly', () => {
    const snapshot = compile(FLAGS, 1);
    const counters = new FlagCounters();
    const expected = new Map<string, number>();
    const add = (k: string) => expected.set(k, (expected.get(k) ?? 0) + 1);
    for (let i = 0; i < 50; i++) {
      const method = i % 5 === 0 ? 'POST' : 'GET';
      const d = decide(snapshot, profileOf({ method }), headersOf({ 'x-user': `u${i}` }), T0);
      counters.countDecision(snapshot, d);
      // What the rules say should have happened to each flag:
      if (method === 'GET') {
        add('get-only||match');
        add('watch||shadow');
        add('strict-get||match');
      } else {
        // strict-get requires the method: the prefilter rules it out unscored, uncounted.
        add('get-only||below_threshold');
        add('watch||below_threshold');
      }
      add('nobody||rollout_excluded');
      add(`split|${d.matches.find((m) => m.flag.name === 'split')!.variant}|match`);
      // One token, all at one instant: the first request replies, the others are limited.
      add(i === 0 ? 'limited||match' : 'limited||respond_limited');
    }
    const want = [...expected].map(([k, n]) => `${k}=${n}`).sort();
    expect(sorted(counters.counts())).toBe(want.join('\n'));
    const split = counters.counts().filter((c) => c.flag === 'split');
    expect(split.map((c) => c.variant).sort()).toEqual(['a', 'b']);
  });

  it('a reload carries the counts over by name; flags that are gone are dropped', () => {
    const counters = new FlagCounters();
    const first = compile(FLAGS, 1);
    for (let i = 0; i < 3; i++) counters.countDecision(first, decide(first, profileOf(), headersOf(), T0));
    // The same flags in a new order (indexes change), one removed.
    const second = compile(
      [...FLAGS].reverse().filter((f) => f.name !== 'nobody'),
      2,
      first,
    );
    for (let i = 0; i < 2; i++) counters.countDecision(second, decide(second, profileOf(), headersOf(), T0));
    const byKey = new Map(counters.counts().map((c) => [`${c.flag}|${c.variant}|${c.result}`, c.count]));
    expect(byKey.get('get-only||match')).toBe(5);
    expect(byKey.get('watch||shadow')).toBe(5);
    expect(byKey.has('nobody||rollout_excluded')).toBe(false);
    // The bucket was carried over too: still empty at T0.
    expect(byKey.get('limited||match')).toBe(1);
    expect(byKey.get('limited||respond_limited')).toBe(4);
  });

  it('exports on scrape, with the respond-limited total per flag', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    const snapshot = compile(FLAGS, 1);
    for (let i = 0; i < 4; i++) {
      metrics.flagCounters.countDecision(snapshot, decide(snapshot, profileOf(), headersOf({ 'x-user': 'u1' }), T0));
    }
    const text = await metrics.registry.metrics();
    expect(text).toContain('proflag_flag_evaluations_total{flag="get-only",variant="",result="match"} 4');
    expect(text).toContain('proflag_flag_evaluations_total{flag="watch",variant="",result="shadow"} 4');
    expect(text).toContain('proflag_flag_evaluations_total{flag="nobody",variant="",result="rollout_excluded"} 4');
    expect(text).toMatch(/proflag_flag_evaluations_total\{flag="split",variant="[ab]",result="match"\} 4/);
    expect(text).toContain('proflag_flag_evaluations_total{flag="limited",variant="",result="respond_limited"} 3');
    expect(text).toContain('proflag_flag_respond_limited_total{flag="limited"} 3');
    // A second scrape gives the same figures (collect resets and refills, never adds twice).
    expect(await metrics.registry.metrics()).toBe(text);
  });

  it('the default process metrics have one proflag_ prefix', async () => {
    const text = await createMetrics().registry.metrics();
    expect(text).toMatch(/^proflag_process_cpu_user_seconds_total /m);
    expect(text).toMatch(/^proflag_nodejs_eventloop_lag_seconds /m);
    expect(text).not.toContain('proflag_process_process_');
  });
});
