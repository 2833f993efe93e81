// What `ffr results NAME` and `GET /experiments/NAME` return: the results of the generation in
// force (CONTRACT §7's fields at the top level), the earlier generations found in the window,
// and the guardrail trips recorded for the flag.
import type { GuardrailCheck } from './guardrails.js';
import type { ExperimentResults } from './results.js';

/** One applied guardrail change, as the replica that made it recorded it. */
export interface TripRecord {
  /** ISO time of the change. */
  readonly at: string;
  readonly flag: string;
  readonly generation: string;
  readonly variant: string;
  readonly metric: GuardrailCheck['metric'];
  /** The one-line description that also went into the audit entry. */
  readonly detail: string;
  readonly check: GuardrailCheck;
}

export interface ExperimentReport extends ExperimentResults {
  /** Earlier generations (other weights) with counts in the window, most recent first. */
  readonly earlierGenerations: readonly ExperimentResults[];
  /** Guardrail changes applied to this flag, most recent first. */
  readonly trips: readonly TripRecord[];
}

export function experimentReport(
  current: ExperimentResults,
  earlier: readonly ExperimentResults[],
  trips: readonly TripRecord[],
): ExperimentReport {
  return { ...current, earlierGenerations: earlier, trips };
}
