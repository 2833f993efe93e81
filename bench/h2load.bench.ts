// The judged ext_proc throughput bench (QUALITY.md): h2load on loopback, gRPC-framed
// request-headers messages (Envoy-shaped ProcessingRequests, six request shapes), 64 streams
// in flight over 4 connections (`-c 4 -m 16`), against proflag with 1,000 flags and against a
// plain grpc-js no-op ext_proc server (its own process, no proflag code), alternated in pairs
// in one run. Figures per server and pair: requests/s, p50/p99 from h2load's per-request log,
// server CPU per request (from /proc/<pid>/stat), failed streams: h2load's failed, errored
// and non-2xx, plus the gRPC statuses h2load cannot see (a grpc-js client checks each shape's
// status and reply on every server first; proflag's own counters report any non-OK status).
//
// BENCH_H2LOAD_OPTIONS=1 also runs the gRPC server options of docs/benchmarks.md (grpc-js as
// proflag configured it before, grpc-js tuned, connect-node), each with proflag's decision.
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import type { HeaderValue, ProcessingRequest } from '../src/extproc/protocol.js';
import { officialExtProcClient } from '../test/helpers/envoyEmulator.js';
import { envoyHeaderList, loadFixtures, randomRequest, type RequestSpec } from './lib/fixtures.js';
import { createRng, median, percentiles } from './lib/stats.js';
import { spawnServer, type ChildServer } from './servers/spawn.js';

const run = promisify(execFile);
const PROCESS_PATH = '/envoy.service.ext_proc.v3.ExternalProcessor/Process';
const CLOCK_TICKS_PER_SECOND = 100;

export interface H2loadBenchOptions {
  readonly quick: boolean;
  /** Alternated pairs (baseline, server) per compared server. */
  readonly pairs: number;
  /** h2load duration per request shape and server in each pair. */
  readonly msPerShape: number;
  readonly log: (line: string) => void;
  /** Also measure the gRPC server options (docs/benchmarks.md). */
  readonly options?: boolean;
}

export interface H2loadServerFigures {
  /** Medians over pairs. */
  rps: number;
  p50Ms: number;
  p99Ms: number;
  cpuUsPerRequest: number;
  /** Requests per second of server CPU time: 1e6 / cpuUsPerRequest. */
  rpsPerCore: number;
  /** Summed over pairs. */
  requests: number;
  failed: number;
}

export interface H2loadComparison {
  name: string;
  figures: H2loadServerFigures;
  /** Median over pairs of (this rps ÷ the no-op's rps in the same pair). */
  rpsRatio: number;
  /** Median over pairs of (this CPU per request ÷ the no-op's), inverted: CPU-bound speed-up. */
  cpuRatio: number;
  /** Median over pairs of (this p99 − the no-op's p99), ms. */
  addedP99Ms: number;
}

export type H2loadResult =
  | { skipped: string }
  | {
      h2loadVersion: string;
      connections: number;
      streamsPerConnection: number;
      shapes: number;
      pairs: number;
      secondsPerShape: number;
      baseline: H2loadServerFigures;
      proflag: H2loadComparison;
      options: H2loadComparison[];
      /** grpc-status and reply checked with a grpc-js client per shape and server: all OK. */
      statusChecks: number;
      statusFailures: number;
    };

// ---- the request shapes ------------------------------------------------------------------

const h = (key: string, value: string): HeaderValue => ({ key, raw_value: Buffer.from(value, 'latin1') });

/** Six Envoy-shaped request-headers messages: browser, API, write, scripted, attributes, large. */
export function requestShapes(): { name: string; message: ProcessingRequest }[] {
  const fx = loadFixtures();
  const rng = createRng(2024);
  const spec = (overrides: Partial<RequestSpec>): RequestSpec => ({
    ...randomRequest(rng, fx, fx.userAgents.slice(0, 64)),
    ...overrides,
  });
  const message = (s: RequestSpec, extra: HeaderValue[] = [], attributes = false): ProcessingRequest => {
    const m: ProcessingRequest = {
      request_headers: { headers: { headers: [...envoyHeaderList(s, rng), ...extra] }, end_of_stream: !s.bodyBytes },
    };
    if (attributes) {
      m.attributes = {
        'envoy.filters.http.ext_proc': { fields: { 'source.address': { stringValue: `${s.clientIp}:51234` } } },
      };
    }
    return m;
  };
  return [
    { name: 'browser page', message: message(spec({ method: 'GET', path: '/checkout', bodyBytes: null })) },
    { name: 'API read', message: message(spec({ method: 'GET', path: '/api/v1/orders/4711', bodyBytes: null })) },
    { name: 'API write', message: message(spec({ method: 'POST', path: '/api/v2/carts/77/items', bodyBytes: 512 })) },
    {
      name: 'scripted client',
      message: message(spec({ method: 'GET', path: '/api/v1/products?page=2', userAgent: 'curl/8.5.0' })),
    },
    {
      name: 'source.address attribute',
      message: message(spec({ method: 'GET', path: '/api/v1/users/12/orders', bodyBytes: null }), [], true),
    },
    {
      name: '40 headers',
      message: message(
        spec({ method: 'GET', path: '/search?q=shoes', bodyBytes: null }),
        Array.from({ length: 26 }, (_, i) => h(`x-custom-${i}`, `value-${i}-${'x'.repeat(i * 4)}`)),
      ),
    },
  ];
}

function grpcFrame(message: Buffer): Buffer {
  const out = Buffer.alloc(5 + message.length);
  out.writeUInt32BE(message.length, 1);
  message.copy(out, 5);
  return out;
}

// ---- measuring -----------------------------------------------------------------------------

function cpuTicks(pid: number): number {
  // /proc/<pid>/stat: the command may contain spaces, so count from the closing parenthesis.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15)
}

interface Load {
  requests: number;
  failed: number;
  seconds: number;
  latenciesUs: number[];
  cpuUs: number;
}

async function h2load(port: number, dataFile: string, ms: number, logFile: string): Promise<Omit<Load, 'cpuUs'>> {
  const { stdout } = await run(
    'h2load',
    [
      '-D',
      `${ms}ms`,
      '-c',
      '4',
      '-m',
      '16',
      '-d',
      dataFile,
      '-H',
      'content-type: application/grpc',
      '-H',
      'te: trailers',
      `--log-file=${logFile}`,
      `http://127.0.0.1:${port}${PROCESS_PATH}`,
    ],
    { maxBuffer: 16 * 1024 * 1024 },
  );
  const finished = /finished in ([\d.]+)(ms|s)/.exec(stdout);
  const counts = /requests: (\d+) total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored/.exec(
    stdout,
  );
  const codes = /status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/.exec(stdout);
  if (!finished || !counts || !codes) throw new Error(`unexpected h2load output:\n${stdout}`);
  const seconds = Number(finished[1]) / (finished[2] === 'ms' ? 1000 : 1);
  const done = Number(counts[2]);
  const succeeded = Number(counts[3]);
  const non2xx = Number(codes[2]) + Number(codes[3]) + Number(codes[4]);
  const latenciesUs: number[] = [];
  for (const line of readFileSync(logFile, 'utf8').split('\n')) {
    const cols = line.split('\t');
    if (cols.length === 3 && cols[1] === '200') latenciesUs.push(Number(cols[2]));
  }
  // done − succeeded is h2load's failed + errored (+ timeouts); a non-2xx answer also failed.
  return {
    requests: done,
    failed: done - succeeded + non2xx,
    seconds,
    latenciesUs,
  };
}

/**
 * One server through every shape; CPU read around the whole pass. For proflag's harness
 * servers the calls that ended with a non-OK gRPC status (which h2load counts as 2xx) are
 * added to the failures.
 */
async function measure(
  server: ChildServer,
  files: readonly string[],
  ms: number,
  dir: string,
  reportsStatuses = false,
): Promise<Load> {
  const pid = server.child.pid!;
  const nonOkBefore = reportsStatuses ? (await server.stats()).nonOkCalls : 0;
  const before = cpuTicks(pid);
  const total: Load = { requests: 0, failed: 0, seconds: 0, latenciesUs: [], cpuUs: 0 };
  for (const [i, file] of files.entries()) {
    const r = await h2load(server.port, file, ms, path.join(dir, `log-${i}.tsv`));
    total.requests += r.requests;
    total.failed += r.failed;
    total.seconds += r.seconds;
    for (const l of r.latenciesUs) total.latenciesUs.push(l);
  }
  total.cpuUs = ((cpuTicks(pid) - before) * 1e6) / CLOCK_TICKS_PER_SECOND;
  if (reportsStatuses) total.failed += (await server.stats()).nonOkCalls - nonOkBefore;
  return total;
}

/** A grpc-js client sends each shape: the status must be OK and the reply a request_headers one. */
async function checkStatuses(port: number, messages: readonly Buffer[]): Promise<{ checked: number; failed: number }> {
  const Ctor = officialExtProcClient();
  const decode = Ctor.service.Process!.responseDeserialize as (b: Buffer) => { request_headers?: unknown };
  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  let failed = 0;
  try {
    for (const bytes of messages) {
      const ok = await new Promise<boolean>((resolve) => {
        const call = client.makeBidiStreamRequest(
          PROCESS_PATH,
          (b: Buffer) => b,
          (b: Buffer) => b,
        );
        let replies = 0;
        let good = true;
        call.on('data', (b: Buffer) => {
          replies++;
          if (!decode(b).request_headers) good = false;
        });
        call.on('status', (s: grpc.StatusObject) => resolve(good && replies === 1 && s.code === grpc.status.OK));
        call.on('error', () => {});
        call.write(bytes);
        call.end();
      });
      if (!ok) failed++;
    }
  } finally {
    client.close();
  }
  return { checked: messages.length, failed };
}

function figures(loads: readonly Load[]): H2loadServerFigures {
  const perPair = loads.map((l) => {
    const [p50, p99] = percentiles(l.latenciesUs, [50, 99]);
    return {
      rps: l.requests / l.seconds,
      p50Ms: p50! / 1000,
      p99Ms: p99! / 1000,
      cpu: l.cpuUs / Math.max(1, l.requests),
    };
  });
  const cpu = median(perPair.map((p) => p.cpu));
  return {
    rps: median(perPair.map((p) => p.rps)),
    p50Ms: median(perPair.map((p) => p.p50Ms)),
    p99Ms: median(perPair.map((p) => p.p99Ms)),
    cpuUsPerRequest: cpu,
    rpsPerCore: 1e6 / cpu,
    requests: loads.reduce((s, l) => s + l.requests, 0),
    failed: loads.reduce((s, l) => s + l.failed, 0),
  };
}

interface Contender {
  readonly name: string;
  readonly script: string;
  readonly env?: Record<string, string>;
  /** A harness server (bench/servers/harness.ts) that reports its non-OK statuses over IPC. */
  readonly harness?: boolean;
}

/**
 * h2load ends every stream cleanly (no RST_STREAM, so Node's reset budget is never spent) and
 * does not reconnect after a GOAWAY, so proflag's connection recycling is off here; section 2b
 * (Envoy-like streams) runs with it on.
 */
const NO_RECYCLING = { PROFLAG_STREAMS_PER_CONNECTION: '0' };

const PROFLAG: Contender = {
  name: 'proflag (node:http2 edge), 1,000 flags',
  script: 'bench/servers/proflagServer.ts',
  env: NO_RECYCLING,
  harness: true,
};
const OPTIONS: readonly Contender[] = [
  {
    name: 'proflag node:http2 edge, no-op handler (the edge alone)',
    script: 'bench/servers/noopServer.ts',
    env: NO_RECYCLING,
    harness: true,
  },
  { name: 'grpc-js as configured before, same decision', script: 'bench/servers/grpcjsProflagServer.ts' },
  {
    name: 'grpc-js tuned, same decision',
    script: 'bench/servers/grpcjsProflagServer.ts',
    env: { BENCH_GRPCJS_TUNED: '1' },
  },
  { name: 'connect-node (gRPC protocol), same decision', script: 'bench/servers/connectProflagServer.ts' },
];

export async function runH2loadBench(opts: H2loadBenchOptions): Promise<H2loadResult> {
  const { log } = opts;
  const probe = spawnSync('h2load', ['--version'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) {
    const why = 'h2load is not installed (Debian package nghttp2-client); the h2load section is skipped';
    log(`h2load: ${why}`);
    return { skipped: why };
  }
  const version = (probe.stdout.trim().split('\n')[0] ?? '').replace(/^h2load\s*/, '');
  const encode = officialExtProcClient().service.Process!.requestSerialize as (m: ProcessingRequest) => Buffer;
  const shapes = requestShapes();
  const encoded = shapes.map((s) => encode(s.message));
  const dir = mkdtempSync(path.join(tmpdir(), 'proflag-h2load-'));
  const files = encoded.map((bytes, i) => {
    const file = path.join(dir, `shape-${i}.grpc`);
    writeFileSync(file, grpcFrame(bytes));
    return file;
  });

  // BENCH_H2LOAD_ONLY=2,4: a subset of the options by position (1-based), for profiling.
  const only = (process.env.BENCH_H2LOAD_ONLY ?? '')
    .split(',')
    .filter((x) => x !== '')
    .map(Number);
  const options = opts.options ? OPTIONS.filter((_, i) => only.length === 0 || only.includes(i + 1)) : [];
  const contenders = [PROFLAG, ...options];
  const servers: ChildServer[] = [];
  try {
    const started = await Promise.allSettled([
      spawnServer('bench/servers/grpcNoopServer.ts'),
      ...contenders.map((c) => spawnServer(c.script, c.env ?? {})),
    ]);
    for (const s of started) if (s.status === 'fulfilled') servers.push(s.value);
    const failure = started.find((s) => s.status === 'rejected');
    if (failure) throw (failure as PromiseRejectedResult).reason;
    const [baseline, ...others] = servers as [ChildServer, ...ChildServer[]];
    log(
      `h2load ${version}: ${shapes.length} request shapes, -c 4 -m 16, ${opts.pairs} alternated pair(s), ` +
        `${opts.msPerShape} ms per shape; plain grpc-js no-op on :${baseline.port}`,
    );

    let statusChecks = 0;
    let statusFailures = 0;
    for (const s of servers) {
      const r = await checkStatuses(s.port, encoded);
      statusChecks += r.checked;
      statusFailures += r.failed;
    }

    // Warm every server (JIT, caches) before the first timed pair.
    const warmMs = opts.quick ? 200 : 1_000;
    for (const s of servers) await measure(s, files.slice(0, 2), warmMs, dir);

    const baselineLoads: Load[] = [];
    const results = others.map(() => ({
      loads: [] as Load[],
      ratios: [] as number[],
      cpu: [] as number[],
      p99: [] as number[],
    }));
    for (let pair = 0; pair < opts.pairs; pair++) {
      for (const [i, server] of others.entries()) {
        // Alternate who goes first, so that drift on the machine hits both alike.
        const first = (pair + i) % 2 === 0;
        const a = first ? await measure(baseline, files, opts.msPerShape, dir) : null;
        const b = await measure(server, files, opts.msPerShape, dir, contenders[i]!.harness === true);
        const base = a ?? (await measure(baseline, files, opts.msPerShape, dir));
        baselineLoads.push(base);
        const r = results[i]!;
        r.loads.push(b);
        const [bf, sf] = [figures([base]), figures([b])];
        r.ratios.push(sf.rps / bf.rps);
        r.cpu.push(bf.cpuUsPerRequest / sf.cpuUsPerRequest);
        r.p99.push(sf.p99Ms - bf.p99Ms);
        log(
          `  pair ${pair + 1}/${opts.pairs} ${contenders[i]!.name}: ${sf.rps.toFixed(0)} req/s p99 ${sf.p99Ms.toFixed(2)} ms ` +
            `vs no-op ${bf.rps.toFixed(0)} req/s p99 ${bf.p99Ms.toFixed(2)} ms (${(sf.rps / bf.rps).toFixed(2)}×), ` +
            `failed ${b.failed}/${base.failed}`,
        );
      }
    }
    const comparisons: H2loadComparison[] = results.map((r, i) => ({
      name: contenders[i]!.name,
      figures: figures(r.loads),
      rpsRatio: median(r.ratios),
      cpuRatio: median(r.cpu),
      addedP99Ms: median(r.p99),
    }));
    return {
      h2loadVersion: version,
      connections: 4,
      streamsPerConnection: 16,
      shapes: shapes.length,
      pairs: opts.pairs,
      secondsPerShape: opts.msPerShape / 1000,
      baseline: figures(baselineLoads),
      proflag: comparisons[0]!,
      options: comparisons.slice(1),
      statusChecks,
      statusFailures,
    };
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
    rmSync(dir, { recursive: true, force: true });
  }
}
