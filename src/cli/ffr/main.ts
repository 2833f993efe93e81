#!/usr/bin/env node
// ffr: manage proflag's flag repository in Redis (CONTRACT §2, §5, §6; docs/redis-layout.md).
// scripts/ffr runs this (bundled as dist/cli/ffr.mjs, else the source through tsx). Modules
// load on demand: --help and usage errors need no Redis client, reading commands no schema.
import { CHANGE_COMMANDS, FLAG_NAME, PROPOSAL_ID, parseCommand, type Command } from './args.js';
import { CliFailure, fail, usageError } from './output.js';
import type { Session } from './session.js';
import { USAGE } from './usage.js';

function checkNames(cmd: Command): void {
  const name = 'name' in cmd ? cmd.name : cmd.kind === 'approve' ? cmd.options.name : null;
  if (name !== null && name !== undefined && !FLAG_NAME.test(name)) {
    fail(`invalid flag name '${name}': use lower-case [a-z0-9][a-z0-9._-]{0,62}`);
  }
  if ('id' in cmd && !PROPOSAL_ID.test(cmd.id)) fail(`invalid proposal id '${cmd.id}'`);
}

async function runRead(s: Session, cmd: Command): Promise<string> {
  const r = await import('./readCommands.js');
  switch (cmd.kind) {
    case 'get':
      return r.cmdGet(s, cmd.name, cmd.raw);
    case 'list':
      return r.cmdList(s);
    case 'export':
      return r.cmdExport(s);
    case 'proposals':
      return r.cmdProposals(s);
    case 'history':
      return r.cmdHistory(s, cmd.name, cmd.count);
    case 'status':
      return r.cmdStatus(s);
    case 'version':
      return r.cmdVersion(s);
    default:
      throw new Error(`not a read: ${cmd.kind}`);
  }
}

export async function main(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  const [command, ...args] = argv;
  if (command === undefined) {
    process.stderr.write(USAGE);
    return 2;
  }
  if (command === '-h' || command === '--help' || command === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  let session: Session | null = null;
  try {
    const validate = env['PROFLAG_VALIDATE'];
    if (validate !== undefined && validate !== '' && !['auto', 'full', 'basic'].includes(validate)) {
      usageError('PROFLAG_VALIDATE must be auto, full or basic');
    }
    if (command === 'learner') {
      // The learner's state is in the sidecar's process: asked over HTTP, no Redis needed.
      process.stdout.write(await (await import('./learnerCommand.js')).cmdLearner(args, env));
      return 0;
    }
    if (command === 'results') {
      const { openSession } = await import('./session.js');
      session = await openSession(env, false);
      const { resultsCommand } = await import('../../experiments/resultsCommand.js');
      const out = await resultsCommand(session.client, session.config.prefix, args, {
        ttlDays: session.config.experimentTtlDays,
      });
      process.stdout.write(out.stdout);
      process.stderr.write(out.stderr);
      return out.exitCode;
    }
    const cmd = parseCommand(command, args);
    checkNames(cmd);
    const write = CHANGE_COMMANDS.has(cmd.kind);
    const { openSession } = await import('./session.js');
    session = await openSession(env, write);
    const out = write
      ? await (await import('./changeCommands.js')).runChange(session, cmd)
      : await runRead(session, cmd);
    process.stdout.write(out);
    return 0;
  } catch (err) {
    if (err instanceof CliFailure) {
      process.stderr.write(`ffr: ${err.message}\n`);
      if (err.exitCode === 2) process.stderr.write('Run "ffr --help" for usage.\n');
      return err.exitCode;
    }
    process.stderr.write(`ffr: ${(err as Error).message}\n`);
    return 1;
  } finally {
    session?.close();
  }
}

main(process.argv.slice(2), process.env).then(
  (code) => {
    process.exitCode = code;
  },
  (err: Error) => {
    process.stderr.write(`ffr: ${err.stack ?? err.message}\n`);
    process.exitCode = 1;
  },
);
