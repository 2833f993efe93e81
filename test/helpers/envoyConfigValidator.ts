// Checks an Envoy bootstrap YAML against Envoy's own protos (the copy shipped in
// @grpc/grpc-js-xds), without an Envoy binary. Envoy reads YAML as proto3 JSON, which
// protobufjs's fromObject does not understand (Any "@type", "0.2s" durations, bare
// wrappers, Struct as plain JSON) and which it would accept too leniently (unknown keys
// are dropped silently). So a small adapter walks the YAML beside the reflection types,
// turns it into protobufjs's object form and fails with the YAML path of the first problem.
// Not checked: protoc-gen-validate rules (required fields, ranges) and cross-field rules.
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import protobuf from 'protobufjs';
import YAML from 'yaml';

const require = createRequire(import.meta.url);

export const GRPC_XDS_DEPS = path.join(path.dirname(require.resolve('@grpc/grpc-js-xds/package.json')), 'deps');
/** The roots of Envoy's API tree and its imports, as @grpc/grpc-js-xds vendors them. */
export const OFFICIAL_INCLUDE_DIRS = ['envoy-api', 'xds', 'googleapis', 'protoc-gen-validate'].map((d) =>
  path.join(GRPC_XDS_DEPS, d),
);
// descriptor.proto (imported by the annotation protos) is not among protobufjs's bundled
// files, but the package ships it as a plain .proto.
const PROTOBUFJS_DIR = path.dirname(require.resolve('protobufjs/package.json'));

/** Load files from Envoy's official API tree with protobufjs, imports resolved against the deps. */
export function loadOfficialRoot(files: readonly string[]): protobuf.Root {
  const root = new protobuf.Root();
  const dirs = [...OFFICIAL_INCLUDE_DIRS, PROTOBUFJS_DIR];
  root.resolvePath = (_origin, target) => {
    if (path.isAbsolute(target) && existsSync(target)) return target;
    for (const dir of dirs) {
      const candidate = path.join(dir, target);
      if (existsSync(candidate)) return candidate;
    }
    return target; // protobufjs reports the file as missing
  };
  root.loadSync([...files], { keepCase: true });
  root.resolveAll();
  return root;
}

/** The config files a proflag bootstrap references through `@type`. */
export const BOOTSTRAP_FILES = [
  'envoy/config/bootstrap/v3/bootstrap.proto',
  'envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto',
  'envoy/extensions/filters/http/ext_proc/v3/ext_proc.proto',
  'envoy/extensions/filters/http/router/v3/router.proto',
  'envoy/extensions/upstreams/http/v3/http_protocol_options.proto',
  'envoy/extensions/access_loggers/stream/v3/stream.proto',
  // examples/istio/: removes proflag's headers before routing.
  'envoy/extensions/http/early_header_mutation/header_mutation/v3/header_mutation.proto',
];

export class EnvoyConfigError extends Error {
  constructor(
    readonly yamlPath: string,
    detail: string,
  ) {
    super(`${yamlPath}: ${detail}`);
    this.name = 'EnvoyConfigError';
  }
}

export interface ValidationResult {
  /** The bootstrap, encoded and decoded again, as protobufjs objects (Any still packed). */
  readonly decoded: Record<string, unknown>;
  /** YAML paths of fields Envoy marks deprecated. */
  readonly deprecated: string[];
}

type Json = unknown;
type Obj = Record<string, Json>;

const isObj = (v: Json): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const typeName = (t: protobuf.Type | protobuf.Enum) => t.fullName.replace(/^\./, '');

const WRAPPERS: Record<string, string> = {
  'google.protobuf.DoubleValue': 'double',
  'google.protobuf.FloatValue': 'float',
  'google.protobuf.Int64Value': 'int64',
  'google.protobuf.UInt64Value': 'uint64',
  'google.protobuf.Int32Value': 'int32',
  'google.protobuf.UInt32Value': 'uint32',
  'google.protobuf.BoolValue': 'bool',
  'google.protobuf.StringValue': 'string',
  'google.protobuf.BytesValue': 'bytes',
};
/** Types whose JSON form is not an object of fields; inside an Any they sit under "value". */
const SPECIAL_JSON = new Set([
  ...Object.keys(WRAPPERS),
  'google.protobuf.Duration',
  'google.protobuf.Timestamp',
  'google.protobuf.Struct',
  'google.protobuf.Value',
  'google.protobuf.ListValue',
  'google.protobuf.FieldMask',
]);

const lowerCamel = (s: string) => s.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diag = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = row[j]!;
      row[j] = Math.min(up + 1, row[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = up;
    }
  }
  return row[b.length]!;
}

class Adapter {
  readonly deprecated: string[] = [];
  constructor(private readonly root: protobuf.Root) {}

  message(type: protobuf.Type, value: Json, at: string): Obj {
    const name = typeName(type);
    if (name === 'google.protobuf.Any') return this.any(value, at);
    if (SPECIAL_JSON.has(name)) return this.wellKnown(name, value, at);
    if (!isObj(value)) throw new EnvoyConfigError(at, `expected an object for ${name}, got ${describe(value)}`);

    const out: Obj = {};
    const oneofSeen = new Map<string, string>();
    for (const [key, raw] of Object.entries(value)) {
      const field = type.fields[key] ?? type.fieldsArray.find((f) => lowerCamel(f.name) === key);
      const fieldAt = `${at}.${key}`;
      if (!field) throw new EnvoyConfigError(fieldAt, `unknown field in ${name}${this.hint(type, key)}`);
      if (raw === null) continue; // proto3 JSON: null means "not set"
      if (field.partOf) {
        const other = oneofSeen.get(field.partOf.name);
        if (other) throw new EnvoyConfigError(fieldAt, `oneof ${field.partOf.name} already set by "${other}"`);
        oneofSeen.set(field.partOf.name, key);
      }
      if (field.options?.deprecated) this.deprecated.push(fieldAt);
      out[field.name] = this.field(field, raw, fieldAt);
    }
    return out;
  }

  private hint(type: protobuf.Type, key: string): string {
    let best: string | null = null;
    let bestDistance = 3;
    for (const f of type.fieldsArray) {
      const d = editDistance(key, f.name);
      if (d < bestDistance) [best, bestDistance] = [f.name, d];
    }
    return best ? ` (did you mean "${best}"?)` : '';
  }

  private field(field: protobuf.Field, value: Json, at: string): Json {
    if (field instanceof protobuf.MapField) {
      if (!isObj(value)) throw new EnvoyConfigError(at, `expected a map (object), got ${describe(value)}`);
      const out: Obj = {};
      for (const [k, v] of Object.entries(value)) {
        this.scalar(field.keyType, k, `${at}[${JSON.stringify(k)}]`, true);
        out[k] = this.single(field, v, `${at}.${k}`);
      }
      return out;
    }
    if (field.repeated) {
      if (!Array.isArray(value)) throw new EnvoyConfigError(at, `expected a list, got ${describe(value)}`);
      return value.map((v, i) => this.single(field, v, `${at}[${i}]`));
    }
    return this.single(field, value, at);
  }

  private single(field: protobuf.Field, value: Json, at: string): Json {
    const resolved = field.resolvedType;
    if (resolved instanceof protobuf.Type) return this.message(resolved, value, at);
    if (resolved instanceof protobuf.Enum) return this.enumValue(resolved, value, at);
    return this.scalar(field.type, value, at, false);
  }

  private enumValue(en: protobuf.Enum, value: Json, at: string): number {
    if (typeof value === 'string' && value in en.values) return en.values[value]!;
    if (typeof value === 'number' && Object.values(en.values).includes(value)) return value;
    throw new EnvoyConfigError(
      at,
      `${describe(value)} is not a value of ${typeName(en)} (${Object.keys(en.values).join(', ')})`,
    );
  }

  /** Scalars as proto3 JSON allows them; `asKey` for map keys, which are always strings. */
  private scalar(type: string, value: Json, at: string, asKey: boolean): Json {
    const bad = () => new EnvoyConfigError(at, `expected ${type}, got ${describe(value)}`);
    switch (type) {
      case 'string':
        if (typeof value !== 'string') throw bad();
        return value;
      case 'bool':
        if (typeof value === 'boolean') return value;
        if (asKey && (value === 'true' || value === 'false')) return value === 'true';
        throw bad();
      case 'bytes':
        if (typeof value !== 'string' || !/^[A-Za-z0-9+/_-]*={0,2}$/.test(value)) throw bad();
        return Buffer.from(value, 'base64');
      case 'double':
      case 'float':
        if (typeof value === 'number') return value;
        if (value === 'NaN' || value === 'Infinity' || value === '-Infinity') return Number(value);
        if (typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value))) return Number(value);
        throw bad();
      default: {
        // The integer types: a JSON number or a decimal string, within range.
        const text = typeof value === 'number' ? String(value) : typeof value === 'string' ? value : '';
        if (!/^-?\d+$/.test(text)) throw bad();
        const n = BigInt(text);
        const unsigned = type.startsWith('uint') || type.startsWith('fixed');
        const bits = type.endsWith('64') ? 64n : 32n;
        const [min, max] = unsigned ? [0n, 2n ** bits - 1n] : [-(2n ** (bits - 1n)), 2n ** (bits - 1n) - 1n];
        if (n < min || n > max) throw new EnvoyConfigError(at, `${text} is out of range for ${type}`);
        return bits === 64n ? text : Number(n);
      }
    }
  }

  /** `{"@type": "type.googleapis.com/NAME", ...fields}` → a packed Any. */
  private any(value: Json, at: string): Obj {
    if (!isObj(value)) throw new EnvoyConfigError(at, `expected an Any object, got ${describe(value)}`);
    const url = value['@type'];
    if (typeof url !== 'string') throw new EnvoyConfigError(at, 'Any without "@type"');
    const name = url.slice(url.lastIndexOf('/') + 1);
    const inner = this.root.lookup(name);
    if (!(inner instanceof protobuf.Type)) {
      throw new EnvoyConfigError(`${at}["@type"]`, `unknown type ${JSON.stringify(url)}`);
    }
    const { '@type': _, ...rest } = value;
    const innerAt = `${at}(${name})`;
    let obj: Obj;
    if (SPECIAL_JSON.has(name)) {
      const extra = Object.keys(rest).find((k) => k !== 'value');
      if (extra)
        throw new EnvoyConfigError(`${innerAt}.${extra}`, `unknown field next to "value" in an Any of ${name}`);
      obj = this.wellKnown(name, rest.value, `${innerAt}.value`);
    } else {
      obj = this.message(inner, rest, innerAt);
    }
    return { type_url: url, value: inner.encode(inner.fromObject(obj)).finish() };
  }

  private wellKnown(name: string, value: Json, at: string): Obj {
    const wrapped = WRAPPERS[name];
    if (wrapped) return { value: this.scalar(wrapped, value, at, false) };
    switch (name) {
      case 'google.protobuf.Duration': {
        const m = typeof value === 'string' ? /^(-)?(\d+)(?:\.(\d{1,9}))?s$/.exec(value) : null;
        if (!m) throw new EnvoyConfigError(at, `expected a duration like "0.2s", got ${describe(value)}`);
        const sign = m[1] ? -1 : 1;
        return { seconds: sign * Number(m[2]), nanos: sign * Number((m[3] ?? '').padEnd(9, '0')) };
      }
      case 'google.protobuf.Timestamp': {
        const ms = typeof value === 'string' ? Date.parse(value) : NaN;
        if (!Number.isFinite(ms)) throw new EnvoyConfigError(at, `expected an RFC 3339 time, got ${describe(value)}`);
        return { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 };
      }
      case 'google.protobuf.FieldMask':
        if (typeof value !== 'string')
          throw new EnvoyConfigError(at, `expected a field mask string, got ${describe(value)}`);
        return { paths: value.split(',').filter(Boolean) };
      case 'google.protobuf.Struct':
        if (!isObj(value)) throw new EnvoyConfigError(at, `expected an object (Struct), got ${describe(value)}`);
        return structOf(value);
      case 'google.protobuf.ListValue':
        if (!Array.isArray(value))
          throw new EnvoyConfigError(at, `expected a list (ListValue), got ${describe(value)}`);
        return { values: value.map(valueOf) };
      default: // google.protobuf.Value
        return valueOf(value);
    }
  }
}

// Struct and Value use protobufjs's bundled camelCase field names.
function structOf(obj: Obj): Obj {
  return { fields: Object.fromEntries(Object.entries(obj).map(([k, v]) => [k, valueOf(v)])) };
}
function valueOf(v: Json): Obj {
  if (v === null) return { nullValue: 0 };
  if (typeof v === 'number') return { numberValue: v };
  if (typeof v === 'string') return { stringValue: v };
  if (typeof v === 'boolean') return { boolValue: v };
  if (Array.isArray(v)) return { listValue: { values: v.map(valueOf) } };
  if (isObj(v)) return { structValue: structOf(v) };
  throw new Error(`not a JSON value: ${String(v)}`);
}

function describe(v: Json): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'an object';
  return `${typeof v} ${JSON.stringify(v)}`;
}

let bootstrapRoot: protobuf.Root | null = null;

/** Validate parsed YAML/JSON as envoy.config.bootstrap.v3.Bootstrap; throws EnvoyConfigError. */
export function validateBootstrapObject(config: unknown): ValidationResult {
  bootstrapRoot ??= loadOfficialRoot(BOOTSTRAP_FILES);
  const Bootstrap = bootstrapRoot.lookupType('envoy.config.bootstrap.v3.Bootstrap');
  const adapter = new Adapter(bootstrapRoot);
  const obj = adapter.message(Bootstrap, config, '$');
  // Round-trip through the wire format: proof that protobufjs took every field.
  const bytes = Bootstrap.encode(Bootstrap.fromObject(obj)).finish();
  const decoded = Bootstrap.toObject(Bootstrap.decode(bytes), { longs: String, enums: String });
  return { decoded, deprecated: adapter.deprecated };
}

/**
 * Validate a fragment as one Envoy message (e.g. an Istio EnvoyFilter patch value: a Cluster, an
 * HttpFilter); `at` names it in errors. Throws EnvoyConfigError like validateBootstrapObject.
 */
export function validateEnvoyMessage(typeName: string, value: unknown, at = '$'): ValidationResult {
  bootstrapRoot ??= loadOfficialRoot(BOOTSTRAP_FILES);
  const type = bootstrapRoot.lookupType(typeName);
  const adapter = new Adapter(bootstrapRoot);
  const obj = adapter.message(type, value, at);
  const decoded = type.toObject(type.decode(type.encode(type.fromObject(obj)).finish()), {
    longs: String,
    enums: String,
  });
  return { decoded, deprecated: adapter.deprecated };
}

export function validateBootstrapYaml(text: string): ValidationResult {
  return validateBootstrapObject(YAML.parse(text));
}

export function validateBootstrapFile(file: string): ValidationResult {
  return validateBootstrapYaml(readFileSync(file, 'utf8'));
}
