// Experiments: per experiment flag and variant, requests, error rate and latency over time, the
// p-values against control, the sample-ratio check and the guardrail history. Everything comes
// from /api/experiments/NAME: the experiments module's report (CONTRACT §7, the same as
// GET /experiments/NAME and `ffr results`), its per-minute series and the guardrail changes.
import { useEffect, useState } from 'preact/hooks';
import { describeError, getJson } from '../api.js';
import { LineChart } from '../components/charts.js';
import { normalizeResults, plotSeries, type ExperimentResult } from '../experiments.js';
import { isoTime, num, percent, pValue, time } from '../format.js';
import { useLive } from '../live.js';
import type { ExperimentListResponse, ExperimentResponse } from '../types.js';

type Loaded =
  | { state: 'loading' }
  | { state: 'unavailable' }
  | { state: 'empty'; guardrails: ExperimentResponse['guardrails'] }
  | { state: 'error'; message: string }
  | { state: 'ok'; result: ExperimentResult; guardrails: ExperimentResponse['guardrails'] };

async function loadExperiment(name: string): Promise<Loaded> {
  const view = await getJson<ExperimentResponse>(`/api/experiments/${encodeURIComponent(name)}`);
  if (!view.resultsAvailable) return { state: 'unavailable' };
  if (view.results === null || view.results === undefined) return { state: 'empty', guardrails: view.guardrails };
  const result = normalizeResults(view.results);
  if ('error' in result) return { state: 'error', message: result.error };
  return { state: 'ok', result, guardrails: view.guardrails };
}

function Experiment(props: { name: string }) {
  const [loaded, setLoaded] = useState<Loaded>({ state: 'loading' });
  const load = () =>
    void loadExperiment(props.name)
      .then(setLoaded)
      .catch((err: unknown) => setLoaded({ state: 'error', message: describeError(err) }));
  useLive(['flags'], load);
  // Results come in per-minute buckets: reading them again every 15 s is plenty.
  useEffect(() => {
    const timer = setInterval(load, 15_000);
    return () => clearInterval(timer);
  }, [props.name]);
  const id = `x-${props.name.replace(/[^A-Za-z0-9_-]/g, '_')}`;
  return (
    <article class="experiment" aria-labelledby={`${id}-h`} data-experiment={props.name}>
      <h3 id={`${id}-h`}>{props.name}</h3>
      {loaded.state === 'loading' ? <p>Loading…</p> : null}
      {loaded.state === 'unavailable' ? (
        <p class="muted">
          No results: outcomes are merged across replicas in Redis, and this sidecar serves the file store.
        </p>
      ) : null}
      {loaded.state === 'empty' ? (
        <>
          <p class="muted">No outcomes recorded yet: no request of this experiment has been answered.</p>
          <GuardrailHistory guardrails={loaded.guardrails} />
        </>
      ) : null}
      {loaded.state === 'error' ? (
        <p class="error" role="alert">
          {loaded.message}
        </p>
      ) : null}
      {loaded.state === 'ok' ? <Results id={id} result={loaded.result} guardrails={loaded.guardrails} /> : null}
    </article>
  );
}

function Results(props: { id: string; result: ExperimentResult; guardrails: ExperimentResponse['guardrails'] }) {
  const r = props.result;
  const srm = r.srm;
  return (
    <>
      {r.since ? (
        <p class="muted small window">
          Counts from {isoTime(r.since)}
          {r.until ? ` to ${isoTime(r.until)}` : ''}
          {r.generation ? ` (weights generation ${r.generation})` : ''}; the plots show the last hour of it, minute by
          minute.
        </p>
      ) : null}
      <p class="srm">
        Sample ratio check: p = {pValue(srm.pValue)},{' '}
        {srm.mismatch === true ? (
          <strong class="warn">
            <span aria-hidden="true">⚠ </span>mismatch: the split is not the configured one, distrust the comparison
          </strong>
        ) : srm.mismatch === false ? (
          <span>
            <span aria-hidden="true">✓ </span>no mismatch
          </span>
        ) : (
          'unknown'
        )}
        .
      </p>
      <table class="variants">
        <caption>Per variant{r.control ? `, compared with the control (${r.control})` : ''}</caption>
        <thead>
          <tr>
            <th scope="col">Variant</th>
            <th scope="col">Requests</th>
            <th scope="col">Errors (5xx)</th>
            <th scope="col">Error rate</th>
            <th scope="col">Latency p50 / p95 / p99</th>
            <th scope="col">p (error rate)</th>
            <th scope="col">p (latency)</th>
          </tr>
        </thead>
        <tbody>
          {r.variants.map((v) => (
            <tr key={v.name} data-variant={v.name}>
              <th scope="row">
                {v.name}
                {v.isControl ? <span class="muted small"> (control)</span> : null}
              </th>
              <td class="requests">{num(v.requests)}</td>
              <td>{num(v.errors)}</td>
              <td class="error-rate">{percent(v.errorRate, 2)}</td>
              <td>
                {num(v.p50, 1)} / {num(v.p95, 1)} / {num(v.p99, 1)} ms
              </td>
              <td class="p-error">{v.isControl ? '–' : pValue(v.errorRatePValue)}</td>
              <td class="p-latency">{v.isControl ? '–' : pValue(v.latencyPValue)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <div class="charts">
        <LineChart
          id={`${props.id}-req`}
          title="Requests per minute"
          series={plotSeries(r, 'requests')}
          format={(v) => num(v)}
        />
        <LineChart
          id={`${props.id}-err`}
          title="Error rate"
          series={plotSeries(r, 'errorRate')}
          format={(v) => percent(v, 1)}
        />
        <LineChart
          id={`${props.id}-lat`}
          title="Latency p95 (ms)"
          series={plotSeries(r, 'p95')}
          format={(v) => num(v, 1)}
        />
      </div>
      <GuardrailHistory guardrails={props.guardrails} />
    </>
  );
}

function GuardrailHistory(props: { guardrails: ExperimentResponse['guardrails'] }) {
  return (
    <>
      <h4>Guardrail history</h4>
      {props.guardrails.length === 0 ? (
        <p class="muted">No guardrail has tripped.</p>
      ) : (
        <table class="guardrails">
          <thead>
            <tr>
              <th scope="col">When</th>
              <th scope="col">Variant</th>
              <th scope="col">What</th>
              <th scope="col">By</th>
              <th scope="col">Version</th>
            </tr>
          </thead>
          <tbody>
            {props.guardrails.map((g) => (
              <tr key={g.id}>
                <td>{time(g.time)}</td>
                <td>
                  {g.variant ?? '–'}
                  {g.metric ? <div class="muted small">{g.metric}</div> : null}
                </td>
                <td>{g.detail}</td>
                <td>{g.who}</td>
                <td>{g.before !== null && g.after !== null ? `${g.before} → ${g.after}` : '–'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}

export function ExperimentsPage() {
  const [list, setList] = useState<ExperimentListResponse | null>(null);
  const [error, setError] = useState<string | null>(null);
  useLive(
    ['flags'],
    () =>
      void getJson<ExperimentListResponse>('/api/experiments')
        .then((l) => {
          setList(l);
          setError(null);
        })
        .catch((err: unknown) => setError(describeError(err))),
  );
  return (
    <section aria-labelledby="experiments-h">
      <h2 id="experiments-h">Experiments</h2>
      {error ? (
        <p class="error" role="alert">
          {error}
        </p>
      ) : null}
      {list === null ? <p>Loading…</p> : null}
      {list && list.experiments.length === 0 ? (
        <p class="muted">
          No flag has an experiment block (CONTRACT §7: variants plus an "experiment" with a control).
        </p>
      ) : null}
      {list?.experiments.map((x) => (
        <Experiment key={x.name} name={x.name} />
      ))}
    </section>
  );
}
