// Hours of day of a cluster: a 24-bin histogram and the smallest *circular* window (it may
// wrap past midnight) that holds a given share of the events.

export interface HourWindow {
  /** First hour of the window, 0-23. */
  readonly start: number;
  /** Last hour of the window (inclusive), 0-23; end < start wraps past midnight. */
  readonly end: number;
  /** Hours in the window, 1-24. */
  readonly length: number;
  /** Share of the events inside it. */
  readonly covered: number;
}

export class HourHistogram {
  private readonly counts = new Float64Array(24);
  private total = 0;

  add(hour: number): void {
    if (!Number.isInteger(hour) || hour < 0 || hour > 23) return;
    this.counts[hour]! += 1;
    this.total++;
  }

  get count(): number {
    return this.total;
  }

  /**
   * The smallest circular window holding at least `coverage` of the events; among windows of
   * that length, the one holding the most (then the earliest start). Null when empty.
   */
  smallestWindow(coverage: number): HourWindow | null {
    if (this.total === 0) return null;
    const need = Math.min(1, Math.max(0, coverage)) * this.total;
    for (let length = 1; length <= 24; length++) {
      let bestStart = -1;
      let bestMass = -1;
      for (let start = 0; start < 24; start++) {
        let mass = 0;
        for (let k = 0; k < length; k++) mass += this.counts[(start + k) % 24]!;
        if (mass > bestMass) {
          bestMass = mass;
          bestStart = start;
        }
      }
      // A tiny tolerance: shares computed from integer counts.
      if (bestMass + 1e-9 >= need) {
        return { start: bestStart, end: (bestStart + length - 1) % 24, length, covered: bestMass / this.total };
      }
    }
    return { start: 0, end: 23, length: 24, covered: 1 };
  }
}

/** True when `hour` lies in the inclusive window [start, end] (wrapping when end < start). */
export function hourInWindow(hour: number, start: number, end: number): boolean {
  return start <= end ? hour >= start && hour <= end : hour >= start || hour <= end;
}
