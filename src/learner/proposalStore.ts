// Where proposals go (CONTRACT §2): `<prefix>proposal:<id>` (the flag-shaped JSON, `enabled:
// false`) and `<prefix>proposals` (sorted set of ids by creation time, ms). Written off the hot
// path, one at a time, coalesced per id (only the newest version of a pending proposal is
// written), each write one Lua script so that the document, the index and the cap change
// together:
//   - a new proposal (first emission by this learner): SET + ZADD NX (an id already there from
//     an earlier run or another learner keeps its creation time: the same pattern twice is one
//     proposal, updated);
//   - an update: only while the proposal still exists. When it is gone, someone approved or
//     rejected it (scripts/ffr) or the cap evicted it: the learner is told to stop updating it;
//   - the cap: beyond `maxProposals`, the oldest proposals are deleted.
// Without Redis (the file store), proposals are logged instead.
import type { Cluster, Redis } from 'ioredis';
import type { RedisKeys } from '../store/redisKeys.js';
import type { Logger } from '../telemetry/logger.js';
import type { ProposalEmission } from './learner.js';

export type ProposalOutcome = 'created' | 'updated' | 'retired' | 'evicted' | 'failed' | 'logged';

export interface ProposalWriter {
  /** Queue a proposal for writing; returns at once. */
  write(emission: ProposalEmission, nowMs: number): void;
  /** Resolves when everything queued so far was written (or failed). */
  flush(): Promise<void>;
  readonly pending: number;
}

export interface RedisProposalWriterOptions {
  readonly redis: Redis | Cluster;
  readonly keys: RedisKeys;
  /** Proposals kept (oldest deleted beyond). Default 100. */
  readonly maxProposals?: number;
  readonly logger: Logger;
  readonly onOutcome?: (outcome: ProposalOutcome, id: string, count?: number) => void;
  /** The proposal is gone (approved, rejected or evicted): stop updating it. */
  readonly onRetired?: (id: string) => void;
}

// KEYS[1] proposal key, KEYS[2] proposals zset; ARGV[1] document, ARGV[2] id, ARGV[3] now ms,
// ARGV[4] cap, ARGV[5] proposal key prefix, ARGV[6] "create" or "update".
// Returns -1 when an update finds the proposal gone, else the number of proposals evicted.
// (The evicted keys are built from the prefix: with a Redis Cluster hash-tag prefix such as
// `{proflag}:` they live in the same slot.)
const WRITE_PROPOSAL = `
if ARGV[6] == "update" and redis.call("EXISTS", KEYS[1]) == 0 then return -1 end
redis.call("SET", KEYS[1], ARGV[1])
redis.call("ZADD", KEYS[2], "NX", ARGV[3], ARGV[2])
local cap = tonumber(ARGV[4])
local n = redis.call("ZCARD", KEYS[2])
local evicted = 0
if n > cap then
  for _, old in ipairs(redis.call("ZRANGE", KEYS[2], 0, n - cap - 1)) do
    redis.call("DEL", ARGV[5] .. old)
    redis.call("ZREM", KEYS[2], old)
    evicted = evicted + 1
  end
end
return evicted
`;

export function createRedisProposalWriter(o: RedisProposalWriterOptions): ProposalWriter {
  const pending = new Map<string, { emission: ProposalEmission; nowMs: number }>();
  const max = o.maxProposals ?? 100;
  const log = o.logger.child({ component: 'learner' });
  const proposalPrefix = o.keys.proposal('');
  let running: Promise<void> | null = null;

  const writeOne = async (emission: ProposalEmission, nowMs: number): Promise<void> => {
    const { id } = emission;
    try {
      const result = (await o.redis.eval(
        WRITE_PROPOSAL,
        2,
        o.keys.proposal(id),
        o.keys.proposals,
        JSON.stringify(emission.document),
        id,
        String(Math.floor(nowMs)),
        String(max),
        proposalPrefix,
        emission.created ? 'create' : 'update',
      )) as number;
      if (result === -1) {
        o.onOutcome?.('retired', id);
        o.onRetired?.(id);
        log.info({ proposal: id }, 'proposal approved, rejected or evicted meanwhile; no longer updated');
        return;
      }
      o.onOutcome?.(emission.created ? 'created' : 'updated', id);
      if (result > 0) o.onOutcome?.('evicted', id, result);
      if (emission.created) {
        log.info(
          { proposal: id, name: emission.document.name, explain: emission.document.description },
          'proposal written',
        );
      }
    } catch (err) {
      o.onOutcome?.('failed', id);
      log.warn(
        { code: 'PROFLAG_ERR_LEARNER', what: 'write proposal', proposal: id, err: (err as Error).message },
        'writing a proposal failed',
      );
    }
  };

  const pump = async (): Promise<void> => {
    while (pending.size > 0) {
      const [id, item] = pending.entries().next().value as [string, { emission: ProposalEmission; nowMs: number }];
      pending.delete(id);
      await writeOne(item.emission, item.nowMs);
    }
  };

  const start = (): void => {
    running ??= pump().finally(() => {
      running = null;
      if (pending.size > 0) start();
    });
  };

  return {
    write(emission, nowMs) {
      const previous = pending.get(emission.id);
      // A pending creation stays a creation when a newer version replaces it.
      const merged = previous?.emission.created && !emission.created ? { ...emission, created: true } : emission;
      pending.set(emission.id, { emission: merged, nowMs });
      start();
    },
    async flush() {
      while (running) await running;
    },
    get pending() {
      return pending.size;
    },
  };
}

/** Without Redis: proposals go to the log (info) with their explanation. */
export function createLogProposalWriter(
  logger: Logger,
  onOutcome?: (outcome: ProposalOutcome, id: string) => void,
): ProposalWriter {
  const log = logger.child({ component: 'learner' });
  return {
    write(emission) {
      onOutcome?.('logged', emission.id);
      log.info(
        { proposal: emission.id, created: emission.created, document: emission.document },
        `proposal (no Redis to write it to): ${emission.document.description ?? ''}`,
      );
    },
    async flush() {},
    get pending() {
      return 0;
    },
  };
}
