// The console's changes: approve or reject a proposal, enable/disable a flag, switch its mode.
// Each is one atomic Lua script with the same guarantees as `scripts/ffr` (CONTRACT §5,
// docs/redis-layout.md): preconditions checked before the first write, INCR <prefix>version,
// PUBLISH <prefix>changes, XADD <prefix>audit with the actor (`console`).
//
// TO BE REPLACED BY THE LEAD: this module stands in for the shared atomic change path
// (`src/changes/`, TEAM.md interface 3) until it merges. The console only uses the
// `ChangeGateway` interface below; implement it over src/changes/ (approve/reject and the
// compare-and-set `update(name, mutate, context)`) and delete the Lua here.
import type { Cluster, Redis } from 'ioredis';
import { parseFlagValue } from '../flags/schema.js';
import type { RedisKeys } from '../store/redisKeys.js';
import { HttpError } from './apiHttp.js';

export interface ChangeContext {
  /** Who, in the audit trail. */
  readonly actor: string;
  /** Why or how, in the audit entry's detail (e.g. "as shadow block 429"). */
  readonly detail?: string;
}

export type FlagDocumentJson = Record<string, unknown>;

export interface ChangeGateway {
  /**
   * Turn proposal `id` into a flag: `build` gets the stored proposal and returns the flag
   * document to write (and how, for the audit detail, which overrides context.detail).
   * Refuses when a flag of that name exists, unless `force`.
   */
  approveProposal(
    id: string,
    build: (proposal: FlagDocumentJson) => { document: FlagDocumentJson; detail?: string },
    context: ChangeContext & { readonly force?: boolean },
  ): Promise<{ version: number; name: string; document: FlagDocumentJson }>;
  rejectProposal(id: string, context: ChangeContext): Promise<{ version: number }>;
  /** Compare-and-set on one flag; `mutate` returns the new document, or null for "nothing to do". */
  updateFlag(
    name: string,
    mutate: (current: FlagDocumentJson) => FlagDocumentJson | null,
    context: ChangeContext & { readonly action: string },
  ): Promise<{ version: number } | null>;
}

const AUDIT_MAXLEN = 10_000;
const CAS_ATTEMPTS = 5;

const LUA_COMMON = `
if redis.replicate_commands then pcall(redis.replicate_commands) end
local function bump()
  local v = redis.call("INCR", KEYS[1])
  return tostring(v - 1), tostring(v)
end
local function audit(action, name, before, after, detail)
  local t = redis.call("TIME")
  local ms = string.format("%d", tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))
  redis.call("XADD", KEYS[2], "MAXLEN", "~", ARGV[3], "*", "who", ARGV[2], "action", action,
    "name", name, "before", before, "after", after, "time", ms, "detail", detail)
end
`;

// KEYS[1] key; returns [value, sha1(value)] or PROFLAG_NOFLAG.
const LUA_GET_SHA = `
local v = redis.call("GET", KEYS[1])
if not v then return redis.error_reply("PROFLAG_NOFLAG") end
return {v, redis.sha1hex(v)}
`;

// KEYS[3] flag; ARGV[4] name, ARGV[5] action, ARGV[6] sha1 read, ARGV[7] document, ARGV[8] detail
const LUA_CAS = `${LUA_COMMON}
local cur = redis.call("GET", KEYS[3])
if not cur then return redis.error_reply("PROFLAG_NOFLAG") end
if redis.sha1hex(cur) ~= ARGV[6] then return redis.error_reply("PROFLAG_CONFLICT") end
local before, after = bump()
redis.call("SET", KEYS[3], ARGV[7])
redis.call("PUBLISH", ARGV[1], ARGV[4])
audit(ARGV[5], ARGV[4], before, after, ARGV[8])
return after
`;

// KEYS[3] flag, KEYS[4] proposal, KEYS[5] proposals; ARGV[4] name, ARGV[5] id, ARGV[6] sha1 of
// the proposal read, ARGV[7] "1" to replace a flag, ARGV[8] document, ARGV[9] detail
const LUA_APPROVE = `${LUA_COMMON}
local cur = redis.call("GET", KEYS[4])
if not cur then return redis.error_reply("PROFLAG_NOPROPOSAL") end
if redis.sha1hex(cur) ~= ARGV[6] then return redis.error_reply("PROFLAG_CONFLICT") end
if ARGV[7] ~= "1" and redis.call("EXISTS", KEYS[3]) == 1 then
  return redis.error_reply("PROFLAG_EXISTS")
end
local before, after = bump()
redis.call("SET", KEYS[3], ARGV[8])
redis.call("DEL", KEYS[4])
redis.call("ZREM", KEYS[5], ARGV[5])
redis.call("PUBLISH", ARGV[1], ARGV[4])
audit("approve", ARGV[4], before, after, ARGV[9])
return after
`;

// KEYS[3] proposal, KEYS[4] proposals; ARGV[4] id
const LUA_REJECT = `${LUA_COMMON}
if redis.call("EXISTS", KEYS[3]) == 0 and not redis.call("ZSCORE", KEYS[4], ARGV[4]) then
  return redis.error_reply("PROFLAG_NOPROPOSAL")
end
local before, after = bump()
redis.call("DEL", KEYS[3])
redis.call("ZREM", KEYS[4], ARGV[4])
redis.call("PUBLISH", ARGV[1], "proposal:" .. ARGV[4])
audit("reject", "", before, after, "proposal " .. ARGV[4])
return after
`;

function scriptError(err: unknown, what: string): never {
  const message = (err as Error).message ?? String(err);
  if (message.includes('PROFLAG_NOFLAG')) throw new HttpError(404, `no flag ${what}`, 'not-found');
  if (message.includes('PROFLAG_NOPROPOSAL')) throw new HttpError(404, `no proposal ${what}`, 'not-found');
  if (message.includes('PROFLAG_EXISTS')) {
    throw new HttpError(409, `a flag ${what} exists already; choose another name`, 'exists');
  }
  if (message.includes('PROFLAG_CONFLICT'))
    throw new HttpError(409, `${what} changed meanwhile; try again`, 'conflict');
  throw new HttpError(503, `Redis refused the change: ${message}`, 'redis');
}

function parseStored(text: string, what: string): FlagDocumentJson {
  try {
    const value: unknown = JSON.parse(text);
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) return value as FlagDocumentJson;
  } catch {
    // handled below
  }
  throw new HttpError(
    422,
    `the stored document of ${what} is not a JSON object; fix it with scripts/ffr put`,
    'invalid-stored',
  );
}

/** The sidecars' own schema check: a refused document changes nothing. */
export function validateForWrite(document: FlagDocumentJson): string {
  const parsed = parseFlagValue(document);
  if (!parsed.ok) {
    throw new HttpError(400, 'refused, nothing changed: the flag would be invalid', 'invalid', parsed.issues);
  }
  return JSON.stringify(document);
}

export function createLuaChangeGateway(redis: Redis | Cluster, keys: RedisKeys): ChangeGateway {
  const common = (actor: string) => [keys.changes, actor, String(AUDIT_MAXLEN)];

  const getWithSha = async (key: string, what: string): Promise<[string, string]> => {
    try {
      return (await redis.eval(LUA_GET_SHA, 1, key)) as [string, string];
    } catch (err) {
      return scriptError(err, what);
    }
  };

  return {
    async approveProposal(id, build, context) {
      const [text, sha] = await getWithSha(keys.proposal(id), `'${id}'`);
      const built = build(parseStored(text, `proposal '${id}'`));
      const document = built.document;
      const detail = built.detail ?? context.detail;
      const body = validateForWrite(document);
      const name = String(document.name);
      try {
        const version = await redis.eval(
          LUA_APPROVE,
          5,
          keys.version,
          keys.audit,
          keys.flag(name),
          keys.proposal(id),
          keys.proposals,
          ...common(context.actor),
          name,
          id,
          sha,
          context.force ? '1' : '0',
          body,
          `proposal ${id}${detail ? ` ${detail}` : ''}`,
        );
        return { version: Number(version), name, document };
      } catch (err) {
        return scriptError(err, `'${name}'`);
      }
    },

    async rejectProposal(id, context) {
      try {
        const version = await redis.eval(
          LUA_REJECT,
          4,
          keys.version,
          keys.audit,
          keys.proposal(id),
          keys.proposals,
          ...common(context.actor),
          id,
        );
        return { version: Number(version) };
      } catch (err) {
        return scriptError(err, `'${id}'`);
      }
    },

    async updateFlag(name, mutate, context) {
      for (let attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
        const [text, sha] = await getWithSha(keys.flag(name), `'${name}'`);
        const next = mutate(parseStored(text, `flag '${name}'`));
        if (next === null) return null;
        const body = validateForWrite(next);
        try {
          const version = await redis.eval(
            LUA_CAS,
            3,
            keys.version,
            keys.audit,
            keys.flag(name),
            ...common(context.actor),
            name,
            context.action,
            sha,
            body,
            context.detail ?? '',
          );
          return { version: Number(version) };
        } catch (err) {
          if ((err as Error).message?.includes('PROFLAG_CONFLICT')) continue; // read again
          return scriptError(err, `'${name}'`);
        }
      }
      throw new HttpError(409, `'${name}' keeps changing; nothing changed, try again`, 'conflict');
    },
  };
}
