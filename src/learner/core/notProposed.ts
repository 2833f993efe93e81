// Why a cluster is not (yet) a proposal: a stable code for programs and a sentence with figures
// for people ("30+ of 50 distinct clients", "no onset: rate 2.1% throughout ..."). The codes are
// recorded where the decision is made (proposal.ts, novelty.ts, learner.ts) and shown by
// GET /learner (explain.ts); docs/learning.md lists them.

export type NotProposedCode =
  /** Fewer than k distinct clients (or events) so far. */
  | 'below-floor'
  /** Fewer than two dimensions hold enough of the cluster in values above the floor. */
  | 'few-dimensions'
  /** No endpoint, country or user-agent dimension (a range of method and size says too little). */
  | 'no-anchor-dimension'
  /** The range would hold too little of the cluster. */
  | 'low-coverage'
  /** The traffic history is too short to see an onset. */
  | 'short-baseline'
  /** The range's traffic did not rise: stationary (a rare but old segment). */
  | 'no-onset'
  /** It rose, but not significantly. */
  | 'not-significant'
  /** The range also held too much of the traffic before the onset. */
  | 'background'
  /** Its proposal was approved or rejected; the pattern is not proposed again by this learner. */
  | 'retired'
  /** The proposal document failed the flag schema (a bug; counted). */
  | 'invalid';

export interface NotProposed {
  readonly code: NotProposedCode;
  readonly message: string;
}
