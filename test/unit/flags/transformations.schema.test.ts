// The flag fields of CONTRACT §6 (mode, respondLimit, respond, rewritePath, responseHeaders)
// and §7 (experiment): what is accepted, and the clear refusal of everything Envoy would
// choke on or that could take a service down.
import { describe, expect, it } from 'vitest';
import { parseFlagValue } from '../../../src/flags/schema.js';

const base = { name: 'ok', enabled: true };
const limit = { respondLimit: { perSecond: 10 } };

function issuesOf(input: unknown): { path: string; message: string }[] {
  const r = parseFlagValue(input);
  return r.ok ? [] : r.issues;
}

describe('transformations in the flag schema (CONTRACT §6)', () => {
  it('accepts the contract example', () => {
    const r = parseFlagValue({
      ...base,
      mode: 'shadow',
      respondLimit: { perSecond: 100 },
      actions: {
        respond: { status: 429, headers: { 'retry-after': '30' }, body: 'slow down', details: 'proflag_blocked' },
        rewritePath: { prefix: '/api/v1/', to: '/api/v2/' },
        responseHeaders: { set: { 'x-served-by': 'canary' }, remove: ['server'] },
      },
    });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.flag.mode).toBe('shadow');
    expect(r.flag.actions.respond).toEqual({
      status: 429,
      headers: { 'retry-after': '30' },
      body: 'slow down',
      details: 'proflag_blocked',
    });
  });

  it('defaults: enforce mode, empty reply headers and body', () => {
    const r = parseFlagValue({ ...base, ...limit, actions: { respond: { status: 503 } } });
    expect(r.ok && r.flag.mode).toBe('enforce');
    expect(r.ok && r.flag.actions.respond).toEqual({ status: 503, headers: {}, body: '' });
  });

  it('accepts a 4 KiB body of multi-byte text exactly at the limit', () => {
    const body = 'é'.repeat(2048); // 4,096 bytes of UTF-8
    expect(parseFlagValue({ ...base, ...limit, actions: { respond: { status: 503, body } } }).ok).toBe(true);
    expect(issuesOf({ ...base, ...limit, actions: { respond: { status: 503, body: `${body}x` } } })).toEqual([
      expect.objectContaining({ path: 'actions.respond.body', message: expect.stringMatching(/4096 bytes/) }),
    ]);
  });

  const refusals: [string, unknown, string, RegExp][] = [
    ['respond without respondLimit', { ...base, actions: { respond: { status: 429 } } }, 'respondLimit', /perSecond/],
    [
      'a variant respond without respondLimit',
      { ...base, variants: [{ name: 'a', weight: 1, actions: { respond: { status: 503 } } }] },
      'respondLimit',
      /respondLimit/,
    ],
    [
      'status 600',
      { ...base, ...limit, actions: { respond: { status: 600 } } },
      'actions.respond.status',
      /200 to 599/,
    ],
    [
      'status 199',
      { ...base, ...limit, actions: { respond: { status: 199 } } },
      'actions.respond.status',
      /200 to 599/,
    ],
    [
      "status 418 (not in Envoy's StatusCode enum)",
      { ...base, ...limit, actions: { respond: { status: 418 } } },
      'actions.respond.status',
      /StatusCode enum/,
    ],
    ['status 42.5', { ...base, ...limit, actions: { respond: { status: 429.5 } } }, 'actions.respond.status', /int/],
    [
      'a body with NUL',
      { ...base, ...limit, actions: { respond: { status: 503, body: 'a\u0000b' } } },
      'actions.respond.body',
      /NUL/,
    ],
    [
      'a body with a lone surrogate',
      { ...base, ...limit, actions: { respond: { status: 503, body: 'a\ud800b' } } },
      'actions.respond.body',
      /UTF-8/,
    ],
    [
      'a reply header with CR LF',
      { ...base, ...limit, actions: { respond: { status: 429, headers: { 'retry-after': '1\r\nx: y' } } } },
      'actions.respond.headers.retry-after',
      /CR, LF or NUL/,
    ],
    [
      'a reply header with an upper-case name',
      { ...base, ...limit, actions: { respond: { status: 429, headers: { 'Retry-After': '1' } } } },
      'actions.respond.headers.Retry-After',
      /lower-case/,
    ],
    [
      'a reply content-length',
      { ...base, ...limit, actions: { respond: { status: 429, headers: { 'content-length': '1' } } } },
      'actions.respond.headers.content-length',
      /framing/,
    ],
    [
      'a reply header value over 4 KiB',
      { ...base, ...limit, actions: { respond: { status: 429, headers: { 'x-a': 'v'.repeat(4097) } } } },
      'actions.respond.headers.x-a',
      /4096/,
    ],
    [
      'details with a space',
      { ...base, ...limit, actions: { respond: { status: 429, details: 'two words' } } },
      'actions.respond.details',
      /without spaces/,
    ],
    [
      'a respondLimit of 0',
      { ...base, respondLimit: { perSecond: 0 }, actions: { respond: { status: 429 } } },
      'respondLimit.perSecond',
      /0/,
    ],
    [
      'a rewrite target without a leading slash',
      { ...base, actions: { rewritePath: { prefix: '/api/v1/', to: 'api/v2/' } } },
      'actions.rewritePath.to',
      /absolute path/,
    ],
    [
      'a rewrite target with a query',
      { ...base, actions: { rewritePath: { prefix: '/a', to: '/b?x=1' } } },
      'actions.rewritePath.to',
      /no '\?' query/,
    ],
    [
      'a rewrite target with a space',
      { ...base, actions: { rewritePath: { prefix: '/a', to: '/b c' } } },
      'actions.rewritePath.to',
      /printable ASCII/,
    ],
    [
      'a rewrite target with non-ASCII text',
      { ...base, actions: { rewritePath: { prefix: '/a', to: '/café' } } },
      'actions.rewritePath.to',
      /percent-encode/,
    ],
    [
      'a rewrite prefix that is empty',
      { ...base, actions: { rewritePath: { prefix: '', to: '/b' } } },
      'actions.rewritePath.prefix',
      /absolute path/,
    ],
    [
      'a response header set on :status',
      { ...base, actions: { responseHeaders: { set: { ':status': '200' } } } },
      'actions.responseHeaders.set.:status',
      /reserved/,
    ],
    [
      'a response transfer-encoding removed',
      { ...base, actions: { responseHeaders: { remove: ['transfer-encoding'] } } },
      'actions.responseHeaders.remove[0]',
      /framing/,
    ],
    [
      'a response header with LF',
      { ...base, actions: { responseHeaders: { set: { 'x-a': 'a\nb' } } } },
      'actions.responseHeaders.set.x-a',
      /CR, LF or NUL/,
    ],
    ['an unknown mode', { ...base, mode: 'dry-run' }, 'mode', /enforce|shadow/],
  ];
  it.each(refusals)('refuses %s, with the path and a reason', (_what, input, path, reason) => {
    const issues = issuesOf(input);
    expect(issues.map((i) => i.path)).toContain(path);
    expect(issues.find((i) => i.path === path)!.message).toMatch(reason);
  });
});

describe('experiments in the flag schema (CONTRACT §7)', () => {
  const variants = [
    { name: 'control', weight: 50 },
    { name: 'treatment', weight: 50 },
  ];
  const guardrail = { metric: 'errorRate', maxRelativeIncrease: 0.1, minRequests: 500, pValue: 0.01 };

  it('accepts the contract example, guardrails defaulting to none', () => {
    const r = parseFlagValue({ ...base, variants, experiment: { control: 'control', guardrails: [guardrail] } });
    expect(r.ok && r.flag.experiment).toEqual({ control: 'control', guardrails: [guardrail] });
    const bare = parseFlagValue({ ...base, variants, experiment: { control: 'treatment' } });
    expect(bare.ok && bare.flag.experiment).toEqual({ control: 'treatment', guardrails: [] });
  });

  const refusals: [string, unknown, string, RegExp][] = [
    ['an experiment without variants', { ...base, experiment: { control: 'control' } }, 'experiment', /variants/],
    [
      'a control that is not a variant',
      { ...base, variants, experiment: { control: 'baseline' } },
      'experiment.control',
      /names no variant of this flag \(variants: control, treatment\)/,
    ],
    [
      'an unknown metric',
      { ...base, variants, experiment: { control: 'control', guardrails: [{ ...guardrail, metric: 'cpu' }] } },
      'experiment.guardrails[0].metric',
      /errorRate/,
    ],
    [
      'maxRelativeIncrease 0',
      {
        ...base,
        variants,
        experiment: { control: 'control', guardrails: [{ ...guardrail, maxRelativeIncrease: 0 }] },
      },
      'experiment.guardrails[0].maxRelativeIncrease',
      /0/,
    ],
    [
      'minRequests 0.5',
      { ...base, variants, experiment: { control: 'control', guardrails: [{ ...guardrail, minRequests: 0.5 }] } },
      'experiment.guardrails[0].minRequests',
      /int/,
    ],
    [
      'pValue 1',
      { ...base, variants, experiment: { control: 'control', guardrails: [{ ...guardrail, pValue: 1 }] } },
      'experiment.guardrails[0].pValue',
      /1/,
    ],
    [
      'pValue 0',
      { ...base, variants, experiment: { control: 'control', guardrails: [{ ...guardrail, pValue: 0 }] } },
      'experiment.guardrails[0].pValue',
      /0/,
    ],
  ];
  it.each(refusals)('refuses %s, with the path and a reason', (_what, input, path, reason) => {
    const issues = issuesOf(input);
    expect(issues.map((i) => i.path)).toContain(path);
    expect(issues.find((i) => i.path === path)!.message).toMatch(reason);
  });
});
