// Proposals: what the learner found, with its evidence, the range in words and how much recent
// traffic it would catch; each button is one atomic change (the audit trail names the console).
import { useState } from 'preact/hooks';
import { describeError, getJson, getOptional, postJson } from '../api.js';
import { isoTime, num, percent } from '../format.js';
import { useLive } from '../live.js';
import type { Capabilities, ProposalView, ProposalsResponse } from '../types.js';

type ApproveAs = 'disabled' | 'enabled' | 'shadow-block' | 'route';

function Evidence(props: { p: ProposalView }) {
  const e = props.p.evidence;
  const rows: Array<[string, string]> = [
    ['Support', `${num(e.support)} requests`],
    ['Clients', `${num(e.clients)} distinct`],
    ['Onset', isoTime(e.onset)],
    ['Share of traffic', `${percent(e.shareOfTraffic, 2)} recently (before: ${percent(e.backgroundShare, 3)})`],
    ['Lift', e.lift === null ? '–' : `× ${num(e.lift, 1)}`],
    ['Anomaly score', num(e.score, 3)],
  ];
  if (e.uaFamily) rows.push(['User-agent family', e.uaFamily]);
  return (
    <dl class="evidence">
      {rows.map(([k, v]) => (
        <div key={k}>
          <dt>{k}</dt>
          <dd>{v}</dd>
        </div>
      ))}
    </dl>
  );
}

function ProposalCard(props: {
  p: ProposalView;
  caps: Capabilities;
  samplesKnown: boolean;
  /** The page's status line: an approval removes the card, the message stays. */
  report: (message: string) => void;
}) {
  const { p, caps } = props;
  const id = `p-${p.id.replace(/[^A-Za-z0-9_-]/g, '_')}`;
  const [name, setName] = useState(p.name ?? '');
  const [perSecond, setPerSecond] = useState('100');
  const [cluster, setCluster] = useState('');
  const [shadowRoute, setShadowRoute] = useState(true);
  const [busy, setBusy] = useState(false);

  const act = (path: string, body: unknown, what: string) => {
    setBusy(true);
    props.report(`${what} ${p.id}…`);
    postJson<{ version: number; flag?: string }>(path, body)
      .then((r) => props.report(`${what} ${p.id}: done${r.flag ? `, flag ${r.flag}` : ''} (version ${r.version})`))
      .catch((err: unknown) => props.report(`${what} ${p.id} failed: ${describeError(err)}`))
      .finally(() => setBusy(false));
  };
  const approve = (as: ApproveAs, extra: Record<string, unknown> = {}, what = 'Approve') =>
    act(`/api/proposals/${encodeURIComponent(p.id)}/approve`, { as, name, ...extra }, what);

  const preview = p.preview;
  const blockHelp =
    'Writes the flag enabled in shadow mode with a 429 answer: it is counted, never applied, until you enforce it.';
  return (
    <article class="proposal" aria-labelledby={`${id}-h`} data-proposal={p.id}>
      <h3 id={`${id}-h`}>
        {p.name ?? '(no name)'} <span class="muted small">proposal {p.id}</span>
      </h3>
      {p.explain ? <p class="explain">{p.explain}</p> : null}
      {p.problem ? (
        <p class="error">
          <span aria-hidden="true">⚠ </span>
          {p.problem}
        </p>
      ) : null}
      <Evidence p={p} />
      <h4>Range</h4>
      <ul class="words">
        {p.profile.map((line) => (
          <li key={line}>{line}</li>
        ))}
      </ul>
      <p class="preview">
        {preview && preview.of > 0
          ? `This range would have matched ${num(preview.matched)} of the last ${num(preview.of)} sampled requests (${percent(preview.matched / preview.of)}).`
          : props.samplesKnown
            ? 'No sampled requests yet to preview this range against.'
            : 'No preview: this sidecar samples no traffic (the learner is off).'}
      </p>
      {caps.changes ? (
        <form class="approve" onSubmit={(e) => e.preventDefault()}>
          <div class="field">
            <label for={`${id}-name`}>Flag name</label>
            <input id={`${id}-name`} value={name} onInput={(e) => setName((e.target as HTMLInputElement).value)} />
          </div>
          <div class="buttons">
            <button type="button" disabled={busy} onClick={() => approve('disabled', {}, 'Approve (disabled)')}>
              Approve (disabled)
            </button>
            <button type="button" disabled={busy} onClick={() => approve('enabled', {}, 'Approve and enable')}>
              Approve and enable
            </button>
          </div>
          <fieldset>
            <legend>Block</legend>
            <label for={`${id}-rate`}>At most per second (per replica)</label>
            <input
              id={`${id}-rate`}
              type="number"
              min="1"
              value={perSecond}
              onInput={(e) => setPerSecond((e.target as HTMLInputElement).value)}
            />
            <button
              type="button"
              disabled={busy}
              aria-describedby={`${id}-block-help`}
              onClick={() => approve('shadow-block', { perSecond: Number(perSecond) }, 'Approve as shadow block (429)')}
            >
              Approve as shadow block (429)
            </button>
            <p id={`${id}-block-help`} class="muted small">
              {blockHelp}
            </p>
          </fieldset>
          <fieldset>
            <legend>Route</legend>
            <label for={`${id}-cluster`}>Upstream cluster</label>
            <input
              id={`${id}-cluster`}
              value={cluster}
              placeholder="e.g. backend_quarantine"
              onInput={(e) => setCluster((e.target as HTMLInputElement).value)}
            />
            <label class="check">
              <input
                type="checkbox"
                checked={shadowRoute}
                onChange={(e) => setShadowRoute((e.target as HTMLInputElement).checked)}
              />{' '}
              start in shadow mode
            </label>
            <button
              type="button"
              disabled={busy || cluster.trim() === ''}
              onClick={() => approve('route', { cluster: cluster.trim(), shadow: shadowRoute }, 'Approve as route')}
            >
              Approve as route
            </button>
          </fieldset>
          <div class="buttons">
            <button
              type="button"
              class="danger"
              disabled={busy}
              onClick={() => act(`/api/proposals/${encodeURIComponent(p.id)}/reject`, {}, 'Reject')}
            >
              Reject
            </button>
          </div>
        </form>
      ) : null}
    </article>
  );
}

export function ProposalsPage(props: { caps: Capabilities }) {
  const [data, setData] = useState<ProposalsResponse | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [message, setMessage] = useState('');
  // The learner's own state (GET /learner), where this build has it.
  const [learner, setLearner] = useState<unknown>(null);
  useLive(
    ['proposals'],
    () =>
      void getOptional<unknown>('/learner')
        .then(setLearner)
        .catch(() => setLearner(null)),
  );
  useLive(
    ['proposals', 'traffic'],
    () =>
      void getJson<ProposalsResponse>('/api/proposals')
        .then((d) => {
          setData(d);
          setError(null);
        })
        .catch((err: unknown) => setError(describeError(err))),
  );
  return (
    <section aria-labelledby="proposals-h">
      <h2 id="proposals-h">Proposals</h2>
      {error ? (
        <p class="error" role="alert">
          {error}
        </p>
      ) : null}
      {data === null ? <p>Loading…</p> : null}
      {data && !data.available ? <p>Proposals live in Redis; this sidecar serves the file store.</p> : null}
      {data && data.available ? (
        <p class="summary" aria-live="polite">
          {data.proposals.length === 0
            ? 'No proposals: the learner has found nothing new.'
            : `${data.proposals.length} proposal${data.proposals.length === 1 ? '' : 's'}.`}
          {data.samples
            ? ` Previews use the last ${num(data.samples.size)} sampled requests (at most ${num(data.samples.capacity)}).`
            : ''}
        </p>
      ) : null}
      {learner !== null ? (
        <details class="learner">
          <summary>Learner state: why other clusters are not proposed yet</summary>
          <pre>{JSON.stringify(learner, null, 2)}</pre>
        </details>
      ) : null}
      <p id="proposals-status" class="status" role="status" aria-live="polite">
        {message}
      </p>
      {data?.proposals.map((p) => (
        <ProposalCard key={p.id} p={p} caps={props.caps} samplesKnown={data.samples !== null} report={setMessage} />
      ))}
    </section>
  );
}
