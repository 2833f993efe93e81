// Well-behaved traffic, measured as Envoy would measure it: requests through the Envoy
// emulator with message_timeout 200 ms (the shipped envoy.yaml) and fail-open, each with a
// known answer for the example flags. A test runs it in a process of its own
// (`startProbe`), so an attack driven from the test process cannot delay the probe's own
// timers: what it measures is the sidecar.
//
//   node --import tsx test/abuse/helpers/probe.ts 127.0.0.1:50051 [pauseMs] [sidecarPid]
// probes until its stdin closes; each line it reads makes it print a ProbeSummary (one JSON
// line) of the window since the previous one; at the end it prints the last window's.
import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { EnvoyEmulator, type EmulatedRequest } from '../../helpers/envoyEmulator.js';
import { runQueueWaitMs, STARVED_MS, StallWatch } from './stallWatch.js';

export const MESSAGE_TIMEOUT_MS = 200;

const FIREFOX = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0';
const CHROME_ANDROID =
  'Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.6367.82 Mobile Safari/537.36';

export interface ProbeCase {
  readonly req: EmulatedRequest;
  readonly cluster: string;
}

/**
 * Answers of examples/flags that do not depend on the hour or on the geo database (the
 * country comes from PROFLAG_GEO_HEADER=x-country).
 */
export const PROBE_CASES: readonly ProbeCase[] = [
  { req: { path: '/checkout', headers: { 'user-agent': FIREFOX, 'x-country': 'DE' } }, cluster: 'backend_canary' },
  {
    req: { path: '/anything', headers: { 'user-agent': 'curl/8.5.0', 'x-country': 'US' } },
    cluster: 'backend_quarantine',
  },
  {
    req: { path: '/api/items', headers: { 'user-agent': CHROME_ANDROID, 'x-country': 'US' } },
    cluster: 'backend_beta',
  },
  { req: { path: '/api/items', headers: { 'user-agent': FIREFOX, 'x-country': 'US' } }, cluster: 'backend_stable' },
];

export interface ProbeSummary {
  readonly sent: number;
  /** Answered within message_timeout with the expected cluster. */
  readonly ok: number;
  /** No answer within message_timeout (Envoy: 504, or unflagged with fail-open). */
  readonly timeouts: number;
  /**
   * Timeouts during which the machine took half the budget away (the probe process stalled
   * and the sidecar waited for a CPU, STARVED_MS together): not counted as timeouts, since
   * they say nothing about the sidecar.
   */
  readonly starved: number;
  /** Stream errors, spurious replies, a processor that skipped itself. */
  readonly errors: number;
  /** Answered in time with another cluster. */
  readonly wrong: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  /** The first few failures, with the time since the probe started. */
  readonly failures: readonly string[];
}

export function percentile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

const stalls = new StallWatch();

/**
 * One probe request; what went wrong, or null. 'starved': a timeout during which this
 * process stalled and the sidecar (`sidecarPid`) waited for a CPU STARVED_MS together.
 */
export async function probeOnce(
  envoy: EnvoyEmulator,
  c: ProbeCase,
  sidecarPid = 0,
): Promise<{ ms: number; failure: string | null }> {
  const t0 = performance.now();
  const waited0 = sidecarPid > 0 ? runQueueWaitMs(sidecarPid) : NaN;
  const out = await envoy.request(c.req);
  const ms = performance.now() - t0;
  if (out.error !== null && out.error.includes('timeout')) {
    const sidecarWaited = sidecarPid > 0 ? runQueueWaitMs(sidecarPid) - waited0 : NaN;
    const starved = stalls.longestSince(t0) + (Number.isNaN(sidecarWaited) ? 0 : sidecarWaited) >= STARVED_MS;
    return { ms, failure: starved ? 'starved' : 'timeout' };
  }
  if (out.error !== null) return { ms, failure: `error: ${out.error}` };
  if (out.processorSkipped) return { ms, failure: 'error: processor skipped' };
  if (out.cluster !== c.cluster) return { ms, failure: `wrong: ${c.req.path} → ${out.cluster}, want ${c.cluster}` };
  return { ms, failure: null };
}

/** An emulator with message_timeout 200 ms whose connection is up (a few answered requests). */
export async function warmEmulator(address: string): Promise<EnvoyEmulator> {
  const envoy = new EnvoyEmulator(address, { messageTimeoutMs: MESSAGE_TIMEOUT_MS, failureModeAllow: true });
  let answered = 0;
  for (let i = 0; i < 100 && answered < 3; i++) {
    if ((await probeOnce(envoy, PROBE_CASES[i % PROBE_CASES.length]!)).failure === null) answered++;
  }
  if (answered < 3) throw new Error(`no answers from ${address}`);
  return envoy;
}

/** Counts of one window of probing. */
class ProbeWindow {
  readonly latencies: number[] = [];
  readonly failures: string[] = [];
  timeouts = 0;
  starved = 0;
  errors = 0;
  wrong = 0;
  readonly startedAt = Date.now();

  add(ms: number, failure: string | null): void {
    this.latencies.push(ms);
    if (failure === null) return;
    if (failure === 'timeout') this.timeouts++;
    else if (failure === 'starved') this.starved++;
    else if (failure.startsWith('wrong')) this.wrong++;
    else this.errors++;
    if (this.failures.length < 20)
      this.failures.push(`+${Date.now() - this.startedAt} ms ${failure} (${ms.toFixed(0)} ms)`);
  }

  summary(): ProbeSummary {
    const sorted = [...this.latencies].sort((a, b) => a - b);
    return {
      sent: sorted.length,
      ok: sorted.length - this.timeouts - this.starved - this.errors - this.wrong,
      timeouts: this.timeouts,
      starved: this.starved,
      errors: this.errors,
      wrong: this.wrong,
      p50Ms: percentile(sorted, 0.5),
      p99Ms: percentile(sorted, 0.99),
      maxMs: sorted[sorted.length - 1] ?? NaN,
      failures: this.failures,
    };
  }
}

/**
 * Probe one request after another (pauseMs apart) until `stopped()` says so. `window()`
 * returns the summary since the previous call and starts a new window.
 */
export function runProbe(envoy: EnvoyEmulator, pauseMs: number, sidecarPid = 0) {
  let window = new ProbeWindow();
  let stopping = false;
  const loop = (async () => {
    for (let i = 0; !stopping; i++) {
      const { ms, failure } = await probeOnce(envoy, PROBE_CASES[i % PROBE_CASES.length]!, sidecarPid);
      window.add(ms, failure);
      if (pauseMs > 0) await new Promise((r) => setTimeout(r, pauseMs));
    }
    envoy.close();
  })();
  return {
    window(): ProbeSummary {
      const s = window.summary();
      window = new ProbeWindow();
      return s;
    },
    async stop(): Promise<ProbeSummary> {
      stopping = true;
      await loop;
      return window.summary();
    },
  };
}

export interface RunningProbe {
  /** The summary of the probing since the previous call (or the start); a new window begins. */
  window(): Promise<ProbeSummary>;
  /** Stop the probe process; the summary of the last window. */
  finish(): Promise<ProbeSummary>;
}

const SELF = fileURLToPath(import.meta.url);

export interface ProbeTarget {
  readonly grpcAddress: string;
  /** The sidecar's pid: a timeout while it waited for a CPU is the machine's (see stallWatch). */
  readonly pid: number;
}

/** Start the probe in a process of its own; resolves once it is answered and probing. */
export async function startProbe(sidecar: ProbeTarget, pauseMs = 5): Promise<RunningProbe> {
  const args = [SELF, sidecar.grpcAddress, String(pauseMs), String(sidecar.pid)];
  const child = spawn(process.execPath, ['--import', 'tsx', ...args], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  let out = '';
  let waiter: (() => void) | null = null;
  child.stdout.on('data', (d) => {
    out += String(d);
    waiter?.();
  });
  const nextLine = async (prefix: string, timeoutMs: number): Promise<string> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const nl = out.indexOf('\n');
      if (nl >= 0) {
        const line = out.slice(0, nl);
        out = out.slice(nl + 1);
        if (line.startsWith(prefix)) return line;
        continue;
      }
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`probe: no "${prefix}" line`);
      await new Promise<void>((r) => {
        waiter = r;
        setTimeout(r, 50);
      });
      waiter = null;
    }
  };
  try {
    await nextLine('probing', 30_000);
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  return {
    async window() {
      child.stdin.write('window\n');
      return JSON.parse(await nextLine('{', 10_000)) as ProbeSummary;
    },
    async finish() {
      child.stdin.end();
      return JSON.parse(await nextLine('{', 10_000)) as ProbeSummary;
    },
  };
}

if (process.argv[1] === SELF) {
  const [address, pause, pid] = process.argv.slice(2);
  // Answers first, so the caller starts its attack against a probe that is running.
  const envoy = await warmEmulator(address!);
  const probe = runProbe(envoy, Number(pause ?? 5), Number(pid ?? 0));
  process.stdout.write('probing\n');
  let input = '';
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', (d: string) => {
    input += d;
    for (let nl = input.indexOf('\n'); nl >= 0; nl = input.indexOf('\n')) {
      input = input.slice(nl + 1);
      process.stdout.write(`${JSON.stringify(probe.window())}\n`);
    }
  });
  process.stdin.on('end', () => {
    void probe.stop().then((summary) => {
      process.stdout.write(`${JSON.stringify(summary)}\n`);
      process.exit(0);
    });
  });
}
