// Flags: every flag with its state, mode, version of its last change, traffic sparkline, range
// and actions; the rejected documents with their reasons; each replica's view.
import { useState } from 'preact/hooks';
import { describeError, getJson, postJson } from '../api.js';
import { Sparkline } from '../components/charts.js';
import { ago, num, time, sum } from '../format.js';
import { useLive } from '../live.js';
import type { Capabilities, FlagView, FlagsResponse, ReplicasResponse, TrafficResponse } from '../types.js';

/** The flag's matches per interval: applied (`match`) and in shadow mode (`shadow`). */
function trafficOf(flag: FlagView, traffic: TrafficResponse | null) {
  if (!traffic || traffic.source === 'none') return null;
  const zeros = traffic.times.map(() => 0);
  const s = traffic.series[flag.name];
  const match = s?.byResult.match ?? zeros;
  const shadow = s?.byResult.shadow ?? null;
  return { match, shadow, applied: sum(match), shadowTotal: shadow ? sum(shadow) : 0 };
}

function FlagRow(props: {
  flag: FlagView;
  caps: Capabilities;
  traffic: TrafficResponse | null;
  onAction: (name: string, action: string) => void;
  busy: boolean;
}) {
  const { flag, caps } = props;
  const t = trafficOf(flag, props.traffic);
  const minutes = props.traffic ? Math.round((props.traffic.times.length * props.traffic.intervalMs) / 60_000) : 0;
  return (
    <tr data-flag={flag.name}>
      <th scope="row">
        <span class="flag-name">{flag.name}</span>
        {flag.description ? <div class="muted small">{flag.description}</div> : null}
      </th>
      <td class="state">
        {flag.enabled ? (
          <span class="badge on">
            <span aria-hidden="true">✓ </span>enabled
          </span>
        ) : (
          <span class="badge off">
            <span aria-hidden="true">✗ </span>disabled
          </span>
        )}
      </td>
      <td class="mode">
        {flag.mode === 'shadow' ? (
          <span class="badge shadow">
            <span aria-hidden="true">◐ </span>shadow
          </span>
        ) : (
          <span class="badge enforce">
            <span aria-hidden="true">● </span>enforce
          </span>
        )}
      </td>
      <td>
        <code>{String(flag.value)}</code>
        <div class="muted small">priority {flag.priority}</div>
      </td>
      <td class="version">
        {flag.lastChange ? (
          <>
            v{flag.lastChange.version ?? '–'}
            <div class="muted small">
              {flag.lastChange.action} by {flag.lastChange.who}, {ago(Date.now() - flag.lastChange.time)}
            </div>
          </>
        ) : (
          <span class="muted">–</span>
        )}
      </td>
      <td class="traffic">
        {t ? (
          <>
            <Sparkline
              values={t.match}
              shadow={t.shadow}
              label={`${flag.name} in the last ${minutes} min: ${num(t.applied)} requests applied, ${num(t.shadowTotal)} matched in shadow mode`}
            />
            <div class="small">
              <span class="traffic-total">{num(t.applied)}</span> applied
              {flag.mode === 'shadow' || t.shadowTotal > 0 ? (
                <>
                  {' '}
                  · shadow <span class="shadow-count">{num(t.shadowTotal)}</span>
                </>
              ) : null}
            </div>
          </>
        ) : (
          <span class="muted small">no per-flag counter</span>
        )}
      </td>
      <td>
        <ul class="words">
          {flag.profile.map((line) => (
            <li key={line}>{line}</li>
          ))}
        </ul>
      </td>
      <td>
        <ul class="words">
          {flag.actions.map((line) => (
            <li key={line}>{line}</li>
          ))}
        </ul>
      </td>
      <td class="controls">
        {caps.changes ? (
          <>
            <button
              type="button"
              disabled={props.busy}
              onClick={() => props.onAction(flag.name, flag.enabled ? 'disable' : 'enable')}
              aria-label={`${flag.enabled ? 'Disable' : 'Enable'} ${flag.name}`}
            >
              {flag.enabled ? 'Disable' : 'Enable'}
            </button>
            <button
              type="button"
              disabled={props.busy}
              onClick={() => props.onAction(flag.name, flag.mode === 'shadow' ? 'enforce' : 'shadow')}
              aria-label={`${flag.mode === 'shadow' ? 'Enforce' : 'Shadow'} ${flag.name}`}
            >
              {flag.mode === 'shadow' ? 'Enforce' : 'Shadow'}
            </button>
          </>
        ) : (
          <span class="muted small">read-only (file store)</span>
        )}
      </td>
    </tr>
  );
}

export function FlagsPage(props: { caps: Capabilities }) {
  const [flags, setFlags] = useState<FlagsResponse | null>(null);
  const [replicas, setReplicas] = useState<ReplicasResponse | null>(null);
  const [traffic, setTraffic] = useState<TrafficResponse | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [message, setMessage] = useState<string>('');
  const [busy, setBusy] = useState(false);

  const loadFlags = () =>
    void Promise.all([getJson<FlagsResponse>('/api/flags'), getJson<ReplicasResponse>('/api/replicas')])
      .then(([f, r]) => {
        setFlags(f);
        setReplicas(r);
        setError(null);
      })
      .catch((err: unknown) => setError(describeError(err)));
  const loadTraffic = () =>
    void getJson<TrafficResponse>('/api/traffic')
      .then(setTraffic)
      .catch(() => setTraffic(null));
  useLive(['flags', 'replicas'], loadFlags);
  useLive(['traffic'], loadTraffic);

  const onAction = (name: string, action: string) => {
    setBusy(true);
    setMessage(`${action} ${name}…`);
    postJson<{ changed: boolean; version: number | null }>(`/api/flags/${encodeURIComponent(name)}/${action}`)
      .then((r) => setMessage(r.changed ? `${name}: ${action}d (version ${r.version})` : `${name}: nothing to change`))
      .catch((err: unknown) => setMessage(`${name}: ${action} failed: ${describeError(err)}`))
      .finally(() => setBusy(false));
  };

  return (
    <section aria-labelledby="flags-h">
      <h2 id="flags-h">Flags</h2>
      {error ? (
        <p class="error" role="alert">
          {error}
        </p>
      ) : null}
      {flags ? (
        <p class="summary">
          Serving version <strong class="served-version">{flags.version ?? '–'}</strong> from {flags.source}, compiled{' '}
          {time(flags.compiledAt)}: {flags.flags.filter((f) => f.enabled).length} enabled of {flags.flags.length} flags,{' '}
          {flags.rejected.length} rejected.{' '}
          {flags.sync.stale ? <strong class="warn">⚠ stale: the change feed or sync is lost</strong> : null}
        </p>
      ) : (
        <p>Loading…</p>
      )}
      <p class="status" role="status" aria-live="polite">
        {message}
      </p>
      {flags ? (
        <div class="table-wrap">
          <table class="flags">
            <caption class="visually-hidden">Every flag, with its state and traffic</caption>
            <thead>
              <tr>
                <th scope="col">Flag</th>
                <th scope="col">State</th>
                <th scope="col">Mode</th>
                <th scope="col">Value</th>
                <th scope="col">Last change</th>
                <th scope="col">Traffic</th>
                <th scope="col">Range</th>
                <th scope="col">Does</th>
                <th scope="col">Change</th>
              </tr>
            </thead>
            <tbody>
              {flags.flags.map((f) => (
                <FlagRow key={f.name} flag={f} caps={props.caps} traffic={traffic} onAction={onAction} busy={busy} />
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
      <p class="muted small">
        Traffic: the requests each flag matched in the last minutes, applied (solid line) and in shadow mode (dashed),
        from the per-flag counter <code>proflag_flag_evaluations_total</code>, summed over{' '}
        {props.caps.workers === 1 ? 'this sidecar' : `its ${props.caps.workers} workers`}.
      </p>

      <h3 id="rejected-h">Rejected flags</h3>
      {flags && flags.rejected.length > 0 ? (
        <table class="rejected" aria-labelledby="rejected-h">
          <thead>
            <tr>
              <th scope="col">Key</th>
              <th scope="col">Reason</th>
            </tr>
          </thead>
          <tbody>
            {flags.rejected.map((r) => (
              <tr key={r.key}>
                <th scope="row">
                  <span aria-hidden="true">⚠ </span>
                  {r.key}
                </th>
                <td>{r.reason}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : (
        <p class="muted">None: every stored flag document is valid.</p>
      )}

      <h3 id="replicas-h">Replicas</h3>
      {replicas ? (
        <>
          <p class="muted small">
            Redis version {replicas.version ?? '–'}; {replicas.replicas.length} replica
            {replicas.replicas.length === 1 ? '' : 's'} reporting.
          </p>
          <table class="replicas" aria-labelledby="replicas-h">
            <thead>
              <tr>
                <th scope="col">Replica</th>
                <th scope="col">Version served</th>
                <th scope="col">Synced</th>
                <th scope="col">Stale</th>
                <th scope="col">Change feed</th>
                <th scope="col">Flags</th>
                <th scope="col">Rejected</th>
                <th scope="col">Data loss</th>
                <th scope="col">Last error</th>
              </tr>
            </thead>
            <tbody>
              {replicas.replicas.map((r) => (
                <tr key={r.replica}>
                  <th scope="row">
                    {r.replica}
                    {r.self ? <span class="muted small"> (this one)</span> : null}
                  </th>
                  <td>{r.version ?? '–'}</td>
                  <td>{ago(r.ageMs)}</td>
                  <td>{r.stale ? <strong class="warn">⚠ stale</strong> : 'fresh'}</td>
                  <td>{r.feedConnected ? 'up' : <strong class="warn">⚠ down</strong>}</td>
                  <td>{r.flagCount}</td>
                  <td>{r.rejected.length}</td>
                  <td>{r.dataLossSuspected ? <strong class="warn">⚠ suspected</strong> : 'no'}</td>
                  <td>{r.lastError ?? '–'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      ) : null}
    </section>
  );
}
