// Makes sure the integration tests have a Redis: when REDIS_URL is unset and nothing answers
// on 127.0.0.1:6379 (and no Docker engine gives testcontainers one), start a throwaway
// redis-server on a free port for this run and point REDIS_URL at it.
import { spawn, type ChildProcess } from 'node:child_process';
import { createConnection } from 'node:net';
import { freePort } from '../helpers/redisServer.js';

function answers(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => {
      socket.write('PING\r\n');
      socket.once('data', (d) => done(d.toString().startsWith('+PONG')));
    });
  });
}

let child: ChildProcess | null = null;

export async function setup(): Promise<void> {
  if (process.env.REDIS_URL) return;
  if (await answers('127.0.0.1', 6379)) return;
  const port = await freePort();
  child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: 'ignore',
  });
  const spawned = await new Promise<boolean>((resolve) => {
    child!.once('error', () => resolve(false));
    child!.once('spawn', () => resolve(true));
  });
  if (!spawned) {
    child = null;
    process.stderr.write('test setup: no Redis at 127.0.0.1:6379 and no redis-server to start one\n');
    return;
  }
  for (let i = 0; i < 100 && !(await answers('127.0.0.1', port)); i++) await new Promise((r) => setTimeout(r, 50));
  process.env.REDIS_URL = `redis://127.0.0.1:${port}`;
}

export async function teardown(): Promise<void> {
  child?.kill('SIGTERM');
}
