// The guardrail loop: every `intervalMs`, for each experiment of the current snapshot that has
// guardrails, read the merged counts of its generation (every replica's), evaluate, and for a
// tripped variant ask the change path to set its weight to 0. Every replica runs this loop;
// the change path's compare-and-set makes exactly one of them change the flag: `mutate`
// returns null when the weight is already 0, so the others find nothing to do.
import type { VariantCounts } from './core/counts.js';
import { describeCheck, type GuardrailCheck } from './core/guardrails.js';
import type { TripRecord } from './core/report.js';
import { computeResults } from './core/results.js';
import type { ExperimentSpec } from './core/spec.js';
import { minuteOf } from './keys.js';
import {
  noopExperimentMetrics,
  silentLogger,
  type ExperimentLogger,
  type ExperimentMetrics,
  type GuardrailOutcome,
} from './telemetry.js';

/** A flag document as JSON (the change path parses and validates it). */
export type FlagDocument = Record<string, unknown>;

export interface ChangeContext {
  /** The audit entry's `who`. */
  readonly actor: string;
  readonly reason: 'guardrail';
  /** The audit entry's `detail`: the check's figures in one line. */
  readonly detail: string;
}

/**
 * The one thing the runner needs from the atomic change path (TEAM.md interface 3): a
 * compare-and-set update. `mutate` returns the new document or null for "nothing to do"; the
 * answer says whether this call changed the flag (version bump, publish, audit entry).
 */
export interface FlagChangePath {
  update(
    name: string,
    mutate: (doc: FlagDocument) => FlagDocument | null,
    context: ChangeContext,
  ): Promise<{ readonly applied: boolean }>;
}

export interface CountsSource {
  counts(
    spec: ExperimentSpec,
    nowMinute: number,
  ): Promise<{ counts: Map<string, VariantCounts>; fromMinute: number; toMinute: number }>;
  retain?(specs: readonly ExperimentSpec[]): void;
}

export interface TripLog {
  record(trip: TripRecord): Promise<void>;
}

/** The mutation of a guardrail change: `variant`'s weight to 0, or null when there is nothing to do. */
export function zeroVariantWeight(variant: string, control: string): (doc: FlagDocument) => FlagDocument | null {
  return (doc) => {
    const variants = doc.variants;
    if (!Array.isArray(variants) || variant === control) return null;
    const i = variants.findIndex((v) => v && typeof v === 'object' && (v as FlagDocument).name === variant);
    if (i < 0) return null;
    const target = variants[i] as FlagDocument;
    if (target.weight === 0) return null;
    // The control must still get traffic: never leave the flag without a positive weight.
    const others = variants.some((v, j) => {
      const weight = (v as FlagDocument | null)?.weight;
      return j !== i && typeof weight === 'number' && weight > 0;
    });
    if (!others) return null;
    return { ...doc, variants: variants.map((v, j) => (j === i ? { ...target, weight: 0 } : v)) };
  };
}

export interface GuardrailRunnerOptions {
  /** The experiments being served now (ExperimentRecorder.currentExperiments). */
  readonly experiments: () => readonly ExperimentSpec[];
  readonly counts: CountsSource;
  readonly changes: FlagChangePath;
  readonly trips?: TripLog;
  /** PROFLAG_GUARDRAIL_INTERVAL_MS. */
  readonly intervalMs: number;
  /** Names this replica in the audit entry. Default 'guardrail'. */
  readonly actor?: string;
  readonly logger?: ExperimentLogger;
  readonly metrics?: ExperimentMetrics;
  readonly now?: () => number;
}

export interface RunSummary {
  readonly checks: readonly GuardrailCheck[];
  /** Trips this replica applied (the change path said `applied`). */
  readonly applied: readonly GuardrailCheck[];
  /** Trips another replica (or an earlier run) had already applied. */
  readonly alreadyApplied: readonly GuardrailCheck[];
  readonly errors: readonly string[];
}

const STATUS_METRIC: Record<GuardrailCheck['status'], GuardrailOutcome> = {
  'within-bound': 'within_bound',
  'insufficient-data': 'insufficient_data',
  tripped: 'tripped',
};

export class GuardrailRunner {
  readonly #o: GuardrailRunnerOptions;
  readonly #log: ExperimentLogger;
  readonly #metrics: ExperimentMetrics;
  readonly #now: () => number;
  #timer: NodeJS.Timeout | null = null;
  #running: Promise<RunSummary> | null = null;
  /** `flag:generation:variant` already handled by this process (until the snapshot moves on). */
  readonly #done = new Set<string>();

  constructor(options: GuardrailRunnerOptions) {
    if (!(options.intervalMs > 0)) throw new RangeError(`intervalMs must be > 0, got ${options.intervalMs}`);
    this.#o = options;
    this.#log = options.logger ?? silentLogger;
    this.#metrics = options.metrics ?? noopExperimentMetrics;
    this.#now = options.now ?? Date.now;
  }

  start(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => void this.runOnce(), this.#o.intervalMs);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    await this.#running;
  }

  /** One pass over every experiment with guardrails (a pass already running is joined). */
  runOnce(): Promise<RunSummary> {
    if (this.#running) return this.#running;
    this.#running = this.#run().finally(() => {
      this.#running = null;
    });
    return this.#running;
  }

  async #run(): Promise<RunSummary> {
    const specs = this.#o.experiments().filter((s) => s.guardrails.length > 0);
    this.#o.counts.retain?.(specs);
    const checks: GuardrailCheck[] = [];
    const applied: GuardrailCheck[] = [];
    const alreadyApplied: GuardrailCheck[] = [];
    const errors: string[] = [];
    const nowMinute = minuteOf(this.#now());
    for (const spec of specs) {
      let results;
      try {
        const read = await this.#o.counts.counts(spec, nowMinute);
        results = computeResults(spec, read.counts, { fromMinute: read.fromMinute, toMinute: read.toMinute });
      } catch (err) {
        this.#metrics.error('read');
        errors.push(`${spec.flag}: ${(err as Error).message}`);
        this.#log.warn(
          { code: 'PROFLAG_ERR_EXPERIMENT', flag: spec.flag, err: (err as Error).message },
          'reading experiment counts for the guardrails failed; trying again next run',
        );
        continue;
      }
      for (const check of results.guardrails) {
        checks.push(check);
        this.#metrics.guardrailCheck(STATUS_METRIC[check.status]);
        if (check.status !== 'tripped') continue;
        const key = `${check.flag}:${check.generation}:${check.variant}`;
        if (this.#done.has(key)) continue;
        try {
          if (await this.#apply(check)) applied.push(check);
          else alreadyApplied.push(check);
          this.#done.add(key);
        } catch (err) {
          this.#metrics.guardrailChange('failed');
          this.#metrics.error('guardrail');
          errors.push(`${check.flag}/${check.variant}: ${(err as Error).message}`);
          this.#log.warn(
            { code: 'PROFLAG_ERR_EXPERIMENT', flag: check.flag, variant: check.variant, err: (err as Error).message },
            'applying a tripped guardrail failed; trying again next run',
          );
        }
      }
    }
    // Forget handled trips of generations no longer served (the flag moved on).
    const live = new Set(specs.map((s) => `${s.flag}:${s.generation}:`));
    for (const key of this.#done) if (![...live].some((p) => key.startsWith(p))) this.#done.delete(key);
    return { checks, applied, alreadyApplied, errors };
  }

  async #apply(check: GuardrailCheck): Promise<boolean> {
    const detail = describeCheck(check);
    const { applied } = await this.#o.changes.update(check.flag, zeroVariantWeight(check.variant, check.control), {
      actor: this.#o.actor ?? 'guardrail',
      reason: 'guardrail',
      detail,
    });
    if (!applied) {
      this.#metrics.guardrailChange('noop');
      this.#log.debug({ flag: check.flag, variant: check.variant }, 'guardrail already applied');
      return false;
    }
    this.#metrics.guardrailChange('applied');
    this.#log.warn({ flag: check.flag, variant: check.variant, detail }, 'guardrail tripped: variant weight set to 0');
    if (this.#o.trips) {
      const trip: TripRecord = {
        at: new Date(this.#now()).toISOString(),
        flag: check.flag,
        generation: check.generation,
        variant: check.variant,
        metric: check.metric,
        detail,
        check,
      };
      // The audit entry is the record of the change; this copy is for `results`, best effort.
      await this.#o.trips.record(trip).catch((err: Error) => {
        this.#metrics.error('guardrail');
        this.#log.warn({ code: 'PROFLAG_ERR_EXPERIMENT', err: err.message }, 'recording the guardrail trip failed');
      });
    }
    return true;
  }
}
