// The real sidecar as a child process, for black-box abuse tests and the soak: started the
// way an operator starts it (src/main.ts, configuration from the environment), observed only
// from outside (its gRPC port, /metrics, /readyz, its pid and exit code).
//
// PROFLAG_SUT_ROOT=/path/to/other/checkout runs another checkout's sidecar under these tests
// (e.g. a branch with a new gRPC edge, before it is merged).
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { get } from 'node:http';
import { fileURLToPath } from 'node:url';

const HERE_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const SUT_ROOT = process.env.PROFLAG_SUT_ROOT ?? HERE_ROOT;

/**
 * Preloaded (`--import`, with --expose-gc) into the sidecar: SIGUSR2 runs a full garbage
 * collection and prints a marker line, so that "what the attack held is freed" is read from
 * /metrics as live heap, not as garbage V8 has not collected yet. Nothing else changes in the
 * process. A data: URL, so that it works for `node dist/main.js` as well as under tsx.
 */
const GC_PRELOAD =
  'data:text/javascript,' +
  encodeURIComponent(
    `process.on('SIGUSR2', () => {
       const gc = globalThis.gc;
       if (gc) { gc(); gc(); }
       process.stderr.write('[abuse-gc] ' + (gc ? 'done' : 'unavailable') + '\\n');
     });`,
  );

/** Keep the last bytes of the child's output only: an attack may make it log a lot. */
const MAX_OUTPUT_CHARS = 1 << 20;

export interface SidecarProcessOptions {
  /** Extra environment (PROFLAG_* limits, REDIS_URL, ...); file store with the examples otherwise. */
  readonly env?: Record<string, string>;
  /** How long to wait for "proflag started". */
  readonly startTimeoutMs?: number;
  /** tsx: the TypeScript sources (default); dist: the build (`npm run build`), as in production. */
  readonly runner?: 'tsx' | 'dist';
}

export interface SidecarProcess {
  readonly pid: number;
  /** "127.0.0.1:PORT" of the ext_proc listener. */
  readonly grpcAddress: string;
  readonly grpcPort: number;
  readonly adminPort: number;
  readonly alive: boolean;
  /** Exit code (or null when killed by a signal) once it has exited. */
  readonly exited: Promise<number | null>;
  output(): string;
  /** /metrics, parsed. */
  metrics(): Promise<Metrics>;
  /** A full GC in the sidecar (SIGUSR2 + the preload), then /metrics. */
  metricsAfterGc(): Promise<Metrics>;
  readyz(): Promise<{ status: number; body: Record<string, unknown> }>;
  /** Open file descriptors of the process, from /proc (sockets included). */
  openFds(): number;
  /** SIGTERM and wait; the exit code. */
  stop(timeoutMs?: number): Promise<number | null>;
  /** SIGKILL and wait. */
  kill(): Promise<void>;
}

// ---- Prometheus text ------------------------------------------------------------------------

export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export class Metrics {
  constructor(readonly samples: readonly Sample[]) {}

  static parse(text: string): Metrics {
    const samples: Sample[] = [];
    for (const line of text.split('\n')) {
      if (line.length === 0 || line.startsWith('#')) continue;
      const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
      if (!m) continue;
      const labels: Record<string, string> = {};
      for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
      samples.push({ name: m[1]!, labels, value: Number(m[3]) });
    }
    return new Metrics(samples);
  }

  /** Sum of a metric's samples whose labels include `labels`; 0 when absent. */
  sum(name: string, labels: Record<string, string> = {}): number {
    let total = 0;
    for (const s of this.samples) {
      if (s.name !== name) continue;
      if (Object.entries(labels).every(([k, v]) => s.labels[k] === v)) total += s.value;
    }
    return total;
  }

  has(name: string): boolean {
    return this.samples.some((s) => s.name === name);
  }

  /**
   * A default process metric by its prom-client base name (`resident_memory_bytes`,
   * `heap_size_used_bytes`, `eventloop_lag_p99_seconds`, `open_fds`), whatever prefix it is
   * exported with (`proflag_process_process_*` today, `proflag_process_*` after the rename).
   * Throws when the sidecar does not export it: a test must not pass on a missing figure.
   */
  process(base: string): number {
    const re = new RegExp(`^proflag_(?:process_)*(?:nodejs_)?${base}$`);
    const hit = this.samples.find((s) => re.test(s.name) && Object.keys(s.labels).length === 0);
    if (!hit) throw new Error(`/metrics has no process metric ending in ${base}`);
    return hit.value;
  }

  get rssBytes(): number {
    return this.process('resident_memory_bytes');
  }
  get heapUsedBytes(): number {
    return this.process('heap_size_used_bytes');
  }
  get eventLoopP99Seconds(): number {
    return this.process('eventloop_lag_p99_seconds');
  }
  get openFds(): number {
    return this.process('open_fds');
  }

  /** ext_proc streams that have ended (any outcome). */
  get streamsEnded(): number {
    return this.sum('proflag_extproc_streams_total');
  }
  /** request_headers messages received (one per request stream). */
  get requestHeaders(): number {
    return this.sum('proflag_extproc_messages_total', { kind: 'request_headers' });
  }
}

function httpGet(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = get({ host: '127.0.0.1', port, path, timeout: 10_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${path} timed out`)));
    req.on('error', reject);
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Poll until `predicate` holds or `timeoutMs` passes; the last value of the predicate. */
export async function waitUntil(predicate: () => boolean | Promise<boolean>, timeoutMs: number, everyMs = 50) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await predicate()) return true;
    if (Date.now() >= deadline) return false;
    await sleep(everyMs);
  }
}

/** The defaults of these tests: the example flags from files, a fixed UA key, geo by header. */
export const BASE_ENV: Readonly<Record<string, string>> = {
  PROFLAG_STORE: 'file',
  PROFLAG_FLAGS_DIR: fileURLToPath(new URL('../../../examples/flags', import.meta.url)),
  PROFLAG_GRPC_ADDR: '127.0.0.1:0',
  PROFLAG_ADMIN_ADDR: '127.0.0.1:0',
  PROFLAG_UA_HASH_KEY: 'abuse-test-key-0123456789',
  PROFLAG_GEO_HEADER: 'x-country',
  LOG_LEVEL: 'info',
};

export async function startSidecarProcess(options: SidecarProcessOptions = {}): Promise<SidecarProcess> {
  const entry = options.runner === 'dist' ? ['dist/main.js'] : ['--import', 'tsx', 'src/main.ts'];
  const child: ChildProcess = spawn(process.execPath, ['--expose-gc', '--import', GC_PRELOAD, ...entry], {
    cwd: SUT_ROOT,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', ...BASE_ENV, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  let gcMarks = 0;
  const append = (d: Buffer) => {
    const s = String(d);
    gcMarks += s.split('[abuse-gc]').length - 1;
    output += s;
    if (output.length > MAX_OUTPUT_CHARS) output = output.slice(-MAX_OUTPUT_CHARS / 2);
  };
  child.stdout!.on('data', append);
  child.stderr!.on('data', append);
  let alive = true;
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      alive = false;
      resolve(code);
    }),
  );

  let started: { grpc: string; admin: number } | null = null;
  const found = await waitUntil(() => {
    if (!alive) return true;
    const line = output.split('\n').find((l) => l.includes('"proflag started"'));
    if (line) started = JSON.parse(line) as { grpc: string; admin: number };
    return started !== null;
  }, options.startTimeoutMs ?? 30_000);
  if (!found || !started) {
    child.kill('SIGKILL');
    throw new Error(`the sidecar did not start:\n${output.slice(-4000)}`);
  }
  const { grpc, admin } = started as { grpc: string; admin: number };
  const grpcPort = Number(grpc.slice(grpc.lastIndexOf(':') + 1));
  const pid = child.pid!;

  const metrics = async () => Metrics.parse((await httpGet(admin, '/metrics')).body);
  return {
    pid,
    grpcAddress: `127.0.0.1:${grpcPort}`,
    grpcPort,
    adminPort: admin,
    get alive() {
      return alive;
    },
    exited,
    output: () => output,
    metrics,
    async metricsAfterGc() {
      const before = gcMarks;
      child.kill('SIGUSR2');
      if (!(await waitUntil(() => gcMarks > before, 10_000, 10))) throw new Error('the sidecar did not run the GC');
      return metrics();
    },
    async readyz() {
      const r = await httpGet(admin, '/readyz');
      return { status: r.status, body: JSON.parse(r.body) as Record<string, unknown> };
    },
    openFds: () => readdirSync(`/proc/${pid}/fd`).length,
    async stop(timeoutMs = 10_000) {
      if (!alive) return exited;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
    async kill() {
      if (!alive) return;
      child.kill('SIGKILL');
      await exited;
    },
  };
}
