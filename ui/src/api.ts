// Talking to the console API: same origin, the session cookie (if any) goes along by itself;
// changes are JSON (the server's CSRF guard requires it). A 401 means "log in".

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly code: string,
    readonly detail: unknown,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export const LOGIN_PAGE = '/ui/login';

async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
  const init: RequestInit = { method, headers: { accept: 'application/json' }, credentials: 'same-origin' };
  if (method !== 'GET') {
    init.headers = { ...init.headers, 'content-type': 'application/json' };
    init.body = JSON.stringify(body ?? {});
  }
  const res = await fetch(path, init);
  if (res.status === 401) {
    location.assign(LOGIN_PAGE);
    throw new ApiError(401, 'not logged in', 'unauthorized', null);
  }
  const text = await res.text();
  let json: unknown = null;
  try {
    json = text === '' ? null : JSON.parse(text);
  } catch {
    json = null;
  }
  if (!res.ok) {
    const e = (json ?? {}) as { error?: string; code?: string; detail?: unknown };
    throw new ApiError(res.status, e.error ?? `${res.status} ${res.statusText}`, e.code ?? 'error', e.detail ?? null);
  }
  return json as T;
}

export const getJson = <T>(path: string): Promise<T> => call<T>('GET', path);
export const postJson = <T>(path: string, body?: unknown): Promise<T> => call<T>('POST', path, body);

/** GET that answers null for a 404 (feature detection of endpoints other builds add). */
export async function getOptional<T>(path: string): Promise<T | null> {
  try {
    return await getJson<T>(path);
  } catch (err) {
    if (err instanceof ApiError && (err.status === 404 || err.status === 405 || err.status === 501)) return null;
    throw err;
  }
}

export async function logout(): Promise<void> {
  await fetch('/api/session', { method: 'DELETE', credentials: 'same-origin' });
  location.assign(LOGIN_PAGE);
}

/** A readable message for an API failure, with the schema issues when the server gave them. */
export function describeError(err: unknown): string {
  if (err instanceof ApiError) {
    const issues = Array.isArray(err.detail)
      ? (err.detail as Array<{ path?: string; message?: string }>)
          .slice(0, 3)
          .map((i) => `${i.path ?? ''}: ${i.message ?? ''}`)
          .join('; ')
      : '';
    return issues ? `${err.message} (${issues})` : err.message;
  }
  return (err as Error).message ?? String(err);
}
