// Issue 9 end to end: the real sidecar (file store) driven by the Envoy emulator, with
// allow_mode_override on, prefix routes after the cluster_header route, and an upstream that
// records what reaches it. Each transformation of CONTRACT §6 is checked the way Envoy applies
// it (the emulator's rules are pinned in test/contract/envoyEmulator.test.ts):
//   - respond: immediate_response → a local reply with the flag's status, headers, body and
//     details; no upstream call, no response phase;
//   - rewritePath: the raw `:path` rewritten (query kept) with clear_route_cache, so the prefix
//     routes pick the new path; a path that does not start with the prefix is left alone;
//   - responseHeaders: asked for with mode_override only by the requests that need them; every
//     other request costs one message;
//   - variants' actions merged over the flag's; precedence among matching flags;
//   - flags with invalid transformations refused at load with their reason, the rest serving;
//   - a response_headers message nobody asked for answered unchanged and counted.
// Shadow mode (nothing changes on the wire) is checked against a second sidecar without the
// shadow flags: every observable of the exchange must be identical.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { startSidecar, type Sidecar } from '../../src/sidecar.js';
import { createLogger } from '../../src/telemetry/logger.js';
import {
  EnvoyEmulator,
  type EmulatedOutcome,
  type EmulatedRequest,
  type EmulatorOptions,
  type UpstreamRequest,
} from '../helpers/envoyEmulator.js';
import { metricSum } from '../helpers/proflagProcess.js';
import { e2eEnv, flagsOf, IP } from './routingTable.js';

type Flag = Record<string, unknown>;

const LOGIN_BODY = 'Trop de tentatives — réessayez dans 30 s.\n';

const FLAGS: Flag[] = [
  {
    // Its other actions never apply: a respond ends the request.
    name: 'login-block',
    enabled: true,
    priority: 100,
    respondLimit: { perSecond: 1000 },
    profile: { method: { in: ['POST'] }, endpoint: { in: ['/api/login'] } },
    actions: {
      respond: {
        status: 429,
        headers: { 'retry-after': '30', 'content-type': 'text/plain; charset=utf-8' },
        body: LOGIN_BODY,
        details: 'proflag_login_block',
      },
      route: { cluster: 'backend_never' },
      requestHeaders: { set: { 'x-never': '1' } },
      rewritePath: { prefix: '/api/', to: '/never/' },
      responseHeaders: { set: { 'x-never': '1' } },
    },
  },
  {
    name: 'login-tag',
    enabled: true,
    profile: { endpoint: { in: ['/api/login'] } },
    actions: { requestHeaders: { set: { 'x-login': 'seen' } } },
  },
  {
    name: 'sunset',
    enabled: true,
    priority: 1,
    profile: { endpoint: { in: ['/api/v1/**'] } },
    actions: {
      rewritePath: { prefix: '/api/v1/', to: '/api/v2/' },
      responseHeaders: {
        set: { deprecation: 'true', link: '</api/v2/>; rel="successor-version"' },
        remove: ['x-powered-by'],
      },
    },
  },
  {
    name: 'served-by',
    enabled: true,
    profile: { endpoint: { in: ['/catalog/**'] } },
    actions: { responseHeaders: { set: { 'x-served-by': 'canary' }, remove: ['server'] } },
  },
  {
    name: 'shop-split',
    enabled: true,
    respondLimit: { perSecond: 1000 },
    profile: { endpoint: { in: ['/shop/**'] } },
    rollout: { percent: 100, stickiness: 'header:x-user-id' },
    actions: {
      route: { cluster: 'backend_shop' },
      requestHeaders: { set: { 'x-shop': 'base', 'x-shop-base': '1' } },
      responseHeaders: { set: { 'x-shop': 'base' } },
    },
    variants: [
      {
        name: 'a',
        weight: 1,
        actions: {
          requestHeaders: { set: { 'x-shop': 'a' } },
          rewritePath: { prefix: '/shop/', to: '/shop-a/' },
          responseHeaders: { set: { 'x-variant': 'a' } },
        },
      },
      {
        name: 'b',
        weight: 1,
        actions: { respond: { status: 503, headers: { 'retry-after': '5' }, body: 'b is closed' } },
      },
    ],
  },
  // Precedence: the higher priority's route and rewrite; every flag's headers, the winner's on a conflict.
  {
    name: 'race-high',
    enabled: true,
    priority: 10,
    profile: { endpoint: { in: ['/race/**'] } },
    actions: {
      route: { cluster: 'backend_high' },
      rewritePath: { prefix: '/race/', to: '/high/' },
      requestHeaders: { set: { 'x-race': 'high' } },
      responseHeaders: { set: { 'x-race': 'high' } },
    },
  },
  {
    name: 'race-low',
    enabled: true,
    priority: 5,
    profile: { endpoint: { in: ['/race/**'] } },
    actions: {
      route: { cluster: 'backend_low' },
      rewritePath: { prefix: '/race/', to: '/low/' },
      requestHeaders: { set: { 'x-race': 'low', 'x-low': '1' } },
      responseHeaders: { set: { 'x-race': 'low', 'x-low': '1' } },
    },
  },
  {
    // One reply per ~17 minutes: the first request gets it, the next finds the bucket empty.
    name: 'stop-high',
    enabled: true,
    priority: 20,
    respondLimit: { perSecond: 0.001 },
    profile: { endpoint: { in: ['/race/stop/**'] } },
    actions: { respond: { status: 503, details: 'stop_high' }, route: { cluster: 'backend_stop_high' } },
  },
  {
    name: 'stop-low',
    enabled: true,
    priority: 15,
    respondLimit: { perSecond: 1000 },
    profile: { endpoint: { in: ['/race/stop/**'] } },
    actions: { respond: { status: 429, details: 'stop_low' } },
  },
  {
    // Below race-high and race-low, yet its reply ends the request (README "Precedence").
    name: 'halt',
    enabled: true,
    priority: 1,
    respondLimit: { perSecond: 1000 },
    profile: { endpoint: { in: ['/race/halt/**'] } },
    actions: { respond: { status: 410, body: 'gone' } },
  },
  // Same priority: the higher score wins although its name sorts later.
  {
    name: 'score-a',
    enabled: true,
    threshold: 0.6,
    profile: { endpoint: { in: ['/score/**'], weight: 2 }, method: { in: ['POST'] } },
    actions: { route: { cluster: 'backend_score_a' }, rewritePath: { prefix: '/score/', to: '/a/' } },
  },
  {
    name: 'score-b',
    enabled: true,
    threshold: 0.6,
    profile: { endpoint: { in: ['/score/**'], weight: 2 }, method: { in: ['GET'] } },
    actions: { route: { cluster: 'backend_score_b' }, rewritePath: { prefix: '/score/', to: '/b/' } },
  },
  // Same priority and score: the name decides.
  {
    name: 'tie-b',
    enabled: true,
    profile: { endpoint: { in: ['/tie/**'] } },
    actions: { route: { cluster: 'backend_tie_b' }, rewritePath: { prefix: '/tie/', to: '/tie-b/' } },
  },
  {
    name: 'tie-a',
    enabled: true,
    profile: { endpoint: { in: ['/tie/**'] } },
    actions: { route: { cluster: 'backend_tie_a' }, rewritePath: { prefix: '/tie/', to: '/tie-a/' } },
  },
];

/** Each refused at load, with the reason /explain must show (the key is the file name). */
const BAD: { flag: Flag; reason: RegExp }[] = [
  {
    flag: { actions: { respond: { status: 600 } }, respondLimit: { perSecond: 5 } },
    reason: /actions\.respond\.status: a status from 200 to 599; got 600/,
  },
  {
    flag: { actions: { respond: { status: 418 } }, respondLimit: { perSecond: 5 } },
    reason: /actions\.respond\.status: a status Envoy's immediate_response can carry .*got 418/,
  },
  {
    flag: { actions: { respond: { status: 429, body: 'x'.repeat(4097) } }, respondLimit: { perSecond: 5 } },
    reason: /actions\.respond\.body: at most 4096 bytes of UTF-8/,
  },
  {
    flag: {
      actions: { respond: { status: 429, headers: { 'retry-after': '30\r\nset-cookie: a=b' } } },
      respondLimit: { perSecond: 5 },
    },
    reason: /actions\.respond\.headers\.retry-after: no CR, LF or NUL characters/,
  },
  {
    flag: { actions: { respond: { status: 429, headers: { 'content-length': '0' } } }, respondLimit: { perSecond: 5 } },
    reason: /actions\.respond\.headers\.content-length: content-length, transfer-encoding, .* belong to Envoy/,
  },
  {
    flag: { actions: { responseHeaders: { set: { 'x-envoy-upstream-service-time': '0' } } } },
    reason:
      /actions\.responseHeaders\.set\.x-envoy-upstream-service-time: host, pseudo-headers and x-envoy-\* are reserved/,
  },
  {
    flag: { actions: { responseHeaders: { set: { 'Bad Name': '1' } } } },
    reason: /actions\.responseHeaders\.set\.Bad Name: a lower-case HTTP header name/,
  },
  {
    flag: { actions: { rewritePath: { prefix: '/bad/', to: 'bad-v2/' } } },
    reason: /actions\.rewritePath\.to: an absolute path: starts with '\/'/,
  },
  {
    flag: { actions: { respond: { status: 429 } } },
    reason: /respondLimit: a flag with a respond action needs "respondLimit": \{"perSecond": N\}/,
  },
  {
    flag: { variants: [{ name: 'v', weight: 1, actions: { respond: { status: 429 } } }] },
    reason: /respondLimit: a flag with a respond action needs "respondLimit"/,
  },
];
const badName = (i: number) => `bad-${i}`;

const PATH_ROUTES = [
  { prefix: '/api/v2/', cluster: 'backend_v2' },
  { prefix: '/api/v1', cluster: 'backend_v1' },
];

/** The upstream: records every request that reaches it and answers with a few headers of its own. */
function recordingUpstream() {
  const calls: UpstreamRequest[] = [];
  const upstream = (req: UpstreamRequest) => {
    calls.push(req);
    return {
      status: req.path.includes('/missing') ? 404 : 200,
      headers: { server: 'upstream/1.0', 'x-powered-by': 'php', 'x-cluster': req.cluster },
    };
  };
  return { calls, upstream };
}

/** Everything Envoy makes of an exchange, as plain data; only the per-request x-request-id is left out. */
function wire(o: EmulatedOutcome) {
  const upstream = Object.fromEntries([...o.upstreamHeaders].filter(([k]) => k !== 'x-request-id'));
  return {
    status: o.status,
    cluster: o.cluster,
    path: o.path,
    upstreamHeaders: upstream,
    responseHeaders: Object.fromEntries(o.responseHeaders),
    localReply: o.localReply,
    body: o.body.toString('latin1'),
    details: o.details,
    dynamicMetadata: o.dynamicMetadata,
    rejectedMutations: o.rejectedMutations,
    responsePhaseSent: o.responsePhaseSent,
    messagesSent: o.messagesSent,
    processorSkipped: o.processorSkipped,
    error: o.error,
  };
}

async function scrape(sidecar: Sidecar): Promise<string> {
  return (await fetch(`http://127.0.0.1:${sidecar.adminPort}/metrics`)).text();
}

interface Explained {
  flags: { name: string; result: string; variant: string | null }[];
  decision: {
    flags: string[];
    shadow: string[];
    respond: { flag: string; status: number } | null;
    route: string | null;
  };
  rejected: { key: string; reason: string }[];
}

async function explainOf(sidecar: Sidecar, headers: Record<string, string>): Promise<Explained> {
  const res = await fetch(`http://127.0.0.1:${sidecar.adminPort}/explain`, {
    method: 'POST',
    body: JSON.stringify({ headers: { ':method': 'GET', ...headers } }),
  });
  return (await res.json()) as Explained;
}

async function writeFlags(dir: string, flags: readonly Flag[]): Promise<void> {
  for (const f of flags) await writeFile(join(dir, `${f.name as string}.json`), JSON.stringify(f));
}

async function startFileSidecar(dir: string): Promise<Sidecar> {
  const config = loadConfig(e2eEnv({ PROFLAG_STORE: 'file', PROFLAG_FLAGS_DIR: dir, PROFLAG_LEARN: 'off' }));
  return startSidecar(config, { logger: createLogger('silent'), defaultMetrics: false });
}

async function until(what: string, f: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await f())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('transformations as Envoy applies them (file store)', () => {
  let dir: string;
  let sidecar: Sidecar;
  const emulators: EnvoyEmulator[] = [];
  const envoy = (options: EmulatorOptions = {}) => {
    const e = new EnvoyEmulator(`127.0.0.1:${sidecar.grpcPort}`, {
      messageTimeoutMs: 5_000,
      allowModeOverride: true,
      pathRoutes: PATH_ROUTES,
      ...options,
    });
    emulators.push(e);
    return e;
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'proflag-transform-'));
    await writeFlags(dir, FLAGS);
    for (const [i, bad] of BAD.entries()) {
      const doc = { name: badName(i), enabled: true, profile: { endpoint: { in: ['/bad/**'] } }, ...bad.flag };
      await writeFile(join(dir, `${badName(i)}.json`), JSON.stringify(doc));
    }
    sidecar = await startFileSidecar(dir);
  });
  afterAll(async () => {
    for (const e of emulators) e.close();
    await sidecar?.stop(1000);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('respond: the local reply carries the status, headers, body and details; no upstream, no response phase', async () => {
    const { calls, upstream } = recordingUpstream();
    // Even with response_header_mode SEND configured statically: a local reply is not sent to ext_proc.
    for (const e of [envoy({ upstream }), envoy({ upstream, sendResponseHeaders: true })]) {
      const out = await e.request({ method: 'POST', path: '/api/login', sourceAddress: IP.DE });
      expect(out.error).toBeNull();
      expect(out.localReply).toBe(true);
      expect(out.status).toBe(429);
      expect(Object.fromEntries(out.responseHeaders)).toEqual({
        'retry-after': '30',
        'content-type': 'text/plain; charset=utf-8',
      });
      expect(out.body.equals(Buffer.from(LOGIN_BODY, 'utf8'))).toBe(true);
      expect(out.details).toBe('proflag_login_block');
      expect(out.rejectedMutations).toBe(0);
      expect(out.messagesSent).toBe(1);
      expect(out.responsePhaseSent).toBe(false);
      expect(out.dynamicMetadata).toMatchObject({
        fields: {
          proflag: {
            structValue: {
              fields: {
                respond: { stringValue: 'login-block' },
                status: { numberValue: 429 },
                stale: { boolValue: false },
              },
            },
          },
        },
      });
    }
    expect(calls).toHaveLength(0);

    // The same endpoint by GET misses login-block (method): it goes upstream with login-tag only.
    const pass = await envoy({ upstream }).request({ method: 'GET', path: '/api/login', sourceAddress: IP.DE });
    expect(pass.localReply).toBe(false);
    expect(pass.status).toBe(200);
    expect(calls).toHaveLength(1);
    expect(flagsOf(pass.upstreamHeaders)).toEqual(['login-tag=true']);
    expect(pass.upstreamHeaders.get('x-login')).toBe('seen');
    expect(pass.upstreamHeaders.has('x-never')).toBe(false);
    expect(pass.path).toBe('/api/login');
  });

  it("the console's explain shows the reply a request would get (it only peeks at the bucket)", async () => {
    const ask = async () => {
      const res = await fetch(`http://127.0.0.1:${sidecar.adminPort}/api/explain`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ method: 'POST', path: '/api/login', clientIp: '81.169.145.1' }),
      });
      expect(res.status).toBe(200);
      return (await res.json()) as Explained;
    };
    for (const explained of [await ask(), await explainOf(sidecar, { ':method': 'POST', ':path': '/api/login' })]) {
      expect(explained.flags.find((f) => f.name === 'login-block')?.result).toBe('matched');
      expect(explained.decision.respond).toEqual({ flag: 'login-block', status: 429 });
    }
  });

  it('rewritePath: the raw :path with its query, clear_route_cache, re-routed on the new path', async () => {
    const { calls, upstream } = recordingUpstream();
    const e = envoy({ upstream });
    const raw = '/api/v1/items/Caf%C3%A9?q=1&next=%2Fapi%2Fv1%2F&q=2';
    const out = await e.request({ path: raw, sourceAddress: IP.US });
    expect(out.error).toBeNull();
    expect(out.path).toBe('/api/v2/items/Caf%C3%A9?q=1&next=%2Fapi%2Fv1%2F&q=2');
    // Resolved on /api/v1 before proflag answered; only clear_route_cache makes Envoy pick /api/v2/.
    expect(out.cluster).toBe('backend_v2');
    expect(calls.map((c) => [c.cluster, c.path])).toEqual([['backend_v2', out.path]]);
    expect(out.upstreamHeaders.get(':path')).toBe(out.path);
    expect(out.rejectedMutations).toBe(0);
    expect(flagsOf(out.upstreamHeaders)).toEqual(['sunset=true']);
    // The same flag's response headers, through mode_override: two messages.
    expect(out.messagesSent).toBe(2);
    expect(out.responseHeaders.get('deprecation')).toBe('true');
    expect(out.responseHeaders.get('link')).toBe('</api/v2/>; rel="successor-version"');
    expect(out.responseHeaders.has('x-powered-by')).toBe(false);
    expect(out.responseHeaders.get('server')).toBe('upstream/1.0');

    // /api/v1?q=1 is the endpoint /api/v1 (the flag matches: `**` also matches nothing), but the
    // raw path does not start with "/api/v1/": it is left alone, and so is the route.
    const alone = await e.request({ path: '/api/v1?q=1', sourceAddress: IP.US });
    expect(alone.path).toBe('/api/v1?q=1');
    expect(alone.cluster).toBe('backend_v1');
    expect(flagsOf(alone.upstreamHeaders)).toEqual(['sunset=true']);
    expect(alone.responseHeaders.get('deprecation')).toBe('true');

    // A path the flag does not match at all: nothing changes, one message.
    const other = await e.request({ path: '/api/v2/items?q=1', sourceAddress: IP.US });
    expect(other.path).toBe('/api/v2/items?q=1');
    expect(other.cluster).toBe('backend_v2');
    expect(other.messagesSent).toBe(1);
    expect(flagsOf(other.upstreamHeaders)).toEqual([]);
  });

  it('responseHeaders: mode_override only for the requests that need it; the rest cost one message', async () => {
    const { upstream } = recordingUpstream();
    const before = await scrape(sidecar);
    const e = envoy({ upstream });
    const asked = await e.request({ path: '/catalog/shoes', sourceAddress: IP.US });
    expect(asked.messagesSent).toBe(2);
    expect(asked.responsePhaseSent).toBe(true);
    expect(asked.status).toBe(200);
    expect(Object.fromEntries(asked.responseHeaders)).toEqual({
      'x-served-by': 'canary',
      'x-powered-by': 'php',
      'x-cluster': 'backend_stable',
      'x-envoy-upstream-service-time': '1',
    });
    // The upstream's status is kept; only the headers change.
    const missing = await e.request({ path: '/catalog/missing', sourceAddress: IP.US });
    expect(missing.status).toBe(404);
    expect(missing.responseHeaders.get('x-served-by')).toBe('canary');
    expect(missing.responseHeaders.has('server')).toBe(false);

    for (const path of ['/home', '/catalogue', '/api/login']) {
      const plain = await e.request({ path, sourceAddress: IP.US });
      expect(plain.messagesSent, path).toBe(1);
      expect(plain.responsePhaseSent, path).toBe(false);
      expect(plain.responseHeaders.get('server'), path).toBe('upstream/1.0');
      expect(plain.responseHeaders.has('x-served-by'), path).toBe(false);
    }
    const after = await scrape(sidecar);
    const phases = (outcome: string, text: string) =>
      metricSum(text, 'proflag_extproc_response_phase_total', { outcome });
    expect(phases('requested', after) - phases('requested', before)).toBe(2);
    expect(phases('answered', after) - phases('answered', before)).toBe(2);
    expect(phases('unrequested', after) - phases('unrequested', before)).toBe(0);

    // Without allow_mode_override Envoy ignores the override: the response goes through untouched
    // (the request itself is still decided), which is why envoy/envoy.yaml turns it on.
    const off = await envoy({ upstream, allowModeOverride: false }).request({ path: '/catalog/shoes' });
    expect(off.messagesSent).toBe(1);
    expect(off.status).toBe(200);
    expect(flagsOf(off.upstreamHeaders)).toEqual(['served-by=true']);
    expect(off.responseHeaders.get('server')).toBe('upstream/1.0');
    expect(off.responseHeaders.has('x-served-by')).toBe(false);
  });

  it("variants: the variant's actions merged over the flag's, per sticky unit", async () => {
    const { calls, upstream } = recordingUpstream();
    const e = envoy({ upstream });
    const seen = { a: 0, b: 0 };
    for (let i = 0; i < 24; i++) {
      const user = `user-${i}`;
      const explained = await explainOf(sidecar, { ':path': '/shop/cart', 'x-user-id': user });
      const variant = explained.flags.find((f) => f.name === 'shop-split')!.variant as 'a' | 'b';
      seen[variant]++;
      const callsBefore = calls.length;
      const out = await e.request({ path: '/shop/cart?step=2', sourceAddress: IP.US, headers: { 'x-user-id': user } });
      expect(out.error).toBeNull();
      if (variant === 'a') {
        // The flag's route, the variant's rewrite; request and response headers merged, the variant's last.
        expect(out.cluster).toBe('backend_shop');
        expect(out.path).toBe('/shop-a/cart?step=2');
        expect(flagsOf(out.upstreamHeaders)).toEqual(['shop-split=a']);
        expect(out.upstreamHeaders.get('x-shop')).toBe('a');
        expect(out.upstreamHeaders.get('x-shop-base')).toBe('1');
        expect(out.responseHeaders.get('x-shop')).toBe('base');
        expect(out.responseHeaders.get('x-variant')).toBe('a');
        expect(out.messagesSent).toBe(2);
        expect(calls.length).toBe(callsBefore + 1);
      } else {
        expect(explained.decision.respond).toEqual({ flag: 'shop-split', status: 503 });
        expect(out.localReply).toBe(true);
        expect(out.status).toBe(503);
        expect(out.body.toString()).toBe('b is closed');
        expect(Object.fromEntries(out.responseHeaders)).toEqual({ 'retry-after': '5' });
        expect(out.messagesSent).toBe(1);
        expect(calls.length).toBe(callsBefore);
      }
      // Sticky: the same user, the same answer.
      const again = await e.request({
        path: '/shop/cart?step=2',
        sourceAddress: IP.FR,
        headers: { 'x-user-id': user },
      });
      expect(again.localReply).toBe(out.localReply);
      expect(flagsOf(again.upstreamHeaders)).toEqual(flagsOf(out.upstreamHeaders));
    }
    expect(seen.a).toBeGreaterThan(0);
    expect(seen.b).toBeGreaterThan(0);
  });

  it("precedence: the winner's route and rewrite, every flag's headers, one respond ends it", async () => {
    const { calls, upstream } = recordingUpstream();
    const e = envoy({ upstream });

    const race = await e.request({ path: '/race/lap?n=1', sourceAddress: IP.US, headers: { 'x-race': 'client' } });
    expect(race.cluster).toBe('backend_high');
    expect(race.path).toBe('/high/lap?n=1');
    expect(flagsOf(race.upstreamHeaders)).toEqual(['race-high=true', 'race-low=true']);
    expect(race.upstreamHeaders.get('x-race')).toBe('high');
    expect(race.upstreamHeaders.get('x-low')).toBe('1');
    expect(race.responseHeaders.get('x-race')).toBe('high');
    expect(race.responseHeaders.get('x-low')).toBe('1');

    // Two responding flags: the winner (stop-high, priority 20) replies; its bucket then holds no
    // token, so it counts as not matched and the next one (stop-low) replies instead.
    const limitedBefore = metricSum(await scrape(sidecar), 'proflag_flag_respond_limited_total', { flag: 'stop-high' });
    const first = await e.request({ path: '/race/stop/now', sourceAddress: IP.US });
    expect([first.localReply, first.status, first.details]).toEqual([true, 503, 'stop_high']);
    const second = await e.request({ path: '/race/stop/now', sourceAddress: IP.US });
    expect([second.localReply, second.status, second.details]).toEqual([true, 429, 'stop_low']);
    const limitedAfter = metricSum(await scrape(sidecar), 'proflag_flag_respond_limited_total', { flag: 'stop-high' });
    expect(limitedAfter - limitedBefore).toBe(1);
    const explained = await explainOf(sidecar, { ':path': '/race/stop/now' });
    expect(explained.flags.find((f) => f.name === 'stop-high')?.result).toBe('respond-limited');
    expect(explained.decision.respond).toEqual({ flag: 'stop-low', status: 429 });

    // A respond ends the request even when flags above it route and rewrite.
    const halt = await e.request({ path: '/race/halt/x', sourceAddress: IP.US });
    expect([halt.localReply, halt.status, halt.body.toString()]).toEqual([true, 410, 'gone']);

    // Same priority: the higher score (score-b, 1.0 for a GET; score-a 0.67) beats the name order; equal
    // scores: the name (tie-a before tie-b).
    const score = await e.request({ path: '/score/x', sourceAddress: IP.US });
    expect([score.cluster, score.path]).toEqual(['backend_score_b', '/b/x']);
    expect(flagsOf(score.upstreamHeaders)).toEqual(['score-b=true', 'score-a=true']);
    const tie = await e.request({ path: '/tie/x', sourceAddress: IP.US });
    expect([tie.cluster, tie.path]).toEqual(['backend_tie_a', '/tie-a/x']);

    expect(calls.map((c) => c.cluster)).toEqual(['backend_high', 'backend_score_b', 'backend_tie_a']);
  });

  it('refuses each invalid transformation at load with its reason; the other flags serve', async () => {
    const explained = await explainOf(sidecar, { ':path': '/bad/x' });
    const rejected = new Map(explained.rejected.map((r) => [r.key, r.reason]));
    expect([...rejected.keys()].sort()).toEqual(BAD.map((_, i) => `${badName(i)}.json`).sort());
    for (const [i, bad] of BAD.entries()) expect(rejected.get(`${badName(i)}.json`), badName(i)).toMatch(bad.reason);
    const served = sidecar.holder.current.flags.map((f) => f.name).sort();
    expect(served).toEqual(FLAGS.map((f) => f.name as string).sort());
    expect(metricSum(await scrape(sidecar), 'proflag_store_rejected_flags'), 'proflag_store_rejected_flags').toBe(
      BAD.length,
    );

    // None of the refused flags answers or changes anything.
    const out = await envoy().request({ path: '/bad/x', sourceAddress: IP.US });
    expect(out.localReply).toBe(false);
    expect(out.status).toBe(200);
    expect(out.path).toBe('/bad/x');
    expect(out.messagesSent).toBe(1);
    expect(flagsOf(out.upstreamHeaders)).toEqual([]);
  });

  it('answers a response_headers message nobody asked for unchanged, and counts it', async () => {
    const { upstream } = recordingUpstream();
    // response_header_mode SEND in the static processing mode: Envoy sends every response.
    const e = envoy({ upstream, sendResponseHeaders: true });
    const before = await scrape(sidecar);
    for (const path of ['/home', '/api/v2/items', '/tie/x']) {
      const out = await e.request({ path, sourceAddress: IP.US });
      expect(out.error, path).toBeNull();
      expect(out.messagesSent, path).toBe(2);
      expect(out.responsePhaseSent, path).toBe(true);
      expect(out.rejectedMutations, path).toBe(0);
      expect(Object.fromEntries(out.responseHeaders), path).toEqual({
        server: 'upstream/1.0',
        'x-powered-by': 'php',
        'x-cluster': out.cluster,
        'x-envoy-upstream-service-time': '1',
      });
    }
    // A request that did ask gets its mutation, counted as answered.
    const asked = await e.request({ path: '/catalog/shoes', sourceAddress: IP.US });
    expect(asked.responseHeaders.get('x-served-by')).toBe('canary');
    const after = await scrape(sidecar);
    const phases = (outcome: string, text: string) =>
      metricSum(text, 'proflag_extproc_response_phase_total', { outcome });
    expect(phases('unrequested', after) - phases('unrequested', before)).toBe(3);
    expect(phases('answered', after) - phases('answered', before)).toBe(1);
  });
});

describe('shadow mode changes nothing on the wire', () => {
  // In both sidecars: an enforce flag that tags the same requests (request and response headers).
  const TAGGER: Flag = {
    name: 'tagger',
    enabled: true,
    profile: { endpoint: { in: ['/shadowed/**'] } },
    actions: { requestHeaders: { set: { 'x-tag': '1' } }, responseHeaders: { set: { 'x-tagged': '1' } } },
  };
  // Only in `withShadow`: everything a flag can do, in shadow mode. One reply per ~17 minutes
  // once enforced, so a token spent in shadow mode would show.
  const BLOCK: Flag = {
    name: 'trial-block',
    enabled: true,
    mode: 'shadow',
    priority: 100,
    respondLimit: { perSecond: 0.001 },
    profile: { endpoint: { in: ['/shadowed/**', '/plain/**'] } },
    actions: { respond: { status: 429, body: 'blocked', details: 'trial_block' } },
  };
  const REROUTE: Flag = {
    name: 'trial-reroute',
    enabled: true,
    mode: 'shadow',
    priority: 50,
    profile: { endpoint: { in: ['/shadowed/**', '/plain/**'] } },
    actions: {
      route: { cluster: 'backend_trial' },
      rewritePath: { prefix: '/shadowed/', to: '/trial/' },
      requestHeaders: { set: { 'x-trial': '1' }, remove: ['x-keep'] },
      responseHeaders: { set: { 'x-trial': '1' }, remove: ['server'] },
    },
  };
  const REQUESTS: EmulatedRequest[] = [
    { path: '/shadowed/a?x=1', sourceAddress: IP.DE, headers: { 'x-keep': 'yes' } },
    { path: '/shadowed/b', method: 'POST', sourceAddress: IP.US, headers: { 'user-agent': 'curl/8.5.0' } },
    { path: '/plain/c?y=2', sourceAddress: IP.FR, headers: { 'x-keep': 'yes' } },
    { path: '/elsewhere', sourceAddress: IP.US },
  ];
  const MATCHED = REQUESTS.filter((r) => !r.path.startsWith('/elsewhere')).length;

  let dirs: string[] = [];
  let withShadow: Sidecar;
  let without: Sidecar;
  const emulators: EnvoyEmulator[] = [];
  const envoy = (s: Sidecar, options: EmulatorOptions = {}) => {
    const e = new EnvoyEmulator(`127.0.0.1:${s.grpcPort}`, {
      messageTimeoutMs: 5_000,
      allowModeOverride: true,
      pathRoutes: [{ prefix: '/trial/', cluster: 'backend_trial_path' }],
      upstream: recordingUpstream().upstream,
      ...options,
    });
    emulators.push(e);
    return e;
  };

  beforeAll(async () => {
    dirs = [await mkdtemp(join(tmpdir(), 'proflag-shadow-')), await mkdtemp(join(tmpdir(), 'proflag-noshadow-'))];
    await writeFlags(dirs[0]!, [TAGGER, BLOCK, REROUTE]);
    await writeFlags(dirs[1]!, [TAGGER]);
    [withShadow, without] = await Promise.all([startFileSidecar(dirs[0]!), startFileSidecar(dirs[1]!)]);
  });
  afterAll(async () => {
    for (const e of emulators) e.close();
    await Promise.all([withShadow?.stop(1000), without?.stop(1000)]);
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it('gives Envoy exactly what it gets without the shadow flags, yet counts and explains them', async () => {
    const before = await scrape(withShadow);
    for (const options of [{}, { sendResponseHeaders: true }, { allowModeOverride: false }]) {
      const [a, b] = [envoy(withShadow, options), envoy(without, options)];
      for (const req of REQUESTS) {
        const got = await a.request(req);
        const reference = await b.request(req);
        expect(got.error).toBeNull();
        expect(wire(got), `${req.path} ${JSON.stringify(options)}`).toEqual(wire(reference));
      }
    }
    // Each shadow flag was evaluated on every matching request of the three rounds.
    const after = await scrape(withShadow);
    for (const flag of ['trial-block', 'trial-reroute']) {
      const shadow = (t: string) => metricSum(t, 'proflag_flag_evaluations_total', { flag, result: 'shadow' });
      expect(shadow(after) - shadow(before), flag).toBe(3 * MATCHED);
      expect(metricSum(after, 'proflag_flag_evaluations_total', { flag, result: 'match' }), flag).toBe(0);
    }
    expect(metricSum(after, 'proflag_flag_respond_limited_total', { flag: 'trial-block' })).toBe(0);

    const explained = await explainOf(withShadow, { ':path': '/shadowed/a' });
    expect(explained.flags.map((f) => [f.name, f.result])).toEqual(
      expect.arrayContaining([
        ['trial-block', 'shadow'],
        ['trial-reroute', 'shadow'],
        ['tagger', 'matched'],
      ]),
    );
    expect(explained.decision).toMatchObject({
      flags: ['tagger=true'],
      shadow: ['trial-block=true', 'trial-reroute=true'],
      respond: null,
      route: null,
    });
  });

  it('enforced, the same flag replies (its one token unspent by shadow traffic), then passes as if unmatched', async () => {
    await writeFlags(dirs[0]!, [{ ...BLOCK, mode: 'enforce' }]);
    await until('trial-block enforced', () =>
      withShadow.holder.current.flags.some((f) => f.name === 'trial-block' && f.mode === 'enforce'),
    );
    const [a, b] = [envoy(withShadow), envoy(without)];
    const req = REQUESTS[0]!;
    const blocked = await a.request(req);
    expect([blocked.localReply, blocked.status, blocked.body.toString(), blocked.details]).toEqual([
      true,
      429,
      'blocked',
      'trial_block',
    ]);
    // The bucket is empty now: the flag counts as not matched, trial-reroute is still shadow,
    // so Envoy gets exactly what the sidecar without these flags gives.
    const passed = await a.request(req);
    expect(wire(passed)).toEqual(wire(await b.request(req)));
    const text = await scrape(withShadow);
    expect(metricSum(text, 'proflag_flag_respond_limited_total', { flag: 'trial-block' })).toBe(1);
    expect(metricSum(text, 'proflag_flag_evaluations_total', { flag: 'trial-block', result: 'match' })).toBe(1);
  });
});
