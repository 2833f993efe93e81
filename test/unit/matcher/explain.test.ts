// /explain's view of CONTRACT §6: per-flag results (shadow, respond-limited), the reply,
// rewrite and response headers of the decision, and the flags the store refused.
import { describe, expect, it } from 'vitest';
import { parseFlagValue, type FlagDefinition } from '../../../src/flags/schema.js';
import { compileSnapshot } from '../../../src/matcher/compile.js';
import { explain } from '../../../src/matcher/explain.js';
import { decide } from '../../../src/matcher/match.js';
import { headersOf, profileOf } from '../../helpers/profiles.js';

const T0 = 1_700_000_000_000;

function flag(doc: Record<string, unknown>): FlagDefinition {
  const r = parseFlagValue({ enabled: true, ...doc });
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  return r.flag;
}

describe('explain', () => {
  const flags = [
    flag({
      name: 'shadow-429',
      mode: 'shadow',
      priority: 9,
      respondLimit: { perSecond: 1 },
      actions: { respond: { status: 429 } },
    }),
    flag({ name: 'block', priority: 5, respondLimit: { perSecond: 1 }, actions: { respond: { status: 503 } } }),
    flag({
      name: 'v2',
      actions: { rewritePath: { prefix: '/api/v1/', to: '/api/v2/' }, responseHeaders: { set: { 'x-v': '2' } } },
    }),
  ];
  const snapshot = () =>
    compileSnapshot(flags, {
      version: 3,
      source: 't',
      rejected: [{ key: 'dead', reason: 'profile.endpoint.in[0]: can never match: ...; write "/orders/{id}" instead' }],
    });

  it('shows shadow matches as "shadow", outside the flags header', () => {
    const e = explain(snapshot(), profileOf(), headersOf(), T0);
    expect(e.flags.find((f) => f.name === 'shadow-429')).toMatchObject({ mode: 'shadow', result: 'shadow' });
    expect(e.decision.shadow).toEqual(['shadow-429=true']);
    expect(e.decision.flags).toEqual(['block=true', 'v2=true']);
    expect(e.decision.respond).toEqual({ flag: 'block', status: 503 });
  });

  it('looks at the respond buckets without spending them, and says when one is empty', () => {
    const s = snapshot();
    for (let i = 0; i < 3; i++) expect(explain(s, profileOf(), headersOf(), T0).decision.respond?.flag).toBe('block');
    expect(decide(s, profileOf(), headersOf(), T0).respond?.flag).toBe('block');
    const e = explain(s, profileOf(), headersOf(), T0);
    expect(e.flags.find((f) => f.name === 'block')!.result).toBe('respond-limited');
    expect(e.decision.respond).toBeNull();
    expect(e.decision.rewritePath).toEqual({ flag: 'v2', prefix: '/api/v1/', to: '/api/v2/' });
    expect(e.decision.responseHeaders).toEqual({ set: { 'x-v': '2' }, remove: [] });
  });

  it('lists the refused flags with their reasons', () => {
    expect(explain(snapshot(), profileOf(), headersOf(), T0).rejected).toEqual([
      { key: 'dead', reason: expect.stringContaining('write "/orders/{id}" instead') },
    ]);
  });
});
