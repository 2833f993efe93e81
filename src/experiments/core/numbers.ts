// Number formatting shared by the results table and the guardrail's audit detail.

/** 0.0812 → "8.12%". */
export function percent(value: number | null, digits = 2): string {
  if (value === null || !Number.isFinite(value)) return '-';
  return `${(value * 100).toFixed(digits)}%`;
}

/** 0.5 → "+50.0%", −0.02 → "−2.0%". */
export function signedPercent(value: number | null, digits = 1): string {
  if (value === null || !Number.isFinite(value)) return '-';
  const text = `${(Math.abs(value) * 100).toFixed(digits)}%`;
  return value < 0 ? `-${text}` : `+${text}`;
}

/** p-values: 3 significant digits, scientific below 0.001, "< 1e-15" at the CDF's precision. */
export function pValueText(p: number | null): string {
  if (p === null || Number.isNaN(p)) return '-';
  if (p < 1e-15) return '< 1e-15';
  if (p < 0.001) return p.toExponential(1);
  return p.toPrecision(2);
}

/** "p = 0.0031" or "p < 1e-15". */
export function pEquals(p: number | null): string {
  const text = pValueText(p);
  return text.startsWith('<') ? `p ${text}` : `p = ${text}`;
}

/** Milliseconds with sensible digits. */
export function milliseconds(ms: number | null): string {
  if (ms === null || !Number.isFinite(ms)) return '-';
  if (ms >= 100) return ms.toFixed(0);
  if (ms >= 10) return ms.toFixed(1);
  return ms.toFixed(2);
}

/** 12345 → "12,345". */
export function count(n: number | null): string {
  if (n === null || !Number.isFinite(n)) return '-';
  return Math.round(n).toLocaleString('en-US');
}
