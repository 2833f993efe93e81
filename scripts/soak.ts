// The opt-in long runs of issue 14 (docs/reliability.md):
//
//   npm run soak -- --minutes 30        mixed traffic for 30 minutes against the real sidecar
//                                       and a redis-server of its own, with a flag change every
//                                       few seconds and a Redis restart half-way
//   npm run soak -- --flood 1000000     a million distinct user agents, paths and client
//                                       networks; peak memory, cache fill, learner, latency
//
// Options: --runner dist|tsx (default dist: `npm run build` first, unless --no-build),
// --rate N requests/s in all (soak, default 300), --lanes N concurrent requests (soak 8,
// flood 16), --change-every S seconds between flag changes (3), --report-every S seconds
// between report lines (60; shorter for runs under 8 minutes), --env KEY=VALUE (repeatable:
// extra sidecar configuration, e.g. the gRPC limits).
//
// It prints a line per report interval and a summary (also as Markdown for the docs). Exit
// status: 0 all good; 1 a failed answer, a sidecar that died or did not stop cleanly, or
// growth without bound (see `growthVerdict`); 2 usage; 3 the machine was too busy to measure
// (more than a tenth of the timeouts happened while the machine took half of the budget away).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { EnvoyEmulator, type EmulatedOutcome, type EmulatedRequest } from '../test/helpers/envoyEmulator.js';
import { runFfr } from '../test/helpers/ffr.js';
import { redisServer, redisServerAvailable } from '../test/helpers/redisServer.js';
import { distinctPath, distinctUserAgent, runFlood } from '../test/abuse/helpers/flood.js';
import { MESSAGE_TIMEOUT_MS, PROBE_CASES, percentile } from '../test/abuse/helpers/probe.js';
import { startSidecarProcess, sleep, waitUntil, type Metrics } from '../test/abuse/helpers/sidecarProcess.js';
import { runQueueWaitMs, STARVED_MS, StallWatch } from '../test/abuse/helpers/stallWatch.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const EXAMPLES = join(ROOT, 'examples/flags');
const MiB = 1024 * 1024;

// ---- small helpers -----------------------------------------------------------------------

const mib = (bytes: number) => `${(bytes / MiB).toFixed(1)} MiB`;
const ms = (v: number) => (Number.isFinite(v) ? `${v < 10 ? v.toFixed(2) : v.toFixed(0)} ms` : 'n/a');
const clock = (sinceMs: number) => {
  const s = Math.floor(sinceMs / 1000);
  return `${String(Math.floor(s / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
};

/** Least-squares slope of y over x. */
function slope(points: readonly (readonly [number, number])[]): number {
  const n = points.length;
  if (n < 2) return 0;
  let sx = 0;
  let sy = 0;
  for (const [x, y] of points) {
    sx += x;
    sy += y;
  }
  const mx = sx / n;
  const my = sy / n;
  let num = 0;
  let den = 0;
  for (const [x, y] of points) {
    num += (x - mx) * (y - my);
    den += (x - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

/** Peak and current resident memory of a process (Linux), bytes. */
function vm(pid: number): { rss: number; peak: number } {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'latin1');
    const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? NaN) * 1024;
    return { rss: kb('VmRSS'), peak: kb('VmHWM') };
  } catch {
    return { rss: NaN, peak: NaN };
  }
}

function machine(): string {
  const commit = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).stdout.trim();
  const dirty = spawnSync('git', ['status', '--porcelain', '--untracked-files=no'], {
    cwd: ROOT,
    encoding: 'utf8',
  }).stdout.trim().length
    ? ' (with uncommitted changes)'
    : '';
  return (
    `${new Date().toISOString()}, commit ${commit}${dirty}, node ${process.version}, ` +
    `${cpus().length} cores, load average ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' / ')}`
  );
}

function cacheFill(m: Metrics): string {
  return m.samples
    .filter((s) => s.name === 'proflag_cache_entries')
    .map((s) => `${s.labels.cache} ${s.value}/${m.sum('proflag_cache_capacity', { cache: s.labels.cache! })}`)
    .join(', ');
}

/**
 * "Grew without bound", concretely: over the second half of the run, the least-squares slope
 * of the series exceeds `perMinute` AND the rise it implies over that half exceeds `rise`.
 * Both: a short run's noise can have a steep slope over a small rise, and a long run's
 * allocator can drift a few MiB without trend.
 */
function growthVerdict(
  name: string,
  series: readonly (readonly [number, number])[],
  perMinute: number,
  rise: number,
): { ok: boolean; text: string } {
  const half = series.length > 0 ? series[series.length - 1]![0] / 2 : 0;
  const second = series.filter(([t]) => t >= half);
  const perMs = slope(second);
  const spanMs = second.length > 1 ? second[second.length - 1]![0] - second[0]![0] : 0;
  const s = perMs * 60_000;
  const r = perMs * spanMs;
  const ok = !(s > perMinute && r > rise);
  return {
    ok,
    text:
      `${name}: ${(s / MiB).toFixed(2)} MiB/min over the second half (${second.length} samples), ` +
      `rise ${(r / MiB).toFixed(1)} MiB — ${ok ? 'bounded' : 'GREW'} (limit ${(perMinute / MiB).toFixed(1)} MiB/min and ${(rise / MiB).toFixed(0)} MiB)`,
  };
}

// ---- arguments ---------------------------------------------------------------------------

const { values: args } = parseArgs({
  options: {
    minutes: { type: 'string' },
    flood: { type: 'string' },
    runner: { type: 'string', default: 'dist' },
    'no-build': { type: 'boolean', default: false },
    rate: { type: 'string', default: '300' },
    lanes: { type: 'string' },
    'change-every': { type: 'string', default: '3' },
    'report-every': { type: 'string' },
    env: { type: 'string', multiple: true, default: [] },
  },
});

function usage(message: string): never {
  process.stderr.write(
    `soak: ${message}\nUsage: npm run soak -- --minutes N | --flood N [options] (see scripts/soak.ts)\n`,
  );
  process.exit(2);
}

const runner = args.runner === 'tsx' ? 'tsx' : args.runner === 'dist' ? 'dist' : usage('--runner is dist or tsx');
if ((args.minutes === undefined) === (args.flood === undefined)) usage('give exactly one of --minutes and --flood');
const extraEnv: Record<string, string> = {};
for (const kv of args.env ?? []) {
  const eq = kv.indexOf('=');
  if (eq <= 0) usage(`--env wants KEY=VALUE, got ${kv}`);
  extraEnv[kv.slice(0, eq)] = kv.slice(eq + 1);
}

if (runner === 'dist' && !args['no-build']) {
  process.stdout.write('building (npm run build) ...\n');
  const built = spawnSync('npm', ['run', 'build', '--silent'], { cwd: ROOT, stdio: 'inherit' });
  if (built.status !== 0) usage('the build failed');
}

// ---- flood -------------------------------------------------------------------------------

async function flood(count: number): Promise<number> {
  const concurrency = Number(args.lanes ?? 16);
  const startedOn = machine();
  process.stdout.write(`flood: ${count} requests, ${concurrency} in flight, sidecar from ${runner}\n`);
  process.stdout.write(`machine: ${startedOn}\n`);
  const sidecar = await startSidecarProcess({ runner, env: extraEnv });
  const result = await runFlood(sidecar, {
    count,
    concurrency,
    checkpointEvery: Math.max(1, Math.round(count / 20)),
    onCheckpoint: (c) => {
      const m = c.metrics;
      process.stdout.write(
        `${String(c.sent).padStart(8)} ${clock(c.elapsedMs)} ${c.rps.toFixed(0).padStart(5)}/s | ` +
          `rss ${mib(m.rssBytes)} (peak ${mib(vm(sidecar.pid).peak)}) | heap after GC ${mib(m.heapUsedBytes)} | ` +
          `learner ${mib(m.sum('proflag_learner_memory_bytes'))}, ${m.sum('proflag_learner_clusters')} clusters | ` +
          `${cacheFill(m)} | stalls: sidecar ${c.sidecarStallMs.toFixed(0)} ms, client ${c.clientStallMs.toFixed(0)} ms\n`,
      );
    },
  });
  const peak = vm(sidecar.pid).peak;
  const cps = result.checkpoints;
  const last = cps[cps.length - 1]!.metrics;
  const heapMax = Math.max(...cps.map((c) => c.metrics.heapUsedBytes));
  const rssMax = Math.max(...cps.map((c) => c.metrics.rssBytes));
  const stopCode = await sidecar.stop();
  // Growth once the caches are full (from the 10 % checkpoint on).
  const heapSeries = cps.slice(2).map((c) => [c.sent, c.metrics.heapUsedBytes] as [number, number]);
  const heapRise = heapSeries.length > 1 ? heapSeries[heapSeries.length - 1]![1] - heapSeries[0]![1] : 0;
  const problems: string[] = [];
  if (result.errors > 0) problems.push(`${result.errors} failed answers (see above)`);
  if (result.lateAnswers > result.sent / 1000)
    problems.push(`${result.lateAnswers} late answers (more than 1 in 1,000)`);
  if (result.wrongProbes > 0) problems.push(`${result.wrongProbes} wrong probe answers`);
  if (heapRise > 8 * MiB) problems.push(`live heap rose ${mib(heapRise)} after the caches were full`);
  if (stopCode !== 0) problems.push(`the sidecar exited with ${stopCode}`);

  const lines = [
    `| requests | ${result.sent} distinct user agents, paths and client /24s (${result.probes} probes with known answers) |`,
    `| peak resident memory | ${mib(peak)} (VmHWM); at checkpoints at most ${mib(rssMax)}, at the end ${mib(last.rssBytes)} |`,
    `| live heap after GC | at most ${mib(heapMax)}; rise after the caches filled ${mib(heapRise)} |`,
    `| caches at the end | ${cacheFill(last)} |`,
    `| learner | ${mib(last.sum('proflag_learner_memory_bytes'))} (its estimate), ${last.sum('proflag_learner_clusters')} clusters |`,
    `| latency | p50 ${ms(result.p50Ms)}, p99 ${ms(result.p99Ms)}, max ${ms(result.maxMs)} (${concurrency} in flight, the sidecar saturated) |`,
    `| failures | ${result.errors} errors; ${result.timeouts} timeouts, ${result.lateAnswers} of them not explained by the machine's load; ` +
      `${result.refused} refused streams (among the errors); ` +
      `${result.wrongProbes} wrong probes |`,
    `| run | ${clock(cps[cps.length - 1]!.elapsedMs)}, ${runner}; started ${startedOn}; load average at the end ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' / ')} |`,
  ];
  process.stdout.write(`\n| flood | |\n|---|---|\n${lines.join('\n')}\n\n`);
  for (const f of result.firstFailures) process.stdout.write(`failure: ${f}\n`);
  process.stdout.write(problems.length === 0 ? 'flood: OK\n' : `flood: FAILED: ${problems.join('; ')}\n`);
  return problems.length === 0 ? 0 : 1;
}

// ---- soak --------------------------------------------------------------------------------

interface Flag {
  name: string;
  enabled?: boolean;
  profile?: { endpoint?: { in?: string[] } };
  rollout?: { stickiness?: string };
  variants?: unknown[];
  experiment?: unknown;
  actions?: Record<string, unknown>;
}

/** One kind of traffic: its share, and the next request with a check of Envoy's outcome. */
interface TrafficKind {
  readonly name: string;
  readonly weight: number;
  next(i: number): { req: EmulatedRequest; check(out: EmulatedOutcome): string | null };
}

const FLAGS_HEADER = 'x-proflag-flags';

/** A concrete path inside a flag's first endpoint pattern (`*` and `**` filled in). */
function pathFor(flag: Flag): string | null {
  const pattern = flag.profile?.endpoint?.in?.[0];
  if (pattern === undefined) return '/soak/any';
  return pattern.replace(/\*\*/g, 'x').replace(/\*/g, 'y');
}

/** Flags answered with a sticky assignment: the same user must always get the same answer. */
function stickyKind(name: string, weight: number, flags: readonly Flag[]): TrafficKind | null {
  if (flags.length === 0) return null;
  const seen = new Map<string, string>();
  return {
    name,
    weight,
    next(i) {
      const flag = flags[i % flags.length]!;
      const user = `u${(i * 7919) % 2000}`;
      const sticky = flag.rollout?.stickiness?.startsWith('header:') ? flag.rollout.stickiness.slice(7) : 'x-user-id';
      return {
        req: { path: pathFor(flag)!, headers: { [sticky]: user, 'user-agent': 'Mozilla/5.0 soak', 'x-country': 'DE' } },
        check(out) {
          const listed = (out.upstreamHeaders.get(FLAGS_HEADER) ?? '')
            .split(',')
            .find((f) => f.startsWith(`${flag.name}=`));
          const answer = `${listed ?? 'absent'} via ${out.cluster}`;
          const key = `${flag.name}/${user}`;
          const before = seen.get(key);
          if (before === undefined) seen.set(key, answer);
          return before === undefined || before === answer ? null : `${key}: ${before}, then ${answer}`;
        },
      };
    },
  };
}

async function soak(minutes: number): Promise<number> {
  if (!redisServerAvailable()) usage('the soak needs redis-server on PATH');
  const durationMs = minutes * 60_000;
  const reportEveryMs = Number(args['report-every'] ?? Math.min(60, Math.max(15, (minutes * 60) / 8))) * 1000;
  const rate = Number(args.rate);
  const lanes = Number(args.lanes ?? 8);
  const changeEveryMs = Number(args['change-every']) * 1000;
  const started = Date.now();
  process.stdout.write(
    `soak: ${minutes} min, ${rate} requests/s over ${lanes} lanes, a flag change every ${changeEveryMs / 1000} s, ` +
      `Redis restarted half-way, sidecar from ${runner}\nmachine: ${machine()}\n`,
  );

  // Redis of our own, with an append-only file synced on every write: a restart keeps the flags.
  const dataDir = mkdtempSync(join(tmpdir(), 'proflag-soak-'));
  const redis = await redisServer({ args: ['--appendonly', 'yes', '--appendfsync', 'always', '--dir', dataDir] });
  const prefix = `soak${process.pid}:`;
  const ffr = (cmd: string[], input?: string) =>
    runFfr({ url: redis.url, prefix }, cmd, {
      env: { PROFLAG_ACTOR: 'soak', PROFLAG_VALIDATE: 'basic' },
      ...(input ? { input } : {}),
    });

  const exampleFlags = readdirSync(EXAMPLES)
    .filter((f) => f.endsWith('.json'))
    .map((f) => JSON.parse(readFileSync(join(EXAMPLES, f), 'utf8')) as Flag);
  let generation = 0;
  const toggle = (gen: number) =>
    JSON.stringify({
      name: 'soak-toggle',
      enabled: true,
      priority: 1,
      profile: { endpoint: { in: ['/soak/**'] } },
      actions: { requestHeaders: { set: { 'x-soak-generation': String(gen) } } },
    });
  const imported = await ffr(['import', '-'], JSON.stringify([...exampleFlags, JSON.parse(toggle(0))]));
  if (imported.code !== 0) throw new Error(`ffr import failed: ${imported.stderr}`);

  const sidecar = await startSidecarProcess({
    runner,
    env: { PROFLAG_STORE: 'redis', REDIS_URL: redis.url, PROFLAG_PREFIX: prefix, ...extraEnv },
  });

  // --- traffic kinds: one line each; new kinds (e.g. a transformation's own check) go here.
  const enabled = exampleFlags.filter((f) => f.enabled !== false);
  const acked = new Map<number, number>([[0, Date.now()]]);
  const PROPAGATION_MS = 3_000;
  let probeCase = 0;
  let distinct = 0;
  const kinds = [
    {
      name: 'routing',
      weight: 50,
      next: () => {
        const c = PROBE_CASES[probeCase++ % PROBE_CASES.length]!;
        return {
          req: c.req,
          check: (o: EmulatedOutcome) =>
            o.cluster === c.cluster ? null : `${c.req.path} → ${o.cluster}, want ${c.cluster}`,
        };
      },
    },
    {
      name: 'distinct',
      weight: 20,
      next: () => {
        const i = 10_000_000 + distinct++;
        return { req: { path: distinctPath(i), headers: { 'user-agent': distinctUserAgent(i) } }, check: () => null };
      },
    },
    {
      name: 'flag-change',
      weight: 10,
      next: () => {
        const want = generation;
        const since = Date.now() - (acked.get(want) ?? 0);
        return {
          req: { path: '/soak/check' },
          check: (o: EmulatedOutcome) => {
            const got = Number(o.upstreamHeaders.get('x-soak-generation') ?? NaN);
            if (Number.isNaN(got)) return 'soak-toggle did not apply';
            // The previous generation is fine while the change is still on its way.
            return got >= want || (got === want - 1 && since < PROPAGATION_MS)
              ? null
              : `generation ${got}, want ${want} (changed ${since} ms before)`;
          },
        };
      },
    },
    // Experiments (variants, or CONTRACT §7 `experiment`) and transformations (CONTRACT §6
    // respond / rewritePath / responseHeaders) run when the flags have them.
    stickyKind(
      'experiment',
      15,
      enabled.filter((f) => (f.variants?.length ?? 0) > 0 || f.experiment !== undefined),
    ),
    stickyKind(
      'transformation',
      5,
      enabled.filter((f) => ['respond', 'rewritePath', 'responseHeaders'].some((a) => f.actions?.[a] !== undefined)),
    ),
  ].filter((k): k is TrafficKind => k !== null);
  const totalWeight = kinds.reduce((s, k) => s + k.weight, 0);
  const schedule: TrafficKind[] = [];
  for (const k of kinds) for (let w = 0; w < k.weight; w++) schedule.push(k);
  process.stdout.write(
    `traffic: ${kinds.map((k) => `${k.name} ${Math.round((100 * k.weight) / totalWeight)}%`).join(', ')}\n\n`,
  );

  // --- state and counters
  const stalls = new StallWatch();
  const envoy = new EnvoyEmulator(sidecar.grpcAddress, {
    messageTimeoutMs: MESSAGE_TIMEOUT_MS,
    failureModeAllow: true,
  });
  const all: number[] = [];
  let window: number[] = [];
  let windowFailed = 0;
  let windowStarved = 0;
  const failures: Record<string, number> = {};
  const firstFailures: string[] = [];
  let starved = 0;
  let timeouts = 0;
  let stopping = false;
  let redisDown = false;
  const events: string[] = [];
  const fail = (what: string, detail: string) => {
    failures[what] = (failures[what] ?? 0) + 1;
    windowFailed++;
    if (firstFailures.length < 30) firstFailures.push(`${clock(Date.now() - started)} ${what}: ${detail}`);
  };

  const lane = async (k: number) => {
    const interval = (1000 * lanes) / rate;
    let due = performance.now() + k * (interval / lanes);
    for (let i = k; !stopping; i += lanes) {
      const wait = due - performance.now();
      if (wait > 0) await sleep(wait);
      due += interval;
      const kind = schedule[i % schedule.length]!;
      const { req, check } = kind.next(i);
      const t0 = performance.now();
      const waited0 = runQueueWaitMs(sidecar.pid);
      const out = await envoy.request(req);
      const took = performance.now() - t0;
      all.push(took);
      window.push(took);
      if (out.error !== null && out.error.includes('timeout')) {
        timeouts++;
        const waited = runQueueWaitMs(sidecar.pid) - waited0;
        if (stalls.longestSince(t0) + (Number.isNaN(waited) ? 0 : waited) >= STARVED_MS) {
          starved++;
          windowStarved++;
        } else fail('timeout', `${kind.name} ${req.path} ${took.toFixed(0)} ms`);
      } else if (out.error !== null || out.processorSkipped) fail('error', `${kind.name}: ${out.error ?? 'skipped'}`);
      else {
        const wrong = check(out);
        if (wrong !== null) fail(kind.name, wrong);
      }
    }
  };

  // --- flag changes every few seconds (paused while Redis is down)
  const changer = (async () => {
    while (!stopping) {
      await sleep(changeEveryMs);
      if (stopping || redisDown) continue;
      const next = generation + 1;
      const r = await ffr(['put', '-'], toggle(next));
      if (r.code === 0) {
        acked.set(next, Date.now());
        generation = next;
      } else if (!redisDown) fail('ffr', r.stderr.trim().split('\n')[0] ?? `exit ${r.code}`);
    }
  })();

  // --- memory and event-loop samples
  const rssSeries: [number, number][] = [];
  const heapSeries: [number, number][] = [];
  let loopMax = 0;
  let loopP99 = 0;
  let rssPeak = 0;
  const sampler = (async () => {
    while (!stopping) {
      await sleep(5_000);
      if (stopping || !sidecar.alive) break;
      try {
        const m = await sidecar.metrics();
        rssSeries.push([Date.now() - started, m.rssBytes]);
        rssPeak = Math.max(rssPeak, m.rssBytes);
        loopMax = Math.max(loopMax, m.process('eventloop_lag_max_seconds') * 1000);
        loopP99 = Math.max(loopP99, m.process('eventloop_lag_p99_seconds') * 1000);
      } catch (err) {
        events.push(`${clock(Date.now() - started)} /metrics failed: ${(err as Error).message}`);
      }
    }
  })();

  const report = async () => {
    const m = await sidecar.metricsAfterGc();
    heapSeries.push([Date.now() - started, m.heapUsedBytes]);
    const sorted = window.sort((a, b) => a - b);
    process.stdout.write(
      `[${clock(Date.now() - started)}] ${(sorted.length / (reportEveryMs / 1000)).toFixed(0).padStart(4)} req/s | ` +
        `p50 ${ms(percentile(sorted, 0.5))} p99 ${ms(percentile(sorted, 0.99))} | rss ${mib(m.rssBytes)} | ` +
        `heap ${mib(m.heapUsedBytes)} after GC | event loop p99 ${loopP99.toFixed(0)} ms, max ${loopMax.toFixed(0)} ms | ` +
        `failed ${windowFailed} (starved ${windowStarved}) | flag generation ${generation}${redisDown ? ' | Redis DOWN' : ''}\n`,
    );
    window = [];
    windowFailed = 0;
    windowStarved = 0;
    loopMax = 0;
    loopP99 = 0;
  };

  const traffic = Promise.all(Array.from({ length: lanes }, (_, k) => lane(k)));
  const reporter = (async () => {
    for (let next = reportEveryMs; next <= durationMs; next += reportEveryMs) {
      await sleep(started + next - Date.now());
      if (!sidecar.alive) break;
      await report();
    }
  })();

  // --- the Redis restart, half-way
  await sleep(durationMs / 2);
  if (sidecar.alive) {
    redisDown = true;
    await redis.kill();
    events.push(`${clock(Date.now() - started)} Redis killed`);
    await sleep(5_000);
    await redis.start();
    const back = Date.now();
    const connected = await waitUntil(
      async () =>
        ((await sidecar.readyz()).body.detail as { feedConnected?: boolean } | undefined)?.feedConnected === true,
      60_000,
      100,
    );
    events.push(
      `${clock(Date.now() - started)} Redis back; ${connected ? `change feed reconnected after ${Date.now() - back} ms` : 'change feed NOT reconnected within 60 s'}`,
    );
    if (!connected) fail('redis', 'change feed not reconnected within 60 s');
    redisDown = false;
  }

  await sleep(Math.max(0, started + durationMs - Date.now()));
  stopping = true;
  await Promise.all([traffic, changer, sampler, reporter]);
  envoy.close();
  stalls.stop();
  const alive = sidecar.alive;
  const peak = vm(sidecar.pid).peak;
  const stopCode = alive ? await sidecar.stop() : await sidecar.exited;
  await redis.kill();
  rmSync(dataDir, { recursive: true, force: true });
  // The sidecar's own log (its last MiB), to read next to a stall or a failure afterwards.
  const sidecarLog = join(tmpdir(), `proflag-soak-sidecar-${sidecar.pid}.log`);
  writeFileSync(sidecarLog, sidecar.output());
  console.log(`sidecar log: ${sidecarLog}`);

  // --- summary
  const sorted = all.sort((a, b) => a - b);
  const rss = growthVerdict('resident memory', rssSeries, 1 * MiB, 16 * MiB);
  const heap = growthVerdict('live heap after GC', heapSeries, 0.5 * MiB, 8 * MiB);
  const failed = Object.values(failures).reduce((s, n) => s + n, 0);
  const problems: string[] = [];
  if (failed > 0) problems.push(`${failed} failed answers`);
  if (!alive) problems.push('the sidecar died');
  if (stopCode !== 0) problems.push(`the sidecar exited with ${stopCode}`);
  if (!rss.ok) problems.push('resident memory grew');
  if (!heap.ok) problems.push('the live heap grew');
  const unmeasurable = timeouts > 0 && starved > sorted.length / 10;

  const lines = [
    `| requests | ${sorted.length} in ${minutes} min (${(sorted.length / (minutes * 60)).toFixed(0)}/s): ${kinds.map((k) => k.name).join(', ')} |`,
    `| latency (Envoy's view) | p50 ${ms(percentile(sorted, 0.5))}, p99 ${ms(percentile(sorted, 0.99))}, max ${ms(sorted[sorted.length - 1] ?? NaN)} |`,
    `| failed answers | ${failed}${
      failed
        ? ` (${Object.entries(failures)
            .map(([k, n]) => `${k} ${n}`)
            .join(', ')})`
        : ''
    }; timeouts while the machine took half the budget: ${starved} |`,
    `| flag changes | ${generation} (one every ${changeEveryMs / 1000} s, checked on the wire within ${PROPAGATION_MS / 1000} s) |`,
    `| Redis restart | ${events.filter((e) => e.includes('Redis')).join('; ')} |`,
    `| resident memory | first ${mib(rssSeries[0]?.[1] ?? NaN)}, last ${mib(rssSeries[rssSeries.length - 1]?.[1] ?? NaN)}, peak ${mib(Math.max(peak, rssPeak))}; ${rss.text} |`,
    `| live heap after GC | first ${mib(heapSeries[0]?.[1] ?? NaN)}, last ${mib(heapSeries[heapSeries.length - 1]?.[1] ?? NaN)}; ${heap.text} |`,
    `| sidecar | ${alive ? 'alive' : 'DIED'}; stopped with exit code ${stopCode} |`,
    `| run | ${runner}; ${machine()} |`,
  ];
  process.stdout.write(`\n| soak | |\n|---|---|\n${lines.join('\n')}\n\n`);
  for (const e of events) process.stdout.write(`event: ${e}\n`);
  for (const f of firstFailures) process.stdout.write(`failure: ${f}\n`);
  if (problems.length > 0) {
    process.stdout.write(`soak: FAILED: ${problems.join('; ')}\n`);
    return 1;
  }
  if (unmeasurable) {
    process.stdout.write(`soak: NOT MEASURABLE: ${starved} of ${sorted.length} requests starved by the machine\n`);
    return 3;
  }
  process.stdout.write('soak: OK\n');
  return 0;
}

const code = args.flood !== undefined ? await flood(Number(args.flood)) : await soak(Number(args.minutes));
process.exit(code);
