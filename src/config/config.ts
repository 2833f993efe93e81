// Configuration: read once from the environment (only main.ts calls loadConfig), validated
// with one clear message per wrong value, then frozen. Defaults live here and nowhere else.
import { randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { z } from 'zod';
import { DEFAULT_GRPC_LIMITS as GRPC, type GrpcLimits } from '../extproc/limits.js';

export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

export interface Config {
  /** The FFR; null means "none configured": try the default, else fall back to the file store. */
  readonly redisUrl: string;
  /** True when REDIS_URL was set explicitly: then the sidecar never falls back to files. */
  readonly redisUrlExplicit: boolean;
  /** Redis Cluster seed nodes; when set, the store talks to the cluster (REDIS_URL gives auth/TLS). */
  readonly redisClusterNodes: readonly { readonly host: string; readonly port: number }[];
  /** Redis Sentinel addresses and the monitored master's name; when set, ioredis asks them. */
  readonly redisSentinels: readonly { readonly host: string; readonly port: number }[];
  readonly redisSentinelName: string | null;
  /** Password of the Sentinels themselves (REDIS_URL's credentials are the data nodes'). */
  readonly redisSentinelPassword: string | null;
  /** TLS files for `rediss://` (every node, and the Sentinels); null = the system CAs, no client certificate. */
  readonly redisTls: {
    readonly caFile: string | null;
    readonly certFile: string | null;
    readonly keyFile: string | null;
    /** The name the server certificate must carry (and SNI), when it differs from the address. */
    readonly servername: string | null;
  };
  /** auto: Redis when set or answering, else files; redis or file force one. */
  readonly store: 'auto' | 'redis' | 'file';
  readonly prefix: string;
  readonly grpcAddr: string;
  readonly adminAddr: string;
  /** The fleet learner's HTTP port (`npm run learner`): /metrics, /healthz, /learner. */
  readonly learnerAdminAddr: string;
  /** Bearer token for the console and every state-changing admin call; null = loopback-only changes. */
  readonly adminToken: string | null;
  readonly uaHashKey: Buffer;
  /** False when no PROFLAG_UA_HASH_KEY was given and a per-process random key is in use. */
  readonly uaHashKeyConfigured: boolean;
  readonly routeHeader: string;
  readonly flagsHeader: string;
  readonly tz: string;
  readonly geoHeader: string | null;
  readonly xffTrustedHops: number;
  readonly learn: boolean;
  /** Share of requests sampled for the learner, 0..1. */
  readonly learnSampleRate: number;
  /** Samples per second at most (the rest are dropped and counted). */
  readonly learnMaxPerSecond: number;
  /** Capacity of the bounded queue between the hot path and the learner. */
  readonly learnQueueSize: number;
  /** in-process: learn in the sidecar; publish: XADD samples to `<prefix>samples` for `npm run learner`. */
  readonly learnMode: 'in-process' | 'publish';
  /** Approximate MAXLEN of the samples stream. */
  readonly learnStreamMaxLen: number;
  readonly resyncMs: number;
  readonly staleAfterMs: number;
  readonly logLevel: 'debug' | 'info' | 'warn' | 'error';
  readonly flagsDir: string;
  readonly snapshotFile: string | null;
  /** Streams served on one HTTP/2 connection before it is gracefully recycled (0 = never). */
  readonly streamsPerConnection: number;
  /** The gRPC edge's limits (PROFLAG_GRPC_*; 0 turns a timeout off). */
  readonly grpc: Omit<GrpcLimits, 'streamsPerConnection'>;
  readonly hourBinWidth: number;
  /** Count request bodies without content-length in the body phase (needs a body mode in Envoy). */
  readonly countBodies: boolean;
  readonly uaIndex: { readonly m: number; readonly efConstruction: number; readonly ef: number };
  /** Experiments: flush outcome counts to Redis at most this often (ms). */
  readonly experimentFlushMs: number;
  /** Experiments: TTL of the per-minute count buckets (days). */
  readonly experimentTtlDays: number;
  /** Experiments: how often every replica checks the guardrails (ms). */
  readonly guardrailIntervalMs: number;
  /** Worker processes sharing the gRPC port (1: one process, no cluster at all). */
  readonly workers: number;
}

const headerName = z
  .string()
  .regex(/^[a-z0-9-]{1,64}$/, 'a lower-case header name')
  .refine((n) => !n.startsWith('x-envoy-') && n !== 'host', 'x-envoy-* and host are Envoy-owned');

const hostPort = z.string().regex(/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, 'HOST:PORT, e.g. 0.0.0.0:50051');

const hostPortList = z.string().regex(/^[A-Za-z0-9.-]+:\d{1,5}(,[A-Za-z0-9.-]+:\d{1,5})*$/, 'HOST:PORT[,HOST:PORT...]');

function parseHostPorts(list: string | undefined): { host: string; port: number }[] {
  if (!list) return [];
  return list.split(',').map((item) => {
    const i = item.lastIndexOf(':');
    return Object.freeze({ host: item.slice(0, i), port: Number(item.slice(i + 1)) });
  });
}

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

function isValidTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

const envSchema = z.object({
  REDIS_URL: z
    .string()
    .regex(/^rediss?:\/\//, 'a redis:// or rediss:// URL')
    .optional(),
  PROFLAG_REDIS_CLUSTER_NODES: hostPortList.optional(),
  PROFLAG_REDIS_SENTINELS: hostPortList.optional(),
  PROFLAG_REDIS_SENTINEL_NAME: z
    .string()
    .regex(/^[A-Za-z0-9._-]{1,64}$/)
    .optional(),
  PROFLAG_REDIS_SENTINEL_PASSWORD: z.string().min(1).optional(),
  PROFLAG_REDIS_TLS_CA_FILE: z.string().min(1).optional(),
  PROFLAG_REDIS_TLS_CERT_FILE: z.string().min(1).optional(),
  PROFLAG_REDIS_TLS_KEY_FILE: z.string().min(1).optional(),
  PROFLAG_REDIS_TLS_SERVERNAME: z.string().min(1).max(253).optional(),
  PROFLAG_STORE: z.enum(['auto', 'redis', 'file']).default('auto'),
  PROFLAG_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9:{}_.-]{1,64}$/, 'letters, digits and :{}_.-')
    .default('proflag:'),
  PROFLAG_GRPC_ADDR: hostPort.default('0.0.0.0:50051'),
  PROFLAG_ADMIN_ADDR: hostPort.default('127.0.0.1:9464'),
  PROFLAG_LEARNER_ADMIN_ADDR: hostPort.default('127.0.0.1:9465'),
  PROFLAG_ADMIN_TOKEN: z
    .string()
    .regex(/^[\x21-\x7e]{16,256}$/, '16 to 256 printable ASCII characters without spaces')
    .optional(),
  PROFLAG_UA_HASH_KEY: z.string().min(16, 'at least 16 characters').optional(),
  PROFLAG_ROUTE_HEADER: headerName.default('x-proflag-cluster'),
  PROFLAG_FLAGS_HEADER: headerName.default('x-proflag-flags'),
  PROFLAG_TZ: z.string().refine(isValidTimeZone, 'an IANA time zone such as Europe/Berlin').default('UTC'),
  PROFLAG_GEO_HEADER: headerName.optional(),
  PROFLAG_XFF_TRUSTED_HOPS: int(0, 16).default(0),
  PROFLAG_LEARN: z.enum(['on', 'off']).default('on'),
  PROFLAG_LEARN_SAMPLE_RATE: z.coerce.number().min(0).max(1).default(1),
  PROFLAG_LEARN_MAX_PER_SECOND: int(0, 1_000_000).default(1_000),
  PROFLAG_LEARN_QUEUE_SIZE: int(16, 1_000_000).default(4_096),
  PROFLAG_LEARN_MODE: z.enum(['in-process', 'publish']).default('in-process'),
  PROFLAG_LEARN_STREAM_MAXLEN: int(1_000, 100_000_000).default(100_000),
  PROFLAG_RESYNC_MS: int(100, 86_400_000).default(30_000),
  PROFLAG_STALE_AFTER_MS: int(1_000, 86_400_000).default(120_000),
  LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
  PROFLAG_FLAGS_DIR: z.string().min(1).default('examples/flags'),
  PROFLAG_SNAPSHOT_FILE: z.string().min(1).optional(),
  PROFLAG_STREAMS_PER_CONNECTION: int(0, 1_000_000).default(GRPC.streamsPerConnection),
  PROFLAG_GRPC_MAX_CONCURRENT_STREAMS: int(1, 100_000).default(GRPC.maxConcurrentStreams),
  PROFLAG_GRPC_MAX_MESSAGE_BYTES: int(1_024, 64 * 1024 * 1024).default(GRPC.maxMessageBytes),
  PROFLAG_GRPC_MAX_ASSEMBLY_BYTES: int(64 * 1024, 4 * 1024 * 1024 * 1024).default(GRPC.maxAssemblyBytes),
  PROFLAG_GRPC_KEEPALIVE_MS: int(0, 86_400_000).default(GRPC.keepaliveMs),
  PROFLAG_GRPC_KEEPALIVE_TIMEOUT_MS: int(100, 600_000).default(GRPC.keepaliveTimeoutMs),
  PROFLAG_GRPC_IDLE_TIMEOUT_MS: int(0, 86_400_000).default(GRPC.idleTimeoutMs),
  PROFLAG_GRPC_HANDSHAKE_TIMEOUT_MS: int(100, 600_000).default(GRPC.handshakeTimeoutMs),
  PROFLAG_GRPC_MAX_CONNECTION_AGE_MS: int(0, 604_800_000).default(GRPC.maxConnectionAgeMs),
  PROFLAG_GRPC_MAX_CONNECTION_AGE_GRACE_MS: int(0, 600_000).default(GRPC.closeGraceMs),
  PROFLAG_GRPC_STREAM_IDLE_TIMEOUT_MS: int(0, 86_400_000).default(GRPC.streamIdleTimeoutMs),
  PROFLAG_BODY_SIZE: z.enum(['on', 'off']).default('off'),
  PROFLAG_HOUR_BIN_WIDTH: z.coerce
    .number()
    .int()
    .refine((w) => [1, 2, 3, 4, 6, 8, 12, 24].includes(w), 'a divisor of 24')
    .default(4),
  PROFLAG_UA_INDEX_M: int(4, 64).default(16),
  PROFLAG_UA_INDEX_EF_CONSTRUCTION: int(10, 2000).default(100),
  PROFLAG_UA_INDEX_EF: int(10, 2000).default(32),
  PROFLAG_EXPERIMENT_FLUSH_MS: int(1_000, 60_000).default(1_000),
  PROFLAG_EXPERIMENT_TTL_DAYS: int(1, 400).default(30),
  PROFLAG_GUARDRAIL_INTERVAL_MS: int(1_000, 3_600_000).default(10_000),
  PROFLAG_WORKERS: z
    .string()
    .refine(
      (w) => w === 'auto' || (/^\d+$/.test(w) && Number(w) >= 1 && Number(w) <= 256),
      'auto, or 1 to 256 worker processes',
    )
    .default('1')
    .transform((w) => (w === 'auto' ? availableParallelism() : Number(w))),
});

const KNOWN_KEYS = new Set(Object.keys(envSchema.shape));

/** Variables of scripts/ffr (not the sidecar's): not reported as unknown. */
export const TOOL_VARIABLES: readonly string[] = ['PROFLAG_ACTOR', 'PROFLAG_VALIDATE', 'PROFLAG_REDIS_CLI_ARGS'];

export class ConfigError extends Error {
  readonly code = 'PROFLAG_ERR_CONFIG';
  constructor(readonly problems: readonly string[]) {
    super(`invalid configuration:\n  ${problems.join('\n  ')}`);
    this.name = 'ConfigError';
  }
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length]!;
}

/** PROFLAG_* variables we do not know, each with the nearest known name as a hint. */
export function unknownVariables(env: NodeJS.ProcessEnv): string[] {
  const hints: string[] = [];
  for (const key of Object.keys(env)) {
    if (!key.startsWith('PROFLAG_') || KNOWN_KEYS.has(key) || TOOL_VARIABLES.includes(key)) continue;
    let best = '';
    let bestDistance = Infinity;
    for (const known of KNOWN_KEYS) {
      const d = editDistance(key, known);
      if (d < bestDistance) [best, bestDistance] = [known, d];
    }
    hints.push(bestDistance <= 4 ? `${key} is unknown; did you mean ${best}?` : `${key} is unknown`);
  }
  return hints;
}

/** REDIS_URL must parse, and agree with the topology and the TLS files. */
function redisUrlProblems(e: z.output<typeof envSchema>): string[] {
  const problems: string[] = [];
  const raw = e.REDIS_URL ?? DEFAULT_REDIS_URL;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return ['REDIS_URL: not a URL; use redis://[user:password@]host:port[/db] (percent-encode special characters)'];
  }
  const db = url.pathname.replace(/^\//, '');
  if (db !== '' && !/^\d{1,2}$/.test(db)) problems.push(`REDIS_URL: the path must be a database number, got /${db}`);
  if (db !== '' && db !== '0' && e.PROFLAG_REDIS_CLUSTER_NODES) {
    problems.push('REDIS_URL: Redis Cluster has only database 0');
  }
  const tlsFiles = [
    'PROFLAG_REDIS_TLS_CA_FILE',
    'PROFLAG_REDIS_TLS_CERT_FILE',
    'PROFLAG_REDIS_TLS_KEY_FILE',
    'PROFLAG_REDIS_TLS_SERVERNAME',
  ] as const;
  const tlsSet = tlsFiles.filter((k) => e[k] !== undefined);
  if (tlsSet.length > 0 && url.protocol !== 'rediss:') {
    problems.push(`${tlsSet.join(', ')}: TLS settings need a rediss:// REDIS_URL`);
  }
  if ((e.PROFLAG_REDIS_TLS_CERT_FILE === undefined) !== (e.PROFLAG_REDIS_TLS_KEY_FILE === undefined)) {
    problems.push(
      'PROFLAG_REDIS_TLS_CERT_FILE and PROFLAG_REDIS_TLS_KEY_FILE go together (a client certificate and its key)',
    );
  }
  if (e.PROFLAG_REDIS_SENTINEL_PASSWORD && !e.PROFLAG_REDIS_SENTINELS) {
    problems.push('PROFLAG_REDIS_SENTINEL_PASSWORD needs PROFLAG_REDIS_SENTINELS');
  }
  return problems;
}

/** Read and validate the environment. Throws ConfigError listing every wrong value. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  // Empty strings mean "unset", as in most shells' `VAR= cmd`.
  const cleaned: Record<string, string> = {};
  for (const key of KNOWN_KEYS) {
    const v = env[key];
    if (v !== undefined && v !== '') cleaned[key] = v;
  }
  const parsed = envSchema.safeParse(cleaned);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((i) => {
        const key = String(i.path[0]);
        // Secrets are never echoed (they would land in logs).
        const shown = key === 'PROFLAG_ADMIN_TOKEN' ? '(hidden)' : JSON.stringify(cleaned[key]);
        return `${i.path.join('.')}=${shown}: ${i.message}`;
      }),
    );
  }
  const e = parsed.data;
  if (e.PROFLAG_REDIS_CLUSTER_NODES && e.PROFLAG_REDIS_SENTINELS) {
    throw new ConfigError(['PROFLAG_REDIS_CLUSTER_NODES and PROFLAG_REDIS_SENTINELS exclude each other']);
  }
  const urlProblems = redisUrlProblems(e);
  if (urlProblems.length > 0) throw new ConfigError(urlProblems);
  if (e.PROFLAG_REDIS_SENTINELS && !e.PROFLAG_REDIS_SENTINEL_NAME) {
    throw new ConfigError(['PROFLAG_REDIS_SENTINELS needs PROFLAG_REDIS_SENTINEL_NAME (the master name)']);
  }
  if (e.PROFLAG_REDIS_CLUSTER_NODES && !/^\{[^}]+\}/.test(e.PROFLAG_PREFIX)) {
    // Every change script touches the flag, the version, the channel and the audit stream
    // together; in a cluster they must share one slot, which a hash tag guarantees.
    throw new ConfigError([
      `PROFLAG_PREFIX=${JSON.stringify(e.PROFLAG_PREFIX)}: on Redis Cluster use a hash-tagged prefix such as {proflag}:`,
    ]);
  }
  if (e.PROFLAG_ROUTE_HEADER === e.PROFLAG_FLAGS_HEADER) {
    throw new ConfigError(['PROFLAG_ROUTE_HEADER and PROFLAG_FLAGS_HEADER must differ']);
  }
  return Object.freeze({
    redisUrl: e.REDIS_URL ?? DEFAULT_REDIS_URL,
    redisUrlExplicit: e.REDIS_URL !== undefined,
    redisClusterNodes: Object.freeze(parseHostPorts(e.PROFLAG_REDIS_CLUSTER_NODES)),
    redisSentinels: Object.freeze(parseHostPorts(e.PROFLAG_REDIS_SENTINELS)),
    redisSentinelName: e.PROFLAG_REDIS_SENTINEL_NAME ?? null,
    redisSentinelPassword: e.PROFLAG_REDIS_SENTINEL_PASSWORD ?? null,
    redisTls: Object.freeze({
      caFile: e.PROFLAG_REDIS_TLS_CA_FILE ?? null,
      certFile: e.PROFLAG_REDIS_TLS_CERT_FILE ?? null,
      keyFile: e.PROFLAG_REDIS_TLS_KEY_FILE ?? null,
      servername: e.PROFLAG_REDIS_TLS_SERVERNAME ?? null,
    }),
    store: e.PROFLAG_STORE,
    prefix: e.PROFLAG_PREFIX,
    grpcAddr: e.PROFLAG_GRPC_ADDR,
    adminAddr: e.PROFLAG_ADMIN_ADDR,
    learnerAdminAddr: e.PROFLAG_LEARNER_ADMIN_ADDR,
    adminToken: e.PROFLAG_ADMIN_TOKEN ?? null,
    uaHashKey: e.PROFLAG_UA_HASH_KEY ? Buffer.from(e.PROFLAG_UA_HASH_KEY, 'utf8') : randomBytes(32),
    uaHashKeyConfigured: e.PROFLAG_UA_HASH_KEY !== undefined,
    routeHeader: e.PROFLAG_ROUTE_HEADER,
    flagsHeader: e.PROFLAG_FLAGS_HEADER,
    tz: e.PROFLAG_TZ,
    geoHeader: e.PROFLAG_GEO_HEADER ?? null,
    xffTrustedHops: e.PROFLAG_XFF_TRUSTED_HOPS,
    learn: e.PROFLAG_LEARN === 'on',
    learnSampleRate: e.PROFLAG_LEARN_SAMPLE_RATE,
    learnMaxPerSecond: e.PROFLAG_LEARN_MAX_PER_SECOND,
    learnQueueSize: e.PROFLAG_LEARN_QUEUE_SIZE,
    learnMode: e.PROFLAG_LEARN_MODE,
    learnStreamMaxLen: e.PROFLAG_LEARN_STREAM_MAXLEN,
    resyncMs: e.PROFLAG_RESYNC_MS,
    staleAfterMs: e.PROFLAG_STALE_AFTER_MS,
    logLevel: e.LOG_LEVEL,
    flagsDir: e.PROFLAG_FLAGS_DIR,
    snapshotFile: e.PROFLAG_SNAPSHOT_FILE ?? null,
    streamsPerConnection: e.PROFLAG_STREAMS_PER_CONNECTION,
    grpc: Object.freeze({
      maxConcurrentStreams: e.PROFLAG_GRPC_MAX_CONCURRENT_STREAMS,
      maxMessageBytes: e.PROFLAG_GRPC_MAX_MESSAGE_BYTES,
      maxAssemblyBytes: e.PROFLAG_GRPC_MAX_ASSEMBLY_BYTES,
      keepaliveMs: e.PROFLAG_GRPC_KEEPALIVE_MS,
      keepaliveTimeoutMs: e.PROFLAG_GRPC_KEEPALIVE_TIMEOUT_MS,
      idleTimeoutMs: e.PROFLAG_GRPC_IDLE_TIMEOUT_MS,
      handshakeTimeoutMs: e.PROFLAG_GRPC_HANDSHAKE_TIMEOUT_MS,
      maxConnectionAgeMs: e.PROFLAG_GRPC_MAX_CONNECTION_AGE_MS,
      closeGraceMs: e.PROFLAG_GRPC_MAX_CONNECTION_AGE_GRACE_MS,
      streamIdleTimeoutMs: e.PROFLAG_GRPC_STREAM_IDLE_TIMEOUT_MS,
    }),
    hourBinWidth: e.PROFLAG_HOUR_BIN_WIDTH,
    countBodies: e.PROFLAG_BODY_SIZE === 'on',
    uaIndex: Object.freeze({
      m: e.PROFLAG_UA_INDEX_M,
      efConstruction: e.PROFLAG_UA_INDEX_EF_CONSTRUCTION,
      ef: e.PROFLAG_UA_INDEX_EF,
    }),
    experimentFlushMs: e.PROFLAG_EXPERIMENT_FLUSH_MS,
    experimentTtlDays: e.PROFLAG_EXPERIMENT_TTL_DAYS,
    guardrailIntervalMs: e.PROFLAG_GUARDRAIL_INTERVAL_MS,
    workers: e.PROFLAG_WORKERS,
  });
}

/** The documented variables, for the README table test. */
export const CONFIG_VARIABLES: readonly string[] = [...KNOWN_KEYS];
