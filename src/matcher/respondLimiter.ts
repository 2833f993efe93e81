// The `respondLimit` token buckets of a snapshot (CONTRACT §6): one bucket per flag that has a
// limit, in two small typed arrays. A bucket holds at most max(1, perSecond) tokens and gains
// perSecond tokens a second; each immediate reply takes one, and a flag whose bucket is empty
// counts as not matched. So over any window of T seconds a flag sends at most
// max(1, perSecond) + perSecond × T replies per replica (and per worker process).
//
// Time comes in as an argument (the request's clock, in ms), which keeps decide() pure and the
// buckets testable with any clock. A clock that goes back refills nothing; a time that is not
// a finite number grants nothing. The arrays are the only mutable state of a snapshot, and
// they are touched only by decide() on the thread that owns the snapshot.

export interface RespondLimit {
  /** The flag's name (a reload carries a bucket over to the flag of the same name). */
  readonly name: string;
  readonly perSecond: number;
}

export class RespondLimiter {
  readonly names: readonly string[];
  /** Tokens per millisecond. */
  private readonly rate: Float64Array;
  private readonly capacity: Float64Array;
  private readonly tokens: Float64Array;
  /** When each bucket was last brought up to date (ms); -Infinity before its first use. */
  private readonly stamp: Float64Array;

  constructor(limits: readonly RespondLimit[]) {
    const n = limits.length;
    this.names = Object.freeze(limits.map((l) => l.name));
    this.rate = new Float64Array(n);
    this.capacity = new Float64Array(n);
    this.tokens = new Float64Array(n);
    this.stamp = new Float64Array(n).fill(-Infinity);
    for (let i = 0; i < n; i++) {
      const perSecond = limits[i]!.perSecond;
      this.rate[i] = perSecond > 0 ? perSecond / 1000 : 0;
      this.capacity[i] = perSecond > 1 ? perSecond : 1;
      this.tokens[i] = this.capacity[i]!;
    }
  }

  get size(): number {
    return this.names.length;
  }

  /** Take a token from `slot` at `nowMs`: true when the reply may go out. */
  take(slot: number, nowMs: number): boolean {
    if (!Number.isFinite(nowMs) || slot < 0 || slot >= this.tokens.length) return false;
    const t = this.refilled(slot, nowMs);
    if (nowMs > this.stamp[slot]!) this.stamp[slot] = nowMs;
    if (t < 1) {
      this.tokens[slot] = t;
      return false;
    }
    this.tokens[slot] = t - 1;
    return true;
  }

  /** Whether `take` would succeed now; changes nothing (for /explain). */
  available(slot: number, nowMs: number): boolean {
    if (!Number.isFinite(nowMs) || slot < 0 || slot >= this.tokens.length) return false;
    return this.refilled(slot, nowMs) >= 1;
  }

  /**
   * Continue from `previous` (the snapshot this one replaces) for the flags of the same name,
   * so that a reload neither refills a bucket nor forgets what it granted.
   */
  inherit(previous: RespondLimiter): void {
    const at = new Map(previous.names.map((name, i) => [name, i]));
    for (let i = 0; i < this.names.length; i++) {
      const j = at.get(this.names[i]!);
      if (j === undefined) continue;
      this.tokens[i] = Math.min(this.capacity[i]!, previous.tokens[j]!);
      this.stamp[i] = previous.stamp[j]!;
    }
  }

  private refilled(slot: number, nowMs: number): number {
    const t = this.tokens[slot]!;
    const last = this.stamp[slot]!;
    if (!(nowMs > last)) return t;
    const cap = this.capacity[slot]!;
    const next = t + (nowMs - last) * this.rate[slot]!;
    return next < cap ? next : cap;
  }
}
