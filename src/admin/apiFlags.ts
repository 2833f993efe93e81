// GET /api/flags: every flag (disabled ones too) as the console shows it, with the rejected
// documents and their reasons. Built from the served snapshot and the definitions behind it.
import type { FlagDefinition } from '../flags/schema.js';
import type { Snapshot } from '../matcher/snapshot.js';
import { describeActions, describeProfile, type DescribableFlag } from './apiDescribe.js';
import type { AuditEntry } from '../changes/index.js';

export interface LastChange {
  readonly version: number | null;
  readonly who: string;
  readonly action: string;
  readonly time: number;
  readonly detail: string;
}

export interface FlagView {
  readonly name: string;
  readonly enabled: boolean;
  /** `enforce` unless the document says `shadow` (CONTRACT §6). */
  readonly mode: 'enforce' | 'shadow';
  readonly value: boolean | string | number;
  readonly priority: number;
  readonly threshold: number;
  readonly description: string | null;
  /** The range in words, one line per dimension. */
  readonly profile: string[];
  readonly actions: string[];
  /** Route clusters of the flag and its variants (to attribute routed traffic). */
  readonly clusters: string[];
  readonly variants: Array<{ name: string; weight: number }> | null;
  /** The experiment block (CONTRACT §7), when the flag has one. */
  readonly experiment: { control: string | null; guardrails: number } | null;
  readonly lastChange: LastChange | null;
}

export interface FlagsView {
  readonly version: number | null;
  readonly source: string;
  readonly compiledAt: number;
  /** False when only the enabled (compiled) flags are known (a snapshot compiled elsewhere). */
  readonly complete: boolean;
  readonly flags: FlagView[];
  readonly rejected: Array<{ key: string; reason: string }>;
}

type Loose = FlagDefinition & {
  mode?: unknown;
  respondLimit?: unknown;
  experiment?: { control?: unknown; guardrails?: unknown[] };
  actions?: Record<string, unknown>;
};

function clustersOf(def: Loose): string[] {
  const out = new Set<string>();
  const route = (a: unknown) => (a as { route?: { cluster?: string } } | undefined)?.route?.cluster;
  const own = route(def.actions);
  if (own) out.add(own);
  for (const v of def.variants ?? []) {
    const c = route(v.actions);
    if (c) out.add(c);
  }
  return [...out];
}

/** The newest change naming each flag, from audit entries newest first. */
export function lastChanges(entries: readonly AuditEntry[]): Map<string, LastChange> {
  const out = new Map<string, LastChange>();
  for (const e of entries) {
    if (e.name === '' || out.has(e.name)) continue;
    out.set(e.name, {
      version: Number.isFinite(e.after) ? e.after : null,
      who: e.who,
      action: e.action,
      time: e.time,
      detail: e.detail ?? '',
    });
  }
  return out;
}

export function flagView(def: FlagDefinition, tz: string, last: LastChange | null): FlagView {
  const d = def as Loose;
  const experiment =
    d.experiment && typeof d.experiment === 'object'
      ? {
          control: typeof d.experiment.control === 'string' ? d.experiment.control : null,
          guardrails: Array.isArray(d.experiment.guardrails) ? d.experiment.guardrails.length : 0,
        }
      : null;
  return {
    name: d.name,
    enabled: d.enabled,
    mode: d.mode === 'shadow' ? 'shadow' : 'enforce',
    value: d.value,
    priority: d.priority,
    threshold: d.threshold,
    description: d.description ?? null,
    profile: describeProfile(d as DescribableFlag, tz),
    actions: describeActions(d as DescribableFlag),
    clusters: clustersOf(d),
    variants: d.variants ? d.variants.map((v) => ({ name: v.name, weight: v.weight })) : null,
    experiment,
    lastChange: last,
  };
}

export function flagsView(
  snapshot: Snapshot,
  definitions: readonly FlagDefinition[] | null,
  tz: string,
  changes: ReadonlyMap<string, LastChange>,
): FlagsView {
  let flags: FlagView[];
  if (definitions !== null) {
    flags = definitions.map((def) => flagView(def, tz, changes.get(def.name) ?? null));
  } else {
    // Only the compiled (enabled) flags: show what is known.
    flags = snapshot.flags.map((f) => ({
      name: f.name,
      enabled: true,
      mode: 'enforce',
      value: f.value,
      priority: f.priority,
      threshold: f.threshold,
      description: null,
      profile: [],
      actions: f.actions.route ? [`routes to cluster ${f.actions.route}`] : [],
      clusters: f.actions.route ? [f.actions.route] : [],
      variants: null,
      experiment: null,
      lastChange: changes.get(f.name) ?? null,
    }));
  }
  flags.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return {
    version: snapshot.version,
    source: snapshot.source,
    compiledAt: snapshot.compiledAt,
    complete: definitions !== null,
    flags,
    rejected: snapshot.rejected.map((r) => ({ key: r.key, reason: r.reason })),
  };
}
