// What the console reads from a serving process (the sidecar itself, or each worker when
// PROFLAG_WORKERS > 1): the answers of its serving topics (servingTopics.ts). They run where
// the snapshot is and return plain data, so the same console works in one process and in the
// primary of a cluster.
import type { Registry } from 'prom-client';
import type { Snapshot } from '../matcher/snapshot.js';
import type { SnapshotHolder, SyncState } from '../store/snapshotHolder.js';
import type { FlagCatalog } from './apiCatalog.js';
import { flagsView, type FlagsView } from './apiFlags.js';

export const EVALUATIONS_METRIC = 'proflag_flag_evaluations_total';

/** The console's flag list from one serving process. */
export interface ServedFlags {
  /** Every flag behind the served snapshot (lastChange left null: the console adds it). */
  readonly view: FlagsView;
  readonly sync: SyncState;
  /** The flags with an `experiment` block (CONTRACT §7), as written. */
  readonly experiments: ReadonlyArray<{ readonly name: string; readonly experiment: unknown }>;
}

/** What changed when a process swapped its snapshot (the `flags` event's data). */
export interface ServedSummary {
  readonly version: number | null;
  readonly flags: number;
  readonly rejected: number;
  readonly compiledAt: number;
}

export function summaryOf(snapshot: Snapshot): ServedSummary {
  return {
    version: snapshot.version,
    flags: snapshot.flagCount,
    rejected: snapshot.rejected.length,
    compiledAt: snapshot.compiledAt,
  };
}

export function servedFlags(holder: SnapshotHolder, catalog: FlagCatalog | null, tz: string): ServedFlags {
  const snapshot = holder.current;
  const known = catalog !== null && catalog.knows(snapshot);
  const definitions = known ? catalog.definitions(snapshot) : null;
  const experiments = (definitions ?? [])
    .filter((d) => {
      const x = (d as { experiment?: unknown }).experiment;
      return x !== null && typeof x === 'object';
    })
    .map((d) => ({ name: d.name, experiment: (d as { experiment?: unknown }).experiment }));
  return { view: flagsView(snapshot, definitions, tz, new Map()), sync: holder.sync, experiments };
}

/** One series of proflag_flag_evaluations_total. */
export interface EvaluationCount {
  readonly flag: string;
  readonly variant: string;
  readonly result: string;
  readonly value: number;
}

/** The per-flag counters of one process (CONTRACT §8); null when the metric is not registered. */
export async function evaluationCounts(registry: Registry): Promise<EvaluationCount[] | null> {
  const metric = registry.getSingleMetric(EVALUATIONS_METRIC);
  if (!metric) return null;
  const { values } = await metric.get();
  return values.map((v) => ({
    flag: String(v.labels.flag ?? ''),
    variant: String(v.labels.variant ?? ''),
    result: String(v.labels.result ?? ''),
    value: v.value,
  }));
}
