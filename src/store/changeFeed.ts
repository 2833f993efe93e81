// The change feed: one subscriber connection on `<prefix>changes`, whose loss and return the
// store must see on every topology.
//
// - One node or Sentinel: one ioredis connection that reconnects with backoff (through the
//   sentinels, so a failover lands on the new master). `up` after each SUBSCRIBE succeeds,
//   `down` on the first close after that.
// - Cluster: a plain connection to one node, preferably the master that owns the prefix's slot
//   (where every change is written and published, so its messages do not depend on the
//   cluster bus). It never reconnects to the same address by itself: when that node goes away
//   the feed reports `down` and subscribes on another node (the slot's new owner once the
//   cluster has failed over, any live node meanwhile). An ioredis Cluster's own subscriber
//   would switch nodes silently, which is how a lost feed used to go unnoticed.
// - Both: a PING every `pingEveryMs` on the subscribed connection; no answer within the
//   connect timeout drops the connection, so a hung node or a half-open socket is noticed too.
import type { Redis } from 'ioredis';
import { backoffDelay, type BackoffOptions } from './backoff.js';
import {
  createNodeClient,
  createRedisClient,
  redisTopology,
  type HostPort,
  type RedisConnectionConfig,
} from './redisConnection.js';

export interface ChangeFeedHandlers {
  /** Subscribed (first time or again), on `where` (host:port, or the sentinel master). */
  up(where: string): void;
  /** The subscribed connection was lost. */
  down(reason: string): void;
  message(): void;
  /** A connection attempt or the connection failed (may repeat while down). */
  error(err: Error): void;
}

export interface ChangeFeedOptions {
  readonly connection: RedisConnectionConfig;
  readonly channel: string;
  /** Names the connection (`proflag:feed:<id>`). */
  readonly id: string;
  readonly backoff: BackoffOptions;
  readonly connectTimeoutMs: number;
  /** Liveness PING period, ms; 0 turns it off. */
  readonly pingEveryMs: number;
  /** Cluster only: where to subscribe next (the slot owner), null when unknown. */
  readonly preferredNode?: () => HostPort | null;
  /** Cluster only: every node known now (besides the seeds). */
  readonly knownNodes?: () => readonly HostPort[];
  readonly handlers: ChangeFeedHandlers;
}

export interface ChangeFeed {
  start(): void;
  close(): Promise<void>;
  readonly connected: boolean;
  /** Where the feed is subscribed now, or null. */
  readonly where: string | null;
}

export function createChangeFeed(o: ChangeFeedOptions): ChangeFeed {
  return redisTopology(o.connection) === 'cluster' ? new ClusterNodeFeed(o) : new ReconnectingFeed(o);
}

/** Runs `onStale` when a PING on `client` gets no answer in time. */
class Liveness {
  #timer: NodeJS.Timeout | null = null;
  constructor(
    private readonly everyMs: number,
    private readonly timeoutMs: number,
  ) {}

  start(client: Redis, onStale: () => void): void {
    this.stop();
    if (this.everyMs <= 0) return;
    this.#timer = setInterval(() => {
      if (client.status !== 'ready') return;
      let answered = false;
      const timeout = setTimeout(() => {
        if (!answered) onStale();
      }, this.timeoutMs);
      timeout.unref();
      client.ping().then(
        () => {
          answered = true;
          clearTimeout(timeout);
        },
        () => {
          answered = true;
          clearTimeout(timeout);
          onStale();
        },
      );
    }, this.everyMs);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
  }
}

async function quietly(client: Redis): Promise<void> {
  if (client.status === 'end') return;
  if (client.status !== 'ready') {
    client.disconnect();
    return;
  }
  const timer = new Promise<void>((resolve) => setTimeout(resolve, 1000).unref());
  await Promise.race([client.quit().catch(() => undefined), timer]);
  client.disconnect();
}

/** One node or Sentinel: ioredis reconnects (through the sentinels); we resubscribe. */
class ReconnectingFeed implements ChangeFeed {
  readonly #o: ChangeFeedOptions;
  readonly #client: Redis;
  readonly #liveness: Liveness;
  #up = false;
  #closed = false;

  constructor(o: ChangeFeedOptions) {
    this.#o = o;
    this.#client = createRedisClient(o.connection, {
      role: 'feed',
      id: o.id,
      backoff: o.backoff,
      connectTimeoutMs: o.connectTimeoutMs,
      // We subscribe ourselves on every ready, to know when the feed is really back.
      autoResubscribe: false,
    }) as Redis;
    this.#liveness = new Liveness(o.pingEveryMs, o.connectTimeoutMs);
  }

  get connected(): boolean {
    return this.#up;
  }

  get where(): string | null {
    return this.#up ? describeStream(this.#client) : null;
  }

  start(): void {
    const c = this.#client;
    const h = this.#o.handlers;
    c.on('ready', () => {
      c.subscribe(this.#o.channel).then(
        () => {
          if (this.#closed) return;
          this.#up = true;
          this.#liveness.start(c, () => {
            // Report now: closing a socket to a hung peer takes ioredis' disconnectTimeout.
            this.#lost('no answer to PING');
            c.disconnect(true);
          });
          h.up(describeStream(c));
        },
        (err: Error) => {
          if (this.#closed) return;
          h.error(new Error(`subscribing to ${this.#o.channel} failed: ${err.message}`));
          c.disconnect(true);
        },
      );
    });
    c.on('message', (channel: string) => {
      if (channel === this.#o.channel) h.message();
    });
    c.on('error', (err: Error) => {
      if (!this.#closed) h.error(err);
    });
    c.on('close', () => this.#lost('connection closed'));
    c.connect().catch(() => {
      // Reported through 'error'; ioredis keeps retrying with our backoff.
    });
  }

  #lost(reason: string): void {
    this.#liveness.stop();
    if (!this.#up || this.#closed) return;
    this.#up = false;
    this.#o.handlers.down(reason);
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#liveness.stop();
    this.#up = false;
    await quietly(this.#client);
  }
}

/** Cluster: a subscription on one node at a time, moved to another node when it is lost. */
class ClusterNodeFeed implements ChangeFeed {
  readonly #o: ChangeFeedOptions;
  readonly #liveness: Liveness;
  #client: Redis | null = null;
  #node: HostPort | null = null;
  #up = false;
  #closed = false;
  #failures = 0;
  #lastFailed: string | null = null;
  #rotation = 0;
  #retryTimer: NodeJS.Timeout | null = null;

  constructor(o: ChangeFeedOptions) {
    this.#o = o;
    this.#liveness = new Liveness(o.pingEveryMs, o.connectTimeoutMs);
  }

  get connected(): boolean {
    return this.#up;
  }

  get where(): string | null {
    return this.#up && this.#node ? `${this.#node.host}:${this.#node.port}` : null;
  }

  start(): void {
    this.#attempt();
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#liveness.stop();
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
    this.#up = false;
    if (this.#client) await quietly(this.#client);
  }

  /** The slot owner unless it just failed; else the next known node in turn. */
  #pick(): HostPort {
    const key = (n: HostPort) => `${n.host}:${n.port}`;
    const preferred = this.#o.preferredNode?.() ?? null;
    if (preferred && key(preferred) !== this.#lastFailed) return preferred;
    const seen = new Set<string>();
    const candidates: HostPort[] = [];
    for (const n of [...(this.#o.knownNodes?.() ?? []), ...this.#o.connection.redisClusterNodes]) {
      if (seen.has(key(n)) || key(n) === this.#lastFailed) continue;
      seen.add(key(n));
      candidates.push(n);
    }
    if (candidates.length === 0) return preferred ?? this.#o.connection.redisClusterNodes[0]!;
    return candidates[this.#rotation++ % candidates.length]!;
  }

  #attempt(): void {
    this.#retryTimer = null;
    if (this.#closed) return;
    const node = this.#pick();
    const where = `${node.host}:${node.port}`;
    const h = this.#o.handlers;
    const client = createNodeClient(this.#o.connection, node, {
      role: 'feed',
      id: this.#o.id,
      backoff: null,
      connectTimeoutMs: this.#o.connectTimeoutMs,
      autoResubscribe: false,
    });
    this.#client = client;
    this.#node = node;
    let subscribed = false;
    let ended = false;
    const end = (reason: string) => {
      if (ended) return;
      ended = true;
      this.#liveness.stop();
      client.removeAllListeners('end');
      client.disconnect();
      if (this.#closed) return;
      this.#lastFailed = where;
      if (this.#up) {
        this.#up = false;
        h.down(`${reason} (${where})`);
      }
      this.#failures = subscribed ? 0 : this.#failures + 1;
      // The first retry after a loss goes at once (to another node); then back off.
      const delay = this.#failures === 0 ? 0 : backoffDelay(this.#failures, this.#o.backoff);
      this.#retryTimer = setTimeout(() => this.#attempt(), delay);
      this.#retryTimer.unref();
    };
    client.on('error', (err: Error) => {
      if (!this.#closed) h.error(new Error(`${err.message} (${where})`));
    });
    client.on('message', (channel: string) => {
      if (channel === this.#o.channel) h.message();
    });
    client.on('end', () => end('connection closed'));
    client.on('ready', () => {
      client.subscribe(this.#o.channel).then(
        () => {
          if (this.#closed || ended) return;
          subscribed = true;
          this.#failures = 0;
          this.#lastFailed = null;
          this.#up = true;
          this.#liveness.start(client, () => end('no answer to PING'));
          h.up(where);
        },
        (err: Error) => {
          if (!this.#closed) h.error(new Error(`subscribing on ${where} failed: ${err.message}`));
          end('subscribe failed');
        },
      );
    });
    client.connect().catch(() => end('connect failed'));
  }
}

function describeStream(client: Redis): string {
  const stream = client.stream as { remoteAddress?: string; remotePort?: number } | undefined;
  return stream?.remoteAddress ? `${stream.remoteAddress}:${stream.remotePort}` : 'redis';
}
