// How long this process itself was not running. On a shared machine the operating system
// sometimes does not schedule a process for a few hundred milliseconds; a client stalled that
// way sees its 200 ms timer fire late and would blame the sidecar for it. A ticker every
// 5 ms records every gap longer than 20 ms, and a request can ask whether its own process
// stalled while it was waiting.
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
 * A timeout is the sidecar's only when this process ran normally while it waited: with a
 * stall of its own this long or longer the measurement says nothing about the sidecar.
 */
export const STARVED_MS = 100;
