// The read side of the flag repository, for scripts/ffr and the console: one flag (with the
// SHA-1 a compare-and-set needs), every flag, an export document, the audit trail, the
// proposals and what each sidecar reports. Multi-key reads go where the keys are: on a
// Cluster, the master that owns the prefix's slot (src/store/redisReader.ts), never a
// random node, so a list is never silently partial.
import { createHash } from 'node:crypto';
import type { RedisClient } from '../store/redisConnection.js';
import type { RedisKeys } from '../store/redisKeys.js';
import { DEFAULT_READ_LIMITS, keyNodes, readVersion, scanValues, withSlotRetry } from '../store/redisReader.js';
import type { FlagDocument } from './validation.js';

export interface StoredText {
  readonly text: string;
  /** SHA-1 (hex) of the stored bytes, as Redis' `redis.sha1hex` computes it. */
  readonly sha1: string;
}

export interface StoredFlag {
  readonly name: string;
  readonly text: string;
  /** The parsed document; null when the text is not a JSON object. */
  readonly document: FlagDocument | null;
}

export interface StoredProposal {
  readonly id: string;
  /** Epoch ms (the proposals sorted set's score). */
  readonly createdAt: number;
  /** Null when the id is indexed but its document is gone or not a JSON object. */
  readonly document: FlagDocument | null;
}

export interface AuditEntry {
  /** The stream entry id. */
  readonly id: string;
  readonly who: string;
  readonly action: string;
  /** The flag's name; `*` for an import, empty for a rejected proposal. */
  readonly name: string;
  readonly before: number;
  readonly after: number;
  /** Epoch ms. */
  readonly time: number;
  readonly reason: string | null;
  readonly detail: string | null;
}

export interface ExportDocument {
  readonly format: 'proflag-export/1';
  readonly version: number | null;
  readonly exportedAt: string;
  readonly flags: FlagDocument[];
  /** Stored texts that are not JSON objects (kept, so that nothing is lost silently). */
  readonly invalid?: { name: string; text: string }[];
}

export const EXPORT_FORMAT = 'proflag-export/1';

/** ISO 8601 to the second, like jq's `todate`. */
export function isoSeconds(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace(/\.000Z$/, 'Z');
}

function parseObject(text: string): FlagDocument | null {
  try {
    const value: unknown = JSON.parse(text);
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as FlagDocument) : null;
  } catch {
    return null;
  }
}

export class FlagReads {
  constructor(
    readonly client: RedisClient,
    readonly keys: RedisKeys,
  ) {}

  version(): Promise<number | null> {
    return readVersion(this.client, this.keys);
  }

  /** A flag's stored text and its SHA-1, or null. */
  flagText(name: string): Promise<StoredText | null> {
    return this.#textOf(this.keys.flag(name));
  }

  /** A proposal's stored text and its SHA-1, or null. */
  proposalText(id: string): Promise<StoredText | null> {
    return this.#textOf(this.keys.proposal(id));
  }

  async #textOf(key: string): Promise<StoredText | null> {
    const bytes = await this.client.getBuffer(key);
    if (bytes === null) return null;
    return { text: bytes.toString('utf8'), sha1: createHash('sha1').update(bytes).digest('hex') };
  }

  /** Every flag, sorted by name (SCAN on the node that holds the prefix's keys). */
  async flags(): Promise<StoredFlag[]> {
    const found = await this.#scan(this.keys.flagPattern, this.keys.flagPrefix);
    return found
      .map(({ key, text }) => ({ name: key, text, document: parseObject(text) }))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** What each sidecar wrote to `<prefix>status:<replica>` (unparseable ones left out). */
  async replicas(): Promise<Record<string, unknown>[]> {
    const found = await this.#scan(this.keys.statusPattern, this.keys.statusPrefix);
    return found
      .sort((a, b) => (a.key < b.key ? -1 : 1))
      .map(({ text }) => parseObject(text))
      .filter((s): s is Record<string, unknown> => s !== null);
  }

  #scan(pattern: string, prefix: string) {
    return withSlotRetry(this.client, async () => {
      const { nodes } = keyNodes(this.client, this.keys);
      const out = [];
      for (const node of nodes) {
        out.push(...(await scanValues(node, pattern, prefix, DEFAULT_READ_LIMITS, nodes.length > 1)));
      }
      return out;
    });
  }

  /** Every flag as one document that `import` restores. */
  async export(now: number = Date.now()): Promise<ExportDocument> {
    const version = await this.version();
    const flags = await this.flags();
    const invalid = flags.filter((f) => f.document === null).map((f) => ({ name: f.name, text: f.text }));
    return {
      format: EXPORT_FORMAT,
      version,
      exportedAt: isoSeconds(now),
      flags: flags.filter((f) => f.document !== null).map((f) => f.document!),
      ...(invalid.length > 0 ? { invalid } : {}),
    };
  }

  /** The newest `count` audit entries, newest first. */
  async audit(count: number): Promise<AuditEntry[]> {
    const entries = await this.client.xrevrange(this.keys.audit, '+', '-', 'COUNT', Math.max(1, count));
    return entries.map(([id, fields]) => {
      const f: Record<string, string> = {};
      for (let i = 0; i + 1 < fields.length; i += 2) f[fields[i]!] = fields[i + 1]!;
      return {
        id,
        who: f['who'] ?? '',
        action: f['action'] ?? '',
        name: f['name'] ?? '',
        before: Number(f['before'] ?? NaN),
        after: Number(f['after'] ?? NaN),
        time: Number(f['time'] ?? NaN),
        reason: f['reason'] || null,
        detail: f['detail'] || null,
      };
    });
  }

  /** Every proposal, oldest first. */
  async proposals(): Promise<StoredProposal[]> {
    const flat = await this.client.zrange(this.keys.proposals, 0, -1, 'WITHSCORES');
    const ids: string[] = [];
    const scores: number[] = [];
    for (let i = 0; i + 1 < flat.length; i += 2) {
      ids.push(flat[i]!);
      scores.push(Number(flat[i + 1]));
    }
    if (ids.length === 0) return [];
    // One slot (a hash-tagged prefix on Cluster), so one MGET per batch.
    const texts: (string | null)[] = [];
    for (let i = 0; i < ids.length; i += 500) {
      texts.push(...(await this.client.mget(...ids.slice(i, i + 500).map((id) => this.keys.proposal(id)))));
    }
    return ids.map((id, i) => ({
      id,
      createdAt: scores[i]!,
      document: texts[i] === null ? null : parseObject(texts[i]!),
    }));
  }
}
