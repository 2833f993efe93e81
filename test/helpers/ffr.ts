// Runs scripts/ffr as an operator would, against a test Redis and key prefix.
import { spawn } from 'node:child_process';

export const FFR = new URL('../../scripts/ffr', import.meta.url).pathname;

export interface FfrRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface FfrOptions {
  /** Standard input (for `put -` and `import -`). */
  readonly input?: string;
  /** Extra or overriding environment variables. */
  readonly env?: Record<string, string>;
}

export function runFfr(
  redis: { url: string; prefix: string },
  args: string[],
  options: FfrOptions = {},
): Promise<FfrRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(FFR, args, {
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        HOME: process.env.HOME ?? '/tmp',
        REDIS_URL: redis.url,
        PROFLAG_PREFIX: redis.prefix,
        PROFLAG_ACTOR: 'tester',
        ...options.env,
      },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    child.stdin.end(options.input ?? '');
  });
}
