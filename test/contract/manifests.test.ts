// The Kubernetes, Istio and Envoy Gateway manifests in examples/ cannot be applied here (no
// cluster), so everything that can be checked statically is: YAML, the published schemas of
// every kind with no unknown field, the Envoy configuration inside them against Envoy's protos
// (test/helpers/manifestValidator.ts), and what proflag needs from them. The validator is
// tested on broken copies of each kind.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { loadConfig, unknownVariables } from '../../src/config/config.js';
import {
  ManifestError,
  parseManifest,
  validateManifestDocs,
  validateManifestFile,
  type ValidatedManifest,
} from '../helpers/manifestValidator.js';
import { expectTransformationsAllowed } from '../helpers/extProcTransformations.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const DIRS = ['examples/kubernetes', 'examples/istio', 'examples/envoy-gateway'];
const ROUTE_HEADER = 'x-proflag-cluster';
const FLAGS_HEADER = 'x-proflag-flags';
const EXT_PROC = 'envoy.filters.http.ext_proc';
const ROUTER = 'envoy.filters.http.router';

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- YAML tree

const FILES = DIRS.flatMap((dir) =>
  readdirSync(path.join(REPO, dir))
    .filter((f) => /\.ya?ml$/.test(f))
    .map((f) => `${dir}/${f}`),
);
const validated = new Map<string, ValidatedManifest>();
const manifest = (file: string): ValidatedManifest => {
  let v = validated.get(file);
  if (!v) validated.set(file, (v = validateManifestFile(path.join(REPO, file))));
  return v;
};
const allDocs = (): Obj[] => FILES.flatMap((f) => manifest(f).docs as Obj[]);
const byKind = (kind: string): Obj[] => allDocs().filter((d) => d.kind === kind);
const load = (file: string): Obj[] => parseManifest(readFileSync(path.join(REPO, file), 'utf8'), file) as Obj[];

function expectRefused(file: string, mutate: (docs: Obj[]) => void, ...fragments: (string | RegExp)[]) {
  const docs = load(file);
  mutate(docs);
  let error: unknown;
  try {
    validateManifestDocs(docs, file);
  } catch (err) {
    error = err;
  }
  expect(error).toBeInstanceOf(ManifestError);
  for (const f of fragments) expect((error as Error).message).toMatch(f);
}
const find = (docs: Obj[], kind: string, name?: string): Obj =>
  docs.find((d) => d.kind === kind && (name === undefined || d.metadata.name === name))!;
const containerOf = (deployment: Obj, name: string): Obj =>
  deployment.spec.template.spec.containers.find((c: Obj) => c.name === name);

describe('manifests: schemas, fields and Envoy protos', () => {
  it('finds the manifests of each family', () => {
    for (const dir of DIRS)
      expect(
        FILES.some((f) => f.startsWith(dir)),
        dir,
      ).toBe(true);
  });

  it.each(FILES)('%s validates', (file) => {
    const { docs, envoy } = manifest(file);
    expect(docs.length).toBeGreaterThan(0);
    if (!file.includes('kubernetes/')) expect(envoy.length).toBeGreaterThan(0);
  });

  it('refuses YAML that does not parse', () => {
    expect(() => parseManifest('a: [1, 2\nb: 3\n', 'broken.yaml')).toThrow(ManifestError);
    expect(() => parseManifest('kind: ConfigMap\n  metadata: x\n', 'broken.yaml')).toThrow(/YAML/);
  });

  it('refuses a kind it has no schema for', () => {
    expectRefused(
      'examples/kubernetes/gateway.yaml',
      (d) => (find(d, 'Deployment', 'proflag').apiVersion = 'apps/v1beta9'),
      'no schema for apps/v1beta9/Deployment',
    );
  });

  it('refuses Kubernetes objects that break their schema or carry unknown fields', () => {
    const file = 'examples/kubernetes/gateway.yaml';
    expectRefused(
      file,
      (d) => (containerOf(find(d, 'Deployment', 'proflag'), 'proflag').ports[0].containerPort = 'fifty'),
      /schema: .*containerPort must be integer/,
    );
    expectRefused(
      file,
      (d) => {
        const c = containerOf(find(d, 'Deployment', 'proflag'), 'proflag');
        c.readinesProbe = c.readinessProbe;
        delete c.readinessProbe;
      },
      'unknown field $.spec.template.spec.containers[0].readinesProbe',
    );
    expectRefused(
      file,
      (d) => (find(d, 'Service', 'proflag').spec.ports[0].targetPorts = 'grpc'),
      'unknown field $.spec.ports[0].targetPorts',
    );
    expectRefused(file, (d) => (find(d, 'PodDisruptionBudget').spec.minAvailabel = 1), /unknown field .*minAvailabel/);
  });

  it('refuses an Envoy bootstrap in a ConfigMap that Envoy would refuse', () => {
    expectRefused(
      'examples/kubernetes/sidecar.yaml',
      (d) => {
        const cm = find(d, 'ConfigMap', 'edge-envoy');
        cm.data['envoy.yaml'] = cm.data['envoy.yaml'].replace('failure_mode_allow:', 'failure_mode_alow:');
      },
      'edge-envoy) data.envoy.yaml',
      'did you mean "failure_mode_allow"',
    );
  });

  it('refuses an EnvoyFilter with a bad applyTo, a misspelled patch or a value Envoy refuses', () => {
    const file = 'examples/istio/ingress-gateway.yaml';
    expectRefused(
      file,
      (d) => (find(d, 'EnvoyFilter').spec.configPatches[0].applyTo = 'HTTP_FILTERS'),
      /schema: .*applyTo must be equal to one of the allowed values/,
    );
    expectRefused(
      file,
      (d) => {
        const p = find(d, 'EnvoyFilter').spec.configPatches[0].patch;
        p.valeu = p.value;
        delete p.value;
      },
      'unknown field $.spec.configPatches[0].patch.valeu',
    );
    expectRefused(
      file,
      (d) => (find(d, 'EnvoyFilter').spec.configPatches[0].patch.value.typed_config.message_timeout = '200ms'),
      'configPatches[0].patch.value',
      'message_timeout: expected a duration',
    );
    expectRefused(
      'examples/istio/sidecar.yaml',
      (d) => (find(d, 'EnvoyFilter').spec.configPatches[2].patch.value.lb_polcy = 'ROUND_ROBIN'),
      'Envoy envoy.config.cluster.v3.Cluster',
      'lb_polcy: unknown field',
    );
    expectRefused(
      file,
      (d) =>
        (find(
          d,
          'EnvoyFilter',
        ).spec.configPatches[1].patch.value.typed_config.early_header_mutation_extensions[0].typed_config.mutations[0] =
          { remove: 'x-proflag-cluster', append: {} }),
      'oneof action already set',
    );
    expectRefused(
      file,
      (d) => (find(d, 'VirtualService').spec.http[0].match[0].headers[ROUTE_HEADER] = { exactly: 'backend_canary' }),
      /unknown field .*exactly/,
    );
  });

  it('refuses Envoy Gateway objects that break their schema, and a bootstrap Envoy refuses', () => {
    const file = 'examples/envoy-gateway/proflag.yaml';
    expectRefused(
      file,
      (d) => (find(d, 'EnvoyExtensionPolicy').spec.extProc[0].failOpn = true),
      'unknown field $.spec.extProc[0].failOpn',
    );
    expectRefused(
      file,
      (d) => (find(d, 'EnvoyExtensionPolicy').spec.extProc[0].messageTimeout = '0.2s'),
      /schema: .*messageTimeout must match pattern/,
    );
    expectRefused(
      file,
      (d) => (find(d, 'HTTPRoute').spec.rules[0].matches[0].headers[0].type = 'Exactly'),
      /schema: .*type must be equal to one of the allowed values/,
    );
    expectRefused(
      file,
      (d) => (find(d, 'EnvoyProxy').spec.bootstrap.value = 'layered_runtim: {}\n'),
      'spec.bootstrap.value',
      'layered_runtim: unknown field',
    );
  });
});

// ------------------------------------------------------------------------------------------------

/** The ext_proc filter as proflag needs it, wherever it is configured. */
function expectProflagExtProc(ext: Obj, where: string) {
  expect(ext['@type'], where).toBe('type.googleapis.com/envoy.extensions.filters.http.ext_proc.v3.ExternalProcessor');
  expect(ext.failure_mode_allow, where).toBe(true);
  expect(ext.message_timeout, where).toMatch(/^0?\.\d+s$/);
  expect(ext.grpc_service.timeout, where).toBeUndefined();
  expect(ext.grpc_service.envoy_grpc.cluster_name, where).toBe('proflag');
  expect(ext.processing_mode, where).toMatchObject({
    request_header_mode: 'SEND',
    response_header_mode: 'SKIP',
    request_body_mode: 'NONE',
  });
  expect(ext.request_attributes, where).toContain('source.address');
  expect(ext.metadata_options.receiving_namespaces.untyped, where).toEqual(['proflag']);
  expectTransformationsAllowed(ext, where);
}

/** The proflag cluster: HTTP/2, recycled before nghttp2's reset budget; returns host and port. */
function expectProflagCluster(cluster: Obj, where: string): { host: string; port: number; type: string } {
  const options = cluster.typed_extension_protocol_options['envoy.extensions.upstreams.http.v3.HttpProtocolOptions'];
  expect(options.explicit_http_config.http2_protocol_options, where).toBeDefined();
  const perConnection = options.common_http_protocol_options.max_requests_per_connection;
  expect(perConnection, where).toBeGreaterThan(0);
  expect(perConnection, where).toBeLessThan(1000);
  const endpoints = cluster.load_assignment.endpoints.flatMap((e: Obj) => e.lb_endpoints);
  expect(endpoints, where).toHaveLength(1);
  const { address, port_value } = endpoints[0].endpoint.address.socket_address;
  return { host: address, port: port_value, type: cluster.type };
}

const sharedService = (): Obj => find(load('examples/kubernetes/gateway.yaml'), 'Service', 'proflag');

/** STRICT_DNS on the shared headless Service, on its gRPC port. */
function expectSharedServiceAddress(host: string, port: number, where: string) {
  const service = sharedService();
  expect(service.spec.clusterIP, 'headless: Envoy resolves every pod').toBe('None');
  expect(host, where).toBe(`${service.metadata.name}.${service.metadata.namespace}.svc.cluster.local`);
  expect(
    service.spec.ports.map((p: Obj) => p.port),
    where,
  ).toContain(port);
}

const hcmOf = (bootstrap: Obj): Obj => bootstrap.static_resources.listeners[0].filter_chains[0].filters[0].typed_config;

describe('plain Kubernetes: what proflag needs', () => {
  const bootstraps = () =>
    FILES.filter((f) => f.startsWith('examples/kubernetes/')).flatMap((file) =>
      manifest(file).envoy.map((e) => ({ file, where: e.where, config: e.value as Obj })),
    );

  it('ships an Envoy bootstrap per Envoy: ext_proc before the router, routes on the header, strips spoofing', () => {
    expect(bootstraps().length).toBe(2);
    for (const { where, config } of bootstraps()) {
      const hcm = hcmOf(config);
      const names: string[] = hcm.http_filters.map((f: Obj) => f.name);
      expect(names.indexOf(EXT_PROC), where).toBeGreaterThanOrEqual(0);
      expect(names.indexOf(EXT_PROC), where).toBeLessThan(names.indexOf(ROUTER));
      expect(names.at(-1), where).toBe(ROUTER);
      expectProflagExtProc(hcm.http_filters.find((f: Obj) => f.name === EXT_PROC).typed_config, where);
      const routes: Obj[] = hcm.route_config.virtual_hosts[0].routes;
      expect(routes[0]!.route.cluster_header, where).toBe(ROUTE_HEADER);
      expect(routes[0]!.request_headers_to_remove, where).toContain(ROUTE_HEADER);
      expect(routes.at(-1)!.match, where).toEqual({ prefix: '/' });
      expect(hcm.route_config.internal_only_headers, where).toEqual(
        expect.arrayContaining([ROUTE_HEADER, FLAGS_HEADER]),
      );
      const runtime = config.layered_runtime.layers.find((l: Obj) => l.static_layer).static_layer;
      expect(runtime['envoy.reloadable_features.ext_proc_graceful_grpc_close'], where).toBe(true);
      const clusters = new Set(config.static_resources.clusters.map((c: Obj) => c.name));
      for (const r of routes) if (r.route.cluster) expect(clusters, where).toContain(r.route.cluster);
      expect(config.admin.address.socket_address.address, 'Envoy admin stays on loopback').toBe('127.0.0.1');
    }
  });

  it('points each Envoy at its proflag: the container beside it, or the shared Service', () => {
    for (const { file, where, config } of bootstraps()) {
      const cluster = config.static_resources.clusters.find((c: Obj) => c.name === 'proflag');
      const { host, port, type } = expectProflagCluster(cluster, where);
      if (type === 'STATIC') {
        // The sidecar: Envoy and proflag in one Pod.
        const edge = load(file).find((d) => d.kind === 'Deployment' && containerOf(d, 'proflag'))!;
        const env = Object.fromEntries(containerOf(edge, 'proflag').env.map((e: Obj) => [e.name, e.value]));
        expect(host).toBe('127.0.0.1');
        expect(Number(String(env.PROFLAG_GRPC_ADDR).split(':').at(-1))).toBe(port);
      } else expectSharedServiceAddress(host, port, where);
    }
  });

  it('runs proflag with probes, resources, the hash key from a Secret and a valid configuration', () => {
    const deployments = FILES.filter((f) => f.startsWith('examples/kubernetes/')).flatMap((file) =>
      load(file)
        .filter((d) => d.kind === 'Deployment' && containerOf(d, 'proflag'))
        .map((d) => ({ file, d })),
    );
    expect(deployments.length).toBe(2);
    for (const { file, d } of deployments) {
      const where = `${file} ${d.metadata.name}`;
      const c = containerOf(d, 'proflag');
      const ports = Object.fromEntries(c.ports.map((p: Obj) => [p.name, p.containerPort]));
      const env: Obj = {};
      for (const ref of c.envFrom ?? []) Object.assign(env, find(load(file), 'ConfigMap', ref.configMapRef.name).data);
      for (const e of c.env) {
        if (e.value !== undefined) env[e.name] = e.value;
        else if (e.valueFrom.secretKeyRef)
          env[e.name] = `secret:${e.valueFrom.secretKeyRef.name}/${e.valueFrom.secretKeyRef.key}`;
      }
      expect(env.PROFLAG_UA_HASH_KEY, where).toMatch(/^secret:/);
      expect(env.REDIS_URL, where).toMatch(/^rediss?:\/\//);
      // The configuration proflag would read: valid, and no unknown PROFLAG_* variable.
      const config = loadConfig(env);
      expect(unknownVariables(env), where).toEqual([]);
      const port = (addr: string) => Number(addr.split(':').at(-1));
      expect(config.adminAddr, `${where}: the kubelet probes the pod IP`).toMatch(/^0\.0\.0\.0:/);
      expect(c.readinessProbe.httpGet, where).toEqual({ path: '/readyz', port: 'admin' });
      expect(c.livenessProbe.httpGet, where).toEqual({ path: '/healthz', port: 'admin' });
      expect(ports.admin, where).toBe(port(config.adminAddr));
      expect(config.grpcAddr, where).toMatch(/^0\.0\.0\.0:/);
      expect(c.startupProbe.grpc, where).toEqual({ port: port(config.grpcAddr) });
      expect(ports.grpc, where).toBe(port(config.grpcAddr));
      expect(c.resources.requests, where).toMatchObject({ cpu: expect.any(String), memory: expect.any(String) });
      expect(c.resources.limits.memory, where).toBeDefined();
    }
  });

  it('mounts each bootstrap where Envoy (>= 1.34) is told to read it', () => {
    for (const file of FILES.filter((f) => f.startsWith('examples/kubernetes/'))) {
      for (const d of load(file).filter((x) => x.kind === 'Deployment' && containerOf(x, 'envoy'))) {
        const c = containerOf(d, 'envoy');
        const m = /^envoyproxy\/envoy:v(\d+)\.(\d+)/.exec(c.image);
        expect(Number(m![1]) * 1000 + Number(m![2])).toBeGreaterThanOrEqual(1034);
        const configPath: string = c.args[c.args.indexOf('-c') + 1];
        const mount = c.volumeMounts.find((v: Obj) => configPath.startsWith(`${v.mountPath}/`));
        const volume = d.spec.template.spec.volumes.find((v: Obj) => v.name === mount.name);
        const cm = find(load(file), 'ConfigMap', volume.configMap.name);
        expect(cm.data[path.basename(configPath)], `${file}: ${configPath}`).toBeDefined();
      }
    }
  });
});

describe('Istio: what proflag needs', () => {
  const filters = () => byKind('EnvoyFilter');
  const patch = (f: Obj, applyTo: string): Obj => f.spec.configPatches.find((p: Obj) => p.applyTo === applyTo);

  it('inserts ext_proc before the router, on the ingress gateway and on sidecars', () => {
    const contexts = filters().map((f) => patch(f, 'HTTP_FILTER').match.context);
    expect(contexts.sort()).toEqual(['GATEWAY', 'SIDECAR_INBOUND']);
    for (const f of filters()) {
      const p = patch(f, 'HTTP_FILTER');
      expect(p.patch.operation).toBe('INSERT_BEFORE');
      expect(p.match.listener.filterChain.filter).toEqual({
        name: 'envoy.filters.network.http_connection_manager',
        subFilter: { name: ROUTER },
      });
      expect(p.patch.value.name).toBe(EXT_PROC);
      expectProflagExtProc(p.patch.value.typed_config, f.metadata.name);
    }
  });

  it('adds the proflag cluster on the shared Service, and removes spoofed headers early', () => {
    for (const f of filters()) {
      const cluster = patch(f, 'CLUSTER');
      expect(cluster.patch.operation).toBe('ADD');
      expect(cluster.patch.value.name).toBe(
        patch(f, 'HTTP_FILTER').patch.value.typed_config.grpc_service.envoy_grpc.cluster_name,
      );
      const { host, port } = expectProflagCluster(cluster.patch.value, f.metadata.name);
      expectSharedServiceAddress(host, port, f.metadata.name);
      const early = patch(f, 'NETWORK_FILTER');
      expect(early.patch.operation).toBe('MERGE');
      const mutations = early.patch.value.typed_config.early_header_mutation_extensions[0].typed_config.mutations;
      expect(mutations.map((m: Obj) => m.remove).sort()).toEqual([ROUTE_HEADER, FLAGS_HEADER].sort());
    }
  });

  it('routes the gateway on the route header with a fallback, and strips it before the backends', () => {
    const vs = byKind('VirtualService')[0]!;
    const [override, fallback] = [vs.spec.http[0], vs.spec.http.at(-1)];
    expect(Object.keys(override.match[0].headers)).toEqual([ROUTE_HEADER]);
    expect(override.match[0].headers[ROUTE_HEADER].exact).toMatch(/^[a-z0-9_-]+$/);
    expect(fallback.match).toBeUndefined();
    for (const r of vs.spec.http) expect(r.headers.request.remove).toContain(ROUTE_HEADER);
    const gateway = byKind('Gateway').find((g) => g.apiVersion.startsWith('networking.istio.io'))!;
    expect(vs.spec.gateways).toContain(gateway.metadata.name);
    expect(gateway.spec.selector).toEqual(
      find(filters(), 'EnvoyFilter', 'proflag-ingress').spec.workloadSelector.labels,
    );
  });
});

describe('Envoy Gateway: what proflag needs', () => {
  it('points extProc at the shared proflag Service, allowed by a ReferenceGrant, failing open', () => {
    const policy = byKind('EnvoyExtensionPolicy')[0]!;
    const ext = policy.spec.extProc[0];
    expect(ext.failOpen).toBe(true);
    expect(ext.processingMode.request.attributes).toContain('source.address');
    expect(ext.processingMode.response).toBeUndefined(); // response headers only on request
    expect(ext.processingMode.allowModeOverride).toBe(true);
    expect(ext.metadata.writableNamespaces).toEqual(['proflag']);
    expect(ext.backendSettings.circuitBreaker.maxRequestsPerConnection).toBeLessThan(1000);
    const service = sharedService();
    expect(ext.backendRefs).toEqual([
      { name: service.metadata.name, namespace: service.metadata.namespace, port: service.spec.ports[0].port },
    ]);
    const grant = byKind('ReferenceGrant')[0]!;
    expect(grant.metadata.namespace).toBe(service.metadata.namespace);
    expect(grant.spec.from).toContainEqual({
      group: 'gateway.envoyproxy.io',
      kind: 'EnvoyExtensionPolicy',
      namespace: policy.metadata.namespace,
    });
    expect(grant.spec.to).toContainEqual({ group: '', kind: 'Service', name: service.metadata.name });
  });

  it('removes spoofed headers early, routes on the route header and turns on graceful close', () => {
    const early = byKind('ClientTrafficPolicy')[0]!.spec.headers.earlyRequestHeaders.remove;
    expect([...early].sort()).toEqual([ROUTE_HEADER, FLAGS_HEADER].sort());
    const route = byKind('HTTPRoute')[0]!;
    const [override, fallback] = [route.spec.rules[0], route.spec.rules.at(-1)];
    expect(override.matches[0].headers[0]).toMatchObject({ type: 'Exact', name: ROUTE_HEADER });
    expect(override.filters[0].requestHeaderModifier.remove).toContain(ROUTE_HEADER);
    expect(fallback.matches[0].headers).toBeUndefined();
    const gateway = byKind('Gateway').find((g) => g.apiVersion.startsWith('gateway.networking.k8s.io'))!;
    const proxy = byKind('EnvoyProxy')[0]!;
    expect(gateway.spec.infrastructure.parametersRef).toEqual({
      group: 'gateway.envoyproxy.io',
      kind: 'EnvoyProxy',
      name: proxy.metadata.name,
    });
    const layer = YAML.parse(proxy.spec.bootstrap.value).layered_runtime.layers[0].static_layer;
    expect(layer['envoy.reloadable_features.ext_proc_graceful_grpc_close']).toBe(true);
  });
});

describe('README', () => {
  it('points to every manifest from "Attaching proflag"', () => {
    const readme = readFileSync(path.join(REPO, 'README.md'), 'utf8');
    const section = readme.slice(
      readme.indexOf('## Attaching proflag'),
      readme.indexOf('\n## ', readme.indexOf('## Attaching proflag') + 5),
    );
    for (const file of FILES) expect(section, file).toContain(`](${file})`);
  });
});
