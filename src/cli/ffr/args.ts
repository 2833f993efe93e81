// ffr's command lines, parsed before anything connects (a usage error exits 2 at once).
import { usageError } from './output.js';

/** A flag name (the schema's FLAG_NAME_PATTERN; a unit test keeps them equal). */
export const FLAG_NAME = /^[a-z0-9][a-z0-9._-]{0,62}$/;
/** A proposal id. */
export const PROPOSAL_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export type Command =
  | { readonly kind: 'put'; readonly src: string }
  | { readonly kind: 'get'; readonly name: string; readonly raw: boolean }
  | { readonly kind: 'list' | 'export' | 'proposals' | 'status' | 'version' }
  | { readonly kind: 'delete' | 'enable' | 'disable' | 'shadow' | 'enforce'; readonly name: string }
  | { readonly kind: 'import'; readonly src: string; readonly replace: boolean }
  | { readonly kind: 'approve'; readonly id: string; readonly options: ApproveArgs }
  | { readonly kind: 'reject'; readonly id: string }
  | { readonly kind: 'history'; readonly name: string | null; readonly count: number };

export interface ApproveArgs {
  readonly name: string | null;
  readonly enable: boolean;
  readonly force: boolean;
  /** --respond STATUS [--per-second N] (CONTRACT §6). */
  readonly respond: { readonly status: number; readonly perSecond: number } | null;
  /** --route CLUSTER. */
  readonly route: string | null;
  /** --shadow: `"mode": "shadow"`. */
  readonly shadow: boolean;
}

/** The commands that change the repository (they refuse a replica). */
export const CHANGE_COMMANDS: ReadonlySet<Command['kind']> = new Set([
  'put',
  'delete',
  'enable',
  'disable',
  'shadow',
  'enforce',
  'import',
  'approve',
  'reject',
]);

function noArgs(kind: 'list' | 'export' | 'proposals' | 'status' | 'version', args: readonly string[]): Command {
  if (args.length > 0) usageError(`${kind} takes no arguments`);
  return { kind };
}

function oneName(kind: 'delete' | 'enable' | 'disable' | 'shadow' | 'enforce', args: readonly string[]): Command {
  if (args.length !== 1) usageError(`${kind} needs NAME`);
  return { kind, name: args[0]! };
}

function integer(option: string, value: string | undefined, min: number, max: number): number {
  if (value === undefined || !/^\d+$/.test(value) || Number(value) < min || Number(value) > max) {
    usageError(`${option} needs a whole number from ${min} to ${max}`);
  }
  return Number(value);
}

function parseApprove(args: readonly string[]): Command {
  const positional: string[] = [];
  let enable = false;
  let force = false;
  let shadow = false;
  let status: number | null = null;
  let perSecond: number | null = null;
  let route: string | null = null;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    switch (arg) {
      case '--enable':
        enable = true;
        break;
      case '--force':
        force = true;
        break;
      case '--shadow':
        shadow = true;
        break;
      case '--respond':
        status = integer('--respond', args[++i], 200, 599);
        break;
      case '--per-second':
        perSecond = integer('--per-second', args[++i], 1, 1_000_000);
        break;
      case '--route':
        route = args[++i] ?? usageError('--route needs CLUSTER');
        if (!/^[A-Za-z0-9_.:-]{1,128}$/.test(route))
          usageError(`--route: '${route}' is not a cluster name ([A-Za-z0-9_.:-])`);
        break;
      default:
        if (arg.startsWith('-')) usageError(`approve: unknown option ${arg}`);
        positional.push(arg);
    }
  }
  if (positional.length === 0) usageError('approve needs ID');
  if (positional.length > 2) usageError('approve takes ID [NAME]');
  if (perSecond !== null && status === null) usageError('--per-second goes with --respond STATUS');
  return {
    kind: 'approve',
    id: positional[0]!,
    options: {
      name: positional[1] ?? null,
      enable,
      force,
      shadow,
      route,
      respond: status === null ? null : { status, perSecond: perSecond ?? 100 },
    },
  };
}

function parseHistory(args: readonly string[]): Command {
  let name: string | null = null;
  let count = 20;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '-n') {
      const value = args[++i];
      if (value === undefined || !/^\d+$/.test(value)) usageError('-n needs a number');
      count = Number(value);
    } else if (arg.startsWith('-')) usageError(`history: unknown option ${arg}`);
    else if (name !== null) usageError('history takes one NAME');
    else name = arg;
  }
  return { kind: 'history', name, count };
}

export function parseCommand(command: string, args: readonly string[]): Command {
  switch (command) {
    case 'put':
      if (args.length !== 1) usageError('put needs FILE or -');
      return { kind: 'put', src: args[0]! };
    case 'get': {
      let name = '';
      let raw = false;
      for (const arg of args) {
        if (arg === '--raw') raw = true;
        else if (arg.startsWith('-')) usageError(`get: unknown option ${arg}`);
        else if (name !== '') usageError('get takes one NAME');
        else name = arg;
      }
      if (name === '') usageError('get needs NAME');
      return { kind: 'get', name, raw };
    }
    case 'list':
    case 'export':
    case 'proposals':
    case 'status':
    case 'version':
      return noArgs(command, args);
    case 'delete':
    case 'enable':
    case 'disable':
    case 'shadow':
    case 'enforce':
      return oneName(command, args);
    case 'import': {
      let src = '';
      let replace = false;
      for (const arg of args) {
        if (arg === '--replace') replace = true;
        else if (arg !== '-' && arg.startsWith('-')) usageError(`import: unknown option ${arg}`);
        else if (src !== '') usageError('import takes one FILE');
        else src = arg;
      }
      if (src === '') usageError('import needs FILE or -');
      return { kind: 'import', src, replace };
    }
    case 'approve':
      return parseApprove(args);
    case 'reject':
      if (args.length !== 1) usageError('reject needs ID');
      return { kind: 'reject', id: args[0]! };
    case 'history':
      return parseHistory(args);
    default:
      return usageError(`unknown command '${command}'`);
  }
}
