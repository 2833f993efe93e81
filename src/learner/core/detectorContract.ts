// The anomaly detector's interface as the learner uses it (src/learner/core/detector/ owns the
// implementation; this file only names the shape the learner codes against).

export interface DetectorInput {
  method: string;
  endpoint: string | null;
  country: string | null;
  uaFamily: string;
  sizeBin: number | null;
  hour: number;
}

export interface ProfileScore {
  readonly raw: number;
  /** Share of recent traffic that scored lower: 0.99 means "rarer than 99 % of traffic". */
  readonly calibrated: number;
  readonly reasons: readonly string[];
}

export interface ProfileDetector {
  observe(p: DetectorInput, nowMs: number): ProfileScore;
  readonly observed: number;
  readonly memoryBytes: number;
}
