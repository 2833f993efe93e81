// What experiments cost on the request path (QUALITY.md: the decision path's cost for requests
// outside experiments is unchanged). On the decision bench's snapshot (1,000 flags, 10 % with
// variants, none an experiment) and warm requests:
//   - decide() alone versus decide() + recorder.observerFor() (the one call the response phase
//     wiring adds), alternated in every round: the ratio is what a request outside experiments
//     pays; observerFor answers null for it (one typed-array read per matching flag);
//   - the lookup alone, per request;
//   - the same snapshot with every variant flag made an experiment: the lookup when requests
//     are in experiments, and observe() itself (one outcome into the typed arrays).
// Figures are medians over rounds (ns per request).
import { RequestHeaders } from '../src/extproc/headerMap.js';
import { createProfileExtractor } from '../src/features/extract.js';
import type { HeaderLookup, RequestProfile } from '../src/features/profile.js';
import { decide, type FlagMatch } from '../src/matcher/match.js';
import { ExperimentRecorder } from '../src/experiments/recorder.js';
import { buildSnapshot, envoyHeaderList, loadFixtures, randomRequest, UA_HASH_KEY } from './lib/fixtures.js';
import { createRng, median, nowNs, warmUp } from './lib/stats.js';

const POOL = 512;

function timePerCall(calls: number, fn: (i: number) => void): number {
  const started = nowNs();
  for (let i = 0; i < calls; i++) fn(i);
  return (nowNs() - started) / calls;
}

export async function runExperimentsBench(options: { quick: boolean }): Promise<Record<string, number>> {
  const rounds = options.quick ? 2 : 7;
  const calls = options.quick ? 5_000 : 40_000;
  const fx = loadFixtures();
  const { snapshot } = buildSnapshot(fx.flags);
  const extract = createProfileExtractor({ uaHashKey: UA_HASH_KEY, tz: 'UTC', geo: fx.geo, hourBinWidth: 4 });
  const rng = createRng(0xe4_9e);
  const agents = fx.userAgents.slice(0, 64);
  const pool: { profile: RequestProfile; headers: HeaderLookup }[] = [];
  for (let i = 0; i < POOL; i++) {
    const headers = new RequestHeaders(envoyHeaderList(randomRequest(rng, fx, agents), rng));
    pool.push({ profile: extract({ headers, sourceAddress: null, nowMs: Date.now() }), headers });
  }
  const decisions = pool.map((r) => decide(snapshot, r.profile, r.headers).matches);

  const recorder = new ExperimentRecorder();
  recorder.bind(snapshot);
  // The same flags, every flag with variants declared an experiment.
  const withExperiments = {
    ...snapshot,
    flags: snapshot.flags.map((f) =>
      f.variants ? { ...f, experiment: { control: f.variants[0]!.name, controlIndex: 0, guardrails: [] } } : f,
    ),
  };
  const experimentRecorder = new ExperimentRecorder();
  const experimentTable = experimentRecorder.bind(withExperiments);
  const experimentDecisions = pool.map((r) => decide(withExperiments, r.profile, r.headers).matches);
  const inExperiment = experimentDecisions.filter((m) => experimentTable.observerFor(m) !== null).length;
  const outsideNull = decisions.every((m) => recorder.observerFor(snapshot, m) === null);
  if (!outsideNull) throw new Error('a request outside experiments got an observer');

  let sink = 0;
  const decideOnly = (i: number) => {
    const r = pool[i % POOL]!;
    sink += decide(snapshot, r.profile, r.headers).matches.length;
  };
  const decideAndLookup = (i: number) => {
    const r = pool[i % POOL]!;
    const matches = decide(snapshot, r.profile, r.headers).matches;
    if (recorder.observerFor(snapshot, matches) !== null) sink++;
    sink += matches.length;
  };
  const lookup = (matches: readonly (readonly FlagMatch[])[], rec: ExperimentRecorder, snap: object) => (i: number) => {
    if (rec.observerFor(snap as typeof snapshot, matches[i % POOL]!) !== null) sink++;
  };
  const observe = (i: number) => experimentTable.observe(i & 7, i % 97 === 0 ? 503 : 200, (i % 400) * 0.25);

  warmUp(() => decideOnly(Math.floor(Math.random() * POOL)), 300);
  warmUp(() => decideAndLookup(Math.floor(Math.random() * POOL)), 300);
  const ratios: number[] = [];
  const decideNs: number[] = [];
  const lookupNs: number[] = [];
  const experimentLookupNs: number[] = [];
  const observeNs: number[] = [];
  const batch = 256;
  for (let round = 0; round < rounds; round++) {
    // Small alternating batches (order flipped every pair), so machine load hits both alike.
    // The second of a pair runs on caches the first warmed, so the round's figure is the
    // geometric mean of the median ratio with each order: the order effect cancels.
    const ratioByOrder: [number[], number[]] = [[], []];
    const decideBatches: number[] = [];
    for (let k = 0; k < calls / batch; k++) {
      let a: number;
      let b: number;
      if (k % 2 === 0) {
        a = timePerCall(batch, decideOnly);
        b = timePerCall(batch, decideAndLookup);
      } else {
        b = timePerCall(batch, decideAndLookup);
        a = timePerCall(batch, decideOnly);
      }
      ratioByOrder[k % 2]!.push(b / a);
      decideBatches.push(a);
    }
    decideNs.push(median(decideBatches));
    ratios.push(Math.sqrt(median(ratioByOrder[0]) * median(ratioByOrder[1])));
    lookupNs.push(timePerCall(calls * 10, lookup(decisions, recorder, snapshot)));
    experimentLookupNs.push(timePerCall(calls * 10, lookup(experimentDecisions, experimentRecorder, withExperiments)));
    observeNs.push(timePerCall(calls * 10, observe));
  }
  if (sink === -1) console.log(sink);
  return {
    flags: snapshot.flags.length,
    matchesPerRequest: decisions.reduce((n, m) => n + m.length, 0) / POOL,
    decideNs: median(decideNs),
    decidePlusLookupOverDecide: median(ratios),
    lookupOutsideExperimentsNs: median(lookupNs),
    experimentFlags: experimentTable.experiments.length,
    requestsInExperimentsShare: inExperiment / POOL,
    lookupWithExperimentsNs: median(experimentLookupNs),
    observeNs: median(observeNs),
  };
}
