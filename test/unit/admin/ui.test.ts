import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createUiRoute, resolveUiPath } from '../../../src/admin/ui.js';
import { fakeRequest, fakeResponse } from './fakeHttp.js';

describe('console page files (/ui)', () => {
  let dir: string;
  const get = async (path: string, method = 'GET', root = dir) => {
    const out = fakeResponse();
    await createUiRoute({ dir: root }).handle(fakeRequest({ method, url: path }), out.res, path);
    return out;
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'proflag-ui-'));
    await mkdir(join(dir, 'assets'));
    await writeFile(join(dir, 'index.html'), '<!doctype html><title>index</title>');
    await writeFile(join(dir, 'login.html'), '<!doctype html><title>login</title>');
    await writeFile(join(dir, 'assets/index-abc123.js'), 'console.log(1)');
    await writeFile(join(dir, 'assets/style-abc123.css'), 'body{}');
    await writeFile(join(dir, '.secret'), 'no');
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('serves hashed assets for a year and the page never from cache', async () => {
    const js = await get('/ui/assets/index-abc123.js');
    expect(js.status).toBe(200);
    expect(js.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(js.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expect(js.body).toBe('console.log(1)');
    const css = await get('/ui/assets/style-abc123.css');
    expect(css.headers['content-type']).toBe('text/css; charset=utf-8');
    const page = await get('/ui/');
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(page.headers['cache-control']).toBe('no-cache');
    expect(page.headers['content-security-policy']).toMatch(/default-src 'self'/);
    expect(page.headers['x-frame-options']).toBe('DENY');
    expect(page.body).toContain('<title>index</title>');
  });

  it('answers page routes with the page, the login route with the login page', async () => {
    expect((await get('/ui/proposals')).body).toContain('<title>index</title>');
    expect((await get('/ui/experiments/')).body).toContain('<title>index</title>');
    expect((await get('/ui/login')).body).toContain('<title>login</title>');
  });

  it('redirects /ui to /ui/, refuses other methods, answers HEAD without a body', async () => {
    const bare = await get('/ui');
    expect(bare.status).toBe(301);
    expect(bare.headers.location).toBe('/ui/');
    expect((await get('/ui/', 'POST')).status).toBe(405);
    const head = await get('/ui/assets/index-abc123.js', 'HEAD');
    expect(head.status).toBe(200);
    expect(head.body).toBe('');
  });

  it('404s a missing asset instead of answering with the page', async () => {
    expect((await get('/ui/assets/gone-123.js')).status).toBe(404);
  });

  it('never leaves its folder', async () => {
    for (const path of [
      '/ui/..%2f..%2fpackage.json',
      '/ui/%2e%2e/secret',
      '/ui/.secret',
      '/ui/a%00b',
      '/ui/%E0%A4%A',
      '/ui/..\\x',
    ]) {
      const out = await get(path);
      expect(out.status, path).toBe(400);
    }
    expect(resolveUiPath('/srv/ui', '/ui/../../etc/passwd')).toBeNull();
    expect(resolveUiPath('/srv/ui', '/ui/assets/a.js')).toBe(resolve('/srv/ui/assets/a.js'));
    expect(resolveUiPath('/srv/ui', '/ui/')).toBe(resolve('/srv/ui/index.html'));
  });

  it('says how to build the page when it is missing', async () => {
    const out = await get('/ui/', 'GET', join(dir, 'nowhere'));
    expect(out.status).toBe(503);
    expect(out.body).toMatch(/npm run build/);
  });
});
