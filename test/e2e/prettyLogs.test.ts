// Logs a person can read: the same logger prints readable lines when stdout is a terminal (a
// pseudo-terminal from util-linux's `script`, as a person's shell would give `npm start`) and
// JSON lines when stdout is a pipe (what log collectors and test/e2e/process.test.ts see).
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PROGRAM = [
  "import { createLogger } from './src/telemetry/logger.ts';",
  "createLogger('info').info({ flags: 3, ip: '203.0.113.9' }, 'proflag started');",
].join(' ');
const NODE_ARGS = ['--import', 'tsx', '--input-type=module', '-e', PROGRAM];
const HAS_SCRIPT = spawnSync('script', ['--version']).status === 0;

function run(command: string, args: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd: ROOT, env: { PATH: process.env.PATH ?? '', TERM: 'dumb' } });
    let out = '';
    child.stdout.on('data', (d) => (out += String(d)));
    child.stderr.on('data', (d) => (out += String(d)));
    child.on('exit', (code) => resolve({ code, out }));
  });
}

describe('log format by stdout', () => {
  it('is JSON on a pipe', async () => {
    const { code, out } = await run(process.execPath, NODE_ARGS);
    expect(code).toBe(0);
    expect(JSON.parse(out.trim())).toMatchObject({ msg: 'proflag started', flags: 3, ip: '[redacted]' });
  });

  // `script` ships with util-linux on Debian (bsdutils, essential); without it there is no
  // terminal to give the child, which is the only thing this case tests.
  it.skipIf(!HAS_SCRIPT)('is readable on a terminal', async () => {
    const quoted = [process.execPath, ...NODE_ARGS].map((a) => `'${a.replaceAll("'", `'\\''`)}'`).join(' ');
    const { code, out } = await run('script', ['-qec', quoted, '/dev/null']);
    expect(code).toBe(0);
    const text = out.replace(/\x1b\[[0-9;]*m/g, ''); // without colour codes
    expect(text).toMatch(/\[\d\d:\d\d:\d\d\.\d{3}\] INFO: proflag started/);
    expect(text).toContain('ip: "[redacted]"');
    expect(text).not.toContain('{"level"');
  });
});
