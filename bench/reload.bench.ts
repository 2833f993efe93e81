// Reload latency (QUALITY.md: "1,000 flags changed through the scripts: all replicas serve the
// new snapshot within 1 s (p99); snapshot compile ≤ 200 ms"). Two replicas (real RedisStores
// with the sidecar's compile) watch one Redis under a throwaway prefix; changes go through
// scripts/ffr exactly as an operator makes them. Needs Redis at REDIS_URL (default
// 127.0.0.1:6379) plus redis-cli and jq for the script.
//
// The compile bar is measured twice, with the sidecar's own compiler (src/workers/
// snapshotCompiler.ts): 1,000 plain flags, and the decision bench's 1,000 flags carrying
// 10,000 distinct user-agent exemplars (100 flags × 100), nothing reused from a previous
// snapshot. The HNSW graph is not part of a compile (it is built on a worker thread when
// nearestPoints first needs it); how long that takes is reported beside it.
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { embedUserAgent } from '../src/features/userAgent.js';
import type { FlagDefinition } from '../src/flags/schema.js';
import type { SnapshotMeta } from '../src/matcher/snapshot.js';
import { DEFAULT_UA_INDEX_PARAMS } from '../src/matcher/uaIndex.js';
import type { UaIndexWithDiagnostics } from '../src/matcher/uaIndexImpl.js';
import { RedisStore } from '../src/store/redisStore.js';
import { SnapshotHolder } from '../src/store/snapshotHolder.js';
import { createLogger } from '../src/telemetry/logger.js';
import { createSnapshotCompiler } from '../src/workers/snapshotCompiler.js';
import { loadFixtures } from './lib/fixtures.js';
import { median, percentiles, round } from './lib/stats.js';

const run = promisify(execFile);
const FFR = fileURLToPath(new URL('../scripts/ffr', import.meta.url));

export interface ReloadResult {
  /** One `ffr put` started → both replicas serve it (ms); includes the script's own run time. */
  readonly singleChangeP50Ms: number;
  readonly singleChangeP99Ms: number;
  /** The script's own wall time (bash, redis-cli, jq, validation), median (ms). */
  readonly scriptP50Ms: number;
  /** `ffr import` of 1,000 changed flags → both replicas serve the new version (ms), per round. */
  readonly bulkChangeP50Ms: number;
  readonly bulkChangeMaxMs: number;
  /** Compiling a 1,000-flag snapshot on its own (ms, median). */
  readonly compile1000FlagsMs: number;
  /** Compiling 1,000 flags with 10,000 distinct UA exemplars (ms, median of warm rounds). */
  readonly compileUa10kMs: number;
  /** The same, the first compile of the process (cold code), ms. */
  readonly compileUa10kFirstMs: number;
  /**
   * CPU time of those compiles (process user + system, median of the warm ones, ms): on a
   * busy machine the wall time above mostly measures waiting for a core; this does not.
   */
  readonly compileUa10kCpuMs: number;
  /** Distinct exemplar points of that snapshot's index. */
  readonly compileUa10kPoints: number;
  /** Its HNSW graph, built on the worker thread after the first nearestPoints call (ms). */
  readonly uaGraphReadyMs: number;
  readonly rounds: number;
}

/** The sidecar's compile of the 10,000-exemplar fixture flags, nothing reused. */
async function measureUaCompile(rounds: number): Promise<{
  firstMs: number;
  medianMs: number;
  cpuMs: number;
  points: number;
  graphReadyMs: number;
}> {
  const { flags: defs, exemplarCount } = loadFixtures();
  if (exemplarCount !== 10_000) throw new Error(`fixtures have ${exemplarCount} exemplars, expected 10,000`);
  const compiler = createSnapshotCompiler({
    uaIndexParams: DEFAULT_UA_INDEX_PARAMS,
    logger: createLogger('silent'),
    previous: () => null,
  });
  try {
    const times: number[] = [];
    const cpu: number[] = [];
    let index: UaIndexWithDiagnostics | null = null;
    for (let r = 0; r < rounds + 1; r++) {
      const started = performance.now();
      const cpuStarted = process.cpuUsage();
      const snapshot = await compiler.compile(defs, { version: r, source: 'bench', rejected: [] });
      const used = process.cpuUsage(cpuStarted);
      times.push(performance.now() - started);
      cpu.push((used.user + used.system) / 1000);
      index = snapshot.uaIndex as UaIndexWithDiagnostics;
    }
    const started = performance.now();
    index!.nearestPoints(embedUserAgent('Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0'), 10);
    if (!(await index!.whenGraphReady())) throw new Error('the UA graph was not built');
    return {
      firstMs: times[0]!,
      medianMs: median(times.slice(1)),
      cpuMs: median(cpu.slice(1)),
      points: index!.points,
      graphReadyMs: performance.now() - started,
    };
  } finally {
    await compiler.close();
  }
}

function flags(n: number, generation: number): object[] {
  return Array.from({ length: n }, (_, i) => ({
    name: `bench-${i}`,
    enabled: true,
    priority: i % 10,
    threshold: 0.75,
    profile: {
      method: { in: ['GET', 'POST'] },
      endpoint: { in: [`/svc${i % 40}/**`] },
      geo: { in: ['DE', 'FR', 'US'] },
      payloadSize: { max: 8192 + generation },
    },
    actions: { route: { cluster: `cluster_${i % 8}` } },
  }));
}

async function waitServed(holders: SnapshotHolder[], version: number, timeoutMs: number): Promise<number> {
  const started = performance.now();
  while (holders.some((h) => (h.current.version ?? -1) < version)) {
    if (performance.now() - started > timeoutMs) return Infinity;
    await new Promise((r) => setImmediate(r));
  }
  return performance.now() - started;
}

export async function runReloadBench(opts: { quick?: boolean } = {}): Promise<ReloadResult> {
  const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  const prefix = `proflag-bench-${process.pid}-${Date.now()}:`;
  const redis = new Redis(url);
  const dir = mkdtempSync(join(tmpdir(), 'proflag-reload-'));
  const env = {
    ...process.env,
    REDIS_URL: url,
    PROFLAG_PREFIX: prefix,
    PROFLAG_ACTOR: 'bench',
    PROFLAG_VALIDATE: 'basic',
  };
  const ffr = (...args: string[]) => run(FFR, args, { env, maxBuffer: 64 * 1024 * 1024 });
  const logger = createLogger('silent');
  // The sidecar's compiler; each replica's own, as in two sidecars.
  const compilers = [0, 1].map(() =>
    createSnapshotCompiler({ uaIndexParams: DEFAULT_UA_INDEX_PARAMS, logger, previous: () => null }),
  );
  const compile = (list: readonly FlagDefinition[], meta: SnapshotMeta) => compilers[0]!.compile(list, meta);

  const holders = [new SnapshotHolder(), new SnapshotHolder()];
  const stores = holders.map(
    (holder, i) =>
      new RedisStore({
        redisUrl: url,
        prefix,
        resyncMs: 30_000,
        staleAfterMs: 120_000,
        logger,
        compile: (list: readonly FlagDefinition[], meta: SnapshotMeta) => compilers[i]!.compile(list, meta),
        holder,
        replicaId: `bench-${i}`,
      }),
  );
  try {
    const file = join(dir, 'flags.json');
    writeFileSync(file, JSON.stringify(flags(1000, 0)));
    await ffr('import', file);
    for (const s of stores) await s.start();
    await waitServed(holders, 1, 10_000);

    const singles: number[] = [];
    const scripts: number[] = [];
    const rounds = opts.quick ? 5 : 20;
    const one = join(dir, 'one.json');
    for (let r = 0; r < rounds; r++) {
      writeFileSync(one, JSON.stringify({ ...flags(1, r + 1)[0], name: 'bench-single' }));
      const started = performance.now();
      await ffr('put', one);
      scripts.push(performance.now() - started);
      const version = Number(await redis.get(`${prefix}version`));
      const served = await waitServed(holders, version, 5_000);
      singles.push(served === Infinity ? Infinity : performance.now() - started);
    }

    const bulks: number[] = [];
    for (let r = 0; r < (opts.quick ? 2 : 5); r++) {
      writeFileSync(file, JSON.stringify(flags(1000, r + 100)));
      const started = performance.now();
      await ffr('import', file);
      const version = Number(await redis.get(`${prefix}version`));
      const served = await waitServed(holders, version, 10_000);
      bulks.push(served === Infinity ? Infinity : performance.now() - started);
    }

    const compiles: number[] = [];
    const { parseFlagValue } = await import('../src/flags/schema.js');
    const defs = flags(1000, 7).map((f) => {
      const r = parseFlagValue(f);
      if (!r.ok) throw new Error('bench flag invalid');
      return r.flag;
    });
    for (let r = 0; r < (opts.quick ? 3 : 7); r++) {
      const started = performance.now();
      await compile(defs, { version: 1, source: 'bench', rejected: [] });
      compiles.push(performance.now() - started);
    }

    const ua = await measureUaCompile(opts.quick ? 2 : 7);

    const [p50, p99] = percentiles(singles, [50, 99]);
    return {
      singleChangeP50Ms: round(p50!, 1),
      singleChangeP99Ms: round(p99!, 1),
      scriptP50Ms: round(median(scripts), 1),
      bulkChangeP50Ms: round(median(bulks), 1),
      bulkChangeMaxMs: round(Math.max(...bulks), 1),
      compile1000FlagsMs: round(median(compiles), 1),
      compileUa10kMs: round(ua.medianMs, 1),
      compileUa10kFirstMs: round(ua.firstMs, 1),
      compileUa10kCpuMs: round(ua.cpuMs, 1),
      compileUa10kPoints: ua.points,
      uaGraphReadyMs: round(ua.graphReadyMs, 1),
      rounds,
    };
  } finally {
    await Promise.allSettled(stores.map((s) => s.close()));
    await Promise.allSettled(compilers.map((c) => c.close()));
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  runReloadBench({ quick: process.env.BENCH_QUICK === '1' }).then(
    (r) => console.log(JSON.stringify(r, null, 2)),
    (err: Error) => {
      console.error(err);
      process.exit(1);
    },
  );
}
