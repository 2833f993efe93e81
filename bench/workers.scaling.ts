// PROFLAG_WORKERS scaling, measured with h2load against the real process tree (compiled
// dist/main.js, the decision bench's 1,000 flags with 10,000 UA exemplars in a file store).
// Not part of `npm run bench` (it wants the machine to itself for a few minutes):
//
//   npm run build && npx tsx bench/workers.scaling.ts [--rounds 3] [--seconds 10]
//
// h2load sends one gRPC-framed ProcessingRequest (request_headers, 14 headers as Envoy sends
// them) per stream: -c 4 connections, -m 16 streams each (64 in flight), for --seconds after
// a 2 s warm-up. Connection recycling is off (PROFLAG_STREAMS_PER_CONNECTION=0): h2load ends a
// client on GOAWAY instead of reconnecting; the 4 connections spread over the workers when
// they connect (node:cluster hands accepted connections out in turn). Each round starts 1 and
// 2 workers in alternating order. Two layouts:
//   pinned  the server tree (primary and workers) on CPU 0, h2load on CPU 1 (taskset): both
//           worker counts get one core, so the ratio shows what the cluster costs, not gains;
//   shared  no pinning: the server and h2load share both cores, as they would on a 2-core
//           machine; 1 worker can use at most one core, 2 workers what h2load leaves.
// Figures per run: requests/s (h2load), server CPU per request (utime+stime of the primary
// and every worker from /proc, over the measured window, divided by the decisions the server
// counted), h2load's own CPU, failed streams, and how the decisions split over workers.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { officialExtProcClient } from '../test/helpers/envoyEmulator.js';
import { metricSum } from '../test/helpers/proflagProcess.js';
import { loadFixtures, randomRequest, requestHeadersMessage } from './lib/fixtures.js';
import { createRng, median, round } from './lib/stats.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
};
const ROUNDS = arg('rounds', 3);
const SECONDS = arg('seconds', 10);
const TICKS_PER_SECOND = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
const HAVE_TASKSET = existsSync('/usr/bin/taskset');

type Layout = 'pinned' | 'shared';

interface Run {
  readonly layout: Layout;
  readonly workers: number;
  readonly rps: number;
  readonly succeeded: number;
  readonly failed: number;
  readonly meanLatencyMs: number;
  readonly serverCpuUsPerRequest: number;
  /** Server CPU over the window, in cores (1 = one core busy all the time). */
  readonly serverCores: number;
  readonly h2loadCores: number;
  /** Share of the decisions made by each worker. */
  readonly split: readonly number[];
}

function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

function prefixed(cpu: string | null, command: string, args: string[]): [string, string[]] {
  return cpu !== null && HAVE_TASKSET ? ['taskset', ['-c', cpu, command, ...args]] : [command, args];
}

async function startServer(workers: number, flagsDir: string, cpu: string | null) {
  const [cmd, args] = prefixed(cpu, process.execPath, [join(ROOT, 'dist/main.js')]);
  const child: ChildProcess = spawn(cmd, args, {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      PROFLAG_WORKERS: String(workers),
      PROFLAG_STORE: 'file',
      PROFLAG_FLAGS_DIR: flagsDir,
      PROFLAG_GRPC_ADDR: '127.0.0.1:0',
      PROFLAG_ADMIN_ADDR: '127.0.0.1:0',
      PROFLAG_UA_HASH_KEY: 'workers-scaling-bench-key',
      PROFLAG_XFF_TRUSTED_HOPS: '1',
      // h2load does not reconnect after a GOAWAY (a recycled connection ends that client), and
      // it never resets streams, so recycling is not needed here; Envoy keeps it on.
      PROFLAG_STREAMS_PER_CONNECTION: '0',
      LOG_LEVEL: 'info',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += String(d)));
  child.stderr!.on('data', (d) => (out += String(d)));
  const deadline = Date.now() + 60_000;
  while (!out.includes('"proflag started"')) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`server did not start:\n${out}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const line = JSON.parse(out.split('\n').find((l) => l.includes('"proflag started"'))!) as {
    grpc: string;
    admin: number;
  };
  const admin = `http://127.0.0.1:${line.admin}`;
  // With one worker (no cluster) the process itself serves; with more, ask /readyz for pids.
  let pids = [child.pid!];
  if (workers > 1) {
    const ready = (await (await fetch(`${admin}/readyz`)).json()) as { detail: { workers: { pid: number }[] } };
    pids = [child.pid!, ...ready.detail.workers.map((w) => w.pid)];
  }
  return {
    grpc: line.grpc,
    admin,
    // taskset execs node in place: the child's pid is the server's.
    pids,
    async stop() {
      child.kill('SIGTERM');
      if (child.exitCode === null) await new Promise((r) => child.once('exit', r));
    },
  };
}

function h2load(target: string, bodyFile: string, seconds: number, cpu: string | null) {
  const [cmd, args] = prefixed(cpu, '/usr/bin/time', [
    '-f',
    'CPU %U %S',
    'h2load',
    '-c',
    '4',
    '-m',
    '16',
    '-D',
    String(seconds),
    '-d',
    bodyFile,
    '-H',
    'content-type: application/grpc',
    '-H',
    'te: trailers',
    `http://${target}/envoy.service.ext_proc.v3.ExternalProcessor/Process`,
  ]);
  return new Promise<{ rps: number; succeeded: number; failed: number; meanMs: number; cpuSeconds: number }>(
    (resolve, reject) => {
      const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (d) => (out += String(d)));
      child.stderr.on('data', (d) => (out += String(d)));
      child.on('exit', () => {
        const rps = /finished in [\d.]+\w+, ([\d.]+) req\/s/.exec(out);
        const reqs = /requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed, (\d+) errored/.exec(
          out,
        );
        const lat = /time for request:\s+\S+\s+\S+\s+(\S+)/.exec(out);
        const cpu = /CPU ([\d.]+) ([\d.]+)/.exec(out);
        if (!rps || !reqs || !lat || !cpu) {
          reject(new Error(`unexpected h2load output:\n${out}`));
          return;
        }
        const meanText = lat[1]!;
        const meanMs = meanText.endsWith('us') ? Number.parseFloat(meanText) / 1000 : Number.parseFloat(meanText);
        resolve({
          rps: Number(rps[1]),
          succeeded: Number(reqs[1]),
          failed: Number(reqs[2]) + Number(reqs[3]),
          meanMs,
          cpuSeconds: Number(cpu[1]) + Number(cpu[2]),
        });
      });
    },
  );
}

async function measure(layout: Layout, workers: number, flagsDir: string, bodyFile: string): Promise<Run> {
  const server = await startServer(workers, flagsDir, layout === 'pinned' ? '0' : null);
  const loadCpu = layout === 'pinned' ? '1' : null;
  try {
    await h2load(server.grpc, bodyFile, 2, loadCpu); // warm-up (JIT, caches, connections)
    const metricsBefore = await (await fetch(`${server.admin}/metrics`)).text();
    const ticksBefore = server.pids.reduce((s, pid) => s + cpuTicks(pid), 0);
    const started = performance.now();
    const load = await h2load(server.grpc, bodyFile, SECONDS, loadCpu);
    const elapsed = (performance.now() - started) / 1000;
    const ticksAfter = server.pids.reduce((s, pid) => s + cpuTicks(pid), 0);
    const metricsAfter = await (await fetch(`${server.admin}/metrics`)).text();
    const decisions =
      metricSum(metricsAfter, 'proflag_decisions_total') - metricSum(metricsBefore, 'proflag_decisions_total');
    const perWorker = Array.from(
      { length: workers },
      (_, i) =>
        metricSum(metricsAfter, 'proflag_cluster_worker_decisions_total', { worker: String(i + 1) }) -
        metricSum(metricsBefore, 'proflag_cluster_worker_decisions_total', { worker: String(i + 1) }),
    );
    const fallbacks = metricSum(metricsAfter, 'proflag_fallbacks_total');
    if (fallbacks > 0) throw new Error(`${fallbacks} requests fell back to CONTINUE: not a valid measurement`);
    const cpuSeconds = (ticksAfter - ticksBefore) / TICKS_PER_SECOND;
    return {
      layout,
      workers,
      rps: load.rps,
      succeeded: load.succeeded,
      failed: load.failed,
      meanLatencyMs: load.meanMs,
      serverCpuUsPerRequest: (cpuSeconds * 1e6) / Math.max(1, decisions),
      serverCores: cpuSeconds / elapsed,
      h2loadCores: load.cpuSeconds / elapsed,
      split: workers > 1 ? perWorker.map((d) => d / Math.max(1, decisions)) : [1],
    };
  } finally {
    await server.stop();
  }
}

async function main(): Promise<void> {
  if (!existsSync(join(ROOT, 'dist/main.js')))
    throw new Error('run `npm run build` first (the bench runs dist/main.js)');
  const fx = loadFixtures();
  const dir = mkdtempSync(join(tmpdir(), 'proflag-scaling-'));
  const flagsDir = join(dir, 'flags');
  execFileSync('mkdir', ['-p', flagsDir]);
  for (const f of fx.flags) writeFileSync(join(flagsDir, `${f.name}.json`), JSON.stringify(f));
  const encode = officialExtProcClient().service.Process!.requestSerialize as (m: unknown) => Buffer;
  const rng = createRng(17);
  const message = encode(requestHeadersMessage(randomRequest(rng, fx, fx.userAgents.slice(0, 50)), rng));
  const frame = Buffer.alloc(5 + message.length);
  frame.writeUInt32BE(message.length, 1);
  message.copy(frame, 5);
  const bodyFile = join(dir, 'request.bin');
  writeFileSync(bodyFile, frame);

  const load = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  console.log(
    `workers scaling: ${SECONDS} s × ${ROUNDS} rounds per case, h2load -c 4 -m 16, taskset ${HAVE_TASKSET ? 'yes' : 'no'}, load average ${load()}`,
  );
  const runs: Run[] = [];
  for (const layout of ['pinned', 'shared'] as const) {
    if (layout === 'pinned' && !HAVE_TASKSET) continue;
    for (let r = 0; r < ROUNDS; r++) {
      for (const workers of r % 2 === 0 ? [1, 2] : [2, 1]) {
        const run = await measure(layout, workers, flagsDir, bodyFile);
        runs.push(run);
        console.log(
          `  ${layout} ${workers} worker(s): ${round(run.rps, 0)} req/s, server ${round(run.serverCpuUsPerRequest, 1)} µs CPU/req ` +
            `(${round(run.serverCores, 2)} cores), h2load ${round(run.h2loadCores, 2)} cores, mean ${round(run.meanLatencyMs, 2)} ms, ` +
            `failed ${run.failed}, split ${run.split.map((s) => round(s, 2)).join('/')}`,
        );
      }
    }
  }
  console.log(`\nmedians (load average at the end ${load()}):`);
  console.log('  layout   workers   req/s   server µs CPU/req   server cores   h2load cores   failed');
  const summary: Record<string, Record<string, number>> = {};
  for (const layout of ['pinned', 'shared'] as const) {
    for (const workers of [1, 2]) {
      const set = runs.filter((r) => r.layout === layout && r.workers === workers);
      if (set.length === 0) continue;
      const s = {
        rps: median(set.map((r) => r.rps)),
        cpuUs: median(set.map((r) => r.serverCpuUsPerRequest)),
        cores: median(set.map((r) => r.serverCores)),
        h2load: median(set.map((r) => r.h2loadCores)),
        failed: set.reduce((n, r) => n + r.failed, 0),
      };
      summary[`${layout}.${workers}`] = s;
      console.log(
        `  ${layout.padEnd(8)} ${String(workers).padStart(7)}   ${String(round(s.rps, 0)).padStart(5)}   ${String(round(s.cpuUs, 1)).padStart(17)}   ${String(round(s.cores, 2)).padStart(12)}   ${String(round(s.h2load, 2)).padStart(12)}   ${s.failed}`,
      );
    }
    const one = summary[`${layout}.1`];
    const two = summary[`${layout}.2`];
    if (one && two)
      console.log(
        `  ${layout}: 2 workers ÷ 1 worker: ${round(two.rps! / one.rps!, 2)}× req/s, ${round(two.cpuUs! / one.cpuUs!, 2)}× CPU per request`,
      );
  }
}

await main();
