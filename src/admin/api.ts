// The operator console's server side: the JSON API under /api (which scripts could use as
// well), the live event stream, the page at /ui, and the guard in front of them all
// (auth.ts). sidecar.ts (one process) and cluster/primary.ts (PROFLAG_WORKERS > 1) build it
// with openConsole() and hand `routes` and `guard` to the admin server.
//
// What needs a served snapshot (flags, explain, counters, experiment reports) is asked of the
// serving processes through their topics (servingTopics.ts, apiServed.ts): answered in place
// in one process, over IPC by a worker in a cluster. What lives in Redis (proposals, audit,
// replicas, experiment minutes) is read, and every change written, by the console itself
// through the shared change path (src/changes/), over its own connection.
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
//   GET  /api/experiments[/:name]       experiment flags; results (CONTRACT §7) over time, guardrails
//   GET  /api/audit?name=&limit=        the audit trail, newest first
//   GET  /api/events                    server-sent events (events.ts)
//   POST|DELETE /api/session            log in / out of the console (auth.ts)
import type { IncomingMessage, ServerResponse } from 'node:http';
import { FlagChanges, type AuditEntry } from '../changes/index.js';
import type { Config } from '../config/config.js';
import type { TripRecord } from '../experiments/core/report.js';
import { experimentKeys } from '../experiments/keys.js';
import { readTrips } from '../experiments/reader.js';
import type { Explanation } from '../matcher/explain.js';
import { createRedisClient, type RedisClient } from '../store/redisConnection.js';
import type { Logger } from '../telemetry/logger.js';
import type { AdminRoute } from './adminServer.js';
import { throughChangePath } from './apiChanges.js';
import { guardrailHistory } from './apiExperiments.js';
import { lastChanges, type LastChange } from './apiFlags.js';
import { HttpError, queryOf, readJsonObject, sendError, sendJson } from './apiHttp.js';
import { explainInputOf } from './apiExplain.js';
import { proposalsCheck, runWhileListening, servedCheck, type LiveCheck } from './apiLive.js';
import type { RecentProfiles } from './apiPreview.js';
import { approveDetail, approvedDocument, parseApproveRequest, ProposalViews } from './apiProposals.js';
import type { EvaluationCount, ServedFlags, ServedSummary } from './apiServed.js';
import { TrafficSampler } from './apiTraffic.js';
import { createAdminAuth } from './auth.js';
import { EventHub } from './events.js';
import type { ServingProcesses } from './servingTopics.js';
import { createUiRoute } from './ui.js';

export const CONSOLE_ACTOR = 'console';

export type StoreKind = 'redis' | 'file';

/** The served snapshot as it changes, where the console runs beside it (one process). */
export interface ServedWatch {
  current(): ServedSummary;
  /** Calls `listener` after each swap; returns the unsubscribe. */
  onSwap(listener: (summary: ServedSummary) => void): () => void;
}

export interface ConsoleDeps {
  /** The serving processes' topics: in place (one process) or over IPC (workers). */
  readonly serving: ServingProcesses;
  readonly logger: Logger;
  /** The serving processes' store; null: ask them (the primary of a cluster does). */
  readonly storeKind: StoreKind | null;
  /** Recent sampled profiles for the proposal preview (null when the learner is off). */
  readonly recent: RecentProfiles | null;
  /** Swaps as they happen (one process). Without it the console asks the serving processes
   *  what they serve every `servedPollMs` while a page listens. */
  readonly watch?: ServedWatch | null;
  /** Default: a connection of its own (role `console`) when the store is Redis. */
  readonly redis?: RedisClient | null;
  readonly uiDir?: string;
  readonly trafficIntervalMs?: number;
  /** How often the proposals are checked for changes while a page listens. Default 500 ms. */
  readonly proposalPollMs?: number;
  /** How often the served snapshots are checked while a page listens (no `watch`). Default 250 ms. */
  readonly servedPollMs?: number;
}

export interface Console {
  readonly routes: readonly AdminRoute[];
  /** The admin server's first step for every request (auth.ts). */
  guard(req: IncomingMessage, res: ServerResponse, path: string): boolean;
  readonly events: EventHub;
  close(): Promise<void>;
}

interface Backend {
  readonly storeKind: StoreKind;
  readonly redis: RedisClient | null;
  readonly changes: FlagChanges | null;
}

const FLAG_ACTIONS = new Set(['enable', 'disable', 'shadow', 'enforce']);
const AUDIT_WINDOW = 2_000;

export function openConsole(config: Config, deps: ConsoleDeps): Console {
  const log = deps.logger.child({ component: 'console' });
  const { serving } = deps;
  const auth = createAdminAuth({ token: config.adminToken, adminAddr: config.adminAddr });
  const proposals = new ProposalViews(deps.recent, config.tz);
  let lastVersion: number | null = deps.watch?.current().version ?? null;
  const events = new EventHub({ hello: () => ({ version: lastVersion }) });
  const ui = createUiRoute(deps.uiDir ? { dir: deps.uiDir } : {});
  let closed = false;

  // The store kind decides whether there is a Redis to read and change: known at once in one
  // process; in a cluster's primary, asked of the first worker that answers.
  let ownRedis: RedisClient | null = null;
  let backend: Promise<Backend> | null = null;
  const open = (storeKind: StoreKind): Backend => {
    let redis = deps.redis ?? null;
    if (deps.redis === undefined && storeKind === 'redis' && !closed) {
      redis = ownRedis = createRedisClient(config, { role: 'console', lazyConnect: false });
      ownRedis.on('error', () => {}); // reads and changes report their own failures
    }
    return { storeKind, redis, changes: redis ? new FlagChanges(redis, config.prefix) : null };
  };
  const getBackend = (): Promise<Backend> => {
    backend ??= (async () => {
      if (deps.storeKind !== null) return open(deps.storeKind);
      const answer = await serving.askOne('storeKind').catch(() => null);
      const kind = answer?.value;
      if (kind !== 'redis' && kind !== 'file') {
        backend = null; // ask again next time
        throw new HttpError(503, 'no serving process has started yet; try again in a moment', 'unavailable');
      }
      return open(kind);
    })();
    return backend;
  };
  if (deps.storeKind !== null) void getBackend();

  const traffic = new TrafficSampler({
    async read() {
      const answers = await serving.askAll('flagEvaluations');
      return answers.flatMap((a) => (a.ok ? [{ worker: a.worker, counts: a.value as EvaluationCount[] | null }] : []));
    },
    ...(deps.trafficIntervalMs ? { intervalMs: deps.trafficIntervalMs } : {}),
    onChange: () => events.publish('traffic', { at: Date.now() }),
  });
  traffic.start();

  const publishServed = (summary: ServedSummary): void => {
    lastVersion = summary.version;
    events.publish('flags', summary);
  };
  const unwatch = deps.watch?.onSwap(publishServed) ?? null;

  const checks: LiveCheck[] = [
    proposalsCheck(
      deps.proposalPollMs ?? 500,
      async () => (await getBackend()).changes?.reads ?? null,
      (digest) => events.publish('proposals', { digest }),
    ),
  ];
  // Without a watch (a cluster's primary), ask the serving processes while a page listens.
  if (!deps.watch) checks.push(servedCheck(deps.servedPollMs ?? 250, serving, publishServed));
  const stopChecks = runWhileListening(events, checks);

  const audit = async (count: number): Promise<AuditEntry[]> => {
    const { changes } = await getBackend();
    return changes ? changes.reads.audit(count) : [];
  };

  // The last change of each flag, from the audit trail, read again when the version moves.
  let changesCache: { version: number | null; map: Map<string, LastChange> } | null = null;
  const flagChanges = async (version: number | null): Promise<Map<string, LastChange>> => {
    if (changesCache && changesCache.version === version) return changesCache.map;
    try {
      const map = lastChanges(await audit(AUDIT_WINDOW));
      changesCache = { version, map };
      return map;
    } catch {
      return changesCache?.map ?? new Map();
    }
  };

  const servedFlags = async (): Promise<ServedFlags> =>
    (await serving.askOne('consoleFlags', { tz: config.tz })).value as ServedFlags;

  const needChanges = async (): Promise<FlagChanges> => {
    const { changes } = await getBackend();
    if (!changes)
      throw new HttpError(409, 'this sidecar serves the file store: edit the flag files instead', 'no-redis');
    return changes;
  };
  const needReads = async () => (await needChanges()).reads;

  const capabilities = async () => {
    const b = await getBackend();
    return {
      store: b.storeKind,
      tokenRequired: auth.tokenRequired,
      changes: b.changes !== null,
      experimentResults: b.storeKind === 'redis',
      learner: deps.recent !== null,
      preview: deps.recent !== null,
      trafficSource: traffic.source,
      workers: serving.count,
      actor: CONSOLE_ACTOR,
    };
  };

  async function flagAction(res: ServerResponse, name: string, action: string): Promise<void> {
    const changes = await needChanges();
    const ctx = { actor: CONSOLE_ACTOR };
    const result = await throughChangePath(() =>
      action === 'enable' || action === 'disable'
        ? changes.setEnabled(name, action === 'enable', ctx)
        : changes.setMode(name, action === 'shadow' ? 'shadow' : 'enforce', ctx),
    );
    const version = result.changed ? result.version : null;
    if (result.changed) log.info({ actor: CONSOLE_ACTOR, action, flag: name, version }, 'console change');
    sendJson(res, 200, { ok: true, changed: result.changed, version });
  }

  async function proposalAction(req: IncomingMessage, res: ServerResponse, id: string, action: string): Promise<void> {
    const changes = await needChanges();
    if (action === 'reject') {
      const { version } = await throughChangePath(() => changes.reject(id, { actor: CONSOLE_ACTOR }));
      log.info({ actor: CONSOLE_ACTOR, action, proposal: id, version }, 'console change');
      sendJson(res, 200, { ok: true, version });
      return;
    }
    const request = parseApproveRequest(await readJsonObject(req));
    const result = await throughChangePath(() =>
      changes.approve(
        id,
        {
          ...(request.name !== undefined ? { name: request.name } : {}),
          enable: request.as !== 'disabled',
          force: request.force === true,
          mutate: (proposal) => approvedDocument(proposal, request),
        },
        { actor: CONSOLE_ACTOR, detail: `proposal ${id} ${approveDetail(request)}` },
      ),
    );
    log.info(
      { actor: CONSOLE_ACTOR, action, proposal: id, flag: result.name, version: result.version, as: request.as },
      'console change',
    );
    sendJson(res, 200, { ok: true, version: result.version, flag: result.name });
  }

  async function explainRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const input = explainInputOf(await readJsonObject(req));
    sendJson(res, 200, (await serving.askOne('explain', input)).value as Explanation);
  }

  /** The report of one experiment from a serving process (null: no outcomes yet; undefined: no Redis). */
  async function report(name: string): Promise<unknown> {
    return (await serving.askOne('experimentReport', { flag: name })).value;
  }

  async function experimentsView(res: ServerResponse, name: string | null): Promise<void> {
    const { experiments } = await servedFlags();
    const b = await getBackend();
    const resultsAvailable = b.storeKind === 'redis';
    if (name === null) {
      sendJson(res, 200, { experiments, resultsAvailable });
      return;
    }
    const def = experiments.find((d) => d.name === name);
    if (!def) throw new HttpError(404, `no experiment flag '${name}'`, 'not-found');
    // The report carries each variant's per-minute `series` for the plots (src/experiments).
    const results = await report(name);
    let trips: readonly TripRecord[] = [];
    let guardrails: unknown[] = [];
    if (results !== null && typeof results === 'object') {
      const r = results as Record<string, unknown>;
      if (Array.isArray(r.trips)) trips = r.trips as TripRecord[];
    }
    if (b.redis) {
      if (trips.length === 0) trips = await readTrips(b.redis, experimentKeys(config.prefix), name);
      guardrails = guardrailHistory(name, await audit(AUDIT_WINDOW), trips);
    }
    sendJson(res, 200, {
      name,
      experiment: def.experiment,
      resultsAvailable,
      results: results ?? null,
      guardrails,
    });
  }

  async function replicas(res: ServerResponse): Promise<void> {
    const now = Date.now();
    const { changes } = await getBackend();
    if (!changes) {
      const answers = await serving.askAll('consoleFlags', { tz: config.tz });
      sendJson(res, 200, {
        version: lastVersion,
        source: 'local',
        replicas: answers.flatMap((a) => {
          if (!a.ok) return [];
          const served = a.value as ServedFlags;
          const replica = a.worker === null ? 'this sidecar' : `worker ${a.worker}`;
          return [{ replica, ...served.sync, rejected: served.view.rejected, self: true }];
        }),
      });
      return;
    }
    const [version, statuses] = await Promise.all([changes.reads.version(), changes.reads.replicas()]);
    sendJson(res, 200, {
      version,
      now,
      source: 'redis',
      replicas: statuses.map((s) => ({
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
          return sendJson(res, 200, await capabilities());
        case 'flags': {
          const served = await servedFlags();
          lastVersion = served.view.version;
          const changes = await flagChanges(served.view.version);
          const flags = served.view.flags.map((f) => ({ ...f, lastChange: changes.get(f.name) ?? null }));
          return sendJson(res, 200, { ...served.view, flags, sync: served.sync });
        }
        case 'replicas':
          return replicas(res);
        case 'traffic':
          return sendJson(res, 200, traffic.history());
        case 'proposals': {
          const { changes } = await getBackend();
          if (!changes) return sendJson(res, 200, { available: false, proposals: [], samples: null });
          const views = proposals.build(await changes.reads.proposals());
          const samples = deps.recent ? { size: deps.recent.size, capacity: deps.recent.capacity } : null;
          return sendJson(res, 200, { available: true, proposals: views, samples });
        }
        case 'experiments':
          return experimentsView(res, null);
        case 'audit': {
          const q = queryOf(req);
          const limit = Math.min(1_000, Math.max(1, Number(q.get('limit') ?? 50) || 50));
          const name = q.get('name');
          const entries = await (await needReads()).audit(name ? AUDIT_WINDOW : limit);
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
      closed = true;
      unwatch?.();
      traffic.stop();
      stopChecks();
      events.close();
      ownRedis?.disconnect();
    },
  };
}
