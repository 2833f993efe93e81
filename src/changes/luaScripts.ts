// The change scripts of src/changes/lua/ (each also runs with plain `redis-cli --eval`, see
// docs/redis-layout.md), their argument layout in one place, and their error replies turned
// into ChangeRefused. Scripts are sent with EVAL: they are small, and Redis caches them.
import { readFileSync } from 'node:fs';
import type { RedisClient } from '../store/redisConnection.js';
import type { RedisKeys } from '../store/redisKeys.js';
import { ChangeRefused } from './changeError.js';

export type ScriptName = 'put' | 'delete' | 'cas' | 'approve' | 'reject' | 'import';

const sources = new Map<ScriptName, string>();

/** The Lua source of one change script (read once; copied next to the build by `npm run build`). */
export function scriptSource(name: ScriptName): string {
  let text = sources.get(name);
  if (text === undefined) {
    text = readFileSync(new URL(`./lua/${name}.lua`, import.meta.url), 'utf8');
    sources.set(name, text);
  }
  return text;
}

/** Who makes a change and why; every change's audit entry records it. */
export interface ChangeContext {
  /** The audit entry's `who`: a person, `console`, `guardrail`, ... */
  readonly actor: string;
  /** Why, e.g. `guardrail` (optional; empty = none). */
  readonly reason?: string;
  /** Details, e.g. the figures that tripped a guardrail (optional). */
  readonly detail?: string;
}

export interface ScriptTarget {
  readonly client: RedisClient;
  readonly keys: RedisKeys;
  readonly auditMaxLen: number;
}

/**
 * Run one change script: KEYS = version, audit, then `keys`; ARGV = channel, who, MAXLEN,
 * reason, detail, then `args`. Resolves with the script's reply: the new version (put:
 * [version, action]).
 */
export async function runChangeScript(
  t: ScriptTarget,
  name: ScriptName,
  ctx: ChangeContext,
  keys: readonly string[],
  args: readonly string[],
): Promise<unknown> {
  const allKeys = [t.keys.version, t.keys.audit, ...keys];
  const argv = [t.keys.changes, ctx.actor, String(t.auditMaxLen), ctx.reason ?? '', ctx.detail ?? '', ...args];
  let reply: unknown;
  try {
    reply = await t.client.eval(scriptSource(name), allKeys.length, ...allKeys, ...argv);
  } catch (err) {
    throw refusalOf(err as Error) ?? err;
  }
  return reply;
}

/** The ChangeRefused of a script's error reply, or null for any other error. */
export function refusalOf(err: Error): ChangeRefused | null {
  const m = /PROFLAG_([A-Z]+)(?: (.*))?/.exec(err.message);
  if (!m) return null;
  switch (m[1]) {
    case 'NOFLAG':
      return new ChangeRefused('not-found', 'no such flag');
    case 'NOPROPOSAL':
      return new ChangeRefused('not-found', 'no such proposal');
    case 'EXISTS':
      return new ChangeRefused('exists', 'a flag of that name exists already');
    case 'CONFLICT':
      return new ChangeRefused('conflict', 'the document changed meanwhile');
    case 'BADINPUT':
      return new ChangeRefused('bad-input', `Redis refused the change: ${m[2] ?? 'bad input'}`);
    default:
      return null;
  }
}
