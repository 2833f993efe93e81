// docker-compose.yml cannot be run here (no Docker engine), so check what can be checked
// statically: the services exist, every file they mount or copy is in the repo, and the
// names and ports Envoy dials are the ones compose provides.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import YAML from 'yaml';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const read = (file: string) => readFileSync(path.join(REPO, file), 'utf8');

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- YAML tree

// merge: compose files may use `<<: *anchor`, as ours does for the echo backends.
const compose = YAML.parse(read('docker-compose.yml'), { merge: true }) as Obj;
const services = compose.services as Record<string, Obj>;
const envoy = YAML.parse(read('envoy/envoy.yaml')) as Obj;

/** host path → container path of a service's bind mounts (short syntax). */
function binds(service: Obj): Array<[string, string]> {
  return (service.volumes ?? []).map((v: string | Obj) => {
    if (typeof v !== 'string') return [v.source, v.target];
    const [host, container] = v.split(':');
    return [host!, container!];
  });
}

describe('docker-compose.yml', () => {
  it('has the demo services', () => {
    expect(Object.keys(services)).toEqual(
      expect.arrayContaining(['envoy', 'redis', 'flags-loader', 'proflag', 'backend-stable', 'backend-canary']),
    );
    expect(services.redis!.image).toMatch(/^redis:7/);
    expect(services.proflag!.build).toBe('.');
  });

  it('mounts only files that exist in the repo', () => {
    for (const [name, service] of Object.entries(services)) {
      for (const [host] of binds(service)) {
        expect(host.startsWith('./'), `${name}: ${host} should be repo-relative`).toBe(true);
        expect(existsSync(path.join(REPO, host)), `${name} mounts ${host}`).toBe(true);
      }
    }
  });

  it('gives Envoy the shipped config, at the path it is told to read', () => {
    const service = services.envoy!;
    const [, target] = binds(service).find(([host]) => host === './envoy/envoy.yaml') ?? [];
    expect(target).toBeDefined();
    const args: string[] = service.command;
    expect(args[args.indexOf('-c') + 1]).toBe(target);
  });

  it('runs an Envoy that knows the graceful-close runtime flag (>= 1.34)', () => {
    const m = /^envoyproxy\/envoy:v(\d+)\.(\d+)/.exec(services.envoy!.image);
    expect(m).not.toBeNull();
    expect(Number(m![1]) * 1000 + Number(m![2])).toBeGreaterThanOrEqual(1034);
  });

  it('publishes the listener and the admin port Envoy binds', () => {
    const listenerPort = envoy.static_resources.listeners[0].address.socket_address.port_value;
    const adminPort = envoy.admin.address.socket_address.port_value;
    const published: string[] = services.envoy!.ports;
    expect(published).toContain(`${listenerPort}:${listenerPort}`);
    expect(published).toContain(`127.0.0.1:${adminPort}:${adminPort}`);
  });

  it('resolves every Envoy cluster host to a compose service on the port it listens on', () => {
    for (const cluster of envoy.static_resources.clusters as Obj[]) {
      expect(cluster.type, cluster.name).toBe('STRICT_DNS');
      for (const group of cluster.load_assignment.endpoints as Obj[]) {
        for (const lb of group.lb_endpoints as Obj[]) {
          const { address, port_value } = lb.endpoint.address.socket_address;
          const service = services[address];
          expect(service, `cluster ${cluster.name} dials ${address}`).toBeDefined();
          const env = service!.environment as Obj;
          const listens =
            address === 'proflag' ? Number(String(env.PROFLAG_GRPC_ADDR).split(':').at(-1)) : Number(env.PORT);
          expect(listens, `${address} port`).toBe(port_value);
        }
      }
    }
  });

  it('configures proflag against the compose Redis', () => {
    const env = services.proflag!.environment as Obj;
    expect(new URL(env.REDIS_URL).hostname).toBe('redis');
    expect(services[new URL(env.REDIS_URL).hostname]).toBeDefined();
    expect(env.PROFLAG_ADMIN_ADDR).toBe('0.0.0.0:9464');
    expect(env.PROFLAG_UA_HASH_KEY).toMatch(/^\$\{PROFLAG_UA_HASH_KEY:-.+\}$/);
  });

  it('loads every example flag under its own name, with shell variables escaped from compose', () => {
    const loader = services['flags-loader']!;
    expect(binds(loader)).toContainEqual(['./examples/flags', '/flags']);
    const script = (loader.command as string[]).join(' ');
    expect(script).toContain('proflag:flag:');
    expect(script).toContain('INCR proflag:version');
    expect(script).toContain('PUBLISH proflag:changes');
    // A lone `$name` would be interpolated by compose (to empty) before the shell sees it.
    expect(script.replaceAll('$$', '')).not.toMatch(/\$(?!\{)/);
    // The loader keys flags by file name, so it must equal the flag's name.
    const dir = path.join(REPO, 'examples/flags');
    const files = readdirSync(dir).filter((f) => f.endsWith('.json'));
    expect(files.length).toBeGreaterThan(0);
    for (const file of files) {
      expect((JSON.parse(readFileSync(path.join(dir, file), 'utf8')) as Obj).name).toBe(path.basename(file, '.json'));
    }
  });
});

describe('Dockerfile', () => {
  const dockerfile = read('Dockerfile');
  const ignored = read('.dockerignore')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));

  it('builds on node:20-slim with a toolchain for native addons, then npm ci and the build', () => {
    expect(dockerfile).toMatch(/^FROM node:20-slim/m);
    expect(dockerfile).toMatch(/python3 make g\+\+/);
    expect(dockerfile).toMatch(/RUN npm ci/);
    expect(dockerfile).toMatch(/npm run build/);
  });

  it('copies only paths that exist and are not docker-ignored', () => {
    const sources = [...dockerfile.matchAll(/^COPY (?!--from)(.+)$/gm)].flatMap((m) =>
      m[1]!.trim().split(/\s+/).slice(0, -1),
    );
    expect(sources).toEqual(expect.arrayContaining(['src', 'proto', 'package-lock.json']));
    for (const source of sources) {
      expect(existsSync(path.join(REPO, source)), source).toBe(true);
      expect(ignored, `${source} is in .dockerignore`).not.toContain(source.split('/')[0]);
    }
    expect(ignored).toContain('node_modules');
  });
});
