// The atomic change path (TEAM.md interface 3): every change to the flag repository made by
// scripts/ffr, by the experiments' guardrails and by the console goes through here. Each
// change is one Lua script (src/changes/lua/) that checks its preconditions, then bumps
// `<prefix>version`, writes, publishes the name on `<prefix>changes` and appends an audit
// entry (`who`, `action`, `name`, `before`, `after`, `time`, and `reason`/`detail` when given)
// to `<prefix>audit`. Documents are checked against the one flag schema before they are sent.
//
// `update(name, mutate, ctx)` is a compare-and-set: read the document, let `mutate` compute
// the new one (or null: nothing to do), write it only if the stored document is still the one
// read; on a conflict read again and retry (bounded). So two replicas racing to apply the same
// guardrail make exactly one change: the second one's retry sees the change and returns null.
import { isDeepStrictEqual } from 'node:util';
import type { RedisClient } from '../store/redisConnection.js';
import { redisKeys, type RedisKeys } from '../store/redisKeys.js';
import { ChangeRefused } from './changeError.js';
import { FlagReads } from './flagReads.js';
import { runChangeScript, type ChangeContext, type ScriptTarget } from './luaScripts.js';
import { checkFlag, type CheckedFlag, type FlagDocument } from './validation.js';

export type { ChangeContext } from './luaScripts.js';
export type { FlagDocument } from './validation.js';

export interface FlagChangesOptions {
  /** Approximate cap of the audit stream (XADD MAXLEN ~). Default 10,000. */
  readonly auditMaxLen?: number;
  /** Compare-and-set attempts before giving up with `conflict`. Default 5. */
  readonly maxAttempts?: number;
}

export interface ChangeResult {
  /** `<prefix>version` after the change. */
  readonly version: number;
  /** The audit action recorded. */
  readonly action: string;
  readonly name: string;
  /** Accepted-but-notable things about the document (unknown fields). */
  readonly warnings: readonly string[];
}

export type UpdateResult =
  | (ChangeResult & { readonly changed: true; readonly document: FlagDocument; readonly attempts: number })
  | { readonly changed: false; readonly name: string; readonly document: FlagDocument; readonly attempts: number };

export interface UpdateOptions {
  /** The audit action, default `update` (`enable`, `disable`, `shadow`, `enforce`, ...). */
  readonly action?: string;
}

export interface ApproveOptions {
  /** The flag's name; default the proposal's. */
  readonly name?: string;
  /** Turn the flag on (default: as proposed, i.e. off). */
  readonly enable?: boolean;
  /** Replace a flag of the same name. */
  readonly force?: boolean;
  /** Adjust the document before it becomes a flag (route, respond, mode, ...). */
  readonly mutate?: (document: FlagDocument) => FlagDocument;
}

export interface ImportOptions {
  /** Also delete the flags the list does not contain. */
  readonly replace?: boolean;
}

export interface ImportResult extends ChangeResult {
  readonly written: number;
  readonly deleted: number;
}

function invalid(flag: string, problems: readonly string[]): ChangeRefused {
  return new ChangeRefused('invalid', `${flag}: ${problems.join('; ')}`, problems);
}

function checked(value: unknown, what: string): CheckedFlag {
  const result = checkFlag(value);
  if (!result.ok) throw invalid(what, result.problems);
  return result.flag;
}

export class FlagChanges {
  readonly keys: RedisKeys;
  readonly reads: FlagReads;
  readonly #target: ScriptTarget;
  readonly #maxAttempts: number;

  constructor(
    readonly client: RedisClient,
    prefix: string | RedisKeys,
    options: FlagChangesOptions = {},
  ) {
    this.keys = typeof prefix === 'string' ? redisKeys(prefix) : prefix;
    this.reads = new FlagReads(client, this.keys);
    this.#target = { client, keys: this.keys, auditMaxLen: options.auditMaxLen ?? 10_000 };
    this.#maxAttempts = Math.max(1, options.maxAttempts ?? 5);
  }

  /** Create or replace a flag (audit `create` or `update`). */
  async put(document: unknown, ctx: ChangeContext): Promise<ChangeResult> {
    const flag = checked(document, 'document');
    const [version, action] = (await runChangeScript(
      this.#target,
      'put',
      ctx,
      [this.keys.flag(flag.name)],
      [flag.name, flag.text],
    )) as [number, string];
    return { version: Number(version), action, name: flag.name, warnings: flag.warnings };
  }

  /** Delete a flag; `not-found` when there is none. */
  async delete(name: string, ctx: ChangeContext): Promise<ChangeResult> {
    const version = await runChangeScript(this.#target, 'delete', ctx, [this.keys.flag(name)], [name]).then(
      Number,
      (err) => {
        throw notFound(err, `no flag '${name}'`);
      },
    );
    return { version, action: 'delete', name, warnings: [] };
  }

  /** Set `enabled` (audit `enable`/`disable`); nothing changes when it already is. */
  setEnabled(name: string, enabled: boolean, ctx: ChangeContext): Promise<UpdateResult> {
    return this.update(name, (doc) => (doc['enabled'] === enabled ? null : { ...doc, enabled }), ctx, {
      action: enabled ? 'enable' : 'disable',
    });
  }

  /** Set `mode` (CONTRACT §6; audit `shadow`/`enforce`); nothing changes when it already is. */
  setMode(name: string, mode: 'shadow' | 'enforce', ctx: ChangeContext): Promise<UpdateResult> {
    return this.update(name, (doc) => ((doc['mode'] ?? 'enforce') === mode ? null : { ...doc, mode }), ctx, {
      action: mode,
    });
  }

  /**
   * Compare-and-set. `mutate` gets a private copy of the stored document and returns the new
   * one, or null when there is nothing to do (also when it returns an equal document). Retried
   * with a fresh read when the document changed meanwhile, up to `maxAttempts`.
   */
  async update(
    name: string,
    mutate: (document: FlagDocument) => FlagDocument | null,
    ctx: ChangeContext,
    options: UpdateOptions = {},
  ): Promise<UpdateResult> {
    const action = options.action ?? 'update';
    for (let attempt = 1; attempt <= this.#maxAttempts; attempt++) {
      const stored = await this.reads.flagText(name);
      if (stored === null) throw new ChangeRefused('not-found', `no flag '${name}'`);
      let current: FlagDocument;
      try {
        current = JSON.parse(stored.text) as FlagDocument;
      } catch {
        throw invalid(name, ['the stored document is not valid JSON; replace it with put']);
      }
      const next = mutate(structuredClone(current));
      if (next === null || isDeepStrictEqual(next, current)) {
        return { changed: false, name, document: current, attempts: attempt };
      }
      const flag = checked(next, name);
      if (flag.name !== name) throw invalid(name, [`name: an update cannot rename the flag (to '${flag.name}')`]);
      try {
        const version = Number(
          await runChangeScript(
            this.#target,
            'cas',
            ctx,
            [this.keys.flag(name)],
            [name, action, stored.sha1, flag.text],
          ),
        );
        return {
          changed: true,
          version,
          action,
          name,
          warnings: flag.warnings,
          document: flag.document,
          attempts: attempt,
        };
      } catch (err) {
        if (err instanceof ChangeRefused && err.refusal === 'conflict') continue; // read again
        throw notFound(err, `no flag '${name}' (deleted meanwhile)`);
      }
    }
    throw new ChangeRefused(
      'conflict',
      `'${name}' kept changing under us (${this.#maxAttempts} attempts); nothing changed`,
    );
  }

  /** Turn a proposal into a flag and drop the proposal (audit `approve`). */
  async approve(
    id: string,
    options: ApproveOptions,
    ctx: ChangeContext,
  ): Promise<ChangeResult & { document: FlagDocument }> {
    const stored = await this.reads.proposalText(id);
    if (stored === null) throw new ChangeRefused('not-found', `no proposal '${id}'`);
    let doc: FlagDocument;
    try {
      const value: unknown = JSON.parse(stored.text);
      if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new Error('not an object');
      doc = value as FlagDocument;
    } catch {
      throw invalid(`proposal '${id}'`, ['it is not a valid JSON object']);
    }
    if (options.name !== undefined) doc = { ...doc, name: options.name };
    doc = { ...doc, enabled: options.enable === true ? true : (doc['enabled'] ?? false) };
    if (options.mutate) doc = options.mutate(doc);
    const flag = checked(doc, `proposal '${id}'`);
    let version: number;
    try {
      version = Number(
        await runChangeScript(
          this.#target,
          'approve',
          ctx,
          [this.keys.flag(flag.name), this.keys.proposal(id), this.keys.proposals],
          [flag.name, id, stored.sha1, options.force ? '1' : '0', flag.text],
        ),
      );
    } catch (err) {
      if (err instanceof ChangeRefused) {
        if (err.refusal === 'exists') {
          throw new ChangeRefused(
            'exists',
            `a flag '${flag.name}' exists already; give another NAME or force to replace it`,
          );
        }
        if (err.refusal === 'conflict') throw new ChangeRefused('conflict', `proposal '${id}' changed while approving`);
        if (err.refusal === 'not-found')
          throw new ChangeRefused('not-found', `no proposal '${id}' (removed meanwhile)`);
      }
      throw err;
    }
    return { version, action: 'approve', name: flag.name, warnings: flag.warnings, document: flag.document };
  }

  /** Drop a proposal (audit `reject`). */
  async reject(id: string, ctx: ChangeContext): Promise<ChangeResult> {
    const version = await runChangeScript(
      this.#target,
      'reject',
      ctx,
      [this.keys.proposal(id), this.keys.proposals],
      [id],
    ).then(Number, (err) => {
      throw notFound(err, `no proposal '${id}'`);
    });
    return { version, action: 'reject', name: '', warnings: [] };
  }

  /**
   * Write many flags in one atomic step (audit `import`, name `*`); with `replace`, also delete
   * the flags the list does not contain. All or nothing: every document is checked first.
   */
  async import(flags: readonly unknown[], options: ImportOptions, ctx: ChangeContext): Promise<ImportResult> {
    if (flags.length === 0) throw invalid('import', ['it has no flags']);
    const problems: string[] = [];
    const accepted: CheckedFlag[] = [];
    const seen = new Set<string>();
    flags.forEach((value, index) => {
      const rawName = (value as { name?: unknown } | null)?.name;
      const label = typeof rawName === 'string' ? rawName.slice(0, 70) : `#${index + 1}`;
      const result = checkFlag(value);
      if (!result.ok) {
        for (const p of result.problems) problems.push(`${label}: ${p}`);
        return;
      }
      if (seen.has(result.flag.name)) {
        problems.push(`${result.flag.name}: defined more than once`);
        return;
      }
      seen.add(result.flag.name);
      accepted.push(result.flag);
    });
    if (problems.length > 0) throw new ChangeRefused('invalid', problems.join('; '), problems);

    // Between this read and the script a flag may be created; it is not deleted (documented).
    const existing = options.replace ? (await this.reads.flags()).map((f) => f.name) : [];
    const deletions = existing.filter((name) => !seen.has(name));
    const payload = JSON.stringify({
      set: accepted.map((f) => [f.name, f.text]),
      delete: deletions,
    });
    const version = Number(
      await runChangeScript(
        this.#target,
        'import',
        ctx,
        [...accepted.map((f) => this.keys.flag(f.name)), ...deletions.map((n) => this.keys.flag(n))],
        [payload],
      ),
    );
    return {
      version,
      action: 'import',
      name: '*',
      warnings: accepted.flatMap((f) => f.warnings.map((w) => `${f.name}: ${w}`)),
      written: accepted.length,
      deleted: deletions.length,
    };
  }
}

function notFound(err: unknown, message: string): unknown {
  return err instanceof ChangeRefused && err.refusal === 'not-found' ? new ChangeRefused('not-found', message) : err;
}
