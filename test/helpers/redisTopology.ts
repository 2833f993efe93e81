// Real Redis topologies for the topology tests, started with redis-server on free ports under a
// temp dir: a Cluster of three masters with one replica each, and a Sentinel set (a master, a
// replica, three sentinels). Optionally with a password (requirepass + masterauth on every
// data node) and TLS (a throwaway CA made with openssl; every port TLS-only, client
// certificates required). Timeouts are short so that failovers take a few seconds:
// cluster-node-timeout 1000 ms, sentinel down-after-milliseconds 1000 ms.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis, type RedisOptions } from 'ioredis';
import { freePort } from './redisServer.js';

export interface TlsMaterial {
  readonly dir: string;
  readonly caFile: string;
  readonly certFile: string;
  readonly keyFile: string;
}

export interface TopologyOptions {
  readonly password?: string;
  readonly tls?: TlsMaterial;
}

export interface NodeProcess {
  readonly port: number;
  readonly running: boolean;
  /** SIGKILL, and wait until the process is gone. */
  kill(): Promise<void>;
}

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

export function opensslAvailable(): boolean {
  return spawnSync('openssl', ['version'], { stdio: 'ignore' }).status === 0;
}

/** Does this redis-server accept TLS options (built with TLS, as Debian's is)? */
export function redisTlsAvailable(): boolean {
  // With nowhere to listen a TLS build exits at once ("not listen anywhere"); a build without
  // TLS refuses the directive first ("Bad directive").
  const probe = spawnSync('redis-server', ['--port', '0', '--tls-port', '0'], { encoding: 'utf8', timeout: 5000 });
  if (probe.error) return false;
  return !/Bad directive/.test(`${probe.stdout}${probe.stderr}`);
}

/** A CA and one certificate (for 127.0.0.1 and localhost) used by servers and clients alike. */
export function makeTlsMaterial(): TlsMaterial {
  const dir = mkdtempSync(join(tmpdir(), 'proflag-tls-'));
  const run = (...args: string[]) => {
    const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`openssl ${args[0]} failed: ${r.stderr}`);
  };
  run(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    'ca.key',
    '-out',
    'ca.crt',
    '-days',
    '2',
    '-subj',
    '/CN=proflag-test-ca',
  );
  run('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'node.key', '-out', 'node.csr', '-subj', '/CN=localhost');
  writeFileSync(join(dir, 'ext.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  run(
    'x509',
    '-req',
    '-in',
    'node.csr',
    '-CA',
    'ca.crt',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    'node.crt',
    '-days',
    '2',
    '-extfile',
    'ext.cnf',
  );
  return { dir, caFile: join(dir, 'ca.crt'), certFile: join(dir, 'node.crt'), keyFile: join(dir, 'node.key') };
}

function tlsArgs(tls: TlsMaterial | undefined, port: number): string[] {
  if (!tls) return ['--port', String(port)];
  return [
    ...['--port', '0', '--tls-port', String(port)],
    ...['--tls-cert-file', tls.certFile, '--tls-key-file', tls.keyFile, '--tls-ca-cert-file', tls.caFile],
    ...['--tls-auth-clients', 'yes', '--tls-replication', 'yes'],
  ];
}

function authArgs(password: string | undefined): string[] {
  return password ? ['--requirepass', password, '--masterauth', password] : [];
}

/** ioredis options to talk to one of our nodes directly (admin commands in the helpers). */
export function nodeOptions(o: TopologyOptions, port: number): RedisOptions {
  return {
    host: '127.0.0.1',
    port,
    ...(o.password ? { password: o.password } : {}),
    ...(o.tls ? { tls: tlsClientOptions(o.tls) } : {}),
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    connectTimeout: 1000,
    lazyConnect: true,
  };
}

export function tlsClientOptions(tls: TlsMaterial) {
  return {
    ca: readText(tls.caFile),
    cert: readText(tls.certFile),
    key: readText(tls.keyFile),
  };
}

function readText(path: string): string {
  return readFileSync(path, 'utf8');
}

/** One command to one node; null when it does not answer. */
export async function nodeCommand(o: TopologyOptions, port: number, ...args: string[]): Promise<unknown> {
  const r = new Redis(nodeOptions(o, port));
  r.on('error', () => {});
  try {
    await r.connect();
    return await r.call(args[0]!, ...args.slice(1));
  } catch {
    return null;
  } finally {
    r.disconnect();
  }
}

function startProcess(args: string[], cwd: string): ChildProcess {
  const child = spawn('redis-server', args, { cwd, stdio: 'ignore' });
  live.add(child);
  child.once('exit', () => live.delete(child));
  return child;
}

function nodeProcess(child: ChildProcess, port: number): NodeProcess {
  let running = true;
  child.once('exit', () => (running = false));
  return {
    port,
    get running() {
      return running;
    },
    async kill() {
      if (!running) return;
      const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGKILL');
      await gone;
    },
  };
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 15_000, everyMs = 50): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`topology: timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

async function answers(o: TopologyOptions, port: number): Promise<boolean> {
  return (await nodeCommand(o, port, 'PING')) === 'PONG';
}

// --- Cluster -------------------------------------------------------------------------------

export interface ClusterNode extends NodeProcess {
  readonly busPort: number;
  id: string;
}

export interface ClusterTopology {
  readonly nodes: readonly ClusterNode[];
  readonly options: TopologyOptions;
  /** `127.0.0.1:p1,127.0.0.1:p2,...` of every node (the seed list a sidecar gets). */
  readonly seeds: string;
  /** The node serving `slot` as master now (asked from a live node). */
  masterOf(slot: number): Promise<ClusterNode>;
  /** The replicas of a master (by CLUSTER NODES). */
  replicasOf(master: ClusterNode): Promise<ClusterNode[]>;
  stop(): Promise<void>;
}

/** One cluster node on free ports; a port taken meanwhile by someone else is retried. */
async function startClusterNode(o: TopologyOptions, dir: string): Promise<ClusterNode> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const busPort = await freePort();
    if (busPort === port) continue;
    const child = startProcess(
      [
        ...tlsArgs(o.tls, port),
        ...['--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'no'],
        ...['--cluster-enabled', 'yes', '--cluster-config-file', join(dir, `nodes-${port}.conf`)],
        ...['--cluster-port', String(busPort), '--cluster-node-timeout', '1000'],
        ...[
          '--cluster-replica-validity-factor',
          '0',
          '--repl-ping-replica-period',
          '1',
          '--repl-diskless-sync-delay',
          '0',
        ],
        ...(o.tls ? ['--tls-cluster', 'yes'] : []),
        ...authArgs(o.password),
      ],
      dir,
    );
    const proc = nodeProcess(child, port);
    const node: ClusterNode = {
      port,
      busPort,
      id: '',
      get running() {
        return proc.running;
      },
      kill: () => proc.kill(),
    };
    try {
      await until(
        `node ${port}`,
        async () => {
          if (!proc.running) throw new Error(`redis-server on ${port} exited`);
          return answers(o, port);
        },
        5000,
        20,
      );
      return node;
    } catch (err) {
      await proc.kill();
      if (attempt >= 3) throw err;
    }
  }
}

export async function startCluster(o: TopologyOptions = {}): Promise<ClusterTopology> {
  const dir = mkdtempSync(join(tmpdir(), 'proflag-cluster-'));
  const nodes: ClusterNode[] = [];
  try {
    return await formCluster(o, dir, nodes);
  } catch (err) {
    // Nothing may outlive a failed start.
    await Promise.all(nodes.map((n) => n.kill()));
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

async function formCluster(o: TopologyOptions, dir: string, nodes: ClusterNode[]): Promise<ClusterTopology> {
  for (let i = 0; i < 6; i++) nodes.push(await startClusterNode(o, dir));
  for (const n of nodes) n.id = String(await nodeCommand(o, n.port, 'CLUSTER', 'MYID'));

  const ranges: [number, number][] = [
    [0, 5460],
    [5461, 10922],
    [10923, 16383],
  ];
  for (let m = 0; m < 3; m++) {
    await nodeCommand(o, nodes[m]!.port, 'CLUSTER', 'ADDSLOTSRANGE', String(ranges[m]![0]), String(ranges[m]![1]));
  }
  for (const n of nodes.slice(1)) {
    await nodeCommand(o, nodes[0]!.port, 'CLUSTER', 'MEET', '127.0.0.1', String(n.port), String(n.busPort));
  }
  const knowsAll = async (n: ClusterNode) => {
    const text = String((await nodeCommand(o, n.port, 'CLUSTER', 'NODES')) ?? '');
    return nodes.every((other) => text.includes(other.id));
  };
  for (const n of nodes) await until(`node ${n.port} to know the cluster`, () => knowsAll(n));
  for (let r = 3; r < 6; r++) {
    await nodeCommand(o, nodes[r]!.port, 'CLUSTER', 'REPLICATE', nodes[r - 3]!.id);
  }
  for (const n of nodes) {
    await until(`cluster_state:ok on ${n.port}`, async () =>
      String((await nodeCommand(o, n.port, 'CLUSTER', 'INFO')) ?? '').includes('cluster_state:ok'),
    );
  }
  for (const n of nodes.slice(3)) {
    await until(`replica ${n.port} in sync`, async () =>
      String((await nodeCommand(o, n.port, 'INFO', 'replication')) ?? '').includes('master_link_status:up'),
    );
  }

  const byId = (id: string) => nodes.find((n) => n.id === id);
  const clusterNodesText = async (): Promise<string> => {
    for (const n of nodes) {
      if (!n.running) continue;
      const text = await nodeCommand(o, n.port, 'CLUSTER', 'NODES');
      if (typeof text === 'string') return text;
    }
    throw new Error('no cluster node answers');
  };
  return {
    nodes,
    options: o,
    seeds: nodes.map((n) => `127.0.0.1:${n.port}`).join(','),
    async masterOf(slot) {
      for (const line of (await clusterNodesText()).split('\n')) {
        const parts = line.split(' ');
        if (!parts[2]?.includes('master') || parts[2].includes('fail')) continue;
        for (const range of parts.slice(8)) {
          const [from, to = from] = range.split('-').map(Number);
          if (slot >= from! && slot <= to!) return byId(parts[0]!)!;
        }
      }
      throw new Error(`no master serves slot ${slot}`);
    },
    async replicasOf(master) {
      return (await clusterNodesText())
        .split('\n')
        .map((l) => l.split(' '))
        .filter((p) => p[3] === master.id)
        .map((p) => byId(p[0]!)!)
        .filter(Boolean);
    },
    async stop() {
      await Promise.all(nodes.map((n) => n.kill()));
      rmSync(dir, { recursive: true, force: true });
      if (o.tls) rmSync(o.tls.dir, { recursive: true, force: true });
    },
  };
}

// --- Sentinel ------------------------------------------------------------------------------

export interface SentinelTopology {
  readonly name: string;
  readonly options: TopologyOptions;
  /** [master, replica] as started (roles change on failover). */
  readonly data: readonly NodeProcess[];
  readonly sentinels: readonly NodeProcess[];
  /** `127.0.0.1:s1,127.0.0.1:s2,127.0.0.1:s3`. */
  readonly sentinelList: string;
  /** The master's port as the sentinels name it now. */
  masterPort(): Promise<number>;
  /** The data node that is master now (by ROLE). */
  currentMaster(): Promise<NodeProcess>;
  stop(): Promise<void>;
}

export async function startSentinel(o: TopologyOptions = {}): Promise<SentinelTopology> {
  const dir = mkdtempSync(join(tmpdir(), 'proflag-sentinel-'));
  const started: NodeProcess[] = [];
  try {
    return await formSentinel(o, dir, started);
  } catch (err) {
    // Nothing may outlive a failed start.
    await Promise.all(started.map((n) => n.kill()));
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

async function formSentinel(o: TopologyOptions, dir: string, started: NodeProcess[]): Promise<SentinelTopology> {
  const name = 'proflagmaster';
  const masterPort = await freePort();
  const replicaPort = await freePort();
  const common = [
    ...['--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'no'],
    ...['--repl-ping-replica-period', '1', '--repl-diskless-sync-delay', '0'],
  ];
  const master = nodeProcess(
    startProcess([...tlsArgs(o.tls, masterPort), ...common, ...authArgs(o.password)], dir),
    masterPort,
  );
  started.push(master);
  await until('sentinel master', () => answers(o, masterPort), 5000, 20);
  const replica = nodeProcess(
    startProcess(
      [
        ...tlsArgs(o.tls, replicaPort),
        ...common,
        ...authArgs(o.password),
        ...['--replicaof', '127.0.0.1', String(masterPort)],
      ],
      dir,
    ),
    replicaPort,
  );
  started.push(replica);
  await until('sentinel replica in sync', async () =>
    String((await nodeCommand(o, replicaPort, 'INFO', 'replication')) ?? '').includes('master_link_status:up'),
  );

  const sentinels: NodeProcess[] = [];
  const ports: number[] = [];
  for (let i = 0; i < 3; i++) {
    const port = await freePort();
    ports.push(port);
    const conf = join(dir, `sentinel-${port}.conf`);
    const tlsConf = o.tls
      ? [
          'port 0',
          `tls-port ${port}`,
          `tls-cert-file ${o.tls.certFile}`,
          `tls-key-file ${o.tls.keyFile}`,
          `tls-ca-cert-file ${o.tls.caFile}`,
          'tls-auth-clients yes',
          'tls-replication yes',
        ]
      : [`port ${port}`];
    writeFileSync(
      conf,
      [
        ...tlsConf,
        'bind 127.0.0.1',
        'protected-mode no',
        `dir ${dir}`,
        `sentinel monitor ${name} 127.0.0.1 ${masterPort} 2`,
        `sentinel down-after-milliseconds ${name} 1000`,
        `sentinel failover-timeout ${name} 4000`,
        `sentinel parallel-syncs ${name} 1`,
        ...(o.password ? [`sentinel auth-pass ${name} ${o.password}`] : []),
        '',
      ].join('\n'),
    );
    const sentinel = nodeProcess(startProcess([conf, '--sentinel'], dir), port);
    sentinels.push(sentinel);
    started.push(sentinel);
  }
  const sentinelOptions: TopologyOptions = o.tls ? { tls: o.tls } : {};
  for (const port of ports) {
    await until(`sentinel ${port} to see the replica`, async () => {
      const replicas = await nodeCommand(sentinelOptions, port, 'SENTINEL', 'REPLICAS', name);
      return Array.isArray(replicas) && replicas.length === 1;
    });
  }
  // A failover needs a majority of sentinels that know each other (hello messages, every 2 s).
  for (const port of ports) {
    await until(`sentinel ${port} to know the others`, async () => {
      const others = await nodeCommand(sentinelOptions, port, 'SENTINEL', 'SENTINELS', name);
      return Array.isArray(others) && others.length === 2;
    });
  }
  const data = [master, replica];
  const topology: SentinelTopology = {
    name,
    options: o,
    data,
    sentinels,
    sentinelList: ports.map((p) => `127.0.0.1:${p}`).join(','),
    async masterPort() {
      for (const port of ports) {
        const addr = await nodeCommand(sentinelOptions, port, 'SENTINEL', 'GET-MASTER-ADDR-BY-NAME', name);
        if (Array.isArray(addr)) return Number(addr[1]);
      }
      throw new Error('no sentinel answers');
    },
    async currentMaster() {
      for (const node of data) {
        if (!node.running) continue;
        const role = await nodeCommand(o, node.port, 'ROLE');
        if (Array.isArray(role) && role[0] === 'master') return node;
      }
      throw new Error('no data node is master');
    },
    async stop() {
      await Promise.all([...sentinels, ...data].map((n) => n.kill()));
      rmSync(dir, { recursive: true, force: true });
      if (o.tls) rmSync(o.tls.dir, { recursive: true, force: true });
    },
  };
  return topology;
}
