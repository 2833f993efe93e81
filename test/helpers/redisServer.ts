// A redis-server child process of our own, on a free port, without persistence, that a test
// can kill and start again on the same port (Redis down at start, Redis lost mid-run, Redis
// back empty). Needs the redis-server binary; `redisServerAvailable()` says whether it is.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createConnection, createServer } from 'node:net';

export function redisServerAvailable(): boolean {
  const r = spawnSync('redis-server', ['--version'], { stdio: 'ignore' });
  return r.status === 0;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** One PING over a raw socket: true on +PONG within `timeoutMs`. */
export function pingPort(port: number, timeoutMs = 300, anyAnswer = false): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => {
      socket.write('PING\r\n');
      socket.once('data', (d) => done(anyAnswer || d.toString().startsWith('+PONG')));
    });
  });
}

export interface RedisServer {
  readonly port: number;
  readonly url: string;
  readonly running: boolean;
  /** Start (again) on the same port; resolves when it answers PING. Data starts empty. */
  start(): Promise<void>;
  /** SIGKILL and wait for the process to be gone (no graceful shutdown, nothing saved). */
  kill(): Promise<void>;
  /** SIGSTOP / SIGCONT: a hung server that keeps its sockets open. */
  pause(): void;
  resume(): void;
}

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

/**
 * A server on a free port; not started unless `start` is true (the default). `args` are
 * extra redis-server arguments (e.g. `['--requirepass', 'pw']`).
 */
export async function redisServer(options: { start?: boolean; args?: string[] } = {}): Promise<RedisServer> {
  const port = await freePort();
  let child: ChildProcess | null = null;

  const server: RedisServer = {
    port,
    url: `redis://127.0.0.1:${port}`,
    get running() {
      return child !== null;
    },
    async start() {
      if (child) return;
      const c = spawn(
        'redis-server',
        [
          ...['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
          ...['--protected-mode', 'no', ...(options.args ?? [])],
        ],
        { stdio: 'ignore' },
      );
      child = c;
      live.add(c);
      c.once('exit', () => {
        live.delete(c);
        if (child === c) child = null;
      });
      const deadline = Date.now() + 5000;
      // With a password PING answers -NOAUTH: any answer means it is up.
      while (!(await pingPort(port, 300, (options.args ?? []).includes('--requirepass')))) {
        if (child !== c) throw new Error(`redis-server on port ${port} exited during start`);
        if (Date.now() > deadline) throw new Error(`redis-server on port ${port} did not answer within 5 s`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    pause() {
      child?.kill('SIGSTOP');
    },
    resume() {
      child?.kill('SIGCONT');
    },
    async kill() {
      const c = child;
      if (!c) return;
      c.kill('SIGCONT');
      const gone = new Promise<void>((resolve) => c.once('exit', () => resolve()));
      c.kill('SIGKILL');
      await gone;
      child = null;
    },
  };
  if (options.start ?? true) await server.start();
  return server;
}
