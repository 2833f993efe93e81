// Was the machine, not the sidecar, the reason an answer came late? On a shared machine the
// operating system sometimes leaves a process unscheduled for a few hundred milliseconds.
// - A client stalled that way sees its 200 ms timer fire late and would blame the sidecar:
//   StallWatch (a ticker every 5 ms) records every gap of this process longer than 20 ms.
// - A sidecar left waiting on the run queue answers late through no fault of its own:
//   runQueueWaitMs reads how long it waited for a CPU (Linux /proc/PID/schedstat).
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

const TICK_MS = 5;
const RECORD_ABOVE_MS = 20;
const KEEP = 4_096;

export class StallWatch {
  private last = performance.now();
  /** Ends and lengths of recorded gaps (a ring). */
  private readonly ends = new Float64Array(KEEP);
  private readonly gaps = new Float64Array(KEEP);
  private count = 0;
  private readonly timer: NodeJS.Timeout;

  constructor() {
    this.timer = setInterval(() => this.tick(), TICK_MS);
    this.timer.unref();
  }

  private tick(): void {
    const now = performance.now();
    const gap = now - this.last - TICK_MS;
    this.last = now;
    if (gap < RECORD_ABOVE_MS) return;
    const i = this.count++ % KEEP;
    this.ends[i] = now;
    this.gaps[i] = gap;
  }

  /** The longest stall of this process that overlapped [from, now] (performance.now() ms). */
  longestSince(from: number): number {
    this.tick(); // a stall still in progress counts too
    let longest = 0;
    const n = Math.min(this.count, KEEP);
    for (let k = 0; k < n; k++) {
      if (this.ends[k]! >= from && this.gaps[k]! > longest) longest = this.gaps[k]!;
    }
    return longest;
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

/**
 * A timeout is held against the sidecar unless this process's longest stall and the time the
 * sidecar waited for a CPU, while the request was open, add up to this much (half of
 * message_timeout): then the machine took half the budget away.
 */
export const STARVED_MS = 100;

/** Total time the process's main thread spent runnable but waiting for a CPU; NaN if unknown. */
export function runQueueWaitMs(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/schedstat`, 'latin1').split(' ');
    return Number(fields[1]) / 1e6;
  } catch {
    return NaN;
  }
}
