// Online clustering of anomalous events and the cluster → range → proposal step.
import { describe, expect, it } from 'vitest';
import { embedUserAgent, createUaHasher } from '../../../src/features/userAgent.js';
import { parseFlagValue } from '../../../src/flags/schema.js';
import { Clustering, type ClusterMember, type ClusteringOptions } from '../../../src/learner/core/clustering.js';
import { hashString32 } from '../../../src/learner/core/hashing.js';
import {
  DEFAULT_PROPOSAL_POLICY,
  explainProposal,
  flagProfileOf,
  proposalIdOf,
  rangeOfCluster,
} from '../../../src/learner/core/proposal.js';
import { LearnerRandom } from '../../../src/learner/core/random.js';
import { UaFamilies, type UaFamily } from '../../../src/learner/core/uaFamily.js';

const hash = createUaHasher('cluster-test-key-0123456789');
const families = new UaFamilies({ embed: embedUserAgent });

function options(o: Partial<ClusteringOptions> = {}): ClusteringOptions {
  return {
    maxClusters: 8,
    maxOutliers: 8,
    promoteWeight: 3,
    radius: 0.4,
    halfLifeEvents: 20_000,
    clientFloor: 50,
    maxIdleEvents: 200_000,
    rng: new LearnerRandom(1),
    ...o,
  };
}

let seq = 0;
function member(o: {
  method?: string;
  endpoint?: string;
  country?: string;
  ua?: string;
  size?: number | null;
  hour?: number;
  client?: string;
  timeMs?: number;
}): ClusterMember {
  const ua = o.ua ?? 'Go-http-client/2.0';
  const vector = embedUserAgent(ua);
  const family: UaFamily = families.assign(hash(ua), vector);
  const size = o.size === undefined ? 300 : o.size;
  return {
    method: o.method ?? 'POST',
    endpoint: o.endpoint ?? '/api/login',
    country: o.country ?? 'BR',
    uaHash: hash(ua),
    family,
    payloadSize: size,
    sizeBin: size === null ? null : 32 - Math.clz32(size),
    hour: o.hour ?? 10,
    client: hashString32(o.client ?? `client-${seq}`),
    vector,
    timeMs: o.timeMs ?? Date.UTC(2026, 2, 2, 10, 2) + seq * 1000,
    seq: seq++,
    score: 0.99,
  };
}

describe('Clustering', () => {
  it('separates two patterns and keeps each coherent', () => {
    const c = new Clustering(options());
    for (let i = 0; i < 60; i++) {
      c.assign(member({}));
      c.assign(
        member({ method: 'GET', endpoint: '/products/{id}', country: 'US', ua: 'python-requests/2.31.0', size: null }),
      );
    }
    const big = [...c.clusters].sort((a, b) => b.events - a.events).slice(0, 2);
    expect(big.map((x) => x.events)).toEqual([60, 60]);
    expect(new Set(big.map((x) => x.endpoints.mode()))).toEqual(new Set(['/api/login', '/products/{id}']));
  });

  it('lets one-off noise churn through the outlier buffer without evicting a growing pattern', () => {
    // The buffer outlasts the 19 one-off anomalies between two of the pattern's events.
    const c = new Clustering(options({ maxClusters: 4, maxOutliers: 24 }));
    let pattern = null;
    for (let i = 0; i < 2_000; i++) {
      // Every 20th anomaly is the pattern; the rest are unique noise.
      if (i % 20 === 0) pattern = c.assign(member({}));
      else
        c.assign(
          member({
            endpoint: `/noise/${i}`,
            country: ['DE', 'FR', 'JP'][i % 3],
            method: 'GET',
            ua: `Noise${i}/1.0 (x${i})`,
            size: null,
          }),
        );
    }
    expect(c.clusters).toContain(pattern);
    expect(pattern!.events).toBe(100);
    expect(pattern!.potential).toBe(true);
    expect(c.clusters.length).toBeLessThanOrEqual(28);
  });

  it('prefers a young fast cluster over an old slow one when potentials are full', () => {
    const c = new Clustering(options({ maxClusters: 1, maxOutliers: 4, halfLifeEvents: 1_000 }));
    const old = c.assign(member({ endpoint: '/old', method: 'GET' }));
    for (let i = 0; i < 5; i++) c.assign(member({ endpoint: '/old', method: 'GET' }));
    seq += 5_000; // the old pattern fades
    const young = c.assign(member({ endpoint: '/young', country: 'PL', ua: 'curl/8.5.0' }));
    for (let i = 0; i < 4; i++) c.assign(member({ endpoint: '/young', country: 'PL', ua: 'curl/8.5.0' }));
    expect(c.clusters).toContain(young);
    expect(c.clusters).not.toContain(old);
  });
});

describe('rangeOfCluster and the proposal document', () => {
  function patternCluster(n: number, extra: (i: number) => Partial<Parameters<typeof member>[0]> = () => ({})) {
    const c = new Clustering(options());
    let cluster = null;
    for (let i = 0; i < n; i++) cluster = c.assign(member({ size: 200 + (i % 150), ...extra(i) }));
    return cluster!;
  }

  it('holds nothing below the privacy floor', () => {
    const cluster = patternCluster(49);
    expect(rangeOfCluster(cluster, families, DEFAULT_PROPOSAL_POLICY)).toEqual({
      ok: false,
      code: 'below-floor',
      reason: 'below the privacy floor',
    });
    // 500 events from 10 clients: still below the floor.
    const few = patternCluster(500, (i) => ({ client: `c${i % 10}` }));
    expect(rangeOfCluster(few, families, DEFAULT_PROPOSAL_POLICY).ok).toBe(false);
  });

  it('publishes the pattern: sets by support, snapped sizes, the reference family', () => {
    const cluster = patternCluster(60);
    const r = rangeOfCluster(cluster, families, DEFAULT_PROPOSAL_POLICY);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.range).toMatchObject({
      methods: ['POST'],
      endpoints: ['/api/login'],
      countries: ['BR'],
      size: { min: 200, max: 500 },
      hours: null,
    });
    expect(r.range.userAgent?.reference?.id).toBe('go-http-client');
    const { profile, threshold } = flagProfileOf(r.range);
    expect(threshold).toBeCloseTo(4.5 / 5, 4);
    const doc = parseFlagValue({
      name: `learned-${proposalIdOf(r.range)}`,
      enabled: false,
      threshold,
      profile,
      evidence: {},
    });
    expect(doc.ok).toBe(true);
  });

  it('leaves out values with fewer than k clients, and a dimension they would leave uncovered', () => {
    // 60 clients from BR, then 40 events from 40 clients spread over 8 other countries.
    const cluster = patternCluster(100, (i) => ({
      country: i < 60 ? 'BR' : ['AR', 'CL', 'PE', 'UY', 'PY', 'BO', 'EC', 'CO'][i % 8],
    }));
    const r = rangeOfCluster(cluster, families, DEFAULT_PROPOSAL_POLICY);
    expect(r.ok).toBe(true);
    if (r.ok) expect(r.range.countries).toBeNull(); // BR alone covers 60 % < 85 %
  });

  it('publishes an hour window only once a full day was seen', () => {
    const day = 86_400_000;
    const young = patternCluster(80, (i) => ({ hour: 9 + (i % 3) }));
    const r1 = rangeOfCluster(young, families, DEFAULT_PROPOSAL_POLICY);
    expect(r1.ok && r1.range.hours).toBeNull();
    const start = Date.UTC(2026, 2, 2);
    const old = patternCluster(80, (i) => ({ hour: 9 + (i % 3), timeMs: start + (i * 2 * day) / 80 }));
    const r2 = rangeOfCluster(old, families, DEFAULT_PROPOSAL_POLICY);
    expect(r2.ok && r2.range.hours).toEqual({ start: 9, end: 11 });
  });

  it('gives one id to one pattern and explains it in words and numbers', () => {
    const a = rangeOfCluster(patternCluster(60), families, DEFAULT_PROPOSAL_POLICY);
    const b = rangeOfCluster(patternCluster(90), families, DEFAULT_PROPOSAL_POLICY);
    if (!a.ok || !b.ok) throw new Error('expected ranges');
    expect(proposalIdOf(a.range)).toBe(proposalIdOf(b.range));
    expect(proposalIdOf(a.range)).toMatch(/^[0-9a-f]{12}$/);
    const text = explainProposal({
      range: a.range,
      shareOfTraffic: 0.014,
      sinceMs: Date.UTC(2026, 2, 2, 10, 2),
      clients: 312,
      score: 0.97,
      familyLabel: 'Go-http-client',
      familyShare: 1,
    });
    expect(text).toBe(
      '1.4% of traffic since 10:02 UTC, 312 clients, UA family like Go-http-client, country BR, POST /api/login, size 200 B–500 B, anomaly 0.97',
    );
  });
});
