// A cardinality flood: N requests, each with a user agent and a path never seen before, from
// changing client networks, streamed through a running sidecar at a fixed concurrency.
// Every 100th request is a probe with a known answer, so the flood also checks that the
// decisions stay right while every cache churns. Shared by test/abuse/cardinality.test.ts
// (100,000) and `npm run soak -- --flood 1000000`.
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { ExtProcH2Client, encodeRequest, type FloodRequest } from './extProcH2Client.js';
import { PROBE_CASES, percentile } from './probe.js';
import { runQueueWaitMs, STARVED_MS, StallWatch } from './stallWatch.js';
import type { Metrics, SidecarProcess } from './sidecarProcess.js';

const LETTERS = 'abcdefghijklmnopqrstuvwxyz';
/** Warm-up requests use indexes from here on: distinct from the flood's own. */
const WARMUP_OFFSET = 1_000_000_000;

/** i in base 26, letters only: the endpoint normalizer keeps it (no digits, not an id). */
export function word(i: number): string {
  let s = '';
  let n = i;
  do {
    s = LETTERS[n % 26]! + s;
    n = Math.floor(n / 26);
  } while (n > 0);
  return s;
}

/** Five families of real-looking user agents, each made distinct by i. */
const UA_FAMILIES: readonly ((i: number) => string)[] = [
  (i) =>
    `Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/${100 + (i % 30)}.0.${i}.0 Safari/537.36`,
  (i) => `Mozilla/5.0 (X11; Linux x86_64; rv:${i}.0) Gecko/20100101 Firefox/${i}.0`,
  (i) =>
    `Mozilla/5.0 (iPhone; CPU iPhone OS 17_${i % 7} like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 ShopApp/${word(i)}`,
  (i) => `python-requests/2.${i} ${word(i)}`,
  (i) => `${word(i)}bot/1.${i % 10} (+https://example.com/bots/${word(i)})`,
];

export function distinctUserAgent(i: number): string {
  return UA_FAMILIES[i % UA_FAMILIES.length]!(i);
}

export function distinctPath(i: number): string {
  return `/shop/${word(i)}/item${i % 3 === 0 ? `/${i}` : ''}`;
}

/** A public IPv4 address in a different /24 every request (geo and client-key caches churn). */
function sourceAddress(i: number): string {
  return `${81 + (i % 50)}.${(i >> 8) & 255}.${i & 255}.${1 + (i % 200)}:${1024 + (i % 50_000)}`;
}

export function floodRequest(i: number): FloodRequest {
  return {
    headers: [
      [':authority', 'shop.example.com'],
      [':path', distinctPath(i)],
      [':method', i % 4 === 0 ? 'POST' : 'GET'],
      [':scheme', 'https'],
      ['user-agent', distinctUserAgent(i)],
      ['accept', '*/*'],
      ['x-forwarded-proto', 'https'],
      ['x-request-id', `req-${i}`],
    ],
    sourceAddress: sourceAddress(i),
  };
}

/** The emulator's probe cases as flood requests (pre-encoded once). */
const PROBES = PROBE_CASES.map((c) => ({
  cluster: c.cluster,
  encoded: encodeRequest({
    headers: [
      [':authority', 'shop.example.com'],
      [':path', c.req.path],
      [':method', c.req.method ?? 'GET'],
      [':scheme', 'http'],
      ...Object.entries(c.req.headers ?? {}).map(([k, v]) => [k, String(v)] as [string, string]),
    ],
  }),
}));

export interface Checkpoint {
  readonly sent: number;
  readonly elapsedMs: number;
  /** Requests per second since the previous checkpoint. */
  readonly rps: number;
  /** Sidecar metrics after a forced GC. */
  readonly metrics: Metrics;
  /** The sidecar's longest event-loop stall since the previous checkpoint (before that GC). */
  readonly sidecarStallMs: number;
  /** The same in this (the client's) process: a stall here is not the sidecar's. */
  readonly clientStallMs: number;
}

export interface FloodResult {
  readonly sent: number;
  readonly probes: number;
  readonly failures: number;
  readonly wrongProbes: number;
  /** Answers later than message_timeout (they count among failures too). */
  readonly timeouts: number;
  /** Of those, the ones the machine took half the budget from (see STARVED_MS). */
  readonly starved: number;
  /**
   * Streams refused (REFUSED_STREAM), e.g. one this client opened on a connection the sidecar
   * was recycling before it read the GOAWAY. They count among the errors.
   */
  readonly refused: number;
  /** Failed answers other than timeouts (refused streams included). */
  readonly errors: number;
  /** Timeouts the machine's load does not explain. */
  readonly lateAnswers: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  readonly firstFailures: readonly string[];
  readonly checkpoints: readonly Checkpoint[];
}

export interface FloodOptions {
  readonly count: number;
  readonly concurrency?: number;
  /** Take a checkpoint (forced GC + /metrics) every this many requests. */
  readonly checkpointEvery: number;
  readonly onCheckpoint?: (c: Checkpoint) => void;
  readonly messageTimeoutMs?: number;
  /**
   * Distinct requests sent first and not counted (default 2,000): a sidecar that has just
   * started compiles its hot path while it answers, which is not what a flood measures.
   */
  readonly warmup?: number;
}

export async function runFlood(sidecar: SidecarProcess, options: FloodOptions): Promise<FloodResult> {
  const client = new ExtProcH2Client(sidecar.grpcAddress, options.messageTimeoutMs ?? 200);
  const concurrency = options.concurrency ?? 16;
  const latencies = new Float64Array(options.count);
  const firstFailures: string[] = [];
  const checkpoints: Checkpoint[] = [];
  let next = 0;
  let completed = 0;
  let failures = 0;
  let timeouts = 0;
  let starved = 0;
  let refused = 0;
  const stalls = new StallWatch();
  let probes = 0;
  let wrongProbes = 0;
  const t0 = Date.now();
  let lastCheckpoint = { at: t0, sent: 0 };
  let paused: Promise<void> | null = null;

  const clientLoop = monitorEventLoopDelay({ resolution: 10 });
  clientLoop.enable();
  const checkpoint = async (sent: number) => {
    const now = Date.now();
    const clientStallMs = clientLoop.max / 1e6;
    clientLoop.reset();
    // The event-loop histogram resets at every scrape: read it before the forced GC.
    const sidecarStallMs = (await sidecar.metrics()).process('eventloop_lag_max_seconds') * 1000;
    const metrics = await sidecar.metricsAfterGc();
    const c: Checkpoint = {
      sent,
      elapsedMs: now - t0,
      rps: ((sent - lastCheckpoint.sent) * 1000) / Math.max(1, now - lastCheckpoint.at),
      metrics,
      sidecarStallMs,
      clientStallMs,
    };
    lastCheckpoint = { at: Date.now(), sent };
    checkpoints.push(c);
    options.onCheckpoint?.(c);
  };
  const warmup = options.warmup ?? 2_000;
  let w = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (w < warmup) await client.request(floodRequest(WARMUP_OFFSET + w++));
    }),
  );
  await checkpoint(0);

  const worker = async () => {
    for (;;) {
      if (paused) await paused;
      const i = next++;
      if (i >= options.count) return;
      const probe = i % 100 === 99 ? PROBES[((i / 100) % PROBES.length) | 0]! : null;
      const t0 = performance.now();
      const waited0 = runQueueWaitMs(sidecar.pid);
      const answer = await client.request(probe ? probe.encoded : floodRequest(i));
      latencies[i] = answer.ms;
      if (answer.failure !== null) {
        failures++;
        if (answer.failure === 'timeout') {
          timeouts++;
          const sidecarWaited = runQueueWaitMs(sidecar.pid) - waited0;
          if (stalls.longestSince(t0) + (Number.isNaN(sidecarWaited) ? 0 : sidecarWaited) >= STARVED_MS) starved++;
        } else if (answer.failure.includes('REFUSED_STREAM')) {
          refused++;
        }
        // Keep a few of each kind: a burst of timeouts must not hide the first error.
        const sameKind = firstFailures.filter((f) => f.includes(answer.failure!.slice(0, 12))).length;
        if (sameKind < 5 && firstFailures.length < 20) {
          firstFailures.push(`#${i}: ${answer.failure} (${answer.ms.toFixed(0)} ms)`);
        }
      }
      if (probe) {
        probes++;
        if (answer.failure === null && answer.cluster !== probe.cluster) {
          wrongProbes++;
          if (firstFailures.length < 20) firstFailures.push(`#${i}: probe → ${answer.cluster}, want ${probe.cluster}`);
        }
      }
      completed++;
      // Checkpoints pause the flood: every in-flight request finishes first, so the GC
      // pause is not charged to a request.
      if (completed % options.checkpointEvery === 0 && !paused) {
        let release!: () => void;
        paused = new Promise((r) => (release = r));
        const target = completed;
        while (completed < Math.min(next, options.count)) await new Promise((r) => setImmediate(r));
        await checkpoint(target);
        paused = null;
        release();
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  if (completed % options.checkpointEvery !== 0) await checkpoint(completed);
  client.close();
  clientLoop.disable();
  stalls.stop();

  const sorted = Array.from(latencies).sort((a, b) => a - b);
  return {
    sent: completed,
    probes,
    failures,
    wrongProbes,
    timeouts,
    starved,
    refused,
    errors: failures - timeouts,
    lateAnswers: timeouts - starved,
    p50Ms: percentile(sorted, 0.5),
    p99Ms: percentile(sorted, 0.99),
    maxMs: sorted[sorted.length - 1] ?? NaN,
    firstFailures,
    checkpoints,
  };
}
