// `ffr results NAME [--since DURATION] [--effect RELATIVE] [--json]`, as a function the TypeScript CLI calls with
// its Redis client: arguments in, output and exit code out (0 shown, 1 no counts, 2 usage).
import { parseDuration } from './core/duration.js';
import { formatReport } from './core/format.js';
import type { RedisClient } from './flusher.js';
import { readExperimentReport } from './reportReader.js';

export const RESULTS_USAGE =
  'usage: ffr results NAME [--since DURATION] [--json]   (DURATION: 90s, 30m, 1h, 7d, 1h30m)';

const NAME = /^[a-z0-9][a-z0-9._-]{0,62}$/;

export interface CommandOutput {
  readonly exitCode: 0 | 1 | 2;
  readonly stdout: string;
  readonly stderr: string;
}

export async function resultsCommand(
  redis: RedisClient,
  prefix: string,
  args: readonly string[],
  options: { ttlDays: number; nowMs?: number },
): Promise<CommandOutput> {
  let name: string | null = null;
  let sinceMs: number | undefined;
  let json = false;
  let relativeEffect: number | undefined;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--json') json = true;
    else if (arg === '--since') {
      const ms = parseDuration(args[++i] ?? '');
      if (ms === null) return { exitCode: 2, stdout: '', stderr: `--since needs a duration\n${RESULTS_USAGE}\n` };
      sinceMs = ms;
    } else if (arg === '--effect') {
      const effect = Number(args[++i]);
      if (!(effect > 0 && effect <= 10)) {
        return { exitCode: 2, stdout: '', stderr: `--effect needs a relative increase in (0, 10]\n${RESULTS_USAGE}\n` };
      }
      relativeEffect = effect;
    } else if (name === null && NAME.test(arg)) name = arg;
    else return { exitCode: 2, stdout: '', stderr: `unexpected argument ${JSON.stringify(arg)}\n${RESULTS_USAGE}\n` };
  }
  if (name === null) return { exitCode: 2, stdout: '', stderr: `${RESULTS_USAGE}\n` };
  const report = await readExperimentReport(redis, prefix, name, {
    ttlDays: options.ttlDays,
    sinceMs,
    relativeEffect,
    nowMs: options.nowMs,
  });
  if (report === null) {
    return {
      exitCode: 1,
      stdout: '',
      stderr: `no experiment counts for ${name} (not an experiment, no traffic yet, or older than the TTL)\n`,
    };
  }
  return { exitCode: 0, stdout: json ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report), stderr: '' };
}
