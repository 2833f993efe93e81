// The one place Redis clients are built. Every role (the store's command and feed
// connections, the status writer, the learner, the fleet learner, the sample publisher,
// scripts/ffr, the experiments writer, the console) asks here, so credentials, TLS and the
// topology reach every connection the same way:
//
//   - single node: REDIS_URL as given (user, password, /db, rediss://).
//   - Cluster (PROFLAG_REDIS_CLUSTER_NODES): an ioredis Cluster seeded with those nodes;
//     REDIS_URL supplies only the user, the password and the scheme (rediss:// = TLS), which
//     apply to every node. Its host and port are not used.
//   - Sentinel (PROFLAG_REDIS_SENTINELS + _NAME): ioredis asks the sentinels for the master.
//     REDIS_URL's user, password and db apply to the master and replicas (the data nodes);
//     the sentinels themselves take PROFLAG_REDIS_SENTINEL_PASSWORD when they require auth.
//     With rediss:// the sentinels are spoken to over TLS too, with the same CA and client
//     certificate.
//
// Defaults suit the sidecar: nothing waits in an offline queue, a command is retried at most
// once, reconnects back off with jitter (capped at 10 s on one node; 0.5 s on Cluster and
// Sentinel, where a failover is a normal event and the replacement should be found at once).
import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import type { Config } from '../config/config.js';
import { ProflagError } from '../errors.js';
import { backoffDelay, type BackoffOptions } from './backoff.js';

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

/** The part of the configuration that says how to reach Redis. `Config` is one. */
export type RedisConnectionConfig = Pick<
  Config,
  'redisUrl' | 'redisClusterNodes' | 'redisSentinels' | 'redisSentinelName' | 'redisSentinelPassword' | 'redisTls'
>;

export type RedisTopology = 'single' | 'cluster' | 'sentinel';

export type RedisClient = Redis | Cluster;

/** What a connection is for. It names the connection (`CLIENT LIST` shows `proflag:<role>[:id]`). */
export type RedisRole =
  'store' | 'feed' | 'status' | 'probe' | 'learner' | 'learner-read' | 'samples' | 'cli' | 'experiments' | 'console';

export interface RedisClientOptions {
  readonly role: RedisRole;
  /** Appended to the connection name, e.g. the replica id. */
  readonly id?: string;
  /** Default true: nothing connects until `connect()` (or, for lazy Clusters, the first command). */
  readonly lazyConnect?: boolean;
  /** Default false: a command while disconnected fails at once instead of waiting. */
  readonly offlineQueue?: boolean;
  /** Reconnect backoff; null never reconnects (one-shot tools). Default: by topology (see top). */
  readonly backoff?: BackoffOptions | null;
  /** Default 2000 ms. */
  readonly connectTimeoutMs?: number;
  /** A command without an answer after this long fails. Default: none. */
  readonly commandTimeoutMs?: number;
  /** Default 1. */
  readonly maxRetriesPerRequest?: number;
  /** Re-subscribe by itself after a reconnect. Default true (the store's feed subscribes itself). */
  readonly autoResubscribe?: boolean;
}

export interface RedisUrlParts {
  readonly tls: boolean;
  readonly host: string;
  readonly port: number;
  readonly username: string | null;
  readonly password: string | null;
  readonly db: number;
}

/** Split a redis:// or rediss:// URL (user and password percent-decoded). */
export function parseRedisUrl(url: string): RedisUrlParts {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new ProflagError('PROFLAG_ERR_CONFIG', `REDIS_URL is not a URL: ${redactRedisUrl(url)}`);
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') {
    throw new ProflagError(
      'PROFLAG_ERR_CONFIG',
      `REDIS_URL must start with redis:// or rediss:// (got ${u.protocol}//)`,
    );
  }
  const db = u.pathname.replace(/^\//, '');
  return {
    tls: u.protocol === 'rediss:',
    host: u.hostname.replace(/^\[|\]$/g, '') || '127.0.0.1',
    port: u.port === '' ? 6379 : Number(u.port),
    username: u.username === '' ? null : decodeURIComponent(u.username),
    password: u.password === '' ? null : decodeURIComponent(u.password),
    db: db === '' ? 0 : Number(db),
  };
}

/** The URL with its user:password replaced, for logs and messages. */
export function redactRedisUrl(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//***@');
}

/** A single-node connection config from a URL (tests, tools). */
export function redisConnectionFromUrl(url: string): RedisConnectionConfig {
  return {
    redisUrl: url,
    redisClusterNodes: [],
    redisSentinels: [],
    redisSentinelName: null,
    redisSentinelPassword: null,
    redisTls: { caFile: null, certFile: null, keyFile: null, servername: null },
  };
}

export function redisTopology(c: RedisConnectionConfig): RedisTopology {
  if (c.redisClusterNodes.length > 0) return 'cluster';
  if (c.redisSentinels.length > 0) return 'sentinel';
  return 'single';
}

/** For logs, /readyz and `ffr status`: where the repository is, without credentials. */
export function describeRedisTarget(c: RedisConnectionConfig): string {
  const list = (nodes: readonly HostPort[]) => nodes.map((n) => `${n.host}:${n.port}`).join(',');
  switch (redisTopology(c)) {
    case 'cluster':
      return `cluster ${list(c.redisClusterNodes)}`;
    case 'sentinel':
      return `sentinel ${c.redisSentinelName}@${list(c.redisSentinels)}`;
    default:
      return redactRedisUrl(c.redisUrl);
  }
}

/** Reconnect backoff used when the caller does not choose one. */
export function defaultBackoff(topology: RedisTopology): BackoffOptions {
  return topology === 'single' ? { baseMs: 100, maxMs: 10_000 } : { baseMs: 100, maxMs: 500 };
}

const tlsCache = new Map<string, ConnectionOptions>();

/** Node's TLS options for rediss:// (files read once per process); null for redis://. */
export function redisTlsOptions(c: RedisConnectionConfig): ConnectionOptions | null {
  if (!parseRedisUrl(c.redisUrl).tls) return null;
  const t = c.redisTls;
  const key = JSON.stringify(t);
  const cached = tlsCache.get(key);
  if (cached) return cached;
  const read = (variable: string, path: string | null): Buffer | undefined => {
    if (path === null) return undefined;
    try {
      return readFileSync(path);
    } catch (err) {
      throw new ProflagError('PROFLAG_ERR_CONFIG', `${variable}: cannot read ${path}: ${(err as Error).message}`);
    }
  };
  const ca = read('PROFLAG_REDIS_TLS_CA_FILE', t.caFile);
  const cert = read('PROFLAG_REDIS_TLS_CERT_FILE', t.certFile);
  const keyPem = read('PROFLAG_REDIS_TLS_KEY_FILE', t.keyFile);
  const options: ConnectionOptions = Object.freeze({
    ...(ca ? { ca } : {}),
    ...(cert ? { cert } : {}),
    ...(keyPem ? { key: keyPem } : {}),
    ...(t.servername ? { servername: t.servername } : {}),
  });
  tlsCache.set(key, options);
  return options;
}

function connectionName(o: RedisClientOptions): string {
  return o.id ? `proflag:${o.role}:${o.id}` : `proflag:${o.role}`;
}

/** Options every data-node connection of this topology shares (credentials, TLS, timeouts). */
function nodeOptions(c: RedisConnectionConfig, o: RedisClientOptions, topology: RedisTopology): RedisOptions {
  const url = parseRedisUrl(c.redisUrl);
  const tls = redisTlsOptions(c);
  const backoff = o.backoff === undefined ? defaultBackoff(topology) : o.backoff;
  return {
    ...(url.username !== null ? { username: url.username } : {}),
    ...(url.password !== null ? { password: url.password } : {}),
    ...(tls ? { tls: { ...tls } } : {}),
    connectionName: connectionName(o),
    lazyConnect: o.lazyConnect ?? true,
    enableOfflineQueue: o.offlineQueue ?? false,
    maxRetriesPerRequest: o.maxRetriesPerRequest ?? 1,
    connectTimeout: o.connectTimeoutMs ?? 2_000,
    ...(o.commandTimeoutMs !== undefined ? { commandTimeout: o.commandTimeoutMs } : {}),
    autoResubscribe: o.autoResubscribe ?? true,
    retryStrategy: backoff === null ? () => null : (attempt: number) => backoffDelay(attempt, backoff),
  };
}

/**
 * A client for `role` on the configured topology: a `Cluster` with PROFLAG_REDIS_CLUSTER_NODES,
 * else a `Redis` (through the sentinels with PROFLAG_REDIS_SENTINELS).
 */
export function createRedisClient(c: RedisConnectionConfig, o: RedisClientOptions): RedisClient {
  const topology = redisTopology(c);
  const common = nodeOptions(c, o, topology);
  if (topology === 'cluster') {
    const backoff = o.backoff === undefined ? defaultBackoff(topology) : o.backoff;
    const options: ClusterOptions = {
      lazyConnect: common.lazyConnect ?? true,
      enableOfflineQueue: common.enableOfflineQueue ?? false,
      clusterRetryStrategy: backoff === null ? () => null : (attempt: number) => backoffDelay(attempt, backoff),
      // Slots are refreshed on MOVED and on a lost node anyway; the timer catches a failover
      // that happened while this client was idle.
      slotsRefreshInterval: 2_000,
      slotsRefreshTimeout: 1_000,
      // The node connections themselves do not reconnect: a lost node is dropped and the slot
      // table, refreshed from the others, names its replacement.
      redisOptions: withoutReconnect(common),
    };
    return new Cluster(
      c.redisClusterNodes.map((n) => ({ host: n.host, port: n.port })),
      options,
    );
  }
  if (topology === 'sentinel') {
    const url = parseRedisUrl(c.redisUrl);
    const tls = redisTlsOptions(c);
    return new Redis({
      ...common,
      sentinels: c.redisSentinels.map((n) => ({ host: n.host, port: n.port })),
      name: c.redisSentinelName ?? undefined,
      db: url.db,
      ...(c.redisSentinelPassword !== null ? { sentinelPassword: c.redisSentinelPassword } : {}),
      ...(tls ? { sentinelTLS: { ...tls }, enableTLSForSentinelMode: true } : {}),
      // Between two full rounds over the sentinels (ioredis' own retry, on top of ours).
      sentinelRetryStrategy: o.backoff === null ? () => null : (attempt: number) => Math.min(attempt * 100, 500),
      connectTimeout: common.connectTimeout,
      sentinelCommandTimeout: common.connectTimeout,
      // After a planned failover the old master is a replica: a write there answers READONLY.
      // Reconnect (through the sentinels, to the new master) and send the command again.
      reconnectOnError: (err: Error) => (/^READONLY/.test(err.message) ? 2 : false),
    });
  }
  const url = parseRedisUrl(c.redisUrl);
  return new Redis({ ...common, host: url.host, port: url.port, db: url.db });
}

function withoutReconnect(options: RedisOptions): RedisOptions {
  const { retryStrategy: _retry, lazyConnect: _lazy, ...rest } = options;
  return rest;
}

/**
 * A plain connection to one node of the topology (a Cluster node, a probe of one address),
 * with the topology's credentials and TLS.
 */
export function createNodeClient(c: RedisConnectionConfig, node: HostPort, o: RedisClientOptions): Redis {
  const common = nodeOptions(c, o, redisTopology(c));
  return new Redis({ ...common, host: node.host, port: node.port });
}

/**
 * Why the topology cannot be reached, asked of its first address directly (a Cluster seed, a
 * Sentinel, the node): ioredis' Cluster and Sentinel connectors swallow a node's own TLS error
 * and report only "Connection is closed". Null when that address answers PING.
 */
export async function diagnoseRedis(c: RedisConnectionConfig): Promise<Error | null> {
  const topology = redisTopology(c);
  const probe: RedisClientOptions = { role: 'probe', backoff: null, connectTimeoutMs: 2_000, maxRetriesPerRequest: 0 };
  let client: Redis;
  if (topology === 'sentinel') {
    const tls = redisTlsOptions(c);
    const sentinel = c.redisSentinels[0]!;
    client = new Redis({
      host: sentinel.host,
      port: sentinel.port,
      ...(c.redisSentinelPassword !== null ? { password: c.redisSentinelPassword } : {}),
      ...(tls ? { tls: { ...tls } } : {}),
      connectionName: 'proflag:probe',
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      connectTimeout: 2_000,
      retryStrategy: () => null,
    });
  } else {
    const node = topology === 'cluster' ? c.redisClusterNodes[0]! : parseRedisUrl(c.redisUrl);
    client = createNodeClient(c, { host: node.host, port: node.port }, probe);
  }
  let seen: Error | null = null;
  client.on('error', (err: Error) => {
    seen ??= err;
  });
  try {
    await client.connect();
    await client.ping();
    return null;
  } catch (err) {
    return seen ?? (err as Error);
  } finally {
    client.disconnect();
  }
}

export type RedisFailureKind = 'auth' | 'tls' | 'unreachable' | 'failover' | 'other';

/** What kind of failure a connection error is, with a short reason for logs and /readyz. */
export function classifyRedisError(err: Error): { kind: RedisFailureKind; reason: string } {
  const message = err.message;
  if (/^All sentinels are unreachable/.test(message)) {
    // ioredis says this whenever it has gone once round the sentinel list without a usable
    // master. Without "Last error" every sentinel answered: the master they name is what
    // cannot be reached (a failover in progress).
    return /Last error:/.test(message)
      ? { kind: 'unreachable', reason: `no sentinel answers: ${message.replace(/^.*Last error: /, '')}` }
      : { kind: 'failover', reason: 'the sentinels name a master that cannot be reached yet (failover in progress?)' };
  }
  if (/WRONGPASS|NOAUTH|invalid password|invalid username-password|AUTH failed|NOPERM/i.test(message)) {
    return { kind: 'auth', reason: `authentication failed (check the user and password in REDIS_URL): ${message}` };
  }
  const code = (err as NodeJS.ErrnoException).code ?? '';
  if (/certificate|SSL|TLS|self.signed|ERR_TLS|wrong version number|handshake/i.test(`${message} ${code}`)) {
    return { kind: 'tls', reason: `TLS failed (check rediss:// and PROFLAG_REDIS_TLS_*): ${message}` };
  }
  if (
    /ECONNREFUSED|ETIMEDOUT|EHOSTUNREACH|ENOTFOUND|EAI_AGAIN|ECONNRESET|connect ETIMEDOUT/.test(`${message} ${code}`)
  ) {
    return { kind: 'unreachable', reason: `cannot reach Redis: ${message}` };
  }
  return { kind: 'other', reason: message };
}
