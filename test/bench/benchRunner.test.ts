// The benchmark runner works: `BENCH_QUICK=1 npm run bench` finishes, prints every section and
// every bar, and writes a JSON with every figure as a finite number. No timing is asserted
// (figures depend on the machine); the real figures come from a full `npm run bench`.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  json: Record<string, unknown>;
}

function runQuickBench(out: string): Promise<Omit<Run, 'json'>> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'bench/run.ts'], {
      cwd: ROOT,
      env: { ...process.env, BENCH_QUICK: '1', BENCH_OUT: out },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), 200_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

function at(root: unknown, dotted: string): unknown {
  return dotted
    .split('.')
    .reduce<unknown>(
      (node, key) => (node && typeof node === 'object' ? (node as Record<string, unknown>)[key] : undefined),
      root,
    );
}

/** Every number anywhere below `node`, with its path. */
function numbers(node: unknown, prefix = ''): [string, number][] {
  if (typeof node === 'number') return [[prefix, node]];
  if (Array.isArray(node)) return node.flatMap((v, i) => numbers(v, `${prefix}[${i}]`));
  if (node && typeof node === 'object')
    return Object.entries(node).flatMap(([k, v]) => numbers(v, prefix ? `${prefix}.${k}` : k));
  return [];
}

const REQUIRED_FIGURES = [
  'meta.cpus',
  'meta.durationSeconds',
  'decision.flags',
  'decision.uaExemplars',
  'decision.compileMs',
  'decision.matchesPerRequest',
  'decision.warm.p50Us',
  'decision.warm.p99Us',
  'decision.warm.batchMeanUs',
  'decision.warm.p99OverP50',
  'decision.cold.p50Us',
  'decision.cold.p99Us',
  'decision.emptySnapshot.batchMeanUs',
  'decision.ratios.warmVsEmpty',
  'decision.stages.extractWarmUs',
  'decision.stages.extractColdUs',
  'decision.stages.uaQueryColdUs',
  'decision.stages.decideUs',
  'decision.stages.decideColdUs',
  'decision.stages.planAndResponseUs',
  'decision.pruning.candidatesPerRequest',
  'decision.pruning.uaSlotsPerColdRequest',
  'decision.pruning.disagreements',
  'decision.prototype.pipelineWarmP50Us',
  'decision.prototype.pipelineColdP50Us',
  'decision.prototype.lazyPipelineWarmP50Us',
  'decision.prototype.lazyPipelineColdP50Us',
  'decision.prototype.disagreements',
  'throughput.noop.rps',
  'throughput.noop.p99Ms',
  'throughput.proflag.rps',
  'throughput.proflag.p50Ms',
  'throughput.proflag.p99Ms',
  'throughput.proflag.serverCpuUsPerRequest',
  'throughput.proflag.failed',
  'throughput.rpsRatio',
  'throughput.addedP99Ms',
  'throughput.generatorElu',
  'throughput.noRecycling.requests',
  'throughput.noRecycling.failed',
  'peers.contexts',
  'peers.proflag.nsPerFlag',
  'peers.flagd.nsPerFlag',
  'peers.flagd.disagreements',
  'peers.unleash.nsPerFlag',
  'peers.unleash.disagreements',
  'peers.growthbook.nsPerFlag',
  'peers.growthbook.disagreements',
  'peers.fastestPeerNsPerFlag',
  'peers.ratio',
];

describe('npm run bench (BENCH_QUICK=1)', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'proflag-bench-'));
  const out = path.join(dir, 'latest.json');
  let run: Run;

  beforeAll(async () => {
    const result = await runQuickBench(out);
    let json: Record<string, unknown> = {};
    try {
      json = JSON.parse(readFileSync(out, 'utf8')) as Record<string, unknown>;
    } catch {
      // Asserted below, with the output for context.
    }
    run = { ...result, json };
  }, 240_000);

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('exits 0 and writes the JSON', () => {
    expect(run.code, run.stderr.slice(-2_000)).toBe(0);
    expect(Object.keys(run.json)).toEqual(
      expect.arrayContaining(['meta', 'decision', 'h2load', 'throughput', 'peers', 'features', 'bars']),
    );
    expect(at(run.json, 'meta.quick')).toBe(true);
  });

  it('has every figure, each a finite number', () => {
    for (const key of REQUIRED_FIGURES) {
      const value = at(run.json, key);
      expect(typeof value, key).toBe('number');
      expect(Number.isFinite(value), key).toBe(true);
    }
    for (const section of ['meta', 'decision', 'throughput', 'peers', 'bars']) {
      for (const [key, value] of numbers(run.json[section], section)) expect(Number.isFinite(value), key).toBe(true);
    }
    // The h2load section (the judged ext_proc bar) runs when h2load is installed (.ci/run installs
    // it), else it says why it was skipped.
    const h2load = run.json.h2load as Record<string, unknown>;
    if ('skipped' in h2load) expect(typeof h2load.skipped).toBe('string');
    else {
      for (const key of [
        'baseline.rps',
        'proflag.figures.rps',
        'proflag.rpsRatio',
        'proflag.addedP99Ms',
        'statusChecks',
      ])
        expect(Number.isFinite(at(h2load, key)), `h2load.${key}`).toBe(true);
      expect(at(h2load, 'statusFailures')).toBe(0);
    }
    // The features bench has no quick mode: it is skipped with a reason, or gives numbers.
    const features = run.json.features as Record<string, unknown>;
    if ('skipped' in features) expect(typeof features.skipped).toBe('string');
    else for (const [key, value] of numbers(features, 'features')) expect(Number.isFinite(value), key).toBe(true);
  });

  it('prints every section and every bar with a verdict', () => {
    for (const title of [
      '1. Decision cost in-process',
      '2. ext_proc throughput',
      '3. Flag evaluation versus peers',
      'Bars (QUALITY.md)',
    ]) {
      expect(run.stdout).toContain(title);
    }
    const bars = run.json.bars as { what: string; value: number; limit: number; pass: boolean }[];
    expect(bars.length).toBeGreaterThanOrEqual(10);
    for (const b of bars) {
      expect(typeof b.pass).toBe('boolean');
      expect(run.stdout).toMatch(new RegExp(`${b.what.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}.*(PASS|MISS)`));
    }
  });

  it('compares the peers fairly: their answers agree with proflag on every context', () => {
    expect(at(run.json, 'peers.flagd.disagreements')).toBe(0);
    expect(at(run.json, 'peers.unleash.disagreements')).toBe(0);
    expect(at(run.json, 'peers.growthbook.disagreements')).toBe(0);
  });
});
