// A compare-and-set change path for tests, standing in for "redis"'s src/changes/ (TEAM.md
// interface 3) until it merges: read the flag, let `mutate` compute the new document, and
// write it with one Lua script only if the stored document is still the one that was read
// (compared by SHA-1), bumping the version, publishing the name and appending an audit entry
// with `reason` and `detail`. A lost race re-reads and asks `mutate` again, so a mutation that
// has become a no-op (null) makes no change.
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { FlagChangePath, FlagDocument } from '../../../src/experiments/guardrailRunner.js';
import { redisKeys } from '../../../src/store/redisKeys.js';

const CAS_SCRIPT = `
local current = redis.call('GET', KEYS[1])
if not current then return -1 end
if redis.sha1hex(current) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
local version = redis.call('INCR', KEYS[2])
redis.call('PUBLISH', ARGV[3], ARGV[4])
redis.call('XADD', KEYS[3], 'MAXLEN', '~', '10000', '*', 'who', ARGV[5], 'action', 'update', 'name', ARGV[4],
  'before', current, 'after', ARGV[2], 'time', ARGV[8], 'reason', ARGV[6], 'detail', ARGV[7])
return version
`;

export function casChangePath(redis: Redis, prefix: string, options: { beforeWrite?: () => Promise<void> } = {}) {
  const keys = redisKeys(prefix);
  let conflicts = 0;
  const path: FlagChangePath & { readonly conflicts: number } = {
    get conflicts() {
      return conflicts;
    },
    async update(name, mutate, context) {
      for (let attempt = 0; attempt < 10; attempt++) {
        const raw = await redis.get(keys.flag(name));
        if (raw === null) return { applied: false };
        const next = mutate(JSON.parse(raw) as FlagDocument);
        if (next === null) return { applied: false };
        await options.beforeWrite?.();
        const result = (await redis.eval(
          CAS_SCRIPT,
          3,
          keys.flag(name),
          keys.version,
          keys.audit,
          createHash('sha1').update(raw, 'utf8').digest('hex'),
          JSON.stringify(next),
          keys.changes,
          name,
          context.actor,
          context.reason,
          context.detail,
          String(Date.now()),
        )) as number;
        if (result > 0) return { applied: true };
        if (result === -1) return { applied: false };
        conflicts++;
      }
      throw new Error(`compare-and-set on ${name} lost 10 races in a row`);
    },
  };
  return path;
}
