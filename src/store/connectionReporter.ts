// What the Redis store says about its connections: which are up, each outage logged once (then
// debug), every error counted, and the reason in /readyz's `lastError`. An authentication or
// TLS failure is named as such (`PROFLAG_ERR_STORE_AUTH`) and is not hidden by the vaguer
// errors that follow it; when ioredis' Cluster or Sentinel client hides a node's reason behind
// "Connection is closed", the first address is asked directly, once per outage.
import type { Logger } from 'pino';
import { classifyRedisError, diagnoseRedis, redisTopology, type RedisConnectionConfig } from './redisConnection.js';
import type { SnapshotHolder } from './snapshotHolder.js';
import type { StoreMetrics } from './storeMetrics.js';

export interface ConnectionReporterOptions {
  readonly connection: RedisConnectionConfig;
  readonly log: Logger;
  readonly holder: SnapshotHolder;
  readonly metrics: StoreMetrics;
  /** The store is closing: stay quiet. */
  readonly closed: () => boolean;
}

export class ConnectionReporter {
  readonly #o: ConnectionReporterOptions;
  // Both start "down": nothing is connected before start(), and a failure then is not a loss.
  #commandDown = true;
  #feedDown = true;
  #commandEverUp = false;
  #feedEverUp = false;
  #unreachableAnnounced = false;
  /** An authentication or TLS failure seen while connecting, until the connection is ready. */
  #credentialError: string | null = null;
  /** The direct probe runs at most once per outage. */
  #diagnosed = false;
  /** Cluster nodes whose credential errors were logged lately (node → ms). */
  readonly #nodeErrorsLogged = new Map<string, number>();

  constructor(o: ConnectionReporterOptions) {
    this.#o = o;
  }

  get commandDown(): boolean {
    return this.#commandDown;
  }

  /** The command connection is ready (first time or again). */
  commandReady(): void {
    if (this.#commandEverUp && this.#commandDown) this.#o.log.info('Redis connection is back; resyncing');
    this.#commandDown = false;
    this.#commandEverUp = true;
    this.#unreachableAnnounced = false;
    this.#diagnosed = false;
    this.#credentialError = null;
  }

  commandClosed(): void {
    if (this.#o.closed() || this.#commandDown) return;
    this.#commandDown = true;
    this.#o.log.warn('Redis connection lost; serving the current snapshot, reconnecting with backoff');
  }

  feedUp(where: string): void {
    if (this.#feedEverUp && this.#feedDown) this.#o.log.info({ where }, 'change feed is back; resyncing');
    this.#feedDown = false;
    this.#feedEverUp = true;
    this.#o.holder.setFeedConnected(true);
    this.#o.metrics.feedConnected(true);
  }

  feedLost(reason: string): void {
    this.#o.holder.setFeedConnected(false);
    this.#o.metrics.feedConnected(false);
    if (this.#o.closed() || this.#feedDown) return;
    this.#feedDown = true;
    this.recordError(`change feed lost: ${reason}`);
    this.#o.log.warn({ reason }, 'change feed lost; changes reach this replica again after it resubscribes');
  }

  /** The last error for /readyz; a credential or TLS failure is not hidden by vaguer ones. */
  recordError(message: string, credential = false): void {
    if (credential) this.#credentialError = message;
    else if (this.#credentialError !== null && this.#commandDown) return;
    this.#o.holder.recordError(message);
  }

  /** A Cluster node's own failure ('error' only says "Failed to refresh slots cache"). */
  nodeError(err: Error, node: string): void {
    if (this.#o.closed()) return;
    this.#o.metrics.error('connection');
    const { kind, reason } = classifyRedisError(err);
    if (kind !== 'auth' && kind !== 'tls') {
      // A lost or unreachable node: the cluster-level error and the feed say what matters.
      this.#o.log.debug({ node, err: err.message }, 'Redis Cluster node error');
      return;
    }
    this.recordError(`${node}: ${reason}`, true);
    const now = Date.now();
    const last = this.#nodeErrorsLogged.get(node);
    if (last !== undefined && now - last < 60_000) return;
    this.#nodeErrorsLogged.set(node, now);
    this.#o.log.warn(
      { node, err: err.message, code: 'PROFLAG_ERR_STORE_AUTH' },
      `Redis Cluster node ${node}: ${reason}`,
    );
  }

  connectionError(which: 'command' | 'feed', err: Error): void {
    if (this.#o.closed()) return;
    this.#o.metrics.error('connection');
    const cause = (err as Error & { lastNodeError?: Error }).lastNodeError ?? err;
    const { kind, reason } = classifyRedisError(cause);
    if (kind === 'failover') {
      // ioredis went round the sentinels, which all named a master it cannot reach yet: a
      // failover in progress, not unreachable sentinels. The master's own errors are logged.
      this.#o.log.debug({ connection: which, err: err.message }, reason);
      return;
    }
    const credential = kind === 'auth' || kind === 'tls';
    // Before the first load nothing else would explain a 503; afterwards a failed reload says
    // what failed, and only credential and TLS failures (which a retry will not fix) are kept.
    if (credential || !this.#o.holder.loaded) this.recordError(reason, credential);
    if (!credential && which === 'command') this.#diagnose();
    const down = which === 'command' ? this.#commandDown : this.#feedDown;
    const fields = { connection: which, err: cause.message, ...(credential ? { code: 'PROFLAG_ERR_STORE_AUTH' } : {}) };
    // Every failed reconnect emits an error: say it once per outage, then stay quiet.
    if (!down) {
      this.#o.log.warn(fields, reason);
    } else if (!this.#unreachableAnnounced) {
      this.#unreachableAnnounced = true;
      const snapshot = this.#o.holder.current;
      this.#o.log.warn(
        { ...fields, flags: snapshot.flagCount, version: snapshot.version },
        credential
          ? `${reason}; serving the current snapshot and retrying with backoff`
          : 'cannot reach Redis; serving the current snapshot and retrying with backoff',
      );
    } else {
      this.#o.log.debug(fields, 'Redis connection error');
    }
  }

  #diagnose(): void {
    if (this.#diagnosed || redisTopology(this.#o.connection) === 'single') return;
    this.#diagnosed = true;
    diagnoseRedis(this.#o.connection).then(
      (err) => {
        if (err === null || this.#o.closed() || !this.#commandDown) return;
        const { kind, reason } = classifyRedisError(err);
        if (kind !== 'auth' && kind !== 'tls') return;
        this.recordError(reason, true);
        this.#o.log.warn({ code: 'PROFLAG_ERR_STORE_AUTH', err: err.message }, reason);
      },
      () => {},
    );
  }
}
