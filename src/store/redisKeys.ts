// The Redis key layout (CONTRACT §2, docs/redis-layout.md), in one place. scripts/ffr spells
// the same names in bash; test/integration/ffr.test.ts keeps the two in step.

export interface RedisKeys {
  readonly prefix: string;
  /** `<prefix>flag:` — a flag's key is this plus its name. */
  readonly flagPrefix: string;
  /** SCAN MATCH pattern for every flag key (the prefix's glob characters escaped). */
  readonly flagPattern: string;
  readonly version: string;
  /** Pub/sub channel carrying the changed flag's name. */
  readonly changes: string;
  /** Capped stream of every change made through scripts/ffr. */
  readonly audit: string;
  readonly proposals: string;
  /** Stream of learner samples in fleet mode (PROFLAG_LEARN_MODE=publish). */
  readonly samples: string;
  readonly statusPrefix: string;
  readonly statusPattern: string;
  flag(name: string): string;
  proposal(id: string): string;
  status(replicaId: string): string;
}

/** Escape Redis glob characters (`* ? [ ] \`) so a prefix matches only itself. */
export function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
}

export function redisKeys(prefix: string): RedisKeys {
  const flagPrefix = `${prefix}flag:`;
  const statusPrefix = `${prefix}status:`;
  return Object.freeze({
    prefix,
    flagPrefix,
    flagPattern: `${escapeGlob(flagPrefix)}*`,
    version: `${prefix}version`,
    changes: `${prefix}changes`,
    audit: `${prefix}audit`,
    proposals: `${prefix}proposals`,
    samples: `${prefix}samples`,
    statusPrefix,
    statusPattern: `${escapeGlob(statusPrefix)}*`,
    flag: (name: string) => `${flagPrefix}${name}`,
    proposal: (id: string) => `${prefix}proposal:${id}`,
    status: (replicaId: string) => `${statusPrefix}${replicaId}`,
  });
}
