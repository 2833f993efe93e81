// envoy/envoy.yaml is a valid Envoy bootstrap (checked against Envoy's own protos) and says
// what proflag relies on. The validator itself is tested on broken copies.
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { EnvoyConfigError, validateBootstrapObject } from '../helpers/envoyConfigValidator.js';
import { expectTransformationsAllowed } from '../helpers/extProcTransformations.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const ENVOY_YAML = path.join(REPO, 'envoy/envoy.yaml');
const ROUTE_HEADER = 'x-proflag-cluster';
const FLAGS_HEADER = 'x-proflag-flags';

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- YAML tree

const load = (): Obj => YAML.parse(readFileSync(ENVOY_YAML, 'utf8')) as Obj;
const hcmOf = (c: Obj): Obj => c.static_resources.listeners[0].filter_chains[0].filters[0].typed_config;
const filterNamed = (c: Obj, name: string): Obj => hcmOf(c).http_filters.find((f: Obj) => f.name === name);
const clusterNamed = (c: Obj, name: string): Obj | undefined =>
  c.static_resources.clusters.find((cl: Obj) => cl.name === name);

function expectInvalid(mutate: (c: Obj) => void, ...fragments: string[]) {
  const config = load();
  mutate(config);
  let error: unknown;
  try {
    validateBootstrapObject(config);
  } catch (err) {
    error = err;
  }
  expect(error).toBeInstanceOf(EnvoyConfigError);
  for (const fragment of fragments) expect((error as Error).message).toContain(fragment);
}

describe('envoy/envoy.yaml against the bootstrap proto', () => {
  it('validates, and uses no deprecated field', () => {
    const { decoded, deprecated } = validateBootstrapObject(load());
    expect(deprecated).toEqual([]);
    expect(Object.keys(decoded)).toEqual(expect.arrayContaining(['admin', 'static_resources', 'layered_runtime']));
  });

  it('rejects a misspelled key, naming its YAML path', () => {
    expectInvalid(
      (c) => {
        const ext = filterNamed(c, 'envoy.filters.http.ext_proc').typed_config;
        ext.failure_mode_alow = ext.failure_mode_allow;
        delete ext.failure_mode_allow;
      },
      '$.static_resources.listeners[0].filter_chains[0].filters[0].typed_config',
      'http_filters[0].typed_config(envoy.extensions.filters.http.ext_proc.v3.ExternalProcessor).failure_mode_alow',
      'did you mean "failure_mode_allow"',
    );
  });

  it('rejects a string where a bool belongs', () => {
    expectInvalid((c) => {
      filterNamed(c, 'envoy.filters.http.ext_proc').typed_config.failure_mode_allow = 'true';
    }, 'failure_mode_allow: expected bool, got string "true"');
  });

  it('rejects an unknown @type', () => {
    expectInvalid((c) => {
      filterNamed(c, 'envoy.filters.http.router').typed_config['@type'] =
        'type.googleapis.com/envoy.extensions.filters.http.router.v3.Ruoter';
    }, 'http_filters[1].typed_config["@type"]: unknown type');
  });

  it('rejects a bad duration, an unknown enum value and a field newer than the API', () => {
    expectInvalid((c) => {
      filterNamed(c, 'envoy.filters.http.ext_proc').typed_config.message_timeout = '200ms';
    }, 'message_timeout: expected a duration');
    expectInvalid((c) => {
      filterNamed(c, 'envoy.filters.http.ext_proc').typed_config.processing_mode.request_header_mode = 'SENDS';
    }, 'is not a value of envoy.extensions.filters.http.ext_proc.v3.ProcessingMode.HeaderSendMode');
    expectInvalid((c) => {
      filterNamed(c, 'envoy.filters.http.ext_proc').typed_config.status_on_error = { code: 503 };
    }, 'status_on_error: unknown field');
  });

  it('rejects a bad bare wrapper value and a runtime layer that is not a Struct', () => {
    expectInvalid((c) => {
      const cluster = clusterNamed(c, 'proflag')!;
      const options =
        cluster.typed_extension_protocol_options['envoy.extensions.upstreams.http.v3.HttpProtocolOptions'];
      options.common_http_protocol_options.max_requests_per_connection = 'lots';
    }, 'max_requests_per_connection: expected uint32, got string "lots"');
    expectInvalid((c) => {
      c.layered_runtime.layers[0].static_layer = ['not', 'a', 'struct'];
    }, '$.layered_runtime.layers[0].static_layer: expected an object (Struct)');
  });

  it('rejects two members of one oneof, and a negative port', () => {
    expectInvalid((c) => {
      c.static_resources.listeners[0].address.pipe = { path: '/tmp/x' };
    }, 'oneof address already set');
    expectInvalid((c) => {
      c.admin.address.socket_address.port_value = -1;
    }, 'out of range for uint32');
  });
});

describe('what proflag needs from the shipped config', () => {
  const config = load();
  const hcm = hcmOf(config);
  const extProc = filterNamed(config, 'envoy.filters.http.ext_proc').typed_config;

  it('runs ext_proc before the router, and the router last', () => {
    const names: string[] = hcm.http_filters.map((f: Obj) => f.name);
    expect(names.indexOf('envoy.filters.http.ext_proc')).toBeGreaterThanOrEqual(0);
    expect(names.indexOf('envoy.filters.http.ext_proc')).toBeLessThan(names.indexOf('envoy.filters.http.router'));
    expect(names.at(-1)).toBe('envoy.filters.http.router');
  });

  it('fails open, with a per-message timeout, on request headers only', () => {
    expect(extProc.failure_mode_allow).toBe(true);
    expect(extProc.message_timeout).toMatch(/^\d+(\.\d+)?s$/);
    expect(extProc.grpc_service.timeout).toBeUndefined(); // it would cap the whole stream
    expect(extProc.processing_mode).toMatchObject({
      request_header_mode: 'SEND',
      response_header_mode: 'SKIP',
      request_body_mode: 'NONE',
      response_body_mode: 'NONE',
    });
    expect(extProc.request_attributes).toContain('source.address');
    expect(extProc.metadata_options.receiving_namespaces.untyped).toEqual(['proflag']);
  });

  it('routes on the route header with a fallback, and strips spoofed proflag headers', () => {
    const routes: Obj[] = hcm.route_config.virtual_hosts[0].routes;
    const [override, fallback] = [routes[0]!, routes.at(-1)!];
    expect(override.route.cluster_header).toBe(ROUTE_HEADER);
    expect(override.match.headers).toEqual([{ name: ROUTE_HEADER, present_match: true }]);
    expect(override.request_headers_to_remove).toContain(ROUTE_HEADER);
    expect(fallback.match).toEqual({ prefix: '/' });
    expect(fallback.route.cluster).toBe('backend_stable');
    expect(hcm.route_config.internal_only_headers).toEqual(expect.arrayContaining([ROUTE_HEADER, FLAGS_HEADER]));
  });

  it('talks to proflag over HTTP/2, recycling connections before the reset budget', () => {
    const proflag = clusterNamed(config, extProc.grpc_service.envoy_grpc.cluster_name);
    expect(proflag?.name).toBe('proflag');
    const options = proflag!.typed_extension_protocol_options['envoy.extensions.upstreams.http.v3.HttpProtocolOptions'];
    expect(options.explicit_http_config.http2_protocol_options).toBeDefined();
    const perConnection = options.common_http_protocol_options.max_requests_per_connection;
    expect(perConnection).toBeGreaterThan(0);
    expect(perConnection).toBeLessThan(1000); // nghttp2's RST_STREAM burst (ENVOY-EXTPROC §0)
  });

  it('lets the transformations through: mode_override, immediate_response, a mutable :path', () => {
    expectTransformationsAllowed(extProc, 'envoy/envoy.yaml');
  });

  it('turns on graceful ext_proc stream close', () => {
    const layer = config.layered_runtime.layers.find((l: Obj) => l.static_layer);
    expect(layer.static_layer['envoy.reloadable_features.ext_proc_graceful_grpc_close']).toBe(true);
  });

  it('has a cluster for every cluster the example flags route to', () => {
    const clusters = new Set(config.static_resources.clusters.map((c: Obj) => c.name));
    const wanted = new Set<string>(['backend_stable']);
    const dir = path.join(REPO, 'examples/flags');
    const visit = (node: unknown): void => {
      if (Array.isArray(node)) node.forEach(visit);
      else if (node && typeof node === 'object') {
        for (const [k, v] of Object.entries(node)) {
          if (k === 'route' && v && typeof v === 'object' && typeof (v as Obj).cluster === 'string')
            wanted.add((v as Obj).cluster);
          visit(v);
        }
      }
    };
    for (const file of readdirSync(dir).filter((f) => f.endsWith('.json'))) {
      visit(JSON.parse(readFileSync(path.join(dir, file), 'utf8')));
    }
    for (const name of wanted) expect(clusters, `cluster ${name}`).toContain(name);
  });
});
