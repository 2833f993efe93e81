// The request processor and the experiments recorder together (issue 10's wiring): a request in
// an experiment gets a response phase whose observer counts its outcome; a request another
// flag answers locally (respond) is counted at once as "no response"; a request decided in the
// body phase (PROFLAG_BODY_SIZE) is left out, since Envoy cannot be asked for its response
// headers there; a request outside experiments gets no response phase at all.
import { describe, expect, it } from 'vitest';
import type { VariantCounts } from '../../../src/experiments/core/counts.js';
import { histogramTotal } from '../../../src/experiments/core/histogram.js';
import { ExperimentRecorder } from '../../../src/experiments/recorder.js';
import { createRequestProcessor, headersViewOf } from '../../../src/extproc/requestProcessor.js';
import { parseFlagValue } from '../../../src/flags/schema.js';
import { compileSnapshot } from '../../../src/matcher/compile.js';
import { createLogger } from '../../../src/telemetry/logger.js';
import { createMetrics } from '../../../src/telemetry/metrics.js';
import { profileOf } from '../../helpers/profiles.js';

function flag(doc: Record<string, unknown>) {
  const parsed = parseFlagValue(doc);
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
  return parsed.flag;
}

const experimentFlag = flag({
  name: 'exp',
  enabled: true,
  profile: { endpoint: { in: ['/exp/**'] } },
  rollout: { percent: 100, stickiness: 'header:x-user-id' },
  variants: [
    { name: 'control', weight: 50 },
    { name: 'treatment', weight: 50, actions: { route: { cluster: 'backend_treatment' } } },
  ],
  experiment: { control: 'control' },
});
const blocker = flag({
  name: 'blocker',
  enabled: true,
  priority: 100,
  profile: { endpoint: { in: ['/exp/blocked'] } },
  respondLimit: { perSecond: 1_000_000 },
  actions: { respond: { status: 429, body: 'slow down' } },
});
const plain = flag({
  name: 'plain',
  enabled: true,
  profile: { endpoint: { in: ['/plain'] } },
  actions: { route: { cluster: 'backend_plain' } },
});

function setup() {
  const snapshot = compileSnapshot([experimentFlag, blocker, plain], { version: 1, source: 't', rejected: [] });
  const recorder = new ExperimentRecorder();
  recorder.bind(snapshot);
  const process = createRequestProcessor({
    snapshots: { current: snapshot, stale: false },
    extract: ({ headers }) => profileOf({ endpoint: headers.get(':path') ?? '/' }),
    routing: { routeHeader: 'x-proflag-cluster', flagsHeader: 'x-proflag-flags', maxFlagsHeaderLength: 1024 },
    metrics: createMetrics({ defaultMetrics: false }),
    logger: createLogger('silent'),
    experiments: recorder,
  });
  const request = (path: string, user: string) =>
    headersViewOf(
      {},
      {
        headers: {
          headers: [
            { key: ':path', raw_value: Buffer.from(path) },
            { key: 'x-user-id', raw_value: Buffer.from(user) },
          ],
        },
      },
    );
  const drain = () => {
    const out = new Map<string, VariantCounts>();
    for (const table of recorder.liveTables()) table.drain((_spec, variant, counts) => out.set(variant, counts));
    return out;
  };
  const total = (counts: Map<string, VariantCounts>, key: keyof Omit<VariantCounts, 'latency'>) =>
    [...counts.values()].reduce((sum, c) => sum + c[key], 0);
  return { process, request, drain, total };
}

describe('experiments on the request path', () => {
  it('a request in an experiment gets a response phase whose observer counts the outcome once', () => {
    const { process, request, drain } = setup();
    const outcome = process(request('/exp/a', 'u1'));
    expect(outcome.immediate).toBe(false);
    expect(outcome.responsePhase?.observe).toBeTypeOf('function');
    outcome.responsePhase!.observe!(503, 12);
    const counts = drain();
    const [variant] = [...counts.keys()];
    expect(counts.size).toBe(1);
    expect(counts.get(variant!)).toMatchObject({ requests: 1, status5xx: 1, noResponse: 0 });
    expect(histogramTotal(counts.get(variant!)!.latency)).toBe(1);
  });

  it("a local reply from another flag's respond counts as no response, at once, in the variant assigned", () => {
    const { process, request, drain, total } = setup();
    for (let u = 0; u < 40; u++) {
      const outcome = process(request('/exp/blocked', `u${u}`));
      expect(outcome.immediate).toBe(true);
      expect(outcome.responsePhase).toBeNull();
    }
    const counts = drain();
    expect(total(counts, 'requests')).toBe(40);
    expect(total(counts, 'noResponse')).toBe(40);
    expect(total(counts, 'status5xx') + total(counts, 'status4xx') + total(counts, 'invalidStatus')).toBe(0);
    // Both variants were assigned (40 units at 50/50), so neither arm is spared.
    expect(counts.get('control')?.noResponse).toBeGreaterThan(0);
    expect(counts.get('treatment')?.noResponse).toBeGreaterThan(0);
    for (const c of counts.values()) expect(histogramTotal(c.latency)).toBe(0);
  });

  it('a request decided in the body phase is not observed (Envoy would never send its response headers)', () => {
    const { process, request, drain } = setup();
    const outcome = process(request('/exp/upload', 'u1'), 4096);
    // The variant's route still applies; only the measurement is left out.
    expect(outcome.responsePhase).toBeNull();
    expect(drain().size).toBe(0);
    const blocked = process(request('/exp/blocked', 'u1'), 4096);
    expect(blocked.immediate).toBe(true);
    expect(drain().size).toBe(0);
  });

  it('a request outside experiments gets no response phase and no count', () => {
    const { process, request, drain } = setup();
    const outcome = process(request('/plain', 'u1'));
    expect(outcome.cluster).toBe('backend_plain');
    expect(outcome.responsePhase).toBeNull();
    expect(drain().size).toBe(0);
  });
});
