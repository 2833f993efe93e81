// Learned ranges: the compiled predicate agrees with the real matcher on the proposal it
// becomes (CONTRACT §3 scoring with the proposal's weights and threshold), and the traffic
// history finds when a range's traffic started.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { RequestProfile } from '../../../src/features/profile.js';
import { createUaHasher, embedUserAgent } from '../../../src/features/userAgent.js';
import { parseFlagValue } from '../../../src/flags/schema.js';
import { noveltySplit, TrafficHistory } from '../../../src/learner/core/history.js';
import { flagProfileOf } from '../../../src/learner/core/proposal.js';
import { LearnerRandom } from '../../../src/learner/core/random.js';
import { fillEventKeys, newEventKeys, RangePredicate, type LearnedRange } from '../../../src/learner/core/range.js';
import { REFERENCE_USER_AGENTS } from '../../../src/learner/core/uaReferences.js';
import { compileSnapshot } from '../../../src/matcher/compile.js';
import { decide } from '../../../src/matcher/match.js';
import { buildUaIndex } from '../../../src/matcher/uaIndexImpl.js';
import { headersOf, profileOf } from '../../helpers/profiles.js';

const hash = createUaHasher('range-test-key-0123456789');
const UAS = [
  'Go-http-client/1.1',
  'Go-http-client/2.0',
  'curl/8.4.0',
  'python-requests/2.31.0',
  'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36',
];
const GO = REFERENCE_USER_AGENTS.find((r) => r.id === 'go-http-client')!;

function profileFrom(i: {
  method: string;
  endpoint: string | null;
  country: string | null;
  ua: number;
  size: number | null;
  hour: number;
}): RequestProfile {
  const ua = i.ua < UAS.length ? UAS[i.ua]! : null;
  return profileOf({
    method: i.method,
    endpoint: i.endpoint,
    country: i.country,
    payloadSize: i.size,
    hour: i.hour,
    uaHash: ua === null ? null : hash(ua),
    uaVector: ua === null ? null : embedUserAgent(ua),
  });
}

function matcherSays(range: LearnedRange, p: RequestProfile): boolean {
  const { profile, threshold } = flagProfileOf(range);
  const parsed = parseFlagValue({ name: 'p', enabled: true, threshold, profile });
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
  const snapshot = compileSnapshot(
    [parsed.flag],
    { version: 1, source: 'test', rejected: [] },
    { uaIndexBuilder: { embed: embedUserAgent, build: buildUaIndex } },
  );
  return decide(snapshot, p, headersOf()).matches.length === 1;
}

function predicateSays(range: LearnedRange, p: RequestProfile, family: number): boolean {
  const pred = new RangePredicate(
    range,
    range.userAgent?.reference ? embedUserAgent(range.userAgent.reference.userAgent) : null,
  );
  return pred.test(fillEventKeys(newEventKeys(), p, family), p.uaVector);
}

const arbProfile = fc.record({
  method: fc.constantFrom('GET', 'POST', 'PUT'),
  endpoint: fc.constantFrom('/api/login', '/products/{id}', '/', null),
  country: fc.constantFrom('BR', 'DE', 'US', null),
  ua: fc.integer({ min: 0, max: UAS.length }),
  size: fc.option(fc.integer({ min: 0, max: 5_000 }), { nil: null }),
  hour: fc.integer({ min: 0, max: 23 }),
});

const arbRange: fc.Arbitrary<LearnedRange> = fc
  .record({
    methods: fc.option(fc.subarray(['GET', 'POST', 'PUT'], { minLength: 1 }), { nil: null }),
    endpoints: fc.option(fc.subarray(['/api/login', '/products/{id}', '/'], { minLength: 1 }), { nil: null }),
    countries: fc.option(fc.subarray(['BR', 'DE', 'US'], { minLength: 1 }), { nil: null }),
    ua: fc.option(fc.record({ hashes: fc.subarray([0, 2, 3]), reference: fc.boolean() }), { nil: null }),
    size: fc.option(fc.tuple(fc.constantFrom(0, 100, 200), fc.constantFrom(500, 1000, 5000)), { nil: null }),
    hours: fc.option(fc.tuple(fc.integer({ min: 0, max: 23 }), fc.integer({ min: 0, max: 23 })), { nil: null }),
  })
  .filter((r) => r.ua === null || r.ua.reference || r.ua.hashes.length > 0)
  .filter((r) => [r.methods, r.endpoints, r.countries, r.ua, r.size, r.hours].some((d) => d !== null))
  .map((r) => ({
    methods: r.methods,
    endpoints: r.endpoints,
    countries: r.countries,
    userAgent: r.ua && {
      hashes: r.ua.hashes.map((i) => hash(UAS[i]!)),
      reference: r.ua.reference ? GO : null,
      referenceFamily: r.ua.reference ? 99 : -1,
      maxDistance: 0.4,
    },
    size: r.size && { min: r.size[0], max: r.size[1] },
    hours: r.hours && { start: r.hours[0], end: r.hours[1] },
  }));

describe('RangePredicate', () => {
  it('agrees with the matcher on the proposal it becomes (property)', () => {
    fc.assert(
      fc.property(arbRange, arbProfile, (range, i) => {
        const p = profileFrom(i);
        expect(predicateSays(range, p, 0)).toBe(matcherSays(range, p));
      }),
      { numRuns: 300 },
    );
  });

  it('compares history rows (no vectors) by family for a reference range', () => {
    const range: LearnedRange = {
      methods: ['POST'],
      endpoints: null,
      countries: ['BR'],
      userAgent: { hashes: [], reference: GO, referenceFamily: 7, maxDistance: 0.4 },
      size: null,
      hours: null,
    };
    const pred = new RangePredicate(range, embedUserAgent(GO.userAgent));
    const keys = fillEventKeys(
      newEventKeys(),
      profileFrom({ method: 'POST', endpoint: '/x', country: 'BR', ua: 0, size: null, hour: 1 }),
      7,
    );
    expect(pred.test(keys, null)).toBe(true);
    keys.family = 8;
    expect(pred.test(keys, null)).toBe(false);
  });
});

describe('TrafficHistory and noveltySplit', () => {
  const inRange: LearnedRange = {
    methods: null,
    endpoints: ['/new'],
    countries: null,
    userAgent: null,
    size: null,
    hours: null,
  };
  const pred = new RangePredicate(inRange, null);

  function fill(history: TrafficHistory, n: number, share: (i: number) => number, rng: LearnerRandom): void {
    const keys = newEventKeys();
    for (let i = 0; i < n; i++) {
      const endpoint = rng.next() < share(i) ? '/new' : '/old';
      history.push(fillEventKeys(keys, profileOf({ endpoint }), 0), i * 1000);
    }
  }
  const options = { minBefore: 5_000, minHitsAfter: 25, minLift: 4 };

  it('keeps the last N events and their times', () => {
    const h = new TrafficHistory(100);
    fill(h, 250, (i) => (i % 2 === 0 ? 1 : 0), new LearnerRandom(1));
    expect([h.total, h.length, h.firstSeq]).toEqual([250, 100, 150]);
    const scan = h.scan(pred);
    expect(scan.count).toBe(50);
    expect(scan.positions[0]).toBe(0); // event 150 is even
    expect(h.timeAt(0)).toBe(150_000);
    expect(h.timeAt(100)).toBeNaN();
  });

  it('finds the onset of a step from 0.05 % to 1 % of traffic', () => {
    const h = new TrafficHistory(65_536);
    fill(h, 45_000, (i) => (i < 40_000 ? 0.0005 : 0.01), new LearnerRandom(2));
    const scan = h.scan(pred);
    const s = noveltySplit(scan.positions, scan.count, scan.length, options)!;
    expect(s).not.toBeNull();
    expect(Math.abs(s.onset - 40_000)).toBeLessThan(600);
    expect(s.lift).toBeGreaterThan(8);
    expect(s.z).toBeGreaterThan(5);
    expect(s.restShare).toBeLessThan(0.002);
  });

  it('finds no significant onset in stationary traffic at any rate', () => {
    for (const [seed, share] of [
      [3, 0.0005],
      [4, 0.002],
      [5, 0.01],
      [6, 0.05],
    ] as const) {
      const h = new TrafficHistory(65_536);
      fill(h, 65_536, () => share, new LearnerRandom(seed));
      const scan = h.scan(pred);
      const s = noveltySplit(scan.positions, scan.count, scan.length, options);
      expect(s === null || s.z < 5, `share ${share}: z ${s?.z}`).toBe(true);
    }
  });
});
