// User-agent families from embeddings: readable reference names, stable learned ids, purity on
// the real user agents of the `user-agents` package, and a flood of random user agents that
// cannot fill the family table.
import { describe, expect, it } from 'vitest';
import { embedUserAgent } from '../../../src/features/userAgent.js';
import { NO_UA_FAMILY, OTHER_UA_FAMILY, UaFamilies } from '../../../src/learner/core/uaFamily.js';
import { REFERENCE_USER_AGENTS } from '../../../src/learner/core/uaReferences.js';
import { loadUaCorpus } from '../../helpers/uaCorpus.js';

const families = (o: ConstructorParameters<typeof UaFamilies>[0] = {}) =>
  new UaFamilies({ embed: embedUserAgent, ...o });

describe('UaFamilies', () => {
  it('names every reference after itself and every version of a client the same', () => {
    const f = families();
    for (const r of REFERENCE_USER_AGENTS) expect(f.assign(null, embedUserAgent(r.userAgent)).id).toBe(r.id);
    expect(f.assign('a1', embedUserAgent('Go-http-client/1.1')).id).toBe('go-http-client');
    expect(f.assign('a2', embedUserAgent('python-requests/2.28.2')).id).toBe('python-requests');
    expect(f.assign('a3', embedUserAgent('curl/7.68.0')).id).toBe('curl');
    expect(f.assign(null, null)).toBe(NO_UA_FAMILY);
  });

  it('learns a new family after probation and keeps its id', () => {
    const f = families({ promoteAfter: 3 });
    const v = embedUserAgent('ShopApp/5.0.0 (iPhone; iOS 17.4; Scale/3.00)');
    expect(f.assign('h1', v)).toBe(OTHER_UA_FAMILY);
    expect(f.assign('h2', v)).toBe(OTHER_UA_FAMILY);
    const learned = f.assign('h3', v);
    expect(learned.id).toMatch(/^u\d+$/);
    expect(f.assign('h4', embedUserAgent('ShopApp/5.1.2 (iPhone; iOS 17.5; Scale/3.00)'))).toBe(learned);
    expect(f.assign('h1', v)).toBe(learned); // "other" answers were not cached
    expect(f.byId(learned.id)).toBe(learned);
    expect(f.distanceToFamily(learned.index, v)).toBeLessThan(1e-6);
  });

  it('keeps families pure on the real user agents (browser ≥ 0.95, OS ≥ 0.97 at radius 0.2)', () => {
    const corpus = loadUaCorpus();
    const f = families({ promoteAfter: 1 });
    const groups = new Map<string, { browser: Map<string, number>; os: Map<string, number> }>();
    corpus.forEach((c, i) => {
      const id = f.assign(`h${i}`, embedUserAgent(c.ua)).id;
      const g = groups.get(id) ?? { browser: new Map(), os: new Map() };
      g.browser.set(String(c.browser), (g.browser.get(String(c.browser)) ?? 0) + 1);
      g.os.set(String(c.os), (g.os.get(String(c.os)) ?? 0) + 1);
      groups.set(id, g);
    });
    let browser = 0;
    let os = 0;
    for (const g of groups.values()) {
      browser += Math.max(...g.browser.values());
      os += Math.max(...g.os.values());
    }
    expect(browser / corpus.length).toBeGreaterThanOrEqual(0.95);
    expect(os / corpus.length).toBeGreaterThanOrEqual(0.97);
    expect(groups.size).toBeLessThan(40);
  });

  it('does not fill up with a flood of one-off random user agents, and stays bounded', () => {
    const f = families({ maxLearned: 64, cacheSize: 1_000 });
    let seed = 7;
    const word = (n: number) => {
      let s = '';
      for (let i = 0; i < n; i++) {
        seed = (seed * 1103515245 + 12345) >>> 0;
        s += String.fromCharCode(97 + (seed % 26));
      }
      return s;
    };
    for (let i = 0; i < 20_000; i++)
      f.assign(`r${i}`, embedUserAgent(`${word(6)}/${i % 10}.0 (${word(5)}; ${word(7)}) ${word(4)}`));
    expect(f.learnedCount).toBeLessThanOrEqual(64);
    const bytes = f.memoryBytes;
    for (let i = 0; i < 20_000; i++) f.assign(`s${i}`, embedUserAgent(`${word(8)} ${word(3)}/${word(2)}`));
    expect(f.memoryBytes).toBeLessThanOrEqual(bytes + 64 * 72 + 1_000 * 120);
    // A real family still gets its reference name afterwards.
    expect(f.assign('go', embedUserAgent('Go-http-client/2.0')).id).toBe('go-http-client');
  });
});
