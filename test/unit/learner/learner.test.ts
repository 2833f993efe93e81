// The learner's orchestration with a scripted detector (so each step is predictable): the
// privacy floor, the novelty check, updates under one id, retirement, bounded memory.
import { describe, expect, it } from 'vitest';
import { createUaHasher, embedUserAgent } from '../../../src/features/userAgent.js';
import { parseFlagValue } from '../../../src/flags/schema.js';
import { Learner, type LearnerInput, type ProposalEmission } from '../../../src/learner/learner.js';
import { clientKey, scriptedDetector, scriptedTraffic } from './scriptedTraffic.js';

const hash = createUaHasher('learner-test-key-0123456789');
const { background, attack: attackBy } = scriptedTraffic(hash);

let attackClient = 0;
/** The attacker family's request from its next client. */
const attack = (): LearnerInput => attackBy(attackClient++);

const T0 = Date.UTC(2026, 2, 2, 10, 0);

describe('Learner', () => {
  it('proposes a new pattern exactly when its 50th distinct client arrives, with evidence', () => {
    attackClient = 0;
    const learner = new Learner({ detector: scriptedDetector((p) => p.endpoint === '/api/v1/token', ['scripted']) });
    const emitted: { i: number; e: ProposalEmission }[] = [];
    let attacks = 0;
    let firstAt = -1;
    for (let i = 0; i < 20_000; i++) {
      const isAttack = i >= 10_000 && i % 20 === 0;
      if (isAttack) attacks++;
      const out = learner.observe(isAttack ? attack() : background(i), T0 + i * 100);
      for (const e of out) {
        emitted.push({ i, e });
        if (firstAt < 0) firstAt = attacks;
      }
    }
    expect(firstAt).toBe(50);
    const first = emitted[0]!.e;
    expect(first.created).toBe(true);
    expect(first.document.enabled).toBe(false);
    expect(parseFlagValue(first.document).ok).toBe(true);
    expect(first.document.profile).toMatchObject({
      method: { in: ['POST'] },
      endpoint: { in: ['/api/v1/token'] },
      geo: { in: ['BR'] },
    });
    const ev = first.document.evidence as Record<string, unknown>;
    expect(ev).toMatchObject({ id: first.id, support: 50, clients: 50, clientFloor: 50 });
    expect(ev.shareOfTraffic as number).toBeGreaterThan(0.04);
    expect(String(ev.explain)).toMatch(
      /^5(\.\d)?% of traffic since 10:16 UTC, 50 clients, UA family like Go-http-client, country BR, POST \/api\/v1\/token, size 200 B–500 B, anomaly 1\.00$/,
    );
    expect(first.document.description).toBe(ev.explain);
    // Later versions update the same proposal.
    expect(emitted.length).toBeGreaterThan(1);
    for (const { e } of emitted.slice(1)) {
      expect(e.id).toBe(first.id);
      expect(e.created).toBe(false);
    }
    expect(learner.stats.proposalsEmitted).toBe(emitted.length);
  });

  it('stops updating a retired proposal', () => {
    attackClient = 0;
    const learner = new Learner({
      detector: scriptedDetector((p) => p.endpoint === '/api/v1/token', ['scripted']),
      updateEvents: 1_000,
    });
    const ids = new Set<string>();
    let after = 0;
    for (let i = 0; i < 25_000; i++) {
      const out = learner.observe(i >= 10_000 && i % 20 === 0 ? attack() : background(i), T0 + i * 100);
      for (const e of out) {
        ids.add(e.id);
        if (i > 15_000) after++;
      }
      if (i === 15_000) for (const id of ids) learner.retire(id);
    }
    expect(ids.size).toBe(1);
    expect(after).toBe(0);
  });

  it('never proposes stationary anomalies (a detector that always flags a rare segment)', () => {
    // 1 % of traffic, from the start, flagged every time: anomalous but not new.
    const learner = new Learner({ detector: scriptedDetector((p) => p.endpoint === '/rare', ['scripted']) });
    let proposals = 0;
    let c = 0;
    for (let i = 0; i < 60_000; i++) {
      const p =
        i % 100 === 0 ? { ...background(i), endpoint: '/rare', clientKey: clientKey(`rare${c++}`) } : background(i);
      proposals += learner.observe(p, T0 + i * 100).length;
    }
    expect(proposals).toBe(0);
    expect(learner.stats.anomalies).toBeGreaterThan(500);
    expect([...learner.lastReasons.values()].map((r) => r.code).join()).toMatch(/no-onset|not-significant/);
  });

  it('never proposes below the floor: 49 clients sending 2,000 requests', () => {
    const learner = new Learner({ detector: scriptedDetector((p) => p.endpoint === '/api/v1/token', ['scripted']) });
    let proposals = 0;
    let n = 0;
    for (let i = 0; i < 40_000; i++) {
      const p = i >= 10_000 && i % 15 === 0 ? { ...attack(), clientKey: clientKey(`few${n++ % 49}`) } : background(i);
      proposals += learner.observe(p, T0 + i * 100).length;
    }
    expect(n).toBeGreaterThan(1_900);
    expect(proposals).toBe(0);
  });

  it('keeps memory bounded under a flood of anomalies with unique values', () => {
    const learner = new Learner({
      detector: scriptedDetector((p) => p.endpoint !== null && p.endpoint.startsWith('/u/'), ['scripted']),
    });
    let emitted = 0;
    const at = (n: number) => {
      for (let i = 0; i < n; i++) {
        const k = learner.stats.observed;
        const ua = `Rand${k}/1.${k % 7} (${k.toString(36)})`;
        const p: LearnerInput =
          k % 3 === 0
            ? {
                ...background(k),
                endpoint: `/u/${k.toString(36)}`,
                uaHash: hash(ua),
                uaVector: embedUserAgent(ua),
                clientKey: clientKey(`f${k}`),
              }
            : background(k);
        emitted += learner.observe(p, T0 + k * 100).length;
      }
      expect(emitted).toBe(0);
      return learner.memoryBytes;
    };
    // Every cap is reached early; memory then moves within the caps (3.4-4.2 MB over 200,000
    // events in a longer run) instead of growing with the number of distinct values.
    const sizes = [at(12_000), at(6_000), at(6_000)];
    for (const m of sizes) expect(m).toBeLessThan(6_000_000);
    expect(Math.max(...sizes) / Math.min(...sizes)).toBeLessThan(1.3);
    expect(learner.stats.clusters).toBeLessThanOrEqual(48 + 128);
    expect(learner.stats.families).toBeLessThanOrEqual(2 + 29 + 256);
  });
});
