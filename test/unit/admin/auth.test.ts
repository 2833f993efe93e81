import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../../src/config/config.js';
import { createAdminAuth, hostName, isLoopbackAddress, secretsEqual, SESSION_COOKIE } from '../../../src/admin/auth.js';
import { fakeRequest, fakeResponse, type FakeRequestInit } from './fakeHttp.js';

const TOKEN = 'an-admin-token-for-tests';
const JSON_TYPE = { 'content-type': 'application/json' };

function check(auth: ReturnType<typeof createAdminAuth>, init: FakeRequestInit) {
  const out = fakeResponse();
  const path = (init.url ?? '/').split('?')[0]!;
  const ok = auth.guard(fakeRequest(init), out.res, path);
  return { ok, status: out.status, location: out.headers.location ?? null };
}

async function login(auth: ReturnType<typeof createAdminAuth>, token: string, form = false) {
  const out = fakeResponse();
  await auth.handleSession(
    fakeRequest({
      method: 'POST',
      url: '/api/session',
      headers: form ? { 'content-type': 'application/x-www-form-urlencoded' } : JSON_TYPE,
      body: form ? `token=${encodeURIComponent(token)}` : JSON.stringify({ token }),
    }),
    out.res,
  );
  return out;
}

describe('admin guard without a token', () => {
  const auth = createAdminAuth({ token: null, adminAddr: '127.0.0.1:9464' });

  it.each([
    ['a read of the page', { url: '/ui/' }, true, null],
    ['a JSON change from loopback', { method: 'POST', url: '/api/flags/x/enable', headers: JSON_TYPE }, true, null],
    ['IPv6 loopback', { method: 'POST', url: '/api/x', headers: JSON_TYPE, remoteAddress: '::1' }, true, null],
    ['mapped IPv4 loopback', { method: 'POST', url: '/explain', remoteAddress: '::ffff:127.0.0.1' }, true, null],
    ['/explain with a form body (curl -d)', { method: 'POST', url: '/explain' }, true, null],
    [
      'a change from another host',
      { method: 'POST', url: '/api/x', headers: JSON_TYPE, remoteAddress: '10.0.0.7' },
      false,
      403,
    ],
    ['/explain from another host', { method: 'POST', url: '/explain', remoteAddress: '10.0.0.7' }, false, 403],
    [
      'a console change that is not JSON (CSRF)',
      { method: 'POST', url: '/api/x', headers: { 'content-type': 'text/plain' } },
      false,
      415,
    ],
    [
      'the page under a foreign Host (DNS rebinding)',
      { url: '/ui/', headers: { host: 'evil.example:9464' } },
      false,
      403,
    ],
    ['the API under a foreign Host', { url: '/api/flags', headers: { host: 'evil.example' } }, false, 403],
    ['metrics under any Host', { url: '/metrics', headers: { host: 'prometheus.internal:9464' } }, true, null],
    ['localhost', { url: '/api/flags', headers: { host: 'localhost:9464' } }, true, null],
  ] as const)('%s', (_, init, ok, status) => {
    const r = check(auth, init);
    expect(r.ok).toBe(ok);
    expect(r.status).toBe(status);
  });

  it('allows the bound address as Host, but not a wildcard bind', () => {
    const bound = createAdminAuth({ token: null, adminAddr: '10.1.2.3:9464' });
    expect(check(bound, { url: '/ui/', headers: { host: '10.1.2.3:9464' } }).ok).toBe(true);
    const wild = createAdminAuth({ token: null, adminAddr: '0.0.0.0:9464' });
    expect(check(wild, { url: '/ui/', headers: { host: '0.0.0.0:9464' } }).ok).toBe(false);
  });
});

describe('admin guard with PROFLAG_ADMIN_TOKEN', () => {
  const auth = createAdminAuth({ token: TOKEN, adminAddr: '127.0.0.1:9464' });
  const bearer = { authorization: `Bearer ${TOKEN}` };

  it.each([
    ['the API without credentials', { url: '/api/flags' }, false, 401],
    ['the event stream without credentials', { url: '/api/events' }, false, 401],
    ['a change without credentials', { method: 'POST', url: '/api/x', headers: JSON_TYPE }, false, 401],
    ['/explain without credentials', { method: 'POST', url: '/explain' }, false, 401],
    ['a DELETE without credentials', { method: 'DELETE', url: '/anything' }, false, 401],
    ['a wrong bearer', { url: '/api/flags', headers: { authorization: 'Bearer nope-nope-nope-nope' } }, false, 401],
    ['an empty bearer', { url: '/api/flags', headers: { authorization: 'Bearer ' } }, false, 401],
    ['the right bearer', { url: '/api/flags', headers: bearer }, true, null],
    [
      'a change with the right bearer, from anywhere',
      { method: 'POST', url: '/explain', headers: bearer, remoteAddress: '10.0.0.7' },
      true,
      null,
    ],
    [
      'the page from another Host with the token',
      { url: '/ui/', headers: { ...bearer, host: 'proflag.internal' } },
      true,
      null,
    ],
    ['the login page', { url: '/ui/login' }, true, null],
    ['the bundle', { url: '/ui/assets/index-abc.js' }, true, null],
    ['the login call', { method: 'POST', url: '/api/session' }, true, null],
    ['metrics and probes', { url: '/metrics' }, true, null],
    ['metrics with an unrelated bearer', { url: '/readyz', headers: { authorization: 'Bearer x' } }, true, null],
  ] as const)('%s', (_, init, ok, status) => {
    const r = check(auth, init);
    expect(r.ok).toBe(ok);
    expect(r.status).toBe(status);
  });

  it('sends a browser without a session to the login page', () => {
    expect(check(auth, { url: '/ui/proposals' })).toEqual({ ok: false, status: 303, location: '/ui/login' });
  });

  it('logs in with the token (JSON or form), never with a wrong one, and the cookie opens the API', async () => {
    const wrong = await login(auth, 'wrong-token-wrong-token');
    expect(wrong.status).toBe(401);
    expect(wrong.headers['set-cookie']).toBeUndefined();
    const wrongForm = await login(auth, 'wrong', true);
    expect(wrongForm.status).toBe(303);
    expect(wrongForm.headers.location).toBe('/ui/login?failed=1');

    const ok = await login(auth, TOKEN);
    expect(ok.status).toBe(200);
    const cookie = ok.headers['set-cookie']!;
    expect(cookie).toMatch(new RegExp(`^${SESSION_COOKIE}=\\d+\\.[A-Za-z0-9_-]+; Path=/; HttpOnly; SameSite=Strict`));
    expect(cookie).not.toContain(TOKEN);
    const session = cookie.split(';')[0]!;
    expect(check(auth, { url: '/api/flags', headers: { cookie: session } }).ok).toBe(true);
    expect(check(auth, { url: '/ui/', headers: { cookie: `other=1; ${session}` } }).ok).toBe(true);
    // A cookie-borne change must be a JSON fetch (a cross-site form cannot send one).
    expect(check(auth, { method: 'POST', url: '/api/x', headers: { cookie: session, ...JSON_TYPE } }).ok).toBe(true);
    expect(check(auth, { method: 'POST', url: '/api/x', headers: { cookie: session } }).status).toBe(415);
    // A forged or tampered cookie is nothing.
    const [expires, mac] = session.split('=')[1]!.split('.');
    const later = `${SESSION_COOKIE}=${Number(expires) + 1000}.${mac}`;
    expect(check(auth, { url: '/api/flags', headers: { cookie: later } }).status).toBe(401);

    const form = await login(auth, TOKEN, true);
    expect(form.status).toBe(303);
    expect(form.headers.location).toBe('/ui/');
    expect(form.headers['set-cookie']).toMatch(/^proflag_console=/);
  });

  it('expires sessions and ends them when the token changes', async () => {
    let now = 1_000_000;
    const a = createAdminAuth({ token: TOKEN, adminAddr: '127.0.0.1:1', sessionTtlMs: 60_000, now: () => now });
    const session = (await login(a, TOKEN)).headers['set-cookie']!.split(';')[0]!;
    expect(check(a, { url: '/api/flags', headers: { cookie: session } }).ok).toBe(true);
    now += 61_000;
    expect(check(a, { url: '/api/flags', headers: { cookie: session } }).ok).toBe(false);
    const rotated = createAdminAuth({ token: `${TOKEN}-2`, adminAddr: '127.0.0.1:1' });
    const fresh = (await login(auth, TOKEN)).headers['set-cookie']!.split(';')[0]!;
    expect(check(rotated, { url: '/api/flags', headers: { cookie: fresh } }).ok).toBe(false);
  });

  it('limits failed logins', async () => {
    const a = createAdminAuth({ token: TOKEN, adminAddr: '127.0.0.1:1', now: () => 5_000_000 });
    for (let i = 0; i < 10; i++) expect((await login(a, `bad-${i}`)).status).toBe(401);
    expect((await login(a, TOKEN)).status).toBe(429);
  });

  it('logs out by clearing the cookie', async () => {
    const out = fakeResponse();
    await auth.handleSession(fakeRequest({ method: 'DELETE', url: '/api/session' }), out.res);
    expect(out.status).toBe(204);
    expect(out.headers['set-cookie']).toMatch(/Max-Age=0/);
  });
});

describe('auth helpers', () => {
  it('compares secrets whatever their lengths', () => {
    expect(secretsEqual('abc', 'abc')).toBe(true);
    expect(secretsEqual('abc', 'abd')).toBe(false);
    expect(secretsEqual('abc', 'abcd')).toBe(false);
    expect(secretsEqual('', 'x')).toBe(false);
  });

  it('knows loopback peers and Host names', () => {
    expect(['127.0.0.1', '127.9.9.9', '::1', '::ffff:127.0.0.1'].every(isLoopbackAddress)).toBe(true);
    expect(['10.0.0.1', '::ffff:10.0.0.1', '128.0.0.1', '', undefined].some((a) => isLoopbackAddress(a))).toBe(false);
    expect(hostName('[::1]:9464')).toBe('::1');
    expect(hostName('LocalHost:80')).toBe('localhost');
    expect(hostName('example.com')).toBe('example.com');
    expect(hostName(undefined)).toBeNull();
  });
});

describe('PROFLAG_ADMIN_TOKEN', () => {
  it('is read once, and a bad one is refused without being echoed', () => {
    expect(loadConfig({}).adminToken).toBeNull();
    expect(loadConfig({ PROFLAG_ADMIN_TOKEN: TOKEN }).adminToken).toBe(TOKEN);
    for (const bad of ['short-secret', 'has a space in the middle of it']) {
      let error: unknown = null;
      try {
        loadConfig({ PROFLAG_ADMIN_TOKEN: bad });
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as Error).message).toMatch(/PROFLAG_ADMIN_TOKEN=\(hidden\)/);
      expect((error as Error).message).not.toContain(bad);
    }
  });
});
