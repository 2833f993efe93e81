// Running a scenario through a learner and judging its proposals with the real matcher: each
// proposal is compiled as an enabled flag (compileSnapshot, the HNSW user-agent index included)
// and every request of the scenario is matched against it, so "the range captures x % of the
// planted requests" means exactly what an approved proposal would do.
import { performance } from 'node:perf_hooks';
import type { HeaderLookup } from '../../src/features/profile.js';
import { embedUserAgent } from '../../src/features/userAgent.js';
import { parseFlagValue, type FlagDefinition } from '../../src/flags/schema.js';
import type { ProposalEmission } from '../../src/learner/learner.js';
import { compileSnapshot } from '../../src/matcher/compile.js';
import { decide } from '../../src/matcher/match.js';
import { buildUaIndex } from '../../src/matcher/uaIndexImpl.js';
import { generateScenario, type ScenarioSpec } from './generator.js';

export interface LearnerLike {
  observe(p: import('../../src/learner/learner.js').LearnerInput, nowMs: number): readonly ProposalEmission[];
  readonly memoryBytes: number;
}

export interface Emitted {
  readonly index: number;
  readonly timeMs: number;
  readonly emission: ProposalEmission;
}

export interface ScenarioRun {
  readonly spec: ScenarioSpec;
  readonly emitted: readonly Emitted[];
  readonly elapsedMs: number;
  /** Mean learner time per event (µs), scenario generation excluded. */
  readonly learnerUsPerEvent: number;
  readonly memoryBytes: number;
  /** Largest memory estimate seen (sampled every 1,000 events). */
  readonly peakMemoryBytes: number;
}

export function runScenario(spec: ScenarioSpec, learner: LearnerLike): ScenarioRun {
  const emitted: Emitted[] = [];
  const started = performance.now();
  let learnerMs = 0;
  let peak = 0;
  for (const e of generateScenario(spec)) {
    const t0 = performance.now();
    const out = learner.observe(e.profile, e.timeMs);
    learnerMs += performance.now() - t0;
    for (const emission of out) emitted.push({ index: e.index, timeMs: e.timeMs, emission });
    if (e.index % 1000 === 0) peak = Math.max(peak, learner.memoryBytes);
  }
  return {
    spec,
    emitted,
    elapsedMs: performance.now() - started,
    learnerUsPerEvent: (learnerMs * 1000) / spec.requests,
    memoryBytes: learner.memoryBytes,
    peakMemoryBytes: Math.max(peak, learner.memoryBytes),
  };
}

export interface ProposalQuality {
  readonly id: string;
  readonly explain: string;
  /** The planted pattern most of its matches belong to, or null (a false proposal). */
  readonly label: string | null;
  /** Request index of the first emission. */
  readonly firstIndex: number;
  /** Requests from the pattern's onset to the first emission. */
  readonly requestsAfterOnset: number | null;
  /** Share of the label's requests the first version's range matches. */
  readonly recall: number;
  /** Share of all other requests it matches. */
  readonly restCapture: number;
  /** Planted requests among the matched ones. */
  readonly precision: number;
  /** The same for the last version emitted. */
  readonly last: { readonly recall: number; readonly restCapture: number; readonly precision: number };
  readonly document: FlagDefinition;
}

const NO_HEADERS: HeaderLookup = { get: () => undefined };

function asFlag(doc: FlagDefinition, name: string): FlagDefinition {
  const parsed = parseFlagValue({ ...doc, name, enabled: true });
  if (!parsed.ok) throw new Error(`proposal does not validate: ${JSON.stringify(parsed.issues)}`);
  return parsed.flag;
}

/** Match every request of the scenario against the first and last version of each proposal. */
export function judgeProposals(run: ScenarioRun): ProposalQuality[] {
  const first = new Map<string, Emitted>();
  const last = new Map<string, Emitted>();
  for (const e of run.emitted) {
    if (!first.has(e.emission.id)) first.set(e.emission.id, e);
    last.set(e.emission.id, e);
  }
  const ids = [...first.keys()];
  if (ids.length === 0) return [];
  const flags: FlagDefinition[] = [];
  ids.forEach((id, i) => {
    flags.push(asFlag(first.get(id)!.emission.document, `f${i}`));
    flags.push(asFlag(last.get(id)!.emission.document, `l${i}`));
  });
  const snapshot = compileSnapshot(
    flags,
    { version: 1, source: 'scenario', rejected: [] },
    { uaIndexBuilder: { embed: embedUserAgent, build: buildUaIndex } },
  );
  const nameIndex = new Map<string, number>(flags.map((f, i) => [f.name, i]));
  // matched[flag][label] and totals per label.
  const labels = new Map<string, number>();
  const perFlag = flags.map(() => new Map<string, number>());
  const onsets = new Map<string, number>();
  let total = 0;
  for (const e of generateScenario(run.spec)) {
    total++;
    const label = e.label ?? '';
    labels.set(label, (labels.get(label) ?? 0) + 1);
    if (e.label !== null && !onsets.has(e.label)) onsets.set(e.label, e.index);
    const decision = decide(snapshot, e.profile, NO_HEADERS);
    for (const m of decision.matches) {
      const i = nameIndex.get(m.flag.name);
      if (i === undefined) continue;
      const counts = perFlag[i]!;
      counts.set(label, (counts.get(label) ?? 0) + 1);
    }
  }
  void total;
  const plantedOnsets = new Map((run.spec.planted ?? []).map((p) => [p.name, p.onset]));
  const qualityOf = (counts: Map<string, number>, label: string | null) => {
    const planted = label === null ? 0 : (counts.get(label) ?? 0);
    const all = [...counts.values()].reduce((a, b) => a + b, 0);
    const labelTotal = label === null ? 0 : (labels.get(label) ?? 0);
    let restTotal = 0;
    for (const [l, n] of labels) if (l !== label) restTotal += n;
    return {
      recall: labelTotal === 0 ? 0 : planted / labelTotal,
      restCapture: restTotal === 0 ? 0 : (all - planted) / restTotal,
      precision: all === 0 ? 0 : planted / all,
    };
  };
  return ids.map((id, i) => {
    const counts = perFlag[2 * i]!;
    // The planted label most of its matches belong to (a proposal may cover part of a pattern:
    // one endpoint of several); null when background traffic is the majority (a false proposal).
    let label: string | null = null;
    let best = 0;
    let all = 0;
    for (const [l, n] of counts) {
      all += n;
      if (l === '' || l === 'flood') continue;
      if (n > best) [best, label] = [n, l];
    }
    if (best < 0.5 * all || best === 0) label = null;
    const e = first.get(id)!;
    const onset = label === null ? undefined : plantedOnsets.get(label);
    return {
      id,
      explain: String((e.emission.document.evidence as { explain?: unknown } | undefined)?.explain ?? ''),
      label,
      firstIndex: e.index,
      requestsAfterOnset: onset === undefined ? null : e.index - onset,
      ...qualityOf(counts, label),
      last: qualityOf(perFlag[2 * i + 1]!, label),
      document: e.emission.document,
    };
  });
}
