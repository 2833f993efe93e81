// Capped exponential backoff with jitter, for reconnects and reload retries. Equal jitter:
// half of the exponential step is fixed, half random, so a fleet that lost Redis together
// does not come back in lockstep, yet no replica retries much sooner than the step.

export interface BackoffOptions {
  /** Delay of the first retry, before jitter. */
  readonly baseMs: number;
  /** Upper bound of any delay. */
  readonly maxMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = Object.freeze({ baseMs: 100, maxMs: 10_000 });

/** Delay before retry number `attempt` (1 for the first retry), in ms. */
export function backoffDelay(
  attempt: number,
  options: BackoffOptions = DEFAULT_BACKOFF,
  random: () => number = Math.random,
): number {
  const n = Math.max(1, Math.floor(attempt));
  // 2^30 is far past any sane cap; clamping the exponent keeps the product finite.
  const step = Math.min(options.maxMs, options.baseMs * 2 ** Math.min(n - 1, 30));
  const half = step / 2;
  return Math.round(half + random() * half);
}
