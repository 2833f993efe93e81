// ffr's changing commands, each one atomic change through src/changes/ (the schema check, then
// one Lua script: version, write, publish, audit). Loaded only when a change is asked for.
import { ChangeRefused } from '../../changes/changeError.js';
import { FlagChanges, type FlagDocument } from '../../changes/flagChanges.js';
import { parseDocumentText } from '../../changes/validation.js';
import type { ApproveArgs, Command } from './args.js';
import { fail, indented, warn } from './output.js';
import type { Session } from './session.js';

/** A refusal from the change path in ffr's words (exit 1). */
function refused(err: unknown, heading = 'refused, nothing changed:'): never {
  if (err instanceof ChangeRefused && err.refusal === 'invalid') fail(`${heading}\n${indented(err.problems)}`);
  if (err instanceof ChangeRefused) fail(err.message);
  throw err;
}

function notFound(err: unknown, message: string): never {
  if (err instanceof ChangeRefused && err.refusal === 'not-found') fail(message);
  return refused(err);
}

export async function readInput(src: string): Promise<string> {
  const { readFile } = await import('node:fs/promises');
  if (src === '-') {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  }
  try {
    return await readFile(src, 'utf8');
  } catch {
    return fail(`cannot read ${src}`);
  }
}

async function put(s: Session, c: FlagChanges, src: string): Promise<string> {
  const parsed = parseDocumentText(await readInput(src));
  if (!parsed.ok) fail(parsed.problem.replace(/^malformed JSON/, `malformed JSON in ${src}`));
  const result = await c.put(parsed.value, { actor: s.actor }).catch((err) => refused(err));
  for (const w of result.warnings) warn(`${result.name}: ${w}`);
  return `put ${result.name} (version ${result.version})\n`;
}

async function importFlags(s: Session, c: FlagChanges, src: string, replace: boolean): Promise<string> {
  const text = await readInput(src);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    fail(`refused ${src}, nothing changed: ${(err as Error).message}`);
  }
  const flags = (value as { flags?: unknown } | null)?.flags;
  const list = Array.isArray(value) ? value : Array.isArray(flags) ? flags : null;
  if (list === null) {
    fail(`refused ${src}, nothing changed: expected an export document (with "flags") or a JSON list of flags`);
  }
  if (list.length === 0) fail(`refused ${src}: it has no flags; nothing changed`);
  const result = await c
    .import(list, { replace }, { actor: s.actor })
    .catch((err) => refused(err, `refused ${src}, nothing changed:`));
  for (const w of result.warnings) warn(w);
  return `imported ${result.written} flags${replace ? `, deleted ${result.deleted}` : ''} (version ${result.version})\n`;
}

/** What approve's options do to the proposed document (CONTRACT §6), and how the audit says it. */
export function approveEdits(o: ApproveArgs): { mutate: (doc: FlagDocument) => FlagDocument; detail: string[] } {
  const detail: string[] = [];
  if (o.respond) detail.push(`respond ${o.respond.status} (limit ${o.respond.perSecond}/s)`);
  if (o.route) detail.push(`route ${o.route}`);
  if (o.shadow) detail.push('shadow');
  const mutate = (doc: FlagDocument): FlagDocument => {
    let next = doc;
    if (o.respond || o.route) {
      const actions = { ...((doc['actions'] as FlagDocument | undefined) ?? {}) };
      if (o.respond) actions['respond'] = { status: o.respond.status };
      if (o.route) actions['route'] = { cluster: o.route };
      next = { ...next, actions };
    }
    if (o.respond) next = { ...next, respondLimit: { perSecond: o.respond.perSecond } };
    if (o.shadow) next = { ...next, mode: 'shadow' };
    return next;
  };
  return { mutate, detail };
}

async function approve(s: Session, c: FlagChanges, id: string, o: ApproveArgs): Promise<string> {
  const edits = approveEdits(o);
  const result = await c
    .approve(
      id,
      { ...(o.name !== null ? { name: o.name } : {}), enable: o.enable, force: o.force, mutate: edits.mutate },
      { actor: s.actor, detail: `proposal ${id}${edits.detail.length > 0 ? `: ${edits.detail.join(', ')}` : ''}` },
    )
    .catch((err) => refused(err));
  for (const w of result.warnings) warn(`${result.name}: ${w}`);
  const mode = o.shadow ? ' in shadow mode' : '';
  return result.document['enabled'] === true
    ? `approved ${id} as flag ${result.name}, enabled${mode} (version ${result.version})\n`
    : `approved ${id} as flag ${result.name}, disabled${mode}: ffr enable ${result.name} turns it on (version ${result.version})\n`;
}

export async function runChange(s: Session, cmd: Command): Promise<string> {
  const c = new FlagChanges(s.client, s.keys);
  const ctx = { actor: s.actor };
  switch (cmd.kind) {
    case 'put':
      return put(s, c, cmd.src);
    case 'delete': {
      const r = await c.delete(cmd.name, ctx).catch((err) => notFound(err, `no flag '${cmd.name}'; nothing changed`));
      return `deleted ${cmd.name} (version ${r.version})\n`;
    }
    case 'enable':
    case 'disable': {
      const r = await c.setEnabled(cmd.name, cmd.kind === 'enable', ctx).catch((err) => refused(err));
      return r.changed
        ? `${cmd.kind}d ${cmd.name} (version ${r.version})\n`
        : `${cmd.name} is already ${cmd.kind}d; nothing changed\n`;
    }
    case 'shadow':
    case 'enforce': {
      const r = await c.setMode(cmd.name, cmd.kind, ctx).catch((err) => refused(err));
      if (!r.changed) return `${cmd.name} is already in ${cmd.kind} mode; nothing changed\n`;
      const what = cmd.kind === 'shadow' ? 'evaluated and counted, never applied' : 'applied again';
      return `${cmd.name} is now in ${cmd.kind} mode: ${what} (version ${r.version})\n`;
    }
    case 'import':
      return importFlags(s, c, cmd.src, cmd.replace);
    case 'approve':
      return approve(s, c, cmd.id, cmd.options);
    case 'reject': {
      const r = await c.reject(cmd.id, ctx).catch((err) => notFound(err, `no proposal '${cmd.id}'`));
      return `rejected proposal ${cmd.id} (version ${r.version})\n`;
    }
    default:
      throw new Error(`not a change: ${cmd.kind}`);
  }
}
