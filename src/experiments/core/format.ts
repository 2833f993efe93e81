// The text `ffr results NAME` prints: a per-variant table, then the sample-ratio check, the
// power line, the guardrails and the trips. Pure (a string from a report).
import { count, milliseconds, pEquals, percent, pValueText, signedPercent } from './numbers.js';
import type { ExperimentReport } from './report.js';
import type { ExperimentResults, VariantResult } from './results.js';

function table(header: readonly string[], rows: readonly (readonly string[])[]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)];
}

function differencePoints(v: VariantResult): string {
  const d = v.vsControl.errorRateDifference;
  if (d === null) return '';
  const pp = (d * 100).toFixed(2);
  return `${d >= 0 ? '+' : ''}${pp} pp`;
}

function variantRows(r: ExperimentResults): string[] {
  return table(
    [
      'variant',
      'weight',
      'requests',
      'errors',
      'error rate',
      '5xx',
      '4xx',
      'no resp',
      'p50 ms',
      'p95 ms',
      'p99 ms',
      'Δ errors',
      'p (z-test)',
      'Δ p95',
      'p (MWU)',
    ],
    r.variants.map((v) => [
      v.isControl ? `${v.name} (control)` : v.name,
      percent(v.share, 0),
      count(v.requests),
      count(v.errors),
      percent(v.errorRate),
      count(v.status5xx),
      count(v.status4xx),
      count(v.noResponse),
      milliseconds(v.latencyMs.p50),
      milliseconds(v.latencyMs.p95),
      milliseconds(v.latencyMs.p99),
      differencePoints(v),
      v.isControl ? '' : pValueText(v.vsControl.errorRatePValue),
      v.isControl ? '' : signedPercent(v.vsControl.latencyP95Relative),
      v.isControl ? '' : pValueText(v.vsControl.latencyPValue),
    ]),
  );
}

function srmLine(r: ExperimentResults): string {
  const s = r.srm;
  if (s.pValue === null) {
    return s.mismatch
      ? 'sample ratio: MISMATCH (requests reached a variant whose weight is 0)'
      : 'sample ratio: not tested (fewer than two variants with a weight)';
  }
  const verdict = s.mismatch ? `MISMATCH (p < ${s.threshold}): the split is broken, do not trust the comparison` : 'ok';
  return `sample ratio: chi-squared ${s.chiSquared.toFixed(2)}, ${s.degreesOfFreedom} df, ${pEquals(s.pValue)}: ${verdict}`;
}

function powerLines(r: ExperimentResults): string[] {
  const lines: string[] = [];
  for (const v of r.variants) {
    if (v.isControl) continue;
    const p = v.vsControl.power;
    if (!p) {
      lines.push(`  ${v.name}: no estimate yet (control needs requests and at least one error)`);
      continue;
    }
    const done = p.additionalRequests === 0;
    lines.push(
      `  ${v.name}: ${signedPercent(p.relativeEffect)} on control's ${percent(p.controlRate)} needs ` +
        `${count(p.requiredControl)} control / ${count(p.requiredVariant)} ${v.name} requests ` +
        `(${Math.round(p.power * 100)} % power, α ${p.alpha} two-sided): ` +
        (done ? 'reached' : `about ${count(p.additionalRequests)} more requests`),
    );
  }
  return lines.length ? ['power:', ...lines] : [];
}

function guardrailLines(r: ExperimentResults): string[] {
  if (r.guardrails.length === 0) return [];
  const unit = (metric: string, x: number | null) => (metric === 'errorRate' ? percent(x) : `${milliseconds(x)} ms`);
  return [
    'guardrails:',
    ...r.guardrails.map((g) => {
      const rule = `${g.metric} at most ${signedPercent(g.maxRelativeIncrease)} (min ${count(g.minRequests)}, p < ${g.pValueThreshold})`;
      const figures =
        g.pValue === null
          ? `${count(g.variantRequests)} / ${count(g.controlRequests)} requests`
          : `${unit(g.metric, g.variantValue)} vs ${unit(g.metric, g.controlValue)} (${signedPercent(g.relativeIncrease)}), ` +
            `${pEquals(g.pValue)}, ${count(g.variantRequests)} / ${count(g.controlRequests)} requests`;
      const status =
        g.status === 'tripped' ? 'TRIPPED' : g.status === 'insufficient-data' ? 'not enough data' : 'within bound';
      return `  ${g.variant}: ${rule}: ${status}; ${figures}`;
    }),
  ];
}

function section(r: ExperimentResults, title: string): string[] {
  const weights = r.variants.map((v) => `${v.name} ${percent(v.share, 0)}`).join(', ');
  return [
    `${title} ${r.flag}, control "${r.control}", generation ${r.generation} (${weights})`,
    `window ${r.window.from} to ${r.window.to} (${r.window.minutes} min)`,
    '',
    ...variantRows(r),
    '',
    srmLine(r),
    ...powerLines(r),
    ...guardrailLines(r),
  ];
}

/** The whole text report. */
export function formatReport(report: ExperimentReport): string {
  const lines = section(report, 'experiment');
  if (report.trips.length > 0) {
    lines.push('guardrail changes:');
    for (const t of report.trips) lines.push(`  ${t.at}: ${t.variant} weight set to 0: ${t.detail}`);
  }
  for (const earlier of report.earlierGenerations) lines.push('', ...section(earlier, 'earlier generation of'));
  lines.push(
    '',
    'error = 5xx, no response or unusable :status; p (z-test): two-proportion z-test; ' +
      'p (MWU): Mann-Whitney U on the latency histograms; both two-sided.',
  );
  return `${lines.join('\n')}\n`;
}
