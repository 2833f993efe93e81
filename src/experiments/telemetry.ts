// The metrics the experiment edges report, as a small interface (tests pass a recorder or the
// no-op); `experimentMetrics(metrics)` adapts the sidecar's metric list (telemetry/metrics.ts).
import type { Metrics } from '../telemetry/metrics.js';

export type FlushOutcome = 'ok' | 'duplicate' | 'failed';
export type OutcomeClass = 'success' | '4xx' | '5xx' | 'no_response' | 'invalid_status';
export type GuardrailOutcome = 'within_bound' | 'insufficient_data' | 'tripped';
export type ChangeOutcome = 'applied' | 'noop' | 'failed';

export interface ExperimentMetrics {
  flush(outcome: FlushOutcome): void;
  /** Outcomes drained from the recorder, by class (counted at flush, never per request). */
  outcomes(klass: OutcomeClass, n: number): void;
  /** Flush calls waiting for a retry. */
  pending(chunks: number): void;
  guardrailCheck(outcome: GuardrailOutcome): void;
  guardrailChange(outcome: ChangeOutcome): void;
  /** Runs of the guardrail loop or reads that failed. */
  error(kind: 'flush' | 'read' | 'guardrail'): void;
}

export const noopExperimentMetrics: ExperimentMetrics = Object.freeze({
  flush: () => {},
  outcomes: () => {},
  pending: () => {},
  guardrailCheck: () => {},
  guardrailChange: () => {},
  error: () => {},
});

export function experimentMetrics(m: Metrics): ExperimentMetrics {
  return {
    flush: (outcome) => m.experimentFlushes.labels(outcome).inc(),
    outcomes: (klass, n) => {
      if (n > 0) m.experimentOutcomes.labels(klass).inc(n);
    },
    pending: (chunks) => m.experimentPendingFlushes.set(chunks),
    guardrailCheck: (outcome) => m.guardrailChecks.labels(outcome).inc(),
    guardrailChange: (outcome) => m.guardrailChanges.labels(outcome).inc(),
    error: (kind) => m.experimentErrors.labels(kind).inc(),
  };
}

/** The subset of a pino logger the edges use. */
export interface ExperimentLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  debug(obj: object, msg: string): void;
}

export const silentLogger: ExperimentLogger = Object.freeze({ info: () => {}, warn: () => {}, debug: () => {} });
