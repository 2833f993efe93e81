// Envoy's access log shows each request's flag and variant: envoy/envoy.yaml logs
// %DYNAMIC_METADATA(proflag:flags)%, and the request processor writes `name=variant` there.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { createRequestProcessor, headersViewOf } from '../../../src/extproc/requestProcessor.js';
import { parseFlagValue } from '../../../src/flags/schema.js';
import { compileSnapshot } from '../../../src/matcher/compile.js';
import { createLogger } from '../../../src/telemetry/logger.js';
import { createMetrics } from '../../../src/telemetry/metrics.js';
import { profileOf } from '../../helpers/profiles.js';

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- YAML tree

describe('access log: flag and variant per request', () => {
  it('envoy.yaml logs the proflag:flags metadata (and version, stale, upstream time to first byte)', () => {
    const config = YAML.parse(readFileSync(new URL('../../../envoy/envoy.yaml', import.meta.url), 'utf8')) as Obj;
    const hcm = config.static_resources.listeners[0].filter_chains[0].filters[0].typed_config as Obj;
    const format = hcm.access_log[0].typed_config.log_format.json_format as Record<string, string>;
    expect(format).toMatchObject({
      proflag_flags: '%DYNAMIC_METADATA(proflag:flags)%',
      proflag_version: '%DYNAMIC_METADATA(proflag:version)%',
      status: '%RESPONSE_CODE%',
      response_duration_ms: '%RESPONSE_DURATION%',
    });
  });

  it('the request processor writes name=variant into that key', () => {
    const flag = parseFlagValue({
      name: 'checkout',
      enabled: true,
      rollout: { percent: 100, stickiness: 'header:x-user-id' },
      variants: [
        { name: 'control', weight: 50 },
        { name: 'treatment', weight: 50 },
      ],
    });
    if (!flag.ok) throw new Error(JSON.stringify(flag.issues));
    const snapshot = compileSnapshot([flag.flag], { version: 3, source: 't', rejected: [] });
    const process = createRequestProcessor({
      snapshots: { current: snapshot, stale: false },
      extract: () => profileOf(),
      routing: { routeHeader: 'x-proflag-cluster', flagsHeader: 'x-proflag-flags', maxFlagsHeaderLength: 1024 },
      metrics: createMetrics({ defaultMetrics: false }),
      logger: createLogger('silent'),
    });
    const seen = new Set<string>();
    for (let u = 0; u < 50; u++) {
      const out = process(
        headersViewOf({}, { headers: { headers: [{ key: 'x-user-id', raw_value: Buffer.from(`u${u}`) }] } }),
      );
      const ns = out.dynamicMetadata!.fields!.proflag!.structValue!.fields!;
      seen.add(ns.flags!.stringValue!);
    }
    expect([...seen].sort()).toEqual(['checkout=control', 'checkout=treatment']);
  });
});
