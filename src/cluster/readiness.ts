// /readyz of the primary: ready only when every worker slot has a running worker that says it
// is ready (and none is stale); the body shows each worker, so a 503 says which one and why.
import type { ReadinessState } from '../admin/servingTopics.js';

/** One worker slot at the moment /readyz asks. */
export interface SlotReadiness {
  /** The slot, 1..N (a restarted worker keeps its slot). */
  readonly slot: number;
  readonly pid: number | null;
  /** running: serving gRPC; starting: forked, not serving yet; restarting: waiting to be forked again. */
  readonly state: 'running' | 'starting' | 'restarting' | 'stopping';
  /** The worker's own answer, or why there is none. */
  readonly answer: ReadinessState | null;
  readonly error: string | null;
}

export function combineReadiness(slots: readonly SlotReadiness[], restarts: number): ReadinessState {
  const answers = slots.map((s) => s.answer).filter((a): a is ReadinessState => a !== null);
  const complete = slots.length > 0 && answers.length === slots.length;
  const versions = answers.map((a) => a.version);
  const ages = answers.map((a) => a.syncAgeMs);
  const sources = [...new Set(answers.map((a) => a.source))];
  return {
    ready: complete && answers.every((a) => a.ready),
    stale: answers.some((a) => a.stale),
    // The laggard's: every worker serves at least this version.
    version: complete && versions.every((v) => v !== null) ? Math.min(...(versions as number[])) : null,
    syncAgeMs: complete && ages.every((a) => a !== null) ? Math.max(...(ages as number[])) : null,
    source: sources.length === 1 ? sources[0]! : sources.length === 0 ? 'none' : sources.join(' | '),
    detail: {
      workers: slots.map((s) => ({
        worker: s.slot,
        pid: s.pid,
        state: s.state,
        ...(s.answer
          ? {
              ready: s.answer.ready,
              stale: s.answer.stale,
              version: s.answer.version,
              syncAgeMs: s.answer.syncAgeMs,
              ...s.answer.detail,
            }
          : { ready: false }),
        ...(s.error !== null ? { error: s.error } : {}),
      })),
      restarts,
    },
  };
}
