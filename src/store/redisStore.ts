// The FFR edge: keeps the served snapshot in step with the flags in Redis.
//
// - Start: serve the last-good snapshot file if one is configured (else nothing), connect in
//   the background, and load once the connection is ready. Not `loaded` (not ready) before.
// - Any topology: one node, Sentinel or Cluster, clients built by redisConnection.ts with the
//   configuration's credentials and TLS.
// - Changes: `<prefix>changes` on the change feed (changeFeed.ts; on a Cluster it subscribes on
//   the prefix's slot owner and moves when that node goes) asks for a reload; bursts coalesce
//   (one reload running, at most one pending, a short debounce). A periodic full resync
//   catches writes made without a publish; it compiles only when the version or the
//   documents differ.
// - Redis away: the snapshot stays; both connections retry with capped, jittered backoff;
//   the first ready connection after an outage triggers a resync. Requests never touch
//   Redis, and no command waits in an offline queue.
// - Redis back empty (the version key gone, no flags, after a version > 0 was served): data
//   loss, not deletion. The snapshot is held, an alarm is logged, counted and written to the
//   status key, until the version key (or any flag) reappears.
// - Every sync writes this replica's view (version, staleness, rejected flags with reasons)
//   to `<prefix>status:<replicaId>` with a TTL, for `scripts/ffr status`.
// Reading Redis (redisReader), validating and compiling (snapshotBuilder), the status body
// (replicaStatus), the last-good file (snapshotFile) and what to say about connection trouble
// (connectionReporter) live in their own modules; what stays here is the connection lifecycle
// and the reload decisions, which share one state.
import { hostname } from 'node:os';
import calculateSlot from 'cluster-key-slot';
import { Cluster } from 'ioredis';
import type { Logger } from 'pino';
import { backoffDelay, type BackoffOptions } from './backoff.js';
import { createChangeFeed, type ChangeFeed } from './changeFeed.js';
import { ConnectionReporter } from './connectionReporter.js';
import {
  createRedisClient,
  defaultBackoff,
  describeRedisTarget,
  redisConnectionFromUrl,
  redisTopology,
  type HostPort,
  type RedisClient,
  type RedisConnectionConfig,
} from './redisConnection.js';
import { redisKeys, type RedisKeys } from './redisKeys.js';
import { readFlagSet } from './redisReader.js';
import { ReloadScheduler } from './reloadScheduler.js';
import { replicaStatus } from './replicaStatus.js';
import { buildSnapshot, documentsDigest, RejectionReporter, type CompileSnapshot } from './snapshotBuilder.js';
import { readSnapshotFile, SnapshotFileWriter } from './snapshotFile.js';
import type { SnapshotHolder } from './snapshotHolder.js';
import { noopStoreMetrics, type StoreMetrics } from './storeMetrics.js';

export type DataLossPolicy = 'hold' | 'accept';

export interface RedisStoreOptions {
  /** How to reach Redis on any topology (the sidecar passes its Config). Wins over `redisUrl`. */
  readonly connection?: RedisConnectionConfig;
  /** Shortcut for one node: a redis:// or rediss:// URL, with user:password when needed. */
  readonly redisUrl?: string;
  /** Key and channel prefix, e.g. 'proflag:' (cluster: '{proflag}:'). */
  readonly prefix: string;
  /** Full resync period, ms. */
  readonly resyncMs: number;
  /** Report stale when the change feed is down, or no sync succeeded, for this long (ms). */
  readonly staleAfterMs: number;
  readonly logger: Logger;
  readonly metrics?: StoreMetrics;
  readonly compile: CompileSnapshot;
  readonly holder: SnapshotHolder;
  /** Persist the last good documents here and serve them when Redis is away at start. */
  readonly snapshotFile?: string | null;
  /** Names this replica's status key. Default: `<hostname>-<pid>`. */
  readonly replicaId?: string;
  /** Debounce between a change signal and the reload, ms. Default 20. */
  readonly debounceMs?: number;
  /** Reconnect and reload-retry backoff. Default: 100 ms doubling, jittered, up to 10 s on one
   *  node and 0.5 s on Cluster and Sentinel (defaultBackoff). */
  readonly backoff?: BackoffOptions;
  /** Liveness PING on the change feed, ms (0 = off). Default 5000. */
  readonly feedPingMs?: number;
  /** Default 2000 ms. */
  readonly connectTimeoutMs?: number;
  /** A command without an answer after this long fails (a hung Redis). Default 5000 ms. */
  readonly commandTimeoutMs?: number;
  /** SCAN COUNT hint. Default 1000. */
  readonly scanCount?: number;
  /** Keys per MGET. Default 500. */
  readonly batchSize?: number;
  /** A load that finds more flag keys fails (and keeps the snapshot). Default 100,000. */
  readonly maxFlags?: number;
  /** 'hold' (default): an emptied Redis is data loss. 'accept': serve the empty set. */
  readonly dataLossPolicy?: DataLossPolicy;
  /** TTL of the status key, s. Default max(60, 3 × resync). */
  readonly statusTtlSeconds?: number;
}

type Client = RedisClient;

const REDIS_SOURCE = 'redis';

export class RedisStore {
  readonly #o: Required<Omit<RedisStoreOptions, 'snapshotFile' | 'connection' | 'redisUrl' | 'metrics'>> & {
    metrics: StoreMetrics;
  };
  readonly #connection: RedisConnectionConfig;
  readonly #snapshotFile: string | null;
  readonly #keys: RedisKeys;
  readonly #log: Logger;
  readonly #holder: SnapshotHolder;
  readonly #metrics: StoreMetrics;
  readonly #command: Client;
  readonly #feed: ChangeFeed;
  readonly #scheduler: ReloadScheduler;
  readonly #reporter: RejectionReporter;
  readonly #health: ConnectionReporter;
  #lastVersion: number | null = null;
  #lastDigest: string | null = null;
  #syncedOnce = false;
  #started = false;
  #closed = false;
  #resyncTimer: NodeJS.Timeout | null = null;
  #staleTimer: NodeJS.Timeout | null = null;
  #wasStale = false;
  readonly #fileWriter: SnapshotFileWriter | null;
  #loadedWaiters: Array<() => void> = [];
  #lastError: string | null = null;

  constructor(options: RedisStoreOptions) {
    const resyncMs = options.resyncMs;
    if (!(resyncMs > 0)) throw new RangeError(`resyncMs must be > 0, got ${resyncMs}`);
    const connection = options.connection ?? redisConnectionFromUrl(options.redisUrl ?? 'redis://127.0.0.1:6379');
    this.#connection = connection;
    this.#o = {
      prefix: options.prefix,
      resyncMs,
      staleAfterMs: options.staleAfterMs,
      logger: options.logger,
      metrics: options.metrics ?? noopStoreMetrics,
      compile: options.compile,
      holder: options.holder,
      replicaId: options.replicaId ?? `${hostname()}-${process.pid}`,
      debounceMs: options.debounceMs ?? 20,
      backoff: options.backoff ?? defaultBackoff(redisTopology(connection)),
      feedPingMs: options.feedPingMs ?? 5_000,
      connectTimeoutMs: options.connectTimeoutMs ?? 2000,
      commandTimeoutMs: options.commandTimeoutMs ?? 5000,
      scanCount: options.scanCount ?? 1000,
      batchSize: options.batchSize ?? 500,
      maxFlags: options.maxFlags ?? 100_000,
      dataLossPolicy: options.dataLossPolicy ?? 'hold',
      statusTtlSeconds: options.statusTtlSeconds ?? Math.max(60, Math.ceil((3 * resyncMs) / 1000)),
    };
    this.#snapshotFile = options.snapshotFile ?? null;
    this.#fileWriter =
      this.#snapshotFile === null
        ? null
        : new SnapshotFileWriter(this.#snapshotFile, (err) => {
            this.#metrics.error('snapshot_file');
            this.#log.warn(
              { path: this.#snapshotFile, err: err.message },
              'writing the last-good snapshot file failed',
            );
          });
    this.#keys = redisKeys(options.prefix);
    this.#log = options.logger.child({ component: 'redisStore' });
    this.#holder = options.holder;
    this.#metrics = this.#o.metrics;
    this.#holder.configureStaleness(options.staleAfterMs);
    this.#reporter = new RejectionReporter(this.#log, this.#metrics);
    this.#health = new ConnectionReporter({
      connection,
      log: this.#log,
      holder: this.#holder,
      metrics: this.#metrics,
      closed: () => this.#closed,
    });

    const backoff = this.#o.backoff;
    this.#command = createRedisClient(connection, {
      role: 'store',
      id: this.#o.replicaId,
      backoff,
      connectTimeoutMs: this.#o.connectTimeoutMs,
      commandTimeoutMs: this.#o.commandTimeoutMs,
    });
    this.#feed = createChangeFeed({
      connection,
      channel: this.#keys.changes,
      id: this.#o.replicaId,
      backoff,
      connectTimeoutMs: this.#o.connectTimeoutMs,
      pingEveryMs: this.#o.feedPingMs,
      preferredNode: () => this.#slotOwner(),
      knownNodes: () => this.#clusterNodes(),
      handlers: {
        up: (where) => this.#feedUp(where),
        down: (reason) => this.#feedLost(reason),
        message: () => this.#scheduler.request('change'),
        error: (err) => this.#health.connectionError('feed', err),
      },
    });

    this.#scheduler = new ReloadScheduler({
      debounceMs: this.#o.debounceMs,
      run: (reason) => this.#reload(reason),
      retryDelayMs: (attempt) => Math.min(backoffDelay(attempt, backoff), Math.max(resyncMs, backoff.baseMs)),
    });
  }

  get keys(): RedisKeys {
    return this.#keys;
  }

  get replicaId(): string {
    return this.#o.replicaId;
  }

  /** Loaded from Redis at least once (or holding a snapshot through suspected data loss). */
  get ready(): boolean {
    return this.#holder.loaded;
  }

  /** How many reloads have run (each may or may not have compiled). */
  get reloadCount(): number {
    return this.#scheduler.runs;
  }

  /** Start in the background; resolves once the last-good file (if any) is served. */
  async start(): Promise<void> {
    if (this.#started) throw new Error('RedisStore already started');
    this.#started = true;
    if (this.#snapshotFile !== null) await this.#serveSnapshotFile(this.#snapshotFile);
    this.#metrics.feedConnected(false);
    this.#wireCommand();
    this.#command.connect().catch(() => {
      // Reported through the 'error' handler; ioredis keeps retrying with our backoff.
    });
    // On a Cluster the feed subscribes on the prefix's slot owner, known once the slot table
    // has been read.
    if (this.#command instanceof Cluster) this.#command.once('ready', () => this.#feed.start());
    else this.#feed.start();
    this.#resyncTimer = setInterval(() => this.#scheduler.request('resync'), this.#o.resyncMs);
    this.#resyncTimer.unref();
    const staleEvery = Math.max(50, Math.min(1000, Math.floor(this.#o.staleAfterMs / 4)));
    this.#staleTimer = setInterval(() => this.#checkStale(), staleEvery);
    this.#staleTimer.unref();
  }

  /** Ask for a reload now (also what the change feed does). */
  requestReload(reason = 'manual'): void {
    this.#scheduler.request(reason);
  }

  /** Resolves true once loaded, false after `timeoutMs` without. */
  waitUntilLoaded(timeoutMs: number): Promise<boolean> {
    if (this.#holder.loaded) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        const i = this.#loadedWaiters.indexOf(done);
        if (i >= 0) this.#loadedWaiters.splice(i, 1);
        resolve(false);
      }, timeoutMs);
      timer.unref();
      const done = (): void => {
        clearTimeout(timer);
        resolve(true);
      };
      this.#loadedWaiters.push(done);
    });
  }

  /** Stop reloading, remove the status key (best effort) and close both connections. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#resyncTimer) clearInterval(this.#resyncTimer);
    if (this.#staleTimer) clearInterval(this.#staleTimer);
    this.#scheduler.stop();
    await withTimeout(this.#scheduler.whenIdle(), 2000);
    if (this.#fileWriter) await withTimeout(this.#fileWriter.flushed(), 2000);
    if (this.#command.status === 'ready') {
      await withTimeout(
        this.#command.del(this.#keys.status(this.#o.replicaId)).catch(() => 0),
        500,
      );
    }
    await Promise.all([quit(this.#command), this.#feed.close()]);
    for (const w of this.#loadedWaiters.splice(0)) w();
  }

  // --- connections ----------------------------------------------------------------------

  /** Where the store reads from, for logs (no credentials). */
  get target(): string {
    return describeRedisTarget(this.#connection);
  }

  #wireCommand(): void {
    const c = this.#command;
    c.on('ready', () => {
      this.#health.commandReady();
      this.#scheduler.request('connected');
    });
    c.on('error', (err: Error) => this.#health.connectionError('command', err));
    if (c instanceof Cluster) c.on('node error', (err: Error, node: string) => this.#health.nodeError(err, node));
    c.on('close', () => this.#health.commandClosed());
  }

  #feedUp(where: string): void {
    this.#health.feedUp(where);
    // Messages sent while we were away are lost: catch up (once the command connection is
    // back too: its own return asks for the same resync).
    if (this.#command.status === 'ready') this.#scheduler.request('feed-connected');
  }

  #feedLost(reason: string): void {
    this.#health.feedLost(reason);
  }

  /** Cluster: the master that owns the prefix's slot, from the client's slot table. */
  #slotOwner(): HostPort | null {
    if (!(this.#command instanceof Cluster)) return null;
    const owner = this.#command.slots[calculateSlot(this.#keys.version)]?.[0];
    return owner ? parseNodeKey(owner) : null;
  }

  #clusterNodes(): HostPort[] {
    if (!(this.#command instanceof Cluster)) return [];
    return this.#command
      .nodes('all')
      .map((n) => ({ host: n.options.host ?? '127.0.0.1', port: n.options.port ?? 6379 }));
  }

  // --- loading ----------------------------------------------------------------------------

  async #reload(reason: string): Promise<boolean> {
    if (this.#closed) return true;
    const started = performance.now();
    let loaded;
    try {
      loaded = await readFlagSet(this.#command, this.#keys, this.#o);
    } catch (err) {
      return this.#failed('load', `reading flags from Redis failed: ${(err as Error).message}`, started, reason);
    }
    if (this.#closed) return true;
    if (loaded.moved) this.#scheduler.request('version-moved');

    const served = this.#holder.current.version;
    const { version, documents } = loaded;
    if (
      version === null &&
      documents.length === 0 &&
      served !== null &&
      served > 0 &&
      this.#o.dataLossPolicy === 'hold'
    ) {
      return this.#holdForDataLoss(served, started);
    }
    if (this.#holder.dataLossSuspected) {
      this.#holder.setDataLossSuspected(false);
      this.#metrics.dataLossSuspected(false);
      this.#log.warn({ version }, 'Redis has flags again; data-loss alarm cleared');
    }

    const digest = documentsDigest(documents);
    if (this.#syncedOnce && version === this.#lastVersion && digest === this.#lastDigest) {
      this.#synced();
      this.#metrics.reload('unchanged', (performance.now() - started) / 1000);
      this.#writeStatus();
      return true;
    }

    let built;
    try {
      built = await buildSnapshot(documents, { version, source: REDIS_SOURCE }, this.#o.compile, { keyIsName: true });
    } catch (err) {
      // A bug in compile: keep serving what we have, retry on the next signal or resync.
      return this.#failed('compile', `compiling the snapshot failed: ${(err as Error).message}`, started, reason);
    }
    if (served !== null && version !== null && version < served) {
      this.#log.warn({ from: served, to: version }, 'flag version went backwards (Redis restored or re-imported)');
    }
    this.#holder.swap(built.snapshot);
    this.#lastVersion = version;
    this.#lastDigest = digest;
    this.#synced();
    this.#reporter.report(built.snapshot.rejected, built.validated.warnings);
    this.#metrics.compiled(built.compileSeconds);
    this.#metrics.version(version);
    const seconds = (performance.now() - started) / 1000;
    this.#metrics.reload('applied', seconds);
    this.#log.info(
      {
        version,
        flags: built.snapshot.flagCount,
        rejected: built.snapshot.rejected.length,
        reason,
        ms: Math.round(seconds * 1000),
      },
      'snapshot loaded from Redis',
    );
    this.#writeStatus();
    this.#fileWriter?.write({ version, documents: built.validated.accepted, savedAt: Date.now() });
    return true;
  }

  #holdForDataLoss(served: number, started: number): boolean {
    if (!this.#holder.dataLossSuspected) {
      this.#log.error(
        { servedVersion: served, versionKey: this.#keys.version },
        'DATA LOSS SUSPECTED: Redis has no version key and no flags, but this replica served a ' +
          'version > 0. Keeping the current snapshot until the flags are restored (scripts/ffr import).',
      );
    }
    this.#holder.setDataLossSuspected(true);
    this.#holder.recordError(`data loss suspected: Redis is empty after serving version ${served}`);
    this.#lastError = 'data loss suspected';
    this.#metrics.dataLossSuspected(true);
    this.#metrics.reload('held', (performance.now() - started) / 1000);
    // Ready (we serve a sensible snapshot), but no sync: age grows and staleness follows.
    this.#markLoaded();
    this.#writeStatus();
    return true;
  }

  #failed(kind: 'load' | 'compile', message: string, started: number, reason: string): boolean {
    this.#health.recordError(message);
    this.#metrics.error(kind);
    this.#metrics.reload('failed', (performance.now() - started) / 1000);
    // While Redis is down every retry fails the same way: warn once per distinct message.
    if (message !== this.#lastError) this.#log.warn({ reason }, message);
    else this.#log.debug({ reason }, message);
    this.#lastError = message;
    return false;
  }

  #synced(): void {
    const now = Date.now();
    this.#holder.recordSync(now);
    this.#syncedOnce = true;
    this.#lastError = null;
    this.#metrics.lastSync(now);
    this.#markLoaded();
  }

  #markLoaded(): void {
    if (!this.#holder.loaded) this.#holder.recordLoaded();
    for (const w of this.#loadedWaiters.splice(0)) w();
  }

  #checkStale(): void {
    const stale = this.#holder.stale;
    if (stale === this.#wasStale) return;
    this.#wasStale = stale;
    this.#metrics.stale(stale);
    const s = this.#holder.sync;
    if (stale) {
      this.#log.warn(
        { ageMs: s.ageMs, feedConnected: s.feedConnected, version: s.version },
        'serving a stale snapshot: no sync or change feed for longer than staleAfterMs',
      );
    } else {
      this.#log.info({ version: s.version }, 'snapshot is fresh again');
    }
  }

  // --- status key and last-good file -----------------------------------------------------------

  #writeStatus(): void {
    if (this.#command.status !== 'ready') return;
    const body = JSON.stringify(replicaStatus(this.#o.replicaId, this.#holder.sync, this.#holder.current, Date.now()));
    this.#command
      .set(this.#keys.status(this.#o.replicaId), body, 'EX', this.#o.statusTtlSeconds)
      .catch((err: Error) => {
        this.#metrics.error('status');
        this.#log.debug({ err: err.message }, 'writing the status key failed');
      });
  }

  async #serveSnapshotFile(path: string): Promise<void> {
    let persisted;
    try {
      persisted = await readSnapshotFile(path);
    } catch (err) {
      this.#metrics.error('snapshot_file');
      this.#log.warn({ path, err: (err as Error).message }, 'last-good snapshot file unusable; starting empty');
      return;
    }
    if (persisted === null) {
      this.#log.info({ path }, 'no last-good snapshot file yet; starting empty');
      return;
    }
    try {
      const built = await buildSnapshot(
        persisted.documents,
        { version: persisted.version, source: `last-good:${path}` },
        this.#o.compile,
        { keyIsName: true },
      );
      this.#holder.swap(built.snapshot);
      this.#reporter.report(built.snapshot.rejected, built.validated.warnings);
      this.#metrics.version(persisted.version);
      this.#log.warn(
        { path, version: persisted.version, flags: built.snapshot.flagCount, savedAt: persisted.savedAt },
        'serving the last-good snapshot file until Redis answers',
      );
    } catch (err) {
      this.#metrics.error('compile');
      this.#log.error({ path, err: (err as Error).message }, 'compiling the last-good snapshot failed');
    }
  }
}

async function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function parseNodeKey(key: string): HostPort {
  const i = key.lastIndexOf(':');
  return { host: key.slice(0, i), port: Number(key.slice(i + 1)) };
}

async function quit(client: Client): Promise<void> {
  if (client.status === 'end') return;
  if (client.status !== 'ready') {
    client.disconnect();
    return;
  }
  const ok = await withTimeout(
    client.quit().then(
      () => true,
      () => false,
    ),
    1000,
  );
  if (ok !== true) client.disconnect();
}
