// The sidecar as a real process (`node --import tsx src/main.ts`) for tests that need processes:
// workers, signals, exit codes. Output is collected; the "proflag started" line gives ports.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface ProflagProcess {
  readonly child: ChildProcess;
  /** Resolves with the exit code (null when killed by a signal). */
  readonly exited: Promise<number | null>;
  output(): string;
  /** Waits for "proflag started"; its grpc address (127.0.0.1:port) and admin port. */
  started(timeoutMs?: number): Promise<{ grpc: string; admin: number }>;
}

export function startProflag(env: Record<string, string>): ProflagProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (d) => (output += String(d)));
  child.stderr!.on('data', (d) => (output += String(d)));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    child,
    exited,
    output: () => output,
    async started(timeoutMs = 30_000) {
      const ok = await waitFor(() => output.includes('"proflag started"'), timeoutMs);
      if (!ok) throw new Error(`proflag did not start:\n${output}`);
      const line = output.split('\n').find((l) => l.includes('"proflag started"'))!;
      const parsed = JSON.parse(line) as { grpc: string; admin: number };
      return { grpc: parsed.grpc.replace('0.0.0.0', '127.0.0.1'), admin: parsed.admin };
    },
  };
}

/**
 * Ends a process that is still running (afterAll): SIGTERM and up to `graceMs` to exit when
 * `graceMs` is given, then SIGKILL; resolves once it has exited.
 */
export async function stopProflag(p: ProflagProcess | undefined, graceMs = 0): Promise<void> {
  if (!p) return;
  const running = () => p.child.exitCode === null && p.child.signalCode === null;
  if (!running()) return;
  if (graceMs > 0) {
    p.child.kill('SIGTERM');
    await Promise.race([p.exited, new Promise((r) => setTimeout(r, graceMs))]);
    if (!running()) return;
  }
  p.child.kill('SIGKILL');
  await p.exited;
}

/** Whether `predicate` holds within `timeoutMs`, asked every `everyMs`. */
export async function waitFor(
  predicate: () => boolean | Promise<boolean>,
  timeoutMs: number,
  everyMs = 50,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await predicate()) return true;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  return predicate();
}

/** True while a process with this pid exists. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The sum of a metric's samples in Prometheus text, over the samples whose labels match. */
export function metricSum(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const got = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => got[k] === v)) sum += Number(m[3]);
  }
  return sum;
}
