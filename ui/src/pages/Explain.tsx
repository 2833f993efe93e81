// Explain: a request in, the profile proflag extracts, every flag's score per dimension and the
// decision out (the same logic as the admin port's /explain).
import { useState } from 'preact/hooks';
import { describeError, postJson } from '../api.js';
import { num } from '../format.js';
import type { Dimension, ExplainResponse } from '../types.js';

const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'];
const DIMENSIONS: Array<[Dimension, string]> = [
  ['method', 'Method'],
  ['endpoint', 'Path'],
  ['geo', 'Country'],
  ['payloadSize', 'Body size'],
  ['timeOfDay', 'Hour'],
  ['userAgent', 'User agent'],
];

function score(v: number | undefined): string {
  return v === undefined ? '–' : num(v, 2);
}

export function ExplainPage() {
  const [method, setMethod] = useState('GET');
  const [path, setPath] = useState('/checkout');
  const [headers, setHeaders] = useState('');
  const [clientIp, setClientIp] = useState('');
  const [result, setResult] = useState<ExplainResponse | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = (e: Event) => {
    e.preventDefault();
    setBusy(true);
    postJson<ExplainResponse>('/api/explain', { method, path, headers, clientIp })
      .then((r) => {
        setResult(r);
        setError(null);
      })
      .catch((err: unknown) => setError(describeError(err)))
      .finally(() => setBusy(false));
  };

  return (
    <section aria-labelledby="explain-h">
      <h2 id="explain-h">Explain a request</h2>
      <form class="explain-form" onSubmit={submit}>
        <div class="field">
          <label for="x-method">Method</label>
          <select id="x-method" value={method} onChange={(e) => setMethod((e.target as HTMLSelectElement).value)}>
            {METHODS.map((m) => (
              <option key={m} value={m}>
                {m}
              </option>
            ))}
          </select>
        </div>
        <div class="field">
          <label for="x-path">Path</label>
          <input id="x-path" value={path} required onInput={(e) => setPath((e.target as HTMLInputElement).value)} />
        </div>
        <div class="field wide">
          <label for="x-headers">Headers, one "name: value" per line</label>
          <textarea
            id="x-headers"
            rows={4}
            value={headers}
            placeholder={'user-agent: Mozilla/5.0 …\nx-country: DE\ncontent-length: 512'}
            onInput={(e) => setHeaders((e.target as HTMLTextAreaElement).value)}
          />
        </div>
        <div class="field">
          <label for="x-ip">Client IP</label>
          <input
            id="x-ip"
            value={clientIp}
            placeholder="81.169.145.1"
            aria-describedby="x-ip-help"
            onInput={(e) => setClientIp((e.target as HTMLInputElement).value)}
          />
          <span id="x-ip-help" class="muted small">
            Used for the country only; never stored.
          </span>
        </div>
        <button type="submit" disabled={busy}>
          Explain
        </button>
      </form>
      {error ? (
        <p class="error" role="alert">
          {error}
        </p>
      ) : null}
      {result ? (
        <div class="explain-result" aria-live="polite">
          <h3>Decision</h3>
          <p class="decision">
            {result.decision.route ? `Routes to ${result.decision.route}` : 'No route (default routing)'};{' '}
            {result.decision.flags.length > 0 ? `flags header: ${result.decision.flags.join(', ')}` : 'no flag matches'}
            .<span class="muted small"> Snapshot version {result.snapshot.version ?? '–'}.</span>
          </p>
          <h3>Profile</h3>
          <dl class="profile">
            <div>
              <dt>Method</dt>
              <dd>{result.profile.method || '–'}</dd>
            </div>
            <div>
              <dt>Normalized path</dt>
              <dd>{result.profile.endpoint ?? '–'}</dd>
            </div>
            <div>
              <dt>Body size</dt>
              <dd>{result.profile.payloadSize === null ? 'unknown' : `${result.profile.payloadSize} B`}</dd>
            </div>
            <div>
              <dt>Hour</dt>
              <dd>{result.profile.hour}</dd>
            </div>
            <div>
              <dt>Country</dt>
              <dd>
                {result.profile.country ?? 'unknown'}
                {result.profile.continent ? ` (${result.profile.continent})` : ''}
              </dd>
            </div>
            <div>
              <dt>User agent</dt>
              <dd>
                {result.profile.uaHash ? `keyed hash ${result.profile.uaHash.slice(0, 12)}…` : 'none'}
                {result.profile.uaVector ? ', embedding computed' : ''}
              </dd>
            </div>
          </dl>
          <h3>Every flag</h3>
          <table class="scores">
            <thead>
              <tr>
                <th scope="col">Flag</th>
                <th scope="col">Result</th>
                <th scope="col">Score</th>
                <th scope="col">Threshold</th>
                {DIMENSIONS.map(([, label]) => (
                  <th scope="col" key={label}>
                    {label}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {result.flags.map((f) => (
                <tr key={f.name} data-flag={f.name}>
                  <th scope="row">{f.name}</th>
                  <td class="result">
                    {f.result === 'matched' ? <span aria-hidden="true">✓ </span> : <span aria-hidden="true">· </span>}
                    {f.result}
                    {f.variant ? ` (${f.variant})` : ''}
                  </td>
                  <td>{num(f.score, 3)}</td>
                  <td>{num(f.threshold, 2)}</td>
                  {DIMENSIONS.map(([d]) => (
                    <td key={d}>{score(f.dimensions[d])}</td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
    </section>
  );
}
