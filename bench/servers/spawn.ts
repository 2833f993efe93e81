// Start a bench server as a child process (`node --import tsx <script>`), wait for the
// `PORT <n>` line, and give the parent its port, pid, IPC stats (harness servers only) and stop.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import type { ServerStats } from './harness.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface ChildServer {
  readonly port: number;
  readonly child: ChildProcess;
  stats(): Promise<ServerStats>;
  stop(): Promise<void>;
}

export async function spawnServer(script: string, env: Record<string, string> = {}): Promise<ChildServer> {
  // BENCH_SERVER_NODE_ARGS: extra node flags for the servers, e.g. "--cpu-prof".
  const extra = (process.env.BENCH_SERVER_NODE_ARGS ?? '').split(' ').filter((a) => a !== '');
  const child = spawn(process.execPath, [...extra, '--import', 'tsx', script], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`${script} did not print its port in 60 s`)), 60_000);
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString('utf8');
      const m = /PORT (\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${script} exited (${code}) before listening`));
    });
  });
  return {
    port,
    child,
    async stats() {
      child.send('stats');
      const [msg] = (await once(child, 'message')) as [ServerStats];
      return msg;
    },
    async stop() {
      if (child.exitCode !== null) return;
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 3_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
