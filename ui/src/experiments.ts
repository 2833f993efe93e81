// Experiment results (CONTRACT §7) normalised for the page, pure (unit-tested in node).
// The contract fixes the totals: { flag, control, variants: [{ name, requests, errors,
// errorRate, latencyMs: {p50, p95, p99}, vsControl: {errorRatePValue, latencyPValue} }],
// srm: {pValue, mismatch} }. The plots over time read an optional per-variant `series` (or
// `buckets`/`minutes`/`timeline`): [{ t | time | minute | start (epoch ms or ISO), requests,
// errors, latencyMs: { p50, p95 } | p95 }]. Anything missing shows as "–", never as 0.

export interface SeriesPoint {
  readonly t: number;
  readonly requests: number | null;
  readonly errors: number | null;
  readonly errorRate: number | null;
  readonly p95: number | null;
}

export interface VariantResult {
  readonly name: string;
  readonly isControl: boolean;
  readonly requests: number | null;
  readonly errors: number | null;
  readonly errorRate: number | null;
  readonly p50: number | null;
  readonly p95: number | null;
  readonly p99: number | null;
  readonly errorRatePValue: number | null;
  readonly latencyPValue: number | null;
  readonly series: readonly SeriesPoint[];
}

export interface ExperimentResult {
  readonly flag: string;
  readonly control: string | null;
  readonly variants: readonly VariantResult[];
  readonly srm: { readonly pValue: number | null; readonly mismatch: boolean | null };
  /** The period the results cover (ISO), when given. */
  readonly since: string | null;
  readonly until: string | null;
  /** The experiment generation (one set of weights) the results are for. */
  readonly generation: string | null;
}

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);
const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

function timeOf(p: Obj): number | null {
  for (const key of ['t', 'time', 'minute', 'start', 'at']) {
    const v = p[key];
    if (typeof v === 'number' && Number.isFinite(v)) return v;
    if (typeof v === 'string') {
      const parsed = Date.parse(v);
      if (Number.isFinite(parsed)) return parsed;
    }
  }
  return null;
}

function seriesOf(v: Obj): SeriesPoint[] {
  const raw = v.series ?? v.buckets ?? v.minutes ?? v.timeline;
  if (!Array.isArray(raw)) return [];
  const out: SeriesPoint[] = [];
  for (const p of raw) {
    if (!isObj(p)) continue;
    const t = timeOf(p);
    if (t === null) continue;
    const requests = num(p.requests);
    const errors = num(p.errors);
    const latency = isObj(p.latencyMs) ? p.latencyMs : {};
    out.push({
      t,
      requests,
      errors,
      errorRate: num(p.errorRate) ?? (requests !== null && errors !== null && requests > 0 ? errors / requests : null),
      p95: num(latency.p95) ?? num(p.p95),
    });
  }
  return out.sort((a, b) => a.t - b.t);
}

/** The results JSON as the page shows it, or an error message when it is not results at all. */
export function normalizeResults(json: unknown): ExperimentResult | { error: string } {
  if (!isObj(json)) return { error: 'the results are not a JSON object' };
  if (!Array.isArray(json.variants)) return { error: 'the results have no variants' };
  const control = typeof json.control === 'string' ? json.control : null;
  const variants: VariantResult[] = [];
  for (const v of json.variants) {
    if (!isObj(v) || typeof v.name !== 'string') continue;
    const latency = isObj(v.latencyMs) ? v.latencyMs : {};
    const vs = isObj(v.vsControl) ? v.vsControl : {};
    const requests = num(v.requests);
    const errors = num(v.errors);
    variants.push({
      name: v.name,
      isControl: v.name === control,
      requests,
      errors,
      errorRate: num(v.errorRate) ?? (requests !== null && errors !== null && requests > 0 ? errors / requests : null),
      p50: num(latency.p50),
      p95: num(latency.p95),
      p99: num(latency.p99),
      errorRatePValue: num(vs.errorRatePValue),
      latencyPValue: num(vs.latencyPValue),
      series: seriesOf(v),
    });
  }
  const srm = isObj(json.srm) ? json.srm : {};
  const window = isObj(json.window) ? json.window : {};
  return {
    flag: typeof json.flag === 'string' ? json.flag : '',
    control,
    variants,
    srm: { pValue: num(srm.pValue), mismatch: typeof srm.mismatch === 'boolean' ? srm.mismatch : null },
    since: typeof window.from === 'string' ? window.from : typeof json.since === 'string' ? json.since : null,
    until: typeof window.to === 'string' ? window.to : null,
    generation: typeof json.generation === 'string' ? json.generation : null,
  };
}

/** Metric plotted over time. */
export type SeriesMetric = 'requests' | 'errorRate' | 'p95';

/** Per variant, the (t, value) points of one metric that have a value. */
export function plotSeries(
  result: ExperimentResult,
  metric: SeriesMetric,
): Array<{ name: string; points: Array<[number, number]> }> {
  return result.variants.map((v) => ({
    name: v.name,
    points: v.series.flatMap((p) => {
      const value = p[metric];
      return value === null ? [] : [[p.t, value] as [number, number]];
    }),
  }));
}
