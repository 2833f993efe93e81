// One EventSource for the whole page (/api/events). Pages subscribe to the event types they
// show and read their JSON again when one arrives; `hello` (a fresh connection, or a
// reconnect after missed events) tells every page to read everything again.
import { useEffect, useRef, useState } from 'preact/hooks';
import { LOGIN_PAGE } from './api.js';

export type LiveEvent = 'flags' | 'proposals' | 'traffic' | 'replicas';
export type LiveState = 'connecting' | 'live' | 'reconnecting';

type Listener = (type: LiveEvent | 'hello') => void;

const listeners = new Set<Listener>();
const stateListeners = new Set<(s: LiveState) => void>();
let state: LiveState = 'connecting';
let source: EventSource | null = null;

function setState(next: LiveState): void {
  if (next === state) return;
  state = next;
  for (const l of stateListeners) l(state);
}

function emit(type: LiveEvent | 'hello'): void {
  for (const l of listeners) l(type);
}

export function startLive(): void {
  if (source) return;
  source = new EventSource('/api/events');
  source.onopen = () => setState('live');
  // EventSource reconnects by itself (with Last-Event-ID); say so meanwhile.
  source.onerror = () => {
    setState('reconnecting');
    // A stream refused for an expired session keeps retrying: send the browser to log in.
    void fetch('/api/capabilities', { credentials: 'same-origin' })
      .then((res) => {
        if (res.status === 401) location.assign(LOGIN_PAGE);
      })
      .catch(() => {});
  };
  source.addEventListener('hello', () => {
    setState('live');
    emit('hello');
  });
  for (const type of ['flags', 'proposals', 'traffic', 'replicas'] as const) {
    source.addEventListener(type, () => {
      setState('live');
      emit(type);
    });
  }
}

/** Calls `refresh` now and whenever one of `types` (or hello) arrives. */
export function useLive(types: readonly LiveEvent[], refresh: () => void): void {
  const latest = useRef(refresh);
  latest.current = refresh;
  const key = types.join(',');
  useEffect(() => {
    latest.current();
    const wanted = key.split(',');
    const l: Listener = (type) => {
      if (type === 'hello' || wanted.includes(type)) latest.current();
    };
    listeners.add(l);
    return () => {
      listeners.delete(l);
    };
  }, [key]);
}

export function useLiveState(): LiveState {
  const [s, set] = useState(state);
  useEffect(() => {
    stateListeners.add(set);
    set(state);
    return () => {
      stateListeners.delete(set);
    };
  }, []);
  return s;
}
