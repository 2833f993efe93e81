// Reads the whole flag set from Redis: the version, every `<prefix>flag:*` document (SCAN
// with COUNT, then MGET in batches; never KEYS), and the version again, so a change that
// landed mid-read is noticed. On a Cluster every master is scanned and each node's keys are
// read from that node, which works whether or not the prefix carries a hash tag.
import { Cluster, type Redis } from 'ioredis';
import type { RedisKeys } from './redisKeys.js';
import type { FlagDocument } from './snapshotBuilder.js';

export interface ReadLimits {
  /** SCAN COUNT hint. */
  readonly scanCount: number;
  /** Keys per MGET. */
  readonly batchSize: number;
  /** More flag keys than this fails the read. */
  readonly maxFlags: number;
}

export interface FlagSetRead {
  /** `<prefix>version` before the scan; null when the key is missing. */
  readonly version: number | null;
  /** Keyed by flag name (the part after `flag:`). */
  readonly documents: FlagDocument[];
  /** The version changed while the keys were read: read again. */
  readonly moved: boolean;
}

export async function readFlagSet(client: Redis | Cluster, keys: RedisKeys, limits: ReadLimits): Promise<FlagSetRead> {
  const before = await readVersion(client, keys);
  const documents = await readDocuments(client, keys, limits);
  const after = await readVersion(client, keys);
  return { version: before, documents, moved: after !== before };
}

export async function readVersion(client: Redis | Cluster, keys: RedisKeys): Promise<number | null> {
  const raw = await client.get(keys.version);
  if (raw === null) return null;
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isSafeInteger(n)) {
    throw new Error(`${keys.version} holds ${JSON.stringify(raw.slice(0, 40))}, not an integer`);
  }
  return n;
}

async function readDocuments(client: Redis | Cluster, keys: RedisKeys, limits: ReadLimits): Promise<FlagDocument[]> {
  const cluster = client instanceof Cluster;
  const nodes = cluster ? client.nodes('master') : [client];
  const documents: FlagDocument[] = [];
  const seen = new Set<string>();
  for (const node of nodes) {
    let cursor = '0';
    do {
      const [next, found] = await node.scan(cursor, 'MATCH', keys.flagPattern, 'COUNT', limits.scanCount);
      cursor = next;
      // SCAN may return a key twice.
      const fresh = found.filter((k) => !seen.has(k));
      for (const k of fresh) seen.add(k);
      if (seen.size > limits.maxFlags) {
        throw new Error(`more than ${limits.maxFlags} flag keys (maxFlags)`);
      }
      for (let i = 0; i < fresh.length; i += limits.batchSize) {
        const batch = fresh.slice(i, i + limits.batchSize);
        const values = cluster ? await getPipelined(node, batch) : await node.mget(...batch);
        for (let j = 0; j < batch.length; j++) {
          const text = values[j];
          // null: deleted between SCAN and GET; the change signal that follows covers it.
          if (typeof text === 'string') documents.push({ key: batch[j]!.slice(keys.flagPrefix.length), text });
        }
      }
    } while (cursor !== '0');
  }
  return documents;
}

/** GETs pipelined to one cluster node (MGET would fail across slots without a hash tag). */
async function getPipelined(node: Redis, keys: string[]): Promise<Array<string | null>> {
  const replies = (await node.pipeline(keys.map((k) => ['get', k])).exec()) ?? [];
  return replies.map(([err, value]) => {
    if (err) throw err;
    return typeof value === 'string' ? value : null;
  });
}
