import { describe, expect, it } from 'vitest';
import { RequestHeaders, MAX_HEADERS } from '../../../src/extproc/headerMap.js';
import {
  continueUnchangedOutcome,
  createRequestProcessor,
  headersViewOf,
  sourceAddressOf,
  toCommonResponse,
} from '../../../src/extproc/requestProcessor.js';
import { parseFlagValue } from '../../../src/flags/schema.js';
import { compileSnapshot } from '../../../src/matcher/compile.js';
import { decide } from '../../../src/matcher/match.js';
import { encodeProcessingResponse } from '../../../src/extproc/replyEncoder.js';
import { NO_MUTATION, planMutation } from '../../../src/routing/mutationPlan.js';
import { createLogger } from '../../../src/telemetry/logger.js';
import { createMetrics } from '../../../src/telemetry/metrics.js';
import { profileOf } from '../../helpers/profiles.js';

const routing = { routeHeader: 'x-proflag-cluster', flagsHeader: 'x-proflag-flags', maxFlagsHeaderLength: 1024 };
const h = (key: string, v: string) => ({ key, raw_value: Buffer.from(v, 'latin1') });

describe('header map', () => {
  it('reads raw_value, falls back to value, joins repeats, lower-cases keys', () => {
    const m = new RequestHeaders([
      h('User-Agent', 'ua'),
      { key: 'x-old', value: 'from-value' },
      { key: 'x-both', value: 'ignored', raw_value: Buffer.from('raw') },
      h('cookie', 'a=1'),
      h('cookie', 'b=2'),
      h('accept', 'x'),
      h('accept', 'y'),
      { key: '', raw_value: Buffer.from('nameless') },
    ]);
    expect(m.get('user-agent')).toBe('ua');
    expect(m.get('x-old')).toBe('from-value');
    expect(m.get('x-both')).toBe('raw');
    expect(m.get('cookie')).toBe('a=1; b=2');
    expect(m.get('accept')).toBe('x, y');
    expect(m.size).toBe(5);
  });

  it('keeps non-UTF-8 bytes one-to-one and bounds the header count', () => {
    expect(new RequestHeaders([{ key: 'x', raw_value: Buffer.from([0xff, 0xc3]) }]).get('x')).toBe('\u00ff\u00c3');
    const many = Array.from({ length: MAX_HEADERS + 100 }, (_, i) => h(`x-${i}`, 'v'));
    expect(new RequestHeaders(many).size).toBe(MAX_HEADERS);
  });
});

describe('request processor', () => {
  const flag = parseFlagValue({ name: 'all', enabled: true, actions: { route: { cluster: 'c' } } });
  if (!flag.ok) throw new Error('flag');
  const snapshot = compileSnapshot([flag.flag], { version: 3, source: 't', rejected: [] });

  it('turns a plan into raw_value-only mutations with clear_route_cache and metadata', () => {
    const metrics = createMetrics({ defaultMetrics: false });
    const process = createRequestProcessor({
      snapshots: { current: snapshot, stale: true },
      extract: () => profileOf(),
      routing,
      metrics,
      logger: createLogger('silent'),
    });
    const out = process(headersViewOf({}, { headers: { headers: [h(':path', '/')] } }));
    const set = out.response.header_mutation!.set_headers!;
    expect(set.map((s) => [s.header.key, s.header.raw_value!.toString(), s.header.value, s.append?.value])).toEqual([
      ['x-proflag-cluster', 'c', undefined, false],
      ['x-proflag-flags', 'all=true', undefined, false],
    ]);
    expect(out.response.clear_route_cache).toBe(true);
    const ns = out.dynamicMetadata!.fields!.proflag!.structValue!.fields!;
    expect(ns.stale!.boolValue).toBe(true);
    expect(ns.version!.numberValue).toBe(3);
  });

  it('answers CONTINUE unchanged when extraction throws, and counts it', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    const process = createRequestProcessor({
      snapshots: { current: snapshot, stale: false },
      extract: () => {
        throw new Error('bug');
      },
      routing,
      metrics,
      logger: createLogger('silent'),
    });
    expect(process(headersViewOf({}, {}))).toBe(continueUnchangedOutcome());
    const fallbacks = await metrics.fallbacks.get();
    expect(fallbacks.values[0]).toMatchObject({ labels: { code: 'PROFLAG_ERR_DECISION' }, value: 1 });
  });

  it('reads source.address from the attributes', () => {
    expect(
      sourceAddressOf({
        attributes: { 'envoy.filters.http.ext_proc': { fields: { 'source.address': { stringValue: '1.2.3.4:5' } } } },
      }),
    ).toBe('1.2.3.4:5');
    expect(sourceAddressOf({})).toBeNull();
  });

  it('sends no mutation at all for NO_MUTATION', () => {
    expect(toCommonResponse(NO_MUTATION)).toEqual({});
  });
});

describe('reply cache', () => {
  it('reuses the encoded reply for the same decision and re-encodes when staleness changes', () => {
    const f = parseFlagValue({ name: 'all', enabled: true, actions: { route: { cluster: 'c' } } });
    if (!f.ok) throw new Error('flag');
    const snapshot = compileSnapshot([f.flag], { version: 1, source: 't', rejected: [] });
    const snapshots = { current: snapshot, stale: false };
    const process = createRequestProcessor({
      snapshots,
      extract: () => profileOf(),
      routing,
      metrics: createMetrics({ defaultMetrics: false }),
      logger: createLogger('silent'),
    });
    const a = process(headersViewOf({}, { headers: { headers: [h(':path', '/a')] } }));
    const b = process(headersViewOf({}, { headers: { headers: [h(':path', '/b')] } }));
    expect(b).toBe(a);
    snapshots.stale = true;
    const c = process(headersViewOf({}, { headers: { headers: [h(':path', '/a')] } }));
    expect(c).not.toBe(a);
    expect(c.dynamicMetadata!.fields!.proflag!.structValue!.fields!.stale!.boolValue).toBe(true);
    // A client-sent route header changes the reply too (it must be overwritten).
    const d = process(headersViewOf({}, { headers: { headers: [h(':path', '/a'), h('x-proflag-cluster', 'evil')] } }));
    expect(d).not.toBe(c);
  });
});

describe('rewritePath replies', () => {
  it("are the pure plan with the request's :path, whatever the cached reply they are built from", () => {
    const f = parseFlagValue({
      name: 'v2',
      enabled: true,
      actions: {
        route: { cluster: 'api_v2' },
        requestHeaders: { set: { 'x-api': 'v2' }, remove: ['x-old'] },
        rewritePath: { prefix: '/api/v1/', to: '/api/v2/' },
      },
    });
    if (!f.ok) throw new Error(JSON.stringify(f.issues));
    const snapshot = compileSnapshot([f.flag], { version: 3, source: 't', rejected: [] });
    const process = createRequestProcessor({
      snapshots: { current: snapshot, stale: false },
      extract: () => profileOf(),
      routing,
      metrics: createMetrics({ defaultMetrics: false }),
      logger: createLogger('silent'),
    });
    const paths = ['/api/v1/items?id=7', '/api/v1/' + 'x'.repeat(200), '/api/v1/items?id=8'];
    for (const sentRoute of [false, true]) {
      for (const rawPath of paths) {
        const list = [h(':path', rawPath), ...(sentRoute ? [h('x-proflag-cluster', 'evil')] : [])];
        const out = process(headersViewOf({}, { headers: { headers: list } }));
        const headers = new RequestHeaders(list);
        const plan = planMutation(
          decide(snapshot, profileOf(), headers),
          { routeHeaderSent: sentRoute, flagsHeaderSent: false, rawPath },
          routing,
        );
        expect(plan.path).toBe(rawPath.replace('/api/v1/', '/api/v2/'));
        expect(out.response).toEqual(toCommonResponse(plan));
        expect(out.cluster).toBe('api_v2');
        const whole = encodeProcessingResponse({
          request_headers: { response: out.response },
          dynamic_metadata: out.dynamicMetadata!,
        });
        expect(out.reply.equals(whole)).toBe(true);
      }
    }
  });
});
