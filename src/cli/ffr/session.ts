// One ffr run's connection: the sidecar's own configuration variables (REDIS_URL,
// PROFLAG_PREFIX, PROFLAG_REDIS_CLUSTER_NODES, PROFLAG_REDIS_SENTINELS + _NAME,
// PROFLAG_REDIS_TLS_*), read and checked by the same code (src/config/config.ts), so that one
// configuration serves both; a client from the shared builder (src/store/redisConnection.ts).
//
// Before any command runs, ffr makes sure it will not lie:
//   - a REDIS_URL that names a Cluster node (without PROFLAG_REDIS_CLUSTER_NODES) is refused:
//     SCAN there would see one node's keys only;
//   - a REDIS_URL that names a replica is refused for changes (with the master's address) and
//     read with a warning;
//   - PROFLAG_REDIS_CLI_ARGS (from the redis-cli days) is read for its TLS options only; `-c`
//     and anything else are refused with the variable to use instead.
import { userInfo } from 'node:os';
import type { Redis } from 'ioredis';
import { ConfigError, loadConfig, unknownVariables, type Config } from '../../config/config.js';
import {
  classifyRedisError,
  createRedisClient,
  describeRedisTarget,
  diagnoseRedis,
  redactRedisUrl,
  redisTopology,
  type RedisClient,
} from '../../store/redisConnection.js';
import { redisKeys, type RedisKeys } from '../../store/redisKeys.js';
import { FlagReads } from '../../changes/flagReads.js';
import { CliFailure, fail, usageError, warn } from './output.js';

export interface Session {
  readonly config: Config;
  readonly client: RedisClient;
  readonly keys: RedisKeys;
  readonly reads: FlagReads;
  /** Where ffr talks to, for messages (no credentials). */
  readonly target: string;
  readonly actor: string;
  close(): void;
}

const CLI_TLS_OPTIONS: Record<string, string> = {
  '--cacert': 'PROFLAG_REDIS_TLS_CA_FILE',
  '--cert': 'PROFLAG_REDIS_TLS_CERT_FILE',
  '--key': 'PROFLAG_REDIS_TLS_KEY_FILE',
  '--sni': 'PROFLAG_REDIS_TLS_SERVERNAME',
};

/** The environment with PROFLAG_REDIS_CLI_ARGS' TLS options turned into PROFLAG_REDIS_TLS_*. */
export function translateCliArgs(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const raw = env['PROFLAG_REDIS_CLI_ARGS']?.trim();
  if (!raw) return env;
  const out: NodeJS.ProcessEnv = { ...env };
  const tokens = raw.split(/\s+/);
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i]!;
    if (token === '-c') {
      usageError(
        'PROFLAG_REDIS_CLI_ARGS=-c: ffr speaks Redis Cluster itself; set PROFLAG_REDIS_CLUSTER_NODES=host:port[,host:port...] ' +
          "(the sidecar's variable) and ffr finds the node that holds the keys and follows MOVED/ASK",
      );
    }
    if (token === '--tls') {
      const url = out['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
      out['REDIS_URL'] = url.replace(/^redis:\/\//, 'rediss://');
      continue;
    }
    const variable = CLI_TLS_OPTIONS[token];
    if (variable === undefined) {
      usageError(
        `PROFLAG_REDIS_CLI_ARGS: ffr no longer runs redis-cli and understands only --tls, --cacert, --cert, --key and --sni ` +
          `there (got '${token}'); use REDIS_URL and PROFLAG_REDIS_TLS_CA_FILE, _CERT_FILE, _KEY_FILE, _SERVERNAME ` +
          '(the same variables as the sidecar)',
      );
    }
    const value = tokens[++i];
    if (value === undefined) usageError(`PROFLAG_REDIS_CLI_ARGS: ${token} needs a value`);
    if (env[variable] !== undefined && env[variable] !== value) {
      usageError(`PROFLAG_REDIS_CLI_ARGS ${token} and ${variable} disagree; set only ${variable}`);
    }
    out[variable] = value;
  }
  return out;
}

export function readConfig(env: NodeJS.ProcessEnv): Config {
  const url = env['REDIS_URL'];
  if (url && !/^rediss?:\/\//.test(url)) {
    usageError(`REDIS_URL must start with redis:// or rediss:// (got ${redactRedisUrl(url).slice(0, 80)})`);
  }
  let config: Config;
  try {
    config = loadConfig(translateCliArgs(env));
  } catch (err) {
    if (err instanceof ConfigError) {
      usageError(`invalid configuration (ffr reads the sidecar's variables):\n  ${err.problems.join('\n  ')}`);
    }
    throw err;
  }
  for (const hint of unknownVariables(env)) warn(hint);
  return config;
}

export function actorOf(env: NodeJS.ProcessEnv): string {
  if (env['PROFLAG_ACTOR']) return env['PROFLAG_ACTOR'];
  if (env['USER']) return env['USER'];
  try {
    return userInfo().username;
  } catch {
    return 'unknown';
  }
}

/** Connect and check the node's role; `write` commands refuse a replica. */
export async function openSession(env: NodeJS.ProcessEnv, write: boolean): Promise<Session> {
  const config = readConfig(env);
  const actor = actorOf(env);
  const target = describeRedisTarget(config);
  const client = createRedisClient(config, {
    role: 'cli',
    id: actor.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 64),
    offlineQueue: true,
    backoff: null,
    connectTimeoutMs: 3_000,
    commandTimeoutMs: 10_000,
    maxRetriesPerRequest: 0,
  });
  // A Cluster's connect() only says "None of startup nodes is available"; the nodes' own
  // reasons (a wrong password, TLS) arrive as events.
  let cause: Error | null = null;
  const rank = (e: Error) => ({ auth: 3, tls: 3, unreachable: 2, failover: 1, other: 0 })[classifyRedisError(e).kind];
  const remember = (err: Error) => {
    const inner = (err as Error & { lastNodeError?: Error }).lastNodeError ?? err;
    if (cause === null || rank(inner) >= rank(cause)) cause = inner;
  };
  client.on('error', remember);
  client.on('node error', remember);
  const close = () => client.disconnect();
  try {
    await client.connect();
    if (redisTopology(config) === 'single') await checkRole(client as Redis, config, write);
  } catch (err) {
    close();
    if (err instanceof CliFailure) throw err;
    let reason = cause !== null && rank(cause) >= rank(err as Error) ? cause : (err as Error);
    if (rank(reason) < 3) {
      const direct = await diagnoseRedis(config).catch(() => null);
      if (direct !== null && rank(direct) > rank(reason)) reason = direct;
    }
    throw explainConnectError(reason, target);
  }
  const keys = redisKeys(config.prefix);
  return { config, client, keys, reads: new FlagReads(client, keys), target, actor, close };
}

async function checkRole(client: Redis, config: Config, write: boolean): Promise<void> {
  const [[roleErr, role], [infoErr, info]] = (await client.pipeline().call('ROLE').info('cluster').exec()) as [
    [Error | null, unknown],
    [Error | null, unknown],
  ];
  if (!infoErr && /cluster_enabled:1/.test(String(info))) {
    fail(
      `${redactRedisUrl(config.redisUrl)} is a Redis Cluster node: set PROFLAG_REDIS_CLUSTER_NODES=host:port[,host:port...] ` +
        'and a hash-tagged PROFLAG_PREFIX such as {proflag}: (the same as the sidecar), so that ffr reads the node that ' +
        'holds the keys',
    );
  }
  if (roleErr || !Array.isArray(role)) return; // ROLE refused (e.g. an ACL): nothing to say
  if (role[0] === 'sentinel') {
    fail(
      `${redactRedisUrl(config.redisUrl)} is a Redis Sentinel: set PROFLAG_REDIS_SENTINELS=host:port[,...] and ` +
        'PROFLAG_REDIS_SENTINEL_NAME (the same as the sidecar); ffr then asks them for the master',
    );
  }
  if (role[0] === 'slave' || role[0] === 'replica') {
    const master = `${String(role[1])}:${String(role[2])}`;
    if (write) {
      fail(
        `${redactRedisUrl(config.redisUrl)} is a replica (of ${master}): changes go to the master. Point REDIS_URL ` +
          'at the master, or set PROFLAG_REDIS_SENTINELS and PROFLAG_REDIS_SENTINEL_NAME so that ffr finds it; nothing changed',
      );
    }
    warn(`reading from a replica (of ${master}); it may lag behind the master`);
  }
}

function explainConnectError(err: Error, target: string): CliFailure {
  const cause = (err as Error & { lastNodeError?: Error }).lastNodeError ?? err;
  const { kind } = classifyRedisError(cause);
  const first = cause.message.split('\n')[0]!;
  switch (kind) {
    case 'auth':
      return new CliFailure(`Redis at ${target} refused the credentials (REDIS_URL user:password): ${first}`);
    case 'tls':
      return new CliFailure(`TLS with Redis at ${target} failed (rediss://, PROFLAG_REDIS_TLS_*): ${first}`);
    default:
      return new CliFailure(`cannot reach Redis at ${target}: ${first}`);
  }
}
