// The console's shell: navigation (real links under /ui/, the server answers each with this
// page), the live-connection status, and the four pages.
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { describeError, getJson, logout } from './api.js';
import { startLive, useLiveState } from './live.js';
import { ExperimentsPage } from './pages/Experiments.js';
import { ExplainPage } from './pages/Explain.js';
import { FlagsPage } from './pages/Flags.js';
import { ProposalsPage } from './pages/Proposals.js';
import './style.css';
import type { Capabilities } from './types.js';

const PAGES = [
  { path: '/ui/', label: 'Flags' },
  { path: '/ui/proposals', label: 'Proposals' },
  { path: '/ui/experiments', label: 'Experiments' },
  { path: '/ui/explain', label: 'Explain' },
] as const;

function currentPath(): string {
  const p = location.pathname.replace(/\/+$/, '');
  return PAGES.find((x) => x.path.replace(/\/+$/, '') === p)?.path ?? '/ui/';
}

function LiveStatus() {
  const s = useLiveState();
  const text = s === 'live' ? 'Live' : s === 'connecting' ? 'Connecting…' : 'Reconnecting…';
  return (
    <p class={`live ${s}`} role="status" aria-live="polite">
      <span aria-hidden="true">{s === 'live' ? '● ' : '○ '}</span>
      {text}
    </p>
  );
}

function App() {
  const [path, setPath] = useState(currentPath());
  const [caps, setCaps] = useState<Capabilities | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    getJson<Capabilities>('/api/capabilities')
      .then(setCaps)
      .catch((err: unknown) => setError(describeError(err)));
    startLive();
    const onPop = () => setPath(currentPath());
    addEventListener('popstate', onPop);
    return () => removeEventListener('popstate', onPop);
  }, []);

  useEffect(() => {
    const label = PAGES.find((p) => p.path === path)?.label ?? 'Flags';
    document.title = `${label} · proflag console`;
  }, [path]);

  const go = (e: MouseEvent, to: string) => {
    if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    e.preventDefault();
    if (to !== path) {
      history.pushState(null, '', to);
      setPath(to);
    }
    document.getElementById('main')?.focus();
  };

  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header>
        <h1>proflag console</h1>
        <nav aria-label="Console pages">
          <ul>
            {PAGES.map((p) => (
              <li key={p.path}>
                <a href={p.path} aria-current={p.path === path ? 'page' : undefined} onClick={(e) => go(e, p.path)}>
                  {p.label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <LiveStatus />
        {caps?.tokenRequired ? (
          <button type="button" class="logout" onClick={() => void logout()}>
            Log out
          </button>
        ) : null}
      </header>
      <main id="main" tabIndex={-1}>
        {error ? (
          <p class="error" role="alert">
            {error}
          </p>
        ) : null}
        {caps === null ? (
          error ? null : (
            <p>Loading…</p>
          )
        ) : path === '/ui/proposals' ? (
          <ProposalsPage caps={caps} />
        ) : path === '/ui/experiments' ? (
          <ExperimentsPage />
        ) : path === '/ui/explain' ? (
          <ExplainPage />
        ) : (
          <FlagsPage caps={caps} />
        )}
      </main>
    </>
  );
}

render(<App />, document.getElementById('app')!);
