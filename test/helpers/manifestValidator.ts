// Checks the Kubernetes manifests in examples/ without a cluster and without the network:
//  1. every file parses as (multi-document) YAML;
//  2. every object validates against the published schema of its kind, shipped as compiled
//     validators in npm packages: kubernetes-models (Kubernetes), @kubernetes-models/istio,
//     @kubernetes-models/envoy-gateway and @kubernetes-models/gateway-api;
//  3. strictly: a field the schema does not know is an error (like `kubectl apply`'s strict
//     field validation). The schemas allow unknown fields, so the validator runs on a proxy of
//     the object that records which keys it looks up; a key present in an object whose schema
//     has properties (the validator looked some up) that was never looked up is unknown. Free-form
//     objects (no properties: EnvoyFilter patch values, labels) are left alone; maps are
//     enumerated by the validator and so count as read;
//  4. the Envoy configuration inside them decodes against Envoy's own protos
//     (envoyConfigValidator.ts): Envoy bootstraps in ConfigMaps (`envoy.yaml` keys), Istio
//     EnvoyFilter patch values (by applyTo), Envoy Gateway EnvoyProxy bootstrap fragments.
import { readFileSync } from 'node:fs';
import * as apps from 'kubernetes-models/apps/v1';
import * as policy from 'kubernetes-models/policy/v1';
import * as core from 'kubernetes-models/v1';
import * as envoyGateway from '@kubernetes-models/envoy-gateway/gateway.envoyproxy.io/v1alpha1';
import * as gatewayApi from '@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1';
import * as gatewayApiBeta from '@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1beta1';
import * as istio from '@kubernetes-models/istio/networking.istio.io/v1';
import * as istioAlpha from '@kubernetes-models/istio/networking.istio.io/v1alpha3';
import YAML from 'yaml';
import { EnvoyConfigError, validateBootstrapObject, validateEnvoyMessage } from './envoyConfigValidator.js';

type Obj = Record<string, unknown>;
interface ModelClass {
  readonly apiVersion: string;
  readonly kind: string;
  readonly prototype: { validate(this: unknown): void };
}

export class ManifestError extends Error {
  constructor(
    readonly where: string,
    detail: string,
  ) {
    super(`${where}: ${detail}`);
    this.name = 'ManifestError';
  }
}

const MODELS = new Map<string, ModelClass>();
for (const mod of [core, apps, policy, istio, istioAlpha, envoyGateway, gatewayApi, gatewayApiBeta]) {
  for (const value of Object.values(mod) as unknown[]) {
    const m = value as Partial<ModelClass>;
    if (typeof value === 'function' && typeof m.apiVersion === 'string' && typeof m.kind === 'string')
      MODELS.set(`${m.apiVersion}/${m.kind}`, m as ModelClass);
  }
}

/** The kinds this validator knows (apiVersion/kind). */
export const KNOWN_KINDS: ReadonlySet<string> = new Set(MODELS.keys());

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

interface Node {
  readonly path: string;
  readonly obj: Obj;
  readonly read: Set<string>;
  enumerated: boolean;
}

/** A deep proxy of `value` that records, per object, which keys a validator looked up. */
function recording(value: unknown, path: string, nodes: Node[]): unknown {
  if (Array.isArray(value)) return value.map((v, i) => recording(v, `${path}[${i}]`, nodes));
  if (!isObj(value)) return value;
  const node: Node = { path, obj: value, read: new Set(), enumerated: false };
  nodes.push(node);
  const inner: Obj = {};
  for (const [k, v] of Object.entries(value)) inner[k] = recording(v, `${path}.${k}`, nodes);
  return new Proxy(inner, {
    get(target, key, receiver) {
      if (typeof key === 'string') node.read.add(key);
      return Reflect.get(target, key, receiver) as unknown;
    },
    has(target, key) {
      if (typeof key === 'string') node.read.add(key);
      return Reflect.has(target, key);
    },
    ownKeys(target) {
      node.enumerated = true;
      return Reflect.ownKeys(target);
    },
  });
}

/** Schema and strict field validation of one Kubernetes object. */
export function validateKubernetesObject(doc: unknown, where: string): void {
  if (!isObj(doc)) throw new ManifestError(where, 'not an object');
  const key = `${String(doc.apiVersion)}/${String(doc.kind)}`;
  const model = MODELS.get(key);
  if (!model) throw new ManifestError(where, `no schema for ${key} (known: ${[...MODELS.keys()].length} kinds)`);
  const nodes: Node[] = [];
  try {
    model.prototype.validate.call(recording(doc, '$', nodes));
  } catch (err) {
    throw new ManifestError(`${where} ${key}`, `schema: ${(err as Error).message}`);
  }
  const unknown: string[] = [];
  for (const n of nodes) {
    if (n.enumerated || n.read.size === 0) continue;
    for (const k of Object.keys(n.obj)) if (!n.read.has(k)) unknown.push(`${n.path}.${k}`);
  }
  if (unknown.length > 0) throw new ManifestError(`${where} ${key}`, `unknown field ${unknown.join(', ')}`);
}

/** Envoy message type of an Istio EnvoyFilter patch value, by applyTo. */
export const ENVOY_FILTER_PATCH_TYPES: Readonly<Record<string, string>> = {
  LISTENER: 'envoy.config.listener.v3.Listener',
  FILTER_CHAIN: 'envoy.config.listener.v3.FilterChain',
  NETWORK_FILTER: 'envoy.config.listener.v3.Filter',
  HTTP_FILTER: 'envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter',
  ROUTE_CONFIGURATION: 'envoy.config.route.v3.RouteConfiguration',
  VIRTUAL_HOST: 'envoy.config.route.v3.VirtualHost',
  HTTP_ROUTE: 'envoy.config.route.v3.Route',
  CLUSTER: 'envoy.config.cluster.v3.Cluster',
  BOOTSTRAP: 'envoy.config.bootstrap.v3.Bootstrap',
  LISTENER_FILTER: 'envoy.config.listener.v3.ListenerFilter',
};

/** Where a manifest holds Envoy configuration, and as which message. */
export interface EnvoyFragment {
  readonly where: string;
  readonly type: string;
  readonly value: unknown;
}

export function envoyFragmentsOf(doc: Obj, where: string): EnvoyFragment[] {
  const out: EnvoyFragment[] = [];
  const spec = isObj(doc.spec) ? doc.spec : {};
  if (doc.kind === 'ConfigMap' && isObj(doc.data)) {
    for (const [key, text] of Object.entries(doc.data)) {
      if (key === 'envoy.yaml' && typeof text === 'string')
        out.push({
          where: `${where} data.${key}`,
          type: 'envoy.config.bootstrap.v3.Bootstrap',
          value: YAML.parse(text),
        });
    }
  }
  if (doc.kind === 'EnvoyFilter' && Array.isArray(spec.configPatches)) {
    spec.configPatches.forEach((p: unknown, i: number) => {
      if (!isObj(p) || !isObj(p.patch) || p.patch.value === undefined) return;
      const type = ENVOY_FILTER_PATCH_TYPES[String(p.applyTo)];
      if (!type)
        throw new ManifestError(`${where} configPatches[${i}]`, `no Envoy type for applyTo ${String(p.applyTo)}`);
      out.push({ where: `${where} configPatches[${i}].patch.value`, type, value: p.patch.value });
    });
  }
  if (doc.kind === 'EnvoyProxy' && isObj(spec.bootstrap) && typeof spec.bootstrap.value === 'string') {
    out.push({
      where: `${where} spec.bootstrap.value`,
      type: 'envoy.config.bootstrap.v3.Bootstrap',
      value: YAML.parse(spec.bootstrap.value),
    });
  }
  return out;
}

function validateEnvoyFragment(f: EnvoyFragment): void {
  try {
    if (f.type === 'envoy.config.bootstrap.v3.Bootstrap') validateBootstrapObject(f.value);
    else validateEnvoyMessage(f.type, f.value);
  } catch (err) {
    if (err instanceof EnvoyConfigError) throw new ManifestError(f.where, `Envoy ${f.type}: ${err.message}`);
    throw err;
  }
}

export interface ValidatedManifest {
  readonly docs: readonly Obj[];
  readonly envoy: readonly EnvoyFragment[];
}

/** Validate parsed documents (schema, strict fields, Envoy fragments). */
export function validateManifestDocs(docs: readonly unknown[], file: string): ValidatedManifest {
  const envoy: EnvoyFragment[] = [];
  docs.forEach((doc, i) => {
    const where = `${file}#${i}`;
    validateKubernetesObject(doc, where);
    const name = isObj(doc) && isObj(doc.metadata) ? String(doc.metadata.name) : '?';
    for (const f of envoyFragmentsOf(doc as Obj, `${where} (${String((doc as Obj).kind)} ${name})`)) {
      validateEnvoyFragment(f);
      envoy.push(f);
    }
  });
  return { docs: docs as Obj[], envoy };
}

/** Parse a multi-document YAML text strictly (any YAML error is a ManifestError). */
export function parseManifest(text: string, file: string): unknown[] {
  const docs = YAML.parseAllDocuments(text);
  const out: unknown[] = [];
  for (const [i, d] of docs.entries()) {
    if (d.errors.length > 0) throw new ManifestError(`${file}#${i}`, `YAML: ${d.errors[0]!.message}`);
    const value: unknown = d.toJS();
    if (value !== null && value !== undefined) out.push(value);
  }
  return out;
}

export function validateManifestFile(file: string): ValidatedManifest {
  return validateManifestDocs(parseManifest(readFileSync(file, 'utf8'), file), file);
}
