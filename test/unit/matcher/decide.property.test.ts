// decide() prunes candidates by bitsets and computes user-agent distances lazily, per slot and
// only when a flag could still reach its threshold. None of that may change a decision: here
// random snapshots (every dimension, UA ranges embedded by the real embedder, random weights,
// thresholds, priorities, rollouts and variants) meet random requests, and decide() must give
// exactly what scoring every flag with every distance gives (decideByScoringEveryFlag in test/helpers/decideReference.ts): the same
// matches in the same order with the same scores (bit for bit), variants and values, the same
// route and the same header changes.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { HeaderLookup, RequestProfile } from '../../../src/features/profile.js';
import { createUaHasher, embedUserAgent } from '../../../src/features/userAgent.js';
import { parseFlagValue, type FlagDefinition } from '../../../src/flags/schema.js';
import { compileSnapshot } from '../../../src/matcher/compile.js';
import { explain } from '../../../src/matcher/explain.js';
import { decide, type Decision } from '../../../src/matcher/match.js';
import type { Snapshot } from '../../../src/matcher/snapshot.js';
import { uaIndexBuilder } from '../../../src/matcher/uaIndexImpl.js';
import { syntheticUserAgents } from '../../helpers/uaCorpus.js';
import { decideByScoringEveryFlag } from '../../helpers/decideReference.js';

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

const actionsArb = fc.record(
  {
    route: fc.record({ cluster: pickOf(['c1', 'c2', 'c3']) }),
    requestHeaders: fc.record({
      set: fc.dictionary(pickOf(['x-a', 'x-b', 'x-c']), pickOf(['1', '2']), { maxKeys: 2 }),
      remove: fc.uniqueArray(pickOf(['x-a', 'x-b', 'x-d']), { maxLength: 2 }),
    }),
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
    ),
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

/** Everything a decision says, with scores as exact bit patterns. */
function summary(d: Decision) {
  return {
    matches: d.matches.map((m) => ({
      name: m.flag.name,
      score: Object.is(m.score, -0) ? '-0' : m.score.toString(),
      variant: m.variant,
      value: m.value,
      route: m.actions.route,
    })),
    route: d.route,
    set: [...d.setHeaders],
    remove: [...d.removeHeaders],
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
    fc.assert(
      fc.property(snapshotArb, fc.array(requestArb, { minLength: 1, maxLength: 25 }), (defs, requests) => {
        // Two compiles of the same flags: decide() fills one index's cache lazily and in its
        // own order; the other answers all slots at once.
        const fast = compileWithIndex(defs);
        const full = compileWithIndex(defs);
        const unpruned: Snapshot = { ...compileWithIndex(defs), prefilter: undefined };
        for (const { profile, headers } of requests) {
          const h = lookup(headers);
          const distances = referenceDistances(full, defs, profile);
          if (full.uaIndex) {
            // The index's all-slots answer is the contract's distance, bit for bit.
            expect(Array.from(full.uaIndex.nearestDistances(profile.uaVector, profile.uaHash))).toEqual(
              Array.from(distances),
            );
          }
          const want = summary(decideByScoringEveryFlag(full, profile, h, distances));
          expect(summary(decide(fast, profile, h))).toEqual(want);
          expect(summary(decide(unpruned, profile, h))).toEqual(want);
          matched += want.matches.length;
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
    // 2,000 and 6,000 of them in a run).
    expect(matched).toBeGreaterThan(600);
    expect(pruned).toBeGreaterThan(600);
    expect(uaFlags).toBeGreaterThan(1500);
  });

  it('explain() reports the scores and the decision of decide() (property)', () => {
    fc.assert(
      fc.property(snapshotArb, fc.array(requestArb, { minLength: 1, maxLength: 5 }), (defs, requests) => {
        const s = compileWithIndex(defs);
        for (const { profile, headers } of requests) {
          const h = lookup(headers);
          const d = decide(s, profile, h);
          const e = explain(s, profile, h);
          expect(e.decision.flags).toEqual(d.matches.map((m) => `${m.flag.name}=${m.value}`));
          for (const m of d.matches) expect(e.flags.find((f) => f.name === m.flag.name)!.score).toBe(m.score);
        }
      }),
      { numRuns: 50 },
    );
  });
});
