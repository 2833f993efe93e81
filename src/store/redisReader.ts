// Reads the whole flag set from Redis: the version, every `<prefix>flag:*` document (SCAN
// with COUNT, then MGET in batches; never KEYS), and the version again, so a change that
// landed mid-read is noticed. scripts/ffr reads its key sets (flags, status keys) the same way.
//
// On a Cluster the prefix carries a hash tag, so every key of ours lives in one slot: the
// reads go to the master that owns it, all on that one connection. If the slot moved meanwhile
// (a failover), that master answers MOVED: the read fails (and is retried) instead of
// returning a partial or empty set. Without a hash tag (only possible when RedisStore is
// built by hand), every master is scanned.
import calculateSlot from 'cluster-key-slot';
import { Cluster, type Redis } from 'ioredis';
import type { RedisClient } from './redisConnection.js';
import type { RedisKeys } from './redisKeys.js';
import type { FlagDocument } from './snapshotBuilder.js';

export interface ReadLimits {
  /** SCAN COUNT hint. */
  readonly scanCount: number;
  /** Keys per MGET. */
  readonly batchSize: number;
  /** More keys than this fails the read. */
  readonly maxFlags: number;
}

export const DEFAULT_READ_LIMITS: ReadLimits = Object.freeze({ scanCount: 1000, batchSize: 500, maxFlags: 100_000 });

export interface FlagSetRead {
  /** `<prefix>version` before the scan; null when the key is missing. */
  readonly version: number | null;
  /** Keyed by flag name (the part after `flag:`). */
  readonly documents: FlagDocument[];
  /** The version changed while the keys were read: read again. */
  readonly moved: boolean;
}

/** True when the prefix starts with a Redis Cluster hash tag, e.g. `{proflag}:`. */
export function hasHashTag(prefix: string): boolean {
  return /^\{[^}]+\}/.test(prefix);
}

/** The slot of our keys moved (a failover or resharding) while we read, or its owner is unknown. */
export class SlotMovedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SlotMovedError';
  }
}

/**
 * The connection(s) to read our keys from: the client itself on one node (or Sentinel); on a
 * Cluster the master that owns the prefix's slot (or every master without a hash tag).
 */
export function keyNodes(client: RedisClient, keys: RedisKeys): { nodes: Redis[]; direct: boolean } {
  if (!(client instanceof Cluster)) return { nodes: [client], direct: false };
  if (!hasHashTag(keys.prefix)) return { nodes: client.nodes('master'), direct: false };
  const owner = client.slots[calculateSlot(keys.version)]?.[0];
  const node = owner ? client.nodes('master').find((n) => `${n.options.host}:${n.options.port}` === owner) : undefined;
  if (!node) throw new SlotMovedError(`no known master serves the slot of ${keys.prefix} (cluster failing over?)`);
  return { nodes: [node], direct: true };
}

/**
 * A MOVED (or ASK, CLUSTERDOWN, TRYAGAIN) reply to a direct node read, or that node gone: the
 * slot table may be stale.
 */
async function onNode<T>(client: RedisClient, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    const message = (err as Error).message;
    if (
      client instanceof Cluster &&
      /^(MOVED|ASK|CLUSTERDOWN|TRYAGAIN)|Connection is closed|ECONNREFUSED/.test(message)
    ) {
      throw new SlotMovedError(`the cluster moved the slot during the read (${(err as Error).message})`);
    }
    throw err;
  }
}

/**
 * Run a read of our keys; when the slot moved, refresh the Cluster's slot table and run it once
 * more (a failover is over by the time the replica's promotion is in the table).
 */
export async function withSlotRetry<T>(client: RedisClient, read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (err) {
    if (!(err instanceof SlotMovedError) || !(client instanceof Cluster)) throw err;
    await new Promise<void>((resolve) => client.refreshSlotsCache(() => resolve()));
    return read();
  }
}

export function readFlagSet(client: RedisClient, keys: RedisKeys, limits: ReadLimits): Promise<FlagSetRead> {
  return withSlotRetry(client, () => readOnce(client, keys, limits));
}

async function readOnce(client: RedisClient, keys: RedisKeys, limits: ReadLimits): Promise<FlagSetRead> {
  const { nodes, direct } = keyNodes(client, keys);
  const versionOn = direct ? nodes[0]! : client;
  const mixedSlots = client instanceof Cluster && !direct;
  const before = await onNode(client, () => readVersion(versionOn, keys));
  const documents: FlagDocument[] = [];
  for (const node of nodes) {
    const found = await onNode(client, () =>
      scanValues(node, keys.flagPattern, keys.flagPrefix, limits, mixedSlots, 'flag keys'),
    );
    documents.push(...found);
    if (documents.length > limits.maxFlags) throw new Error(`more than ${limits.maxFlags} flag keys (maxFlags)`);
  }
  const after = await onNode(client, () => readVersion(versionOn, keys));
  return { version: before, documents, moved: after !== before };
}

export async function readVersion(client: RedisClient, keys: RedisKeys): Promise<number | null> {
  const raw = await client.get(keys.version);
  if (raw === null) return null;
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isSafeInteger(n)) {
    throw new Error(`${keys.version} holds ${JSON.stringify(raw.slice(0, 40))}, not an integer`);
  }
  return n;
}

/**
 * Every key matching `pattern` on `node` with its value, keyed by the part after `stripPrefix`
 * (SCAN, then MGET in batches, or pipelined GETs when the keys may span slots).
 */
export async function scanValues(
  node: Redis,
  pattern: string,
  stripPrefix: string,
  limits: ReadLimits,
  mixedSlots = false,
  what = `keys under ${stripPrefix}`,
): Promise<FlagDocument[]> {
  const documents: FlagDocument[] = [];
  const seen = new Set<string>();
  let cursor = '0';
  do {
    const [next, found] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', limits.scanCount);
    cursor = next;
    // SCAN may return a key twice.
    const fresh = found.filter((k) => !seen.has(k));
    for (const k of fresh) seen.add(k);
    if (seen.size > limits.maxFlags) throw new Error(`more than ${limits.maxFlags} ${what}`);
    for (let i = 0; i < fresh.length; i += limits.batchSize) {
      const batch = fresh.slice(i, i + limits.batchSize);
      const values = mixedSlots ? await getPipelined(node, batch) : await node.mget(...batch);
      for (let j = 0; j < batch.length; j++) {
        const text = values[j];
        // null: deleted between SCAN and GET; the change signal that follows covers it.
        if (typeof text === 'string') documents.push({ key: batch[j]!.slice(stripPrefix.length), text });
      }
    }
  } while (cursor !== '0');
  return documents;
}

/** GETs pipelined to one node (MGET would fail across slots without a hash tag). */
async function getPipelined(node: Redis, keys: string[]): Promise<Array<string | null>> {
  const replies = (await node.pipeline(keys.map((k) => ['get', k])).exec()) ?? [];
  return replies.map(([err, value]) => {
    if (err) throw err;
    return typeof value === 'string' ? value : null;
  });
}
