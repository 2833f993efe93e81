// What an experiment is, as the rest of experiments/ sees it, and how one is read from a
// compiled flag. The flag side (CompiledFlag.experiment, TEAM.md interface 2) is matched
// structurally, so this module does not depend on the matcher's types.
import { hashString32 } from '../../hash32.js';

export type GuardrailMetric = 'errorRate' | 'latencyP95';

export interface Guardrail {
  readonly metric: GuardrailMetric;
  /** Trip when the variant is worse than control by more than this share (0.1 = +10 %). */
  readonly maxRelativeIncrease: number;
  /** Requests (latencyP95: responses) needed on both sides before the guardrail may trip. */
  readonly minRequests: number;
  /** Trip only when the test's p-value is below this. */
  readonly pValue: number;
}

/** CompiledFlag.experiment (interface 2). */
export interface ExperimentConfig {
  readonly control: string;
  readonly controlIndex: number;
  readonly guardrails: readonly Guardrail[];
}

/** The parts of a CompiledFlag that experiments read. */
export interface ExperimentFlagLike {
  readonly name: string;
  /** Position in snapshot.flags. */
  readonly index: number;
  /** Variants in order; `upTo` is the cumulative share on [0, 1). */
  readonly variants: readonly { readonly name: string; readonly upTo: number }[] | null;
  readonly experiment?: ExperimentConfig | null;
}

export interface VariantShare {
  readonly name: string;
  /** Configured share of the experiment's units, in [0, 1]; the shares sum to 1. */
  readonly share: number;
}

/**
 * One experiment as served: `generation` names one configuration (control, variant names and
 * shares), so that counts collected under different weights are never mixed (a sample-ratio
 * check only means something against the weights the counts were collected under).
 */
export interface ExperimentSpec {
  readonly flag: string;
  readonly generation: string;
  readonly control: string;
  readonly variants: readonly VariantShare[];
  readonly guardrails: readonly Guardrail[];
}

/** 8 hex digits from control, names and shares (shares rounded to 1e-9, so float noise is ignored). */
export function experimentGeneration(control: string, variants: readonly VariantShare[]): string {
  let text = control;
  for (const v of variants) text += `\u0000${v.name}=${v.share.toFixed(9)}`;
  return hashString32(text, 0x6e78).toString(16).padStart(8, '0');
}

function validGuardrail(g: Guardrail): boolean {
  return (
    (g.metric === 'errorRate' || g.metric === 'latencyP95') &&
    Number.isFinite(g.maxRelativeIncrease) &&
    g.maxRelativeIncrease >= 0 &&
    Number.isFinite(g.minRequests) &&
    g.minRequests >= 1 &&
    g.pValue > 0 &&
    g.pValue < 1
  );
}

export type SpecResult =
  { readonly ok: true; readonly spec: ExperimentSpec } | { readonly ok: false; readonly reason: string };

/**
 * The experiment a compiled flag declares, or why it cannot be one. null for a flag without an
 * experiment. Validation belongs to the flag schema; this only refuses what would make counts
 * wrong (a control that names no variant), and drops guardrails with impossible numbers.
 */
export function experimentSpecOf(flag: ExperimentFlagLike): SpecResult | null {
  const config = flag.experiment;
  if (!config) return null;
  const variants = flag.variants;
  if (!variants || variants.length === 0) return { ok: false, reason: 'an experiment needs variants' };
  const shares: VariantShare[] = [];
  let previous = 0;
  for (const v of variants) {
    shares.push(Object.freeze({ name: v.name, share: Math.max(0, v.upTo - previous) }));
    previous = v.upTo;
  }
  if (!shares.some((v) => v.name === config.control)) {
    return { ok: false, reason: `experiment.control "${config.control}" names no variant` };
  }
  const guardrails = Object.freeze(config.guardrails.filter(validGuardrail));
  return {
    ok: true,
    spec: Object.freeze({
      flag: flag.name,
      generation: experimentGeneration(config.control, shares),
      control: config.control,
      variants: Object.freeze(shares),
      guardrails,
    }),
  };
}
