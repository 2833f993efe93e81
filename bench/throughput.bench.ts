// ext_proc throughput: an Envoy-like load generator (Envoy's official protos, one stream per
// request: request_headers, wait for the reply, then END_STREAM + RST_STREAM as Envoy closes)
// at a fixed concurrency over a couple of HTTP/2 connections, against proflag and against a
// no-op ext_proc server in the same run. Each server runs in its own child process so that it
// does not share an event loop with the generator; rounds alternate the order of the two.
// A last measurement runs proflag with recycling disabled to show the rapid-reset failures.
import { performance } from 'node:perf_hooks';
import * as grpc from '@grpc/grpc-js';
import type { ProcessingRequest } from '../src/extproc/protocol.js';
import { officialExtProcClient } from '../test/helpers/envoyEmulator.js';
import { loadFixtures, randomRequest, requestHeadersMessage } from './lib/fixtures.js';
import { createRng, median, nowNs, percentiles, Samples } from './lib/stats.js';
import { spawnServer, type ChildServer } from './servers/spawn.js';

/** Envoy's default message_timeout: a reply later than this is a failed request. */
const MESSAGE_TIMEOUT_MS = 200;

export interface ThroughputBenchOptions {
  readonly quick: boolean;
  readonly rounds: number;
  readonly roundMs: number;
  readonly concurrency: number;
  readonly connections: number;
  readonly log: (line: string) => void;
}

export interface ServerFigures {
  /** Medians over rounds. */
  rps: number;
  p50Ms: number;
  p99Ms: number;
  /** Slowest reply that came within the timeout, over all rounds. */
  maxMs: number;
  /** Server CPU (user + system) per request, and its event-loop utilisation during the round. */
  serverCpuUsPerRequest: number;
  serverElu: number;
  /** Summed over rounds. */
  requests: number;
  failed: number;
  /** Failures by kind, summed over rounds: timeout (no reply within 200 ms) or grpc-<status>. */
  errors: Record<string, number>;
  recycledConnections: number;
}

export interface ThroughputResult {
  concurrency: number;
  connections: number;
  roundSeconds: number;
  rounds: number;
  noop: ServerFigures;
  proflag: ServerFigures;
  /** proflag rps / no-op rps, median of the per-round ratios. */
  rpsRatio: number;
  /** proflag p99 − no-op p99 (ms), median of the per-round differences. */
  addedP99Ms: number;
  /**
   * proflag server CPU per request ÷ the no-op's, median of the per-round ratios: what the
   * req/s ratio would be if the servers, not the load generator, were the limit (inverted).
   */
  serverCpuRatio: number;
  /** The load generator's own event-loop utilisation (near 1: the generator is the limit). */
  generatorElu: number;
  noRecycling: { requests: number; failed: number; failedShare: number; rps: number; errors: Record<string, number> };
}

interface RoundResult {
  completed: number;
  failed: number;
  errors: Record<string, number>;
  elapsedMs: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  generatorElu: number;
}

type Reply = { request_headers?: unknown };

/**
 * Envoy's official ProcessingRequest/ProcessingResponse codecs. Requests are encoded once, up
 * front (the bytes on the wire are the same; the generator just skips re-encoding the same
 * 14 headers for every request), replies are decoded in full as Envoy does.
 */
function officialCodecs(): { encode: (m: ProcessingRequest) => Buffer; decode: (b: Buffer) => Reply; path: string } {
  const Ctor = officialExtProcClient();
  const def = Ctor.service.Process!;
  return {
    encode: def.requestSerialize as (m: ProcessingRequest) => Buffer,
    decode: def.responseDeserialize as (b: Buffer) => Reply,
    path: def.path,
  };
}

interface InFlight {
  started: number;
  fail: ((why: string) => void) | null;
}

/** One request as Envoy makes it; resolves with the latency in ns, or an error label. */
function envoyRequest(
  client: grpc.Client,
  codecs: ReturnType<typeof officialCodecs>,
  bytes: Buffer,
  slot: InFlight,
): Promise<number | string> {
  return new Promise((resolve) => {
    const call = client.makeBidiStreamRequest<Buffer, Reply>(codecs.path, (b) => b, codecs.decode);
    let done = false;
    const finish = (outcome: number | string) => {
      if (done) return;
      done = true;
      slot.fail = null;
      // Envoy's close(): END_STREAM, then at once RST_STREAM.
      call.end();
      call.cancel();
      resolve(outcome);
    };
    slot.started = nowNs();
    slot.fail = finish;
    call.on('data', (reply: Reply) => finish(reply.request_headers ? nowNs() - slot.started : 'spurious'));
    call.on('error', (err: grpc.ServiceError) => finish(`grpc-${grpc.status[err.code] ?? err.code}`));
    call.on('end', () => finish('closed-early'));
    call.write(bytes);
  });
}

async function runLoad(
  port: number,
  ms: number,
  opts: ThroughputBenchOptions,
  messages: readonly Buffer[],
): Promise<RoundResult> {
  const codecs = officialCodecs();
  // A local subchannel pool per client: one HTTP/2 connection each, as Envoy's pool keeps a few.
  const clients = Array.from(
    { length: opts.connections },
    () =>
      new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 }),
  );
  await Promise.all(
    clients.map(
      (c) =>
        new Promise<void>((resolve, reject) => c.waitForReady(Date.now() + 10_000, (e) => (e ? reject(e) : resolve()))),
    ),
  );
  const latencies = new Samples(65_536);
  const errors: Record<string, number> = {};
  let failed = 0;
  let next = 0;
  const slots: InFlight[] = Array.from({ length: opts.concurrency }, () => ({ started: 0, fail: null }));
  // One sweeper instead of a timer per request: a reply later than Envoy's timeout fails.
  const sweeper = setInterval(() => {
    const limit = nowNs() - MESSAGE_TIMEOUT_MS * 1e6;
    for (const s of slots) if (s.fail && s.started < limit) s.fail('timeout');
  }, 20);
  const eluBefore = performance.eventLoopUtilization();
  const started = nowNs();
  const deadline = started + ms * 1e6;
  const worker = async (w: number) => {
    const client = clients[w % clients.length]!;
    while (nowNs() < deadline) {
      const outcome = await envoyRequest(client, codecs, messages[next++ % messages.length]!, slots[w]!);
      if (typeof outcome === 'number') latencies.push(outcome);
      else {
        failed++;
        errors[outcome] = (errors[outcome] ?? 0) + 1;
      }
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency }, (_, w) => worker(w)));
  const elapsedMs = (nowNs() - started) / 1e6;
  const generatorElu = performance.eventLoopUtilization(eluBefore).utilization;
  clearInterval(sweeper);
  for (const c of clients) c.close();
  const [p50, p99, max] = percentiles(latencies.values(), [50, 99, 100]);
  return {
    completed: latencies.length,
    failed,
    errors,
    elapsedMs,
    rps: latencies.length / (elapsedMs / 1000),
    p50Ms: p50! / 1e6,
    p99Ms: p99! / 1e6,
    maxMs: max! / 1e6,
    generatorElu,
  };
}

interface Measured {
  round: RoundResult;
  cpuUsPerRequest: number;
  elu: number;
  recycled: number;
}

async function measure(
  server: ChildServer,
  ms: number,
  opts: ThroughputBenchOptions,
  messages: readonly Buffer[],
): Promise<Measured> {
  const before = await server.stats();
  const round = await runLoad(server.port, ms, opts, messages);
  const after = await server.stats();
  const cpu = after.cpuUserUs + after.cpuSystemUs - before.cpuUserUs - before.cpuSystemUs;
  const active = after.eluActiveMs - before.eluActiveMs;
  const idle = after.eluIdleMs - before.eluIdleMs;
  return {
    round,
    cpuUsPerRequest: cpu / Math.max(1, round.completed + round.failed),
    elu: active / Math.max(1e-9, active + idle),
    recycled: after.recycledConnections - before.recycledConnections,
  };
}

function summarize(runs: Measured[]): ServerFigures {
  return {
    rps: median(runs.map((r) => r.round.rps)),
    p50Ms: median(runs.map((r) => r.round.p50Ms)),
    p99Ms: median(runs.map((r) => r.round.p99Ms)),
    maxMs: Math.max(...runs.map((r) => r.round.maxMs)),
    serverCpuUsPerRequest: median(runs.map((r) => r.cpuUsPerRequest)),
    serverElu: median(runs.map((r) => r.elu)),
    requests: runs.reduce((s, r) => s + r.round.completed + r.round.failed, 0),
    failed: runs.reduce((s, r) => s + r.round.failed, 0),
    errors: runs.reduce<Record<string, number>>((acc, r) => {
      for (const [k, v] of Object.entries(r.round.errors)) acc[k] = (acc[k] ?? 0) + v;
      return acc;
    }, {}),
    recycledConnections: runs.reduce((s, r) => s + r.recycled, 0),
  };
}

export async function runThroughputBench(opts: ThroughputBenchOptions): Promise<ThroughputResult> {
  const { log } = opts;
  const fx = loadFixtures();
  const rng = createRng(11);
  const agents = fx.userAgents.slice(0, 200);
  const { encode } = officialCodecs();
  const messages = Array.from({ length: 2_048 }, () =>
    encode(requestHeadersMessage(randomRequest(rng, fx, agents), rng)),
  );

  const servers: ChildServer[] = [];
  // tsx turns source maps on; grpc-js captures a stack per call and builds an error on every
  // cancel, which with source maps costs more than the rest of a request. Compiled proflag runs
  // without them, so the generator (and the servers, see harness.ts) do too.
  // The generator also drops stack capture: grpc-js records a stack for every call and turns
  // each cancel into an Error, which would make the generator, not the servers, the limit.
  process.setSourceMapsEnabled(false);
  const stackTraceLimit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    // All three start at once (compiling the snapshot takes a second); idle ones cost nothing.
    const started = await Promise.allSettled([
      spawnServer('bench/servers/noopServer.ts'),
      spawnServer('bench/servers/proflagServer.ts'),
      spawnServer('bench/servers/proflagServer.ts', { PROFLAG_STREAMS_PER_CONNECTION: '0' }),
    ]);
    for (const s of started) if (s.status === 'fulfilled') servers.push(s.value);
    const failure = started.find((s) => s.status === 'rejected');
    if (failure) throw (failure as PromiseRejectedResult).reason;
    const [noop, proflag, bare] = servers as [ChildServer, ChildServer, ChildServer];
    log(
      `throughput: no-op on :${noop.port}, proflag on :${proflag.port}; concurrency ${opts.concurrency} over ${opts.connections} connections`,
    );

    const warmMs = opts.quick ? 500 : 1_500;
    await runLoad(noop.port, warmMs, opts, messages);
    await runLoad(proflag.port, warmMs, opts, messages);

    const noopRuns: Measured[] = [];
    const proflagRuns: Measured[] = [];
    const ratios: number[] = [];
    const addedP99: number[] = [];
    const cpuRatios: number[] = [];
    const generatorElu: number[] = [];
    for (let round = 0; round < opts.rounds; round++) {
      // Alternate who goes first, so that drift on the machine hits both alike.
      const order = round % 2 === 0 ? ['noop', 'proflag'] : ['proflag', 'noop'];
      const got: Record<string, Measured> = {};
      for (const name of order)
        got[name] = await measure(name === 'noop' ? noop : proflag, opts.roundMs, opts, messages);
      const n = got.noop!;
      const p = got.proflag!;
      noopRuns.push(n);
      proflagRuns.push(p);
      ratios.push(p.round.rps / n.round.rps);
      addedP99.push(p.round.p99Ms - n.round.p99Ms);
      cpuRatios.push(p.cpuUsPerRequest / n.cpuUsPerRequest);
      generatorElu.push(n.round.generatorElu, p.round.generatorElu);
      log(
        `  round ${round + 1}/${opts.rounds}: no-op ${n.round.rps.toFixed(0)} req/s p99 ${n.round.p99Ms.toFixed(2)} ms, ` +
          `proflag ${p.round.rps.toFixed(0)} req/s p99 ${p.round.p99Ms.toFixed(2)} ms, failed ${n.round.failed}/${p.round.failed}`,
      );
    }

    // The same load with recycling disabled: Node's rapid-reset limit in action.
    const noRecycle = await runLoad(bare.port, opts.roundMs, opts, messages);
    log(`  no recycling: ${noRecycle.completed} ok, ${noRecycle.failed} failed ${JSON.stringify(noRecycle.errors)}`);

    const total = noRecycle.completed + noRecycle.failed;
    return {
      concurrency: opts.concurrency,
      connections: opts.connections,
      roundSeconds: opts.roundMs / 1000,
      rounds: opts.rounds,
      noop: summarize(noopRuns),
      proflag: summarize(proflagRuns),
      rpsRatio: median(ratios),
      addedP99Ms: median(addedP99),
      serverCpuRatio: median(cpuRatios),
      generatorElu: median(generatorElu),
      noRecycling: {
        requests: total,
        failed: noRecycle.failed,
        failedShare: noRecycle.failed / Math.max(1, total),
        rps: noRecycle.rps,
        errors: noRecycle.errors,
      },
    };
  } finally {
    process.setSourceMapsEnabled(true);
    Error.stackTraceLimit = stackTraceLimit;
    await Promise.all(servers.map((s) => s.stop()));
  }
}
