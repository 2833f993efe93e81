// Two small SVG charts: a sparkline (per-flag traffic) and a line chart (experiment metrics
// over time). Each series has its own dash pattern and marker as well as its colour, the
// legend repeats both, and every chart has a text alternative and its data as a table.

/** Per-flag traffic: applied matches as a solid line, shadow matches (when given) dashed. */
export function Sparkline(props: {
  values: readonly number[];
  shadow?: readonly number[] | null;
  label: string;
  width?: number;
  height?: number;
}) {
  const w = props.width ?? 120;
  const h = props.height ?? 24;
  const values = props.values;
  const max = Math.max(1, ...values, ...(props.shadow ?? []));
  const line = (vs: readonly number[]) => {
    const step = vs.length > 1 ? w / (vs.length - 1) : w;
    return vs.map((v, i) => `${(i * step).toFixed(1)},${(h - 2 - (v / max) * (h - 4)).toFixed(1)}`).join(' ');
  };
  return (
    <svg class="sparkline" width={w} height={h} viewBox={`0 0 ${w} ${h}`} role="img" aria-label={props.label}>
      <title>{props.label}</title>
      <line x1="0" y1={h - 2} x2={w} y2={h - 2} class="baseline" />
      {values.length > 1 ? <polyline points={line(values)} class="spark" /> : null}
      {props.shadow && props.shadow.length > 1 ? (
        <polyline points={line(props.shadow)} class="spark shadow" stroke-dasharray="3 2" />
      ) : null}
    </svg>
  );
}

const DASHES = ['', '6 3', '2 3', '8 3 2 3', '1 2'];
const MARKERS = ['circle', 'square', 'triangle', 'diamond', 'cross'] as const;

function Marker(props: { kind: (typeof MARKERS)[number]; x: number; y: number; cls: string }) {
  const { x, y, cls } = props;
  switch (props.kind) {
    case 'circle':
      return <circle cx={x} cy={y} r="3" class={cls} />;
    case 'square':
      return <rect x={x - 3} y={y - 3} width="6" height="6" class={cls} />;
    case 'triangle':
      return <polygon points={`${x},${y - 4} ${x - 4},${y + 3} ${x + 4},${y + 3}`} class={cls} />;
    case 'diamond':
      return <polygon points={`${x},${y - 4} ${x - 4},${y} ${x},${y + 4} ${x + 4},${y}`} class={cls} />;
    case 'cross':
      return <path d={`M${x - 3},${y - 3}L${x + 3},${y + 3}M${x - 3},${y + 3}L${x + 3},${y - 3}`} class={cls} />;
  }
}

export interface ChartSeries {
  readonly name: string;
  readonly points: ReadonlyArray<readonly [number, number]>;
}

export function LineChart(props: {
  title: string;
  series: readonly ChartSeries[];
  format: (v: number) => string;
  id: string;
}) {
  const W = 520;
  const H = 180;
  const pad = { l: 56, r: 12, t: 10, b: 28 };
  const all = props.series.flatMap((s) => s.points);
  if (all.length === 0) {
    return (
      <figure class="chart" aria-labelledby={`${props.id}-cap`}>
        <figcaption id={`${props.id}-cap`}>{props.title}</figcaption>
        <p class="muted">No data over time in these results.</p>
      </figure>
    );
  }
  const t0 = Math.min(...all.map((p) => p[0]));
  const t1 = Math.max(...all.map((p) => p[0]));
  const vMax = Math.max(...all.map((p) => p[1]), 0) || 1;
  const x = (t: number) => pad.l + (t1 === t0 ? 0.5 : (t - t0) / (t1 - t0)) * (W - pad.l - pad.r);
  const y = (v: number) => H - pad.b - (v / vMax) * (H - pad.t - pad.b);
  const times = [...new Set(all.map((p) => p[0]))].sort((a, b) => a - b);
  const hhmm = (t: number) => new Date(t).toISOString().slice(11, 16);
  return (
    <figure class="chart" aria-labelledby={`${props.id}-cap`}>
      <figcaption id={`${props.id}-cap`}>{props.title}</figcaption>
      <svg
        viewBox={`0 0 ${W} ${H}`}
        width={W}
        height={H}
        role="img"
        aria-label={`${props.title}: ${props.series.map((s) => s.name).join(', ')}; the table below has the values`}
      >
        <line x1={pad.l} y1={H - pad.b} x2={W - pad.r} y2={H - pad.b} class="axis" />
        <line x1={pad.l} y1={pad.t} x2={pad.l} y2={H - pad.b} class="axis" />
        <text x={pad.l - 6} y={pad.t + 8} class="tick" text-anchor="end">
          {props.format(vMax)}
        </text>
        <text x={pad.l - 6} y={H - pad.b} class="tick" text-anchor="end">
          {props.format(0)}
        </text>
        <text x={pad.l} y={H - 8} class="tick">
          {hhmm(t0)}
        </text>
        <text x={W - pad.r} y={H - 8} class="tick" text-anchor="end">
          {hhmm(t1)} UTC
        </text>
        {props.series.map((s, i) => (
          <g key={s.name} class={`series s${i % 5}`}>
            <polyline
              points={s.points.map(([t, v]) => `${x(t).toFixed(1)},${y(v).toFixed(1)}`).join(' ')}
              stroke-dasharray={DASHES[i % DASHES.length]}
            />
            {s.points.map(([t, v]) => (
              <Marker key={t} kind={MARKERS[i % MARKERS.length]!} x={x(t)} y={y(v)} cls="marker" />
            ))}
          </g>
        ))}
      </svg>
      <ul class="legend">
        {props.series.map((s, i) => (
          <li key={s.name} class={`series s${i % 5}`}>
            <svg width="36" height="12" aria-hidden="true">
              <line x1="2" y1="6" x2="34" y2="6" stroke-dasharray={DASHES[i % DASHES.length]} />
              <Marker kind={MARKERS[i % MARKERS.length]!} x={18} y={6} cls="marker" />
            </svg>
            {s.name} ({MARKERS[i % MARKERS.length]} markers)
          </li>
        ))}
      </ul>
      <details>
        <summary>{props.title}: values</summary>
        <table>
          <thead>
            <tr>
              <th scope="col">time (UTC)</th>
              {props.series.map((s) => (
                <th scope="col" key={s.name}>
                  {s.name}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {times.map((t) => (
              <tr key={t}>
                <th scope="row">{hhmm(t)}</th>
                {props.series.map((s) => {
                  const p = s.points.find((q) => q[0] === t);
                  return <td key={s.name}>{p ? props.format(p[1]) : '–'}</td>;
                })}
              </tr>
            ))}
          </tbody>
        </table>
      </details>
    </figure>
  );
}
