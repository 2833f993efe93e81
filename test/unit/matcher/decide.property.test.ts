// decide() prunes candidates by bitsets and computes user-agent distances lazily, per slot and
// only when a flag could still reach its threshold. None of that may change a decision: here
// random snapshots (every dimension, UA ranges embedded by the real embedder, random weights,
// thresholds, priorities, rollouts, variants, shadow mode, respond with small respondLimits,
// rewrites and response headers) meet random requests at advancing times, and decide() must
// give exactly what scoring every flag with every distance gives (decideByScoringEveryFlag in
// test/helpers/decideReference.ts, with its own token buckets): the same matches in the same
// order with the same scores (bit for bit), variants and values, the same reply, route,
// rewrite and header changes, the same shadow, respond-limited and rollout-excluded flags; its
// below-threshold flags are the reference's among the candidates it scored (all of them
// without the prefilter).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { HeaderLookup, RequestProfile } from '../../../src/features/profile.js';
import { createUaHasher, embedUserAgent } from '../../../src/features/userAgent.js';
import { parseFlagValue, type FlagDefinition } from '../../../src/flags/schema.js';
import { compileSnapshot } from '../../../src/matcher/compile.js';
import { explain } from '../../../src/matcher/explain.js';
import { decide, type Decision, type FlagMatch } from '../../../src/matcher/match.js';
import type { Snapshot } from '../../../src/matcher/snapshot.js';
import { uaIndexBuilder } from '../../../src/matcher/uaIndexImpl.js';
import { syntheticUserAgents } from '../../helpers/uaCorpus.js';
import { decideByScoringEveryFlag, ReferenceBuckets } from '../../helpers/decideReference.js';

const BASE_UAS = [
  'Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36',
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1',
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0',
  'curl/8.5.0',
].map((ua) => ({ ua }));
/** Per base user agent, variants of it (close, not equal): the exemplars of a learned range. */
const FAMILIES = BASE_UAS.map((base, i) => syntheticUserAgents([base], 10, embedUserAgent, 100 + i).uas);
/** Exemplars: the bases and their variants, plus a digit-only twin of a base (the same vector). */
const EXEMPLARS = [
  ...BASE_UAS.map((b) => b.ua),
  ...FAMILIES.flat(),
  BASE_UAS[0]!.ua.replace('Chrome/120', 'Chrome/121'),
];
/** What requests send: some exemplars, other variants of the same families, unrelated agents. */
const REQUEST_UAS = [
  ...EXEMPLARS.slice(0, 6),
  ...FAMILIES.flatMap((family) => family.slice(0, 3)),
  ...BASE_UAS.flatMap((base, i) => syntheticUserAgents([base], 5, embedUserAgent, 200 + i).uas),
  'python-requests/2.31.0',
  'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)',
];
const HASH_KEY = 'decide-property-key-0123456789';
const hashOf = createUaHasher(HASH_KEY);
/** A hash that no request's user agent has: only hash-only requests send it. */
const LONE_HASH = 'abcdef0123456789abcdef0123456789';

const METHODS = ['GET', 'POST', 'PUT', 'DELETE'];
const PATTERNS = ['/', '/a', '/a/b', '/a/*', '/a/**', '/b/*/c', '/**', '/c/d/**', '/a/b/', '/c/*/*'];
const ENDPOINTS = ['/', '/a', '/a/b', '/a/x', '/a/b/c', '/b/1/c', '/b/1', '/c/d', '/c/d/e/f', '/c/x/y', '/zz', ''];
const COUNTRIES = ['DE', 'FR', 'US', 'BR', 'JP'];
const WEIGHTS = [0, 0.1, 0.2, 0.3, 0.5, 1, 1, 1, 2, 3.7];
const THRESHOLDS = [0, 0.1, 0.25, 0.3, 0.5, 0.6, 0.7, 0.75, 0.8, 0.9, 1, 1, 1];
const REACHES = [0.0005, 0.002, 0.02, 0.05, 0.08, 0.1, 0.12, 0.15, 0.2, 0.3, 0.5, 1, 2];
const SIZES = [0, 1, 99, 100, 101, 1000, 4096, 65536];

const pickOf = <T>(items: readonly T[]) => fc.constantFrom(...items);
const weightArb = fc.oneof(pickOf(WEIGHTS), fc.double({ min: 0, max: 10, noNaN: true }));
const subset = <T>(items: readonly T[], max: number) =>
  fc.uniqueArray(pickOf(items), { minLength: 1, maxLength: Math.min(max, items.length) });

const profileArb = fc.record(
  {
    method: fc.record({ in: subset(METHODS, 3), weight: weightArb }),
    endpoint: fc.record({ in: subset(PATTERNS, 3), weight: weightArb }),
    geo: fc.record({ in: subset(COUNTRIES, 3), weight: weightArb }),
    payloadSize: fc
      .tuple(fc.option(pickOf(SIZES), { nil: undefined }), fc.option(pickOf(SIZES), { nil: undefined }), weightArb)
      .map(([a, b, weight]) => {
        const [min, max] = a !== undefined && b !== undefined && a > b ? [b, a] : [a, b];
        return { ...(min !== undefined ? { min } : {}), ...(max !== undefined ? { max: max } : {}), weight };
      }),
    timeOfDay: fc.record(
      {
        min: fc.integer({ min: 0, max: 23 }),
        max: fc.integer({ min: 0, max: 23 }),
        weight: weightArb,
      },
      { requiredKeys: ['weight'] },
    ),
    userAgent: fc.record({
      // A family's variants (a tight range, where the index's bounds matter) or any mix.
      similarTo: fc.oneof(
        fc.integer({ min: 0, max: FAMILIES.length - 1 }).chain((f) => subset(FAMILIES[f]!, 8)),
        subset(EXEMPLARS, 8),
      ),
      hashes: fc.uniqueArray(
        fc.constantFrom(LONE_HASH, ...EXEMPLARS.slice(0, 6).map(hashOf), ...REQUEST_UAS.slice(24, 28).map(hashOf)),
        { maxLength: 2 },
      ),
      maxDistance: fc.oneof(pickOf(REACHES), fc.double({ min: 0.001, max: 2, noNaN: true })),
      weight: weightArb,
    }),
  },
  { requiredKeys: [] },
);

const respondArb = fc.record({
  status: pickOf([200, 429, 503]),
  headers: fc.dictionary(pickOf(['retry-after', 'x-r']), pickOf(['1', '30']), { maxKeys: 1 }),
  body: pickOf(['', 'slow down']),
});

const headerChangesArb = fc.record({
  set: fc.dictionary(pickOf(['x-a', 'x-b', 'x-c']), pickOf(['1', '2']), { maxKeys: 2 }),
  remove: fc.uniqueArray(pickOf(['x-a', 'x-b', 'x-d']), { maxLength: 2 }),
});

const actionsArb = fc.record(
  {
    route: fc.record({ cluster: pickOf(['c1', 'c2', 'c3']) }),
    requestHeaders: headerChangesArb,
    respond: respondArb,
    rewritePath: fc.record({ prefix: pickOf(['/a/', '/b']), to: pickOf(['/v2/', '/']) }),
    responseHeaders: headerChangesArb,
  },
  { requiredKeys: [] },
);

const flagArb = fc.record(
  {
    enabled: fc.oneof(fc.constant(true), fc.constant(true), fc.constant(true), fc.constant(false)),
    value: fc.oneof(fc.constant(true), fc.constant(false), pickOf(['on', 'blue']), fc.integer({ min: 0, max: 9 })),
    priority: fc.integer({ min: 0, max: 3 }),
    threshold: fc.oneof(pickOf(THRESHOLDS), fc.double({ min: 0, max: 1, noNaN: true })),
    profile: profileArb,
    actions: actionsArb,
    rollout: fc.record({
      percent: fc.integer({ min: 0, max: 100 }),
      stickiness: pickOf(['client', 'header:x-user-id', 'cookie:uid']),
    }),
    variants: fc.constantFrom(
      [
        { name: 'control', weight: 50 },
        { name: 'treatment', weight: 50, actions: { route: { cluster: 'c9' } } },
      ],
      [{ name: 'only', weight: 1, actions: { requestHeaders: { set: { 'x-v': 'y' } } } }],
      [
        { name: 'pass', weight: 1, actions: { responseHeaders: { set: { 'x-v': 'p' }, remove: [] } } },
        { name: 'block', weight: 1, actions: { respond: { status: 503 } } },
      ],
    ),
    mode: fc.constantFrom('enforce', 'enforce', 'shadow'),
    // Small budgets, so that requests run out of tokens and wait for the refill.
    respondLimit: fc.record({ perSecond: pickOf([0.5, 1, 2, 3.5, 1000]) }),
  },
  { requiredKeys: ['enabled', 'value', 'priority', 'threshold', 'profile'] },
);

const snapshotArb = fc.array(flagArb, { minLength: 1, maxLength: 40 }).map((docs) => {
  const defs: FlagDefinition[] = [];
  docs.forEach((doc, i) => {
    const r = parseFlagValue({ name: `f${String(i).padStart(2, '0')}`, ...doc });
    if (r.ok) defs.push(r.flag);
  });
  return defs;
});

interface RequestCase {
  readonly profile: RequestProfile;
  readonly headers: Record<string, string>;
  /** Ms since the previous request (the clock of the respondLimit buckets). */
  readonly gapMs: number;
}

const requestArb: fc.Arbitrary<RequestCase> = fc
  .record({
    method: fc.oneof(pickOf(METHODS), pickOf(['', 'PATCH'])),
    endpoint: fc.option(pickOf(ENDPOINTS), { nil: null }),
    country: fc.option(pickOf([...COUNTRIES, 'GB']), { nil: null }),
    // Mostly what the extractor gives; now and then what only a hand-made profile could hold.
    payloadSize: fc.option(
      fc.oneof(
        { weight: 8, arbitrary: fc.oneof(pickOf(SIZES), fc.integer({ min: 0, max: 100_000 })) },
        { weight: 1, arbitrary: pickOf([-1, 0.5, 99.5, NaN, Infinity]) },
      ),
      { nil: null },
    ),
    hour: fc.oneof(
      { weight: 8, arbitrary: fc.integer({ min: 0, max: 23 }) },
      { weight: 1, arbitrary: pickOf([-1, 24, 1.5, NaN]) },
    ),
    // An index into REQUEST_UAS, -1 for no user agent, -2 for a bare exact hash.
    ua: fc.integer({ min: -2, max: REQUEST_UAS.length - 1 }),
    clientKey: pickOf(['k1', 'k2', 'k3', 'k4']),
    userId: fc.option(pickOf(['u1', 'u2', 'u3', '']), { nil: undefined }),
    uid: fc.option(pickOf(['a', 'b', 'c']), { nil: undefined }),
    gapMs: fc.oneof(pickOf([0, 0, 1, 250, 999, 2000]), fc.double({ min: 0, max: 3000, noNaN: true })),
  })
  .map((r) => {
    const ua = r.ua >= 0 ? REQUEST_UAS[r.ua]! : null;
    const headers: Record<string, string> = {};
    if (r.userId !== undefined) headers['x-user-id'] = r.userId;
    if (r.uid !== undefined) headers.cookie = `x=1; uid=${r.uid}`;
    return {
      profile: {
        method: r.method,
        endpoint: r.endpoint,
        payloadSize: r.payloadSize,
        hour: r.hour,
        country: r.country,
        continent: null,
        uaHash: ua !== null ? hashOf(ua) : r.ua === -2 ? LONE_HASH : null,
        uaVector: ua !== null ? embedUserAgent(ua) : null,
        clientKey: r.clientKey,
      },
      headers,
      gapMs: r.gapMs,
    };
  });

function lookup(values: Record<string, string>): HeaderLookup {
  return { get: (name) => values[name] };
}

// ---------------------------------------------------------------------------------------------
// The reference: every flag scored with every slot's distance, computed here from the contract
// (the nearest exemplar's cosine distance; Infinity beyond maxDistance; 0 for an exact hash),
// in the index's arithmetic: float64 normalisation, then two partial sums (even and odd
// elements) added at the end.

function normalised(v: Float32Array): Float64Array | null {
  let s = 0;
  for (let i = 0; i < v.length; i++) {
    if (!Number.isFinite(v[i]!)) return null;
    s += v[i]! * v[i]!;
  }
  if (!(s > 0)) return null;
  const inv = 1 / Math.sqrt(s);
  return Float64Array.from(v, (x) => x * inv);
}

function distance(a: Float64Array, b: Float64Array): number {
  let even = 0;
  let odd = 0;
  for (let i = 0; i < a.length; i += 2) {
    even += a[i]! * b[i]!;
    if (i + 1 < a.length) odd += a[i + 1]! * b[i + 1]!;
  }
  return Math.min(2, Math.max(0, 1 - (even + odd)));
}

function referenceDistances(
  snapshot: Snapshot,
  defs: readonly FlagDefinition[],
  profile: RequestProfile,
): Float64Array {
  const byName = new Map(defs.map((d) => [d.name, d]));
  const out = new Float64Array(snapshot.uaIndex?.slots ?? 0).fill(Infinity);
  const q = profile.uaVector ? normalised(profile.uaVector) : null;
  for (const flag of snapshot.flags) {
    if (!flag.userAgent) continue;
    const range = byName.get(flag.name)!.profile.userAgent!;
    let best = Infinity;
    if (q) for (const text of range.similarTo) best = Math.min(best, distance(q, normalised(embedUserAgent(text))!));
    if (best > range.maxDistance) best = Infinity;
    if (profile.uaHash !== null && range.hashes.includes(profile.uaHash)) best = 0;
    out[flag.userAgent.slot] = best;
  }
  return out;
}

const matchSummary = (m: FlagMatch) => ({
  name: m.flag.name,
  score: Object.is(m.score, -0) ? '-0' : m.score.toString(),
  variant: m.variant,
  variantIndex: m.variantIndex,
  value: m.value,
  route: m.actions.route,
});

/** Everything a decision says, with scores as exact bit patterns (below-threshold aside). */
function summary(d: Decision) {
  return {
    matches: d.matches.map(matchSummary),
    route: d.route,
    set: [...d.setHeaders],
    remove: [...d.removeHeaders],
    respond: d.respond,
    rewritePath: d.rewritePath,
    responseSet: [...d.responseSetHeaders],
    responseRemove: [...d.responseRemoveHeaders],
    shadow: d.shadow.map(matchSummary),
    respondLimited: d.respondLimited.map(matchSummary),
    rolloutExcluded: d.rolloutExcluded.map((f) => f.name),
  };
}

const compileWithIndex = (defs: readonly FlagDefinition[]) =>
  compileSnapshot(
    defs,
    { version: 1, source: 'property', rejected: [] },
    { uaIndexBuilder: uaIndexBuilder(embedUserAgent) },
  );

describe('decide() with candidate pruning and lazy UA distances', () => {
  it('decides exactly as scoring every flag with every distance (property)', () => {
    let matched = 0;
    let pruned = 0;
    let uaFlags = 0;
    const seen = { replies: 0, limited: 0, shadow: 0, excluded: 0, rewrites: 0, responseHeaders: 0, below: 0 };
    fc.assert(
      fc.property(snapshotArb, fc.array(requestArb, { minLength: 1, maxLength: 25 }), (defs, requests) => {
        // Two compiles of the same flags: decide() fills one index's cache lazily and in its
        // own order; the other answers all slots at once. Each has its own token buckets, as
        // has the reference: the same requests at the same times must spend them alike.
        const fast = compileWithIndex(defs);
        const full = compileWithIndex(defs);
        const unpruned: Snapshot = { ...compileWithIndex(defs), prefilter: undefined };
        const buckets = new ReferenceBuckets();
        let nowMs = 1_700_000_000_000;
        for (const { profile, headers, gapMs } of requests) {
          nowMs += gapMs;
          const h = lookup(headers);
          const distances = referenceDistances(full, defs, profile);
          if (full.uaIndex) {
            // The index's all-slots answer is the contract's distance, bit for bit.
            expect(Array.from(full.uaIndex.nearestDistances(profile.uaVector, profile.uaHash))).toEqual(
              Array.from(distances),
            );
          }
          const reference = decideByScoringEveryFlag(full, profile, h, distances, buckets, nowMs);
          const want = summary(reference);
          const got = decide(fast, profile, h, nowMs);
          const gotUnpruned = decide(unpruned, profile, h, nowMs);
          expect(summary(got)).toEqual(want);
          expect(summary(gotUnpruned)).toEqual(want);
          // Below threshold: all of them without the prefilter, the scored ones with it.
          const allBelow = reference.allBelowThreshold.map((f) => f.name);
          expect(gotUnpruned.belowThreshold.map((f) => f.name)).toEqual(allBelow);
          for (const f of got.belowThreshold) expect(allBelow).toContain(f.name);
          matched += want.matches.length;
          seen.replies += want.respond ? 1 : 0;
          seen.limited += want.respondLimited.length;
          seen.shadow += want.shadow.length;
          seen.excluded += want.rolloutExcluded.length;
          seen.rewrites += want.rewritePath ? 1 : 0;
          seen.responseHeaders += want.responseSet.length + want.responseRemove.length;
          seen.below += got.belowThreshold.length;
          if (fast.prefilter) {
            const sel = fast.prefilter.select(profile).candidates;
            let candidates = 0;
            for (const w of sel) for (let b = w; b !== 0; b &= b - 1) candidates++;
            pruned += fast.flags.length - candidates;
          }
          uaFlags += fast.flags.filter((f) => f.userAgent).length;
        }
      }),
      { numRuns: 300 },
    );
    // The generators must actually exercise matching, pruning and UA ranges (about 2,000,
    // 2,000 and 6,000 of them in a run), and every kind of action and outcome.
    expect(matched).toBeGreaterThan(600);
    expect(pruned).toBeGreaterThan(600);
    expect(uaFlags).toBeGreaterThan(1500);
    // (A run sees about 450 replies, 180 limited, 480 shadow, 1,600 excluded, 40 rewrites,
    // 90 response-header changes and 1,600 scored misses.)
    for (const [what, n] of Object.entries(seen)) expect(n, what).toBeGreaterThan(10);
  });

  it('explain() reports the scores, results and decision of decide(), and spends no reply (property)', () => {
    fc.assert(
      fc.property(snapshotArb, fc.array(requestArb, { minLength: 1, maxLength: 8 }), (defs, requests) => {
        const s = compileWithIndex(defs);
        // The same flags, never explained: explain must not change what decide() answers.
        const untouched = compileWithIndex(defs);
        let nowMs = 1_700_000_000_000;
        for (const { profile, headers, gapMs } of requests) {
          nowMs += gapMs;
          const h = lookup(headers);
          const e = explain(s, profile, h, nowMs);
          explain(s, profile, h, nowMs);
          const d = decide(s, profile, h, nowMs);
          expect(summary(d)).toEqual(summary(decide(untouched, profile, h, nowMs)));
          expect(e.decision.flags).toEqual(d.matches.map((m) => `${m.flag.name}=${m.value}`));
          expect(e.decision.shadow).toEqual(d.shadow.map((m) => `${m.flag.name}=${m.value}`));
          expect(e.decision.respond).toEqual(
            d.respond ? { flag: d.respond.flag, status: d.respond.reply.status } : null,
          );
          expect(e.decision.route).toBe(d.route?.cluster ?? null);
          const result = (name: string) => e.flags.find((f) => f.name === name)!.result;
          for (const m of d.matches) {
            expect(e.flags.find((f) => f.name === m.flag.name)!.score).toBe(m.score);
            expect(result(m.flag.name)).toBe('matched');
          }
          for (const m of d.shadow) expect(result(m.flag.name)).toBe('shadow');
          for (const m of d.respondLimited) expect(result(m.flag.name)).toBe('respond-limited');
          for (const f of d.rolloutExcluded) expect(result(f.name)).toBe('outside-rollout');
          for (const f of d.belowThreshold) expect(result(f.name)).toBe('below-threshold');
        }
      }),
      { numRuns: 80 },
    );
  });
});
