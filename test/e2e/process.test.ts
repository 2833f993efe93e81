// The sidecar as a process: starts with the example flags, answers Envoy, ends cleanly on
// SIGTERM within a few seconds, and refuses a bad configuration with a clear message.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { EnvoyEmulator } from '../helpers/envoyEmulator.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

function startProcess(env: Record<string, string>) {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d) => (output += String(d)));
  child.stderr.on('data', (d) => (output += String(d)));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, exited, output: () => output };
}

async function waitFor(predicate: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  return predicate();
}

describe('the proflag process', () => {
  it('serves the example flags and stops cleanly on SIGTERM', async () => {
    const p = startProcess({
      PROFLAG_STORE: 'file',
      PROFLAG_GRPC_ADDR: '127.0.0.1:0',
      PROFLAG_ADMIN_ADDR: '127.0.0.1:0',
      PROFLAG_UA_HASH_KEY: 'process-test-key-123',
    });
    expect(await waitFor(() => p.output().includes('proflag started'), 20_000)).toBe(true);
    const started = JSON.parse(
      p
        .output()
        .split('\n')
        .find((l) => l.includes('proflag started'))!,
    ) as { grpc: string };
    // A generous message timeout: the first request meets cold code, on a machine that may be
    // busy; this test is about the process, not latency (Envoy's 200 ms would fail open).
    const envoy = new EnvoyEmulator(started.grpc.replace('0.0.0.0', '127.0.0.1'), { messageTimeoutMs: 2_000 });
    const out = await envoy.request({ path: '/anything', headers: { 'user-agent': 'curl/8.1.2' } });
    envoy.close();
    expect(out.error).toBeNull();
    expect(out.cluster).toBe('backend_quarantine');

    const t0 = Date.now();
    p.child.kill('SIGTERM');
    expect(await p.exited).toBe(0);
    expect(Date.now() - t0).toBeLessThan(6000);
    expect(p.output()).toContain('proflag stopped');
  });

  it('refuses a bad configuration with exit code 2 and says why', async () => {
    const p = startProcess({ PROFLAG_TZ: 'Mars/Olympus', PROFLAG_RESYNC_MS: 'soon' });
    expect(await p.exited).toBe(2);
    expect(p.output()).toMatch(/PROFLAG_TZ/);
    expect(p.output()).toMatch(/PROFLAG_RESYNC_MS/);
  });
});
