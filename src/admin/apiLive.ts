// The console's live events that no one pushes: checks run only while a page listens to
// /api/events, each publishing an event when what it watches has moved.
//   - proposals: learners write them without a publish, so their digest is compared;
//   - served snapshots, where the console does not run beside the snapshot (a cluster's
//     primary): a change-channel message says Redis changed, not that the workers already
//     serve it, so the workers are asked what they serve.
import { createHash } from 'node:crypto';
import type { FlagReads } from '../changes/index.js';
import type { ServedSummary } from './apiServed.js';
import type { EventHub } from './events.js';
import type { ServingProcesses } from './servingTopics.js';

export interface LiveCheck {
  readonly everyMs: number;
  /** Look once; a failure is dropped (Redis or the workers away: the pages say so on their next read). */
  run(): Promise<void>;
  /** The last page left: forget what was seen. */
  reset?(): void;
}

/** Runs every check at its interval while the hub has listeners; returns the stop. */
export function runWhileListening(events: EventHub, checks: readonly LiveCheck[]): () => void {
  const state = checks.map((check) => ({ check, busy: false, timer: null as NodeJS.Timeout | null }));
  const tick = (s: (typeof state)[number]) => {
    if (s.busy) return;
    s.busy = true;
    void s.check
      .run()
      .catch(() => {})
      .finally(() => (s.busy = false));
  };
  events.onClients((n) => {
    for (const s of state) {
      if (n > 0 && s.timer === null) {
        s.timer = setInterval(() => tick(s), s.check.everyMs);
        s.timer.unref();
        tick(s);
      } else if (n === 0 && s.timer !== null) {
        clearInterval(s.timer);
        s.timer = null;
        s.check.reset?.();
      }
    }
  });
  return () => {
    for (const s of state) if (s.timer) clearInterval(s.timer);
  };
}

/** `proposals` whenever the stored proposals differ from the last look. */
export function proposalsCheck(
  everyMs: number,
  reads: () => Promise<FlagReads | null>,
  publish: (digest: string) => void,
): LiveCheck {
  let last: string | null = null;
  return {
    everyMs,
    async run() {
      const r = await reads();
      if (!r) return;
      const digest = createHash('sha1')
        .update(JSON.stringify(await r.proposals()))
        .digest('hex');
      // The first look after a page connects publishes too: a proposal written between that
      // page's first read and this look is not missed.
      if (digest !== last) publish(digest);
      last = digest;
    },
    reset() {
      last = null;
    },
  };
}

/**
 * `flags` whenever any serving process serves something else than at the last look. The
 * summary's version is the lowest any of them serves, so the last event of a change comes
 * once every worker serves it, and the page's read then sees it whichever worker answers.
 */
export function servedCheck(
  everyMs: number,
  serving: ServingProcesses,
  publish: (summary: ServedSummary) => void,
): LiveCheck {
  let last: string | null = null;
  return {
    everyMs,
    async run() {
      const answers = (await serving.askAll('servedSummary')).filter((a) => a.ok);
      if (answers.length === 0) return;
      const summaries = answers.map((a) => (a as { value: ServedSummary }).value);
      const key = JSON.stringify(answers.map((a, i) => [a.worker, summaries[i]]));
      if (key === last) return;
      last = key;
      const versions = summaries.map((s) => s.version).filter((v): v is number => v !== null);
      publish({
        version: versions.length > 0 ? Math.min(...versions) : null,
        flags: summaries[0]!.flags,
        rejected: summaries[0]!.rejected,
        compiledAt: Math.max(...summaries.map((s) => s.compiledAt)),
      });
    },
    reset() {
      last = null;
    },
  };
}
