// The operator console's server side: the JSON API under /api (which scripts could use as
// well), the live event stream, the page at /ui, and the guard in front of them all
// (auth.ts). sidecar.ts builds it with openConsole() and hands `routes` and `guard` to the
// admin server.
//
// Endpoints (JSON; shapes in docs/console.md):
//   GET  /api/capabilities              what this build and store can do (buttons follow it)
//   GET  /api/flags                     every flag, rejected documents with reasons
//   POST /api/flags/:name/:action       enable | disable | shadow | enforce
//   GET  /api/replicas                  each replica's view (the status keys `ffr status` reads)
//   GET  /api/traffic                   per-flag requests over the last minutes
//   GET  /api/proposals                 proposals with evidence, range in words, preview
//   POST /api/proposals/:id/approve     {as: disabled|enabled|shadow-block|route, name?, ...}
//   POST /api/proposals/:id/reject
//   POST /api/explain                   {method, path, headers, clientIp} → profile, scores, decision
//   GET  /api/experiments[/:name]       experiment flags; results (CONTRACT §7) and guardrail history
//   GET  /api/audit?name=&limit=        the audit trail, newest first
//   GET  /api/events                    server-sent events (events.ts)
//   POST|DELETE /api/session            log in / out of the console (auth.ts)
import { isIP } from 'node:net';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Cluster, Redis } from 'ioredis';
import type { Registry } from 'prom-client';
import type { Config } from '../config/config.js';
import type { ProfileExtractor } from '../extproc/requestProcessor.js';
import type { HeaderLookup } from '../features/profile.js';
import { learnerRedis } from '../learner/learning.js';
import { explain } from '../matcher/explain.js';
import { redisKeys, type RedisKeys } from '../store/redisKeys.js';
import type { SnapshotHolder } from '../store/snapshotHolder.js';
import type { Logger } from '../telemetry/logger.js';
import type { AdminRoute } from './adminServer.js';
import type { FlagCatalog } from './apiCatalog.js';
import { createLuaChangeGateway, type ChangeGateway } from './apiChanges.js';
import { flagsView, lastChanges, type LastChange } from './apiFlags.js';
import { HttpError, queryOf, readJsonObject, sendError, sendJson } from './apiHttp.js';
import type { RecentProfiles } from './apiPreview.js';
import { approvedDocument, parseApproveRequest, probeSchema, ProposalViews } from './apiProposals.js';
import { proposalsDigest, readAudit, readProposals, readReplicaStatuses, readVersion } from './apiRedis.js';
import { TrafficSampler } from './apiTraffic.js';
import { createAdminAuth } from './auth.js';
import { EventHub } from './events.js';
import { createUiRoute } from './ui.js';

export const CONSOLE_ACTOR = 'console';

/** Experiment results (the CONTRACT §7 JSON) of one flag, or null when it has none. */
export type ExperimentResults = (name: string) => Promise<unknown>;

export interface ConsoleDeps {
  readonly holder: SnapshotHolder;
  readonly registry: Registry;
  readonly extract: ProfileExtractor;
  readonly logger: Logger;
  readonly storeKind: 'redis' | 'file';
  readonly catalog: FlagCatalog;
  /** Recent sampled profiles for the proposal preview (null when the learner is off). */
  readonly recent: RecentProfiles | null;
  /** The experiments module's results function, once wired (else the page asks /experiments/NAME). */
  readonly experimentResults?: ExperimentResults | null;
  /** Default: the Lua change path over the console's own Redis connection. */
  readonly changes?: ChangeGateway | null;
  /** Default: a connection like the learner's (same topology); null with the file store. */
  readonly redis?: Redis | Cluster | null;
  readonly uiDir?: string;
  readonly trafficIntervalMs?: number;
  /** How often the proposals are checked for changes while a page listens. Default 500 ms. */
  readonly proposalPollMs?: number;
}

export interface Console {
  readonly routes: readonly AdminRoute[];
  /** The admin server's first step for every request (auth.ts). */
  guard(req: IncomingMessage, res: ServerResponse, path: string): boolean;
  readonly events: EventHub;
  close(): Promise<void>;
}

const FLAG_ACTIONS = new Set(['enable', 'disable', 'shadow', 'enforce']);
const AUDIT_WINDOW = 2_000;

export function openConsole(config: Config, deps: ConsoleDeps): Console {
  const log = deps.logger.child({ component: 'console' });
  const keys: RedisKeys = redisKeys(config.prefix);
  const ownRedis = deps.redis === undefined && deps.storeKind === 'redis';
  const redis = deps.redis !== undefined ? deps.redis : ownRedis ? learnerRedis(config, 'proflag:console') : null;
  if (ownRedis) redis?.on('error', () => {}); // reads and changes report their own failures
  const changes = deps.changes !== undefined ? deps.changes : redis ? createLuaChangeGateway(redis, keys) : null;
  const caps = probeSchema();
  const auth = createAdminAuth({ token: config.adminToken, adminAddr: config.adminAddr });
  const proposals = new ProposalViews(deps.recent, config.tz);
  const events = new EventHub({ hello: () => ({ version: deps.holder.current.version }) });
  const traffic = new TrafficSampler({
    registry: deps.registry,
    ...(deps.trafficIntervalMs ? { intervalMs: deps.trafficIntervalMs } : {}),
    onChange: () => events.publish('traffic', { at: Date.now() }),
  });
  traffic.start();
  const ui = createUiRoute(deps.uiDir ? { dir: deps.uiDir } : {});

  const unswap = deps.holder.onSwap((next) =>
    events.publish('flags', {
      version: next.version,
      flags: next.flagCount,
      rejected: next.rejected.length,
      compiledAt: next.compiledAt,
    }),
  );

  // Proposals are written by learners without a publish: look for changes while a page listens.
  let pollTimer: NodeJS.Timeout | null = null;
  let lastDigest: string | null = null;
  let polling = false;
  const pollProposals = async (): Promise<void> => {
    if (!redis || polling) return;
    polling = true;
    try {
      const digest = await proposalsDigest(redis, keys);
      // The first digest after a page connects is published too: a proposal written between
      // that page's first read and this poll is not missed.
      if (digest !== lastDigest) events.publish('proposals', { digest });
      lastDigest = digest;
    } catch {
      // Redis away: the flags page says so; try again next round.
    } finally {
      polling = false;
    }
  };
  events.onClients((n) => {
    if (n > 0 && pollTimer === null && redis) {
      pollTimer = setInterval(() => void pollProposals(), deps.proposalPollMs ?? 500);
      pollTimer.unref();
      void pollProposals();
    } else if (n === 0 && pollTimer !== null) {
      clearInterval(pollTimer);
      pollTimer = null;
      lastDigest = null;
    }
  });

  // The last change of each flag, from the audit trail, read again when the version moves.
  let changesCache: { version: number | null; map: Map<string, LastChange> } | null = null;
  const flagChanges = async (): Promise<Map<string, LastChange>> => {
    const version = deps.holder.current.version;
    if (!redis) return new Map();
    if (changesCache && changesCache.version === version) return changesCache.map;
    try {
      const map = lastChanges(await readAudit(redis, keys, AUDIT_WINDOW));
      changesCache = { version, map };
      return map;
    } catch {
      return changesCache?.map ?? new Map();
    }
  };

  const needRedis = (): Redis | Cluster => {
    if (!redis)
      throw new HttpError(409, 'this sidecar serves the file store: proposals and changes need Redis', 'no-redis');
    return redis;
  };
  const needChanges = (): ChangeGateway => {
    if (!changes)
      throw new HttpError(409, 'this sidecar serves the file store: edit the flag files instead', 'no-redis');
    return changes;
  };

  const capabilities = () => ({
    store: deps.storeKind,
    tokenRequired: auth.tokenRequired,
    changes: changes !== null,
    shadow: caps.shadow,
    respond: caps.respond,
    experimentSchema: caps.experiment,
    experimentResults: Boolean(deps.experimentResults),
    learner: deps.recent !== null,
    preview: deps.recent !== null,
    trafficSource: traffic.source,
    actor: CONSOLE_ACTOR,
  });

  async function flagAction(res: ServerResponse, name: string, action: string): Promise<void> {
    if ((action === 'shadow' || action === 'enforce') && !caps.shadow) {
      throw new HttpError(409, 'this sidecar build has no shadow mode yet (CONTRACT §6)', 'capability-missing');
    }
    const result = await needChanges().updateFlag(
      name,
      (doc) => {
        if (action === 'enable' || action === 'disable') {
          const want = action === 'enable';
          return doc.enabled === want ? null : { ...doc, enabled: want };
        }
        const current = doc.mode === 'shadow' ? 'shadow' : 'enforce';
        return current === action ? null : { ...doc, mode: action };
      },
      { actor: CONSOLE_ACTOR, action },
    );
    if (result) log.info({ actor: CONSOLE_ACTOR, action, flag: name, version: result.version }, 'console change');
    sendJson(res, 200, { ok: true, changed: result !== null, version: result?.version ?? null });
  }

  async function proposalAction(req: IncomingMessage, res: ServerResponse, id: string, action: string): Promise<void> {
    const gateway = needChanges();
    if (action === 'reject') {
      const { version } = await gateway.rejectProposal(id, { actor: CONSOLE_ACTOR });
      log.info({ actor: CONSOLE_ACTOR, action, proposal: id, version }, 'console change');
      sendJson(res, 200, { ok: true, version });
      return;
    }
    const request = parseApproveRequest(await readJsonObject(req));
    const result = await gateway.approveProposal(id, (proposal) => approvedDocument(proposal, request, caps), {
      actor: CONSOLE_ACTOR,
      force: request.force === true,
    });
    log.info(
      { actor: CONSOLE_ACTOR, action, proposal: id, flag: result.name, version: result.version, as: request.as },
      'console change',
    );
    sendJson(res, 200, { ok: true, version: result.version, flag: result.name });
  }

  async function explainRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readJsonObject(req);
    const map = new Map<string, string>();
    const method = typeof body.method === 'string' && body.method !== '' ? body.method.toUpperCase() : 'GET';
    const path = typeof body.path === 'string' && body.path !== '' ? body.path : '/';
    map.set(':method', method);
    map.set(':path', path);
    const headers = body.headers;
    if (headers && typeof headers === 'object' && !Array.isArray(headers)) {
      for (const [k, v] of Object.entries(headers)) if (typeof v === 'string') map.set(k.toLowerCase(), v);
    } else if (typeof headers === 'string') {
      for (const line of headers.split(/\r?\n/)) {
        const colon = line.indexOf(':', 1);
        if (colon > 0) map.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
      }
    }
    let sourceAddress: string | null = null;
    if (typeof body.clientIp === 'string' && body.clientIp.trim() !== '') {
      const ip = body.clientIp.trim();
      const kind = isIP(ip);
      if (kind === 0) throw new HttpError(400, 'clientIp: an IPv4 or IPv6 address', 'bad-request');
      sourceAddress = kind === 6 ? `[${ip}]:0` : `${ip}:0`;
    }
    const lookup: HeaderLookup = { get: (n) => map.get(n) };
    const nowMs = Date.now();
    const profile = deps.extract({ headers: lookup, sourceAddress, nowMs });
    // The respondLimit buckets' clock: without it every `respond` reads as over its limit.
    sendJson(res, 200, explain(deps.holder.current, profile, lookup, nowMs));
  }

  async function experimentsView(res: ServerResponse, name: string | null): Promise<void> {
    const snapshot = deps.holder.current;
    const defs = deps.catalog.definitions(snapshot) as ReadonlyArray<{ name: string; experiment?: unknown }>;
    if (name === null) {
      const list = defs
        .filter((d) => d.experiment && typeof d.experiment === 'object')
        .map((d) => ({ name: d.name, experiment: d.experiment }));
      sendJson(res, 200, { experiments: list, resultsAvailable: Boolean(deps.experimentResults) });
      return;
    }
    const def = defs.find((d) => d.name === name);
    if (!def) throw new HttpError(404, `no flag '${name}'`, 'not-found');
    let guardrails: unknown[] = [];
    if (redis) {
      try {
        guardrails = (await readAudit(redis, keys, AUDIT_WINDOW)).filter(
          (e) => e.name === name && (e.reason === 'guardrail' || /guardrail/i.test(`${e.action} ${e.detail}`)),
        );
      } catch {
        guardrails = [];
      }
    }
    const results = deps.experimentResults ? await deps.experimentResults(name) : null;
    sendJson(res, 200, {
      name,
      experiment: def.experiment ?? null,
      resultsAvailable: Boolean(deps.experimentResults),
      results,
      guardrails,
    });
  }

  async function replicas(res: ServerResponse): Promise<void> {
    const now = Date.now();
    if (!redis) {
      const s = deps.holder.sync;
      sendJson(res, 200, {
        version: s.version,
        replicas: [{ replica: 'this sidecar', ...s, rejected: deps.holder.current.rejected, self: true }],
        source: 'local',
      });
      return;
    }
    const [version, statuses] = await Promise.all([readVersion(redis, keys), readReplicaStatuses(redis, keys)]);
    sendJson(res, 200, {
      version,
      now,
      source: 'redis',
      replicas: statuses
        .filter((s): s is Record<string, unknown> => s !== null && typeof s === 'object')
        .map((s) => ({
          ...s,
          ageMs: typeof s.lastSyncAt === 'number' ? Math.max(0, now - s.lastSyncAt) : null,
          self: s.pid === process.pid,
        })),
    });
  }

  async function handleApi(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    const parts = path.split('/').slice(2).map(decodeURIComponent); // ['flags', 'name', 'enable']
    const [head, arg, action] = parts;
    const method = req.method ?? 'GET';
    const get = method === 'GET' || method === 'HEAD';
    if (head === 'events' && parts.length === 1) return events.handle(req, res);
    if (head === 'session' && parts.length === 1) return auth.handleSession(req, res);
    if (get && parts.length === 1) {
      switch (head) {
        case 'capabilities':
          return sendJson(res, 200, capabilities());
        case 'flags': {
          const snapshot = deps.holder.current;
          const defs = deps.catalog.knows(snapshot) ? deps.catalog.definitions(snapshot) : null;
          return sendJson(res, 200, {
            ...flagsView(snapshot, defs, config.tz, await flagChanges()),
            sync: deps.holder.sync,
          });
        }
        case 'replicas':
          return replicas(res);
        case 'traffic':
          return sendJson(res, 200, traffic.history());
        case 'proposals': {
          if (!redis) return sendJson(res, 200, { available: false, proposals: [], samples: null });
          const views = proposals.build(await readProposals(redis, keys));
          const samples = deps.recent ? { size: deps.recent.size, capacity: deps.recent.capacity } : null;
          return sendJson(res, 200, { available: true, proposals: views, samples });
        }
        case 'experiments':
          return experimentsView(res, null);
        case 'audit': {
          const q = queryOf(req);
          const limit = Math.min(1_000, Math.max(1, Number(q.get('limit') ?? 50) || 50));
          const name = q.get('name');
          const entries = await readAudit(needRedis(), keys, name ? AUDIT_WINDOW : limit);
          return sendJson(res, 200, {
            entries: (name ? entries.filter((e) => e.name === name) : entries).slice(0, limit),
          });
        }
      }
    }
    if (get && head === 'experiments' && arg !== undefined && parts.length === 2) return experimentsView(res, arg);
    if (method === 'POST') {
      if (head === 'explain' && parts.length === 1) return explainRequest(req, res);
      if (head === 'flags' && arg && action && parts.length === 3 && FLAG_ACTIONS.has(action)) {
        return flagAction(res, arg, action);
      }
      if (head === 'proposals' && arg && (action === 'approve' || action === 'reject') && parts.length === 3) {
        return proposalAction(req, res, arg, action);
      }
    }
    throw new HttpError(404, `no console endpoint ${method} ${path}`, 'not-found');
  }

  const api: AdminRoute = {
    prefix: '/api',
    async handle(req, res, path) {
      try {
        await handleApi(req, res, path);
      } catch (err) {
        if (!(err instanceof HttpError)) log.warn({ err: (err as Error).message, path }, 'console request failed');
        sendError(res, err instanceof HttpError ? err : new HttpError(503, (err as Error).message, 'unavailable'));
      }
    },
  };

  return {
    routes: [api, ui],
    guard: auth.guard,
    events,
    async close() {
      unswap();
      traffic.stop();
      if (pollTimer) clearInterval(pollTimer);
      events.close();
      if (ownRedis) redis?.disconnect();
    },
  };
}
