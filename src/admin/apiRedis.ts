// The console's reads from Redis (CONTRACT §2, docs/redis-layout.md): proposals with their
// documents, the replicas' status keys (what `scripts/ffr status` reads), the audit trail,
// and a cheap digest of the proposals to notice changes. Each is one round trip or a SCAN.
import type { Cluster, Redis } from 'ioredis';
import type { RedisKeys } from '../store/redisKeys.js';

type Client = Redis | Cluster;

export interface StoredProposal {
  readonly id: string;
  /** Creation time (the zset score), epoch ms. */
  readonly createdAt: number;
  /** The stored JSON text, or null when the key is gone. */
  readonly text: string | null;
}

export interface AuditEntry {
  readonly id: string;
  readonly who: string;
  readonly action: string;
  readonly name: string;
  readonly before: string;
  readonly after: string;
  readonly time: number;
  readonly detail: string;
  /** Optional (the shared change path adds it; guardrails use `guardrail`). */
  readonly reason: string;
}

// KEYS[1] zset; ARGV[1] proposal key prefix → JSON [[id, score, doc|false], ...]
const LUA_PROPOSALS = `
local ids = redis.call("ZRANGE", KEYS[1], 0, -1, "WITHSCORES")
local out = {}
for i = 1, #ids, 2 do
  out[#out + 1] = {ids[i], ids[i + 1], redis.call("GET", ARGV[1] .. ids[i]) or false}
end
if #out == 0 then return "[]" end
return cjson.encode(out)
`;

// KEYS[1] zset; ARGV[1] proposal key prefix → sha1 over ids, scores and document digests
const LUA_PROPOSALS_DIGEST = `
local ids = redis.call("ZRANGE", KEYS[1], 0, -1, "WITHSCORES")
local parts = {}
for i = 1, #ids, 2 do
  local doc = redis.call("GET", ARGV[1] .. ids[i])
  parts[#parts + 1] = ids[i] .. "=" .. ids[i + 1] .. ":" .. (doc and redis.sha1hex(doc) or "-")
end
return redis.sha1hex(table.concat(parts, ","))
`;

export async function readProposals(redis: Client, keys: RedisKeys): Promise<StoredProposal[]> {
  const json = (await redis.eval(LUA_PROPOSALS, 1, keys.proposals, keys.proposal(''))) as string;
  const rows = JSON.parse(json) as Array<[string, string, string | false]>;
  return rows.map(([id, score, doc]) => ({ id, createdAt: Number(score), text: doc === false ? null : doc }));
}

export async function proposalsDigest(redis: Client, keys: RedisKeys): Promise<string> {
  return (await redis.eval(LUA_PROPOSALS_DIGEST, 1, keys.proposals, keys.proposal(''))) as string;
}

export async function readVersion(redis: Client, keys: RedisKeys): Promise<number | null> {
  const v = await redis.get(keys.version);
  return v === null ? null : Number(v);
}

/** Every `<prefix>status:<replica>` document that parses (SCAN, never KEYS). */
export async function readReplicaStatuses(redis: Client, keys: RedisKeys, limit = 1_000): Promise<unknown[]> {
  const found: string[] = [];
  const nodes = 'nodes' in redis ? (redis as Cluster).nodes('master') : [redis as Redis];
  for (const node of nodes) {
    let cursor = '0';
    do {
      const [next, batch] = await node.scan(cursor, 'MATCH', keys.statusPattern, 'COUNT', 1000);
      cursor = next;
      found.push(...batch);
    } while (cursor !== '0' && found.length < limit);
  }
  const out: unknown[] = [];
  for (let i = 0; i < found.length; i += 200) {
    const batch = found.slice(i, i + 200);
    // One key per MGET on a cluster would be needed across slots; a hash-tagged prefix keeps
    // every status key in one slot, as the change scripts require anyway.
    const values = await redis.mget(...batch);
    for (const v of values) {
      if (v === null) continue;
      try {
        out.push(JSON.parse(v));
      } catch {
        // a half-written or foreign key: skip it
      }
    }
  }
  return out;
}

/** The newest audit entries first. */
export async function readAudit(redis: Client, keys: RedisKeys, count: number): Promise<AuditEntry[]> {
  const rows = (await redis.xrevrange(keys.audit, '+', '-', 'COUNT', count)) as Array<[string, string[]]>;
  return rows.map(([id, fields]) => {
    const f: Record<string, string> = {};
    for (let i = 0; i + 1 < fields.length; i += 2) f[fields[i]!] = fields[i + 1]!;
    return {
      id,
      who: f.who ?? '',
      action: f.action ?? '',
      name: f.name ?? '',
      before: f.before ?? '',
      after: f.after ?? '',
      time: Number(f.time ?? id.split('-')[0]),
      detail: f.detail ?? '',
      reason: f.reason ?? '',
    };
  });
}
