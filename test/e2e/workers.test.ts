// PROFLAG_WORKERS=2 as a real process tree: a primary and two workers sharing one gRPC port,
// driven through the Envoy emulator. Both workers answer (and decide correctly), a flag change
// reaches both, the admin port sums their metrics and reports each in /readyz, /explain is
// answered by the workers in turn, the one learner in the primary gets every worker's samples,
// a killed worker is replaced, and SIGTERM drains everything and exits 0 with no child left.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  alive,
  metricSum,
  startProflag,
  stopProflag,
  waitFor,
  type ProflagProcess,
} from '../helpers/proflagProcess.js';
import { clustersServed, TREE_START_MS, twoWorkersEnv } from '../helpers/workersTree.js';

interface WorkerState {
  readonly worker: number;
  readonly pid: number | null;
  readonly state: string;
  readonly ready: boolean;
}
interface Readyz {
  readonly ready: boolean;
  readonly detail: { readonly workers: readonly WorkerState[]; readonly restarts: number };
}

const dir = mkdtempSync(join(tmpdir(), 'proflag-workers-'));
const writeFlag = (cluster: string) =>
  writeFileSync(
    join(dir, 'svc.json'),
    JSON.stringify({
      name: 'svc',
      enabled: true,
      profile: { endpoint: { in: ['/svc/**'] } },
      actions: { route: { cluster } },
    }),
  );

describe('PROFLAG_WORKERS=2', () => {
  let p: ProflagProcess;
  let grpc: string;
  let admin: string;

  const get = async (path: string) => {
    const res = await fetch(`${admin}${path}`);
    return { status: res.status, headers: res.headers, text: await res.text() };
  };
  const readyz = async () => {
    const r = await get('/readyz');
    return { status: r.status, body: JSON.parse(r.text) as Readyz };
  };
  const metrics = async () => (await get('/metrics')).text;

  /** `connections` Envoy connections, `perConnection` requests each, in parallel. */
  const traffic = (connections: number, perConnection: number, path = '/svc/items') =>
    clustersServed(grpc, connections, perConnection, path);

  beforeAll(async () => {
    writeFlag('v1');
    p = startProflag(
      twoWorkersEnv({
        PROFLAG_STORE: 'file',
        PROFLAG_FLAGS_DIR: dir,
        PROFLAG_UA_HASH_KEY: 'workers-test-key-0123',
      }),
    );
    const started = await p.started(TREE_START_MS);
    grpc = started.grpc;
    admin = `http://127.0.0.1:${started.admin}`;
  });

  afterAll(() => stopProflag(p));

  it('reports both workers ready in /readyz, each with its own pid', async () => {
    const { status, body } = await readyz();
    expect(status).toBe(200);
    expect(body.ready).toBe(true);
    expect(body.detail.workers.map((w) => [w.worker, w.state, w.ready])).toEqual([
      [1, 'running', true],
      [2, 'running', true],
    ]);
    const pids = body.detail.workers.map((w) => w.pid!);
    expect(new Set([...pids, p.child.pid]).size).toBe(3);
    for (const pid of pids) expect(alive(pid)).toBe(true);
  });

  it('both workers answer, with correct decisions, and /metrics sums them', async () => {
    const routed = await traffic(4, 30);
    const plain = await traffic(2, 10, '/other');
    expect(routed).toEqual(Array(120).fill('v1'));
    expect(plain).toEqual(Array(20).fill('backend_stable'));
    const text = await metrics();
    const perWorker = [1, 2].map((w) =>
      metricSum(text, 'proflag_cluster_worker_decisions_total', { worker: String(w) }),
    );
    // Both workers decided requests: the shared port spread the connections over them.
    expect(perWorker[0]).toBeGreaterThan(0);
    expect(perWorker[1]).toBeGreaterThan(0);
    expect(perWorker[0]! + perWorker[1]!).toBe(140);
    // The summed serving metrics: every request once, whichever worker took it.
    expect(metricSum(text, 'proflag_decisions_total')).toBe(140);
    expect(metricSum(text, 'proflag_decisions_total', { result: 'match' })).toBe(120);
    expect(metricSum(text, 'proflag_decision_duration_seconds_count')).toBe(140);
    // Per-process metrics stay per process.
    for (const w of ['primary', '1', '2'])
      expect(metricSum(text, 'proflag_process_resident_memory_bytes', { worker: w })).toBeGreaterThan(0);
    expect(metricSum(text, 'proflag_cluster_workers_up')).toBe(2);
  });

  it('feeds one learner, in the primary, with the samples of both workers', async () => {
    // The learner's counters are synced once a second.
    const learned = await waitFor(
      async () => metricSum(await metrics(), 'proflag_learner_observed_total') >= 140,
      5_000,
    );
    expect(learned).toBe(true);
    expect(metricSum(await metrics(), 'proflag_learner_observed_total')).toBe(140);
  });

  it('answers /explain from the workers in turn', async () => {
    const seen = new Set<string>();
    for (let i = 0; i < 4; i++) {
      const res = await fetch(`${admin}/explain`, {
        method: 'POST',
        body: JSON.stringify({ headers: { ':method': 'GET', ':path': '/svc/x', 'user-agent': 'curl/8.5.0' } }),
      });
      expect(res.status).toBe(200);
      seen.add(res.headers.get('x-proflag-worker') ?? '');
      const body = (await res.json()) as { decision: { route: string | null } };
      expect(body.decision.route).toBe('v1');
    }
    expect([...seen].sort()).toEqual(['1', '2']);
  });

  it('a flag change reaches both workers', async () => {
    writeFlag('v2');
    // /explain alternates between the workers: both must explain the new route.
    const explained = async () => {
      const routes = new Map<string, string | null>();
      for (let i = 0; i < 2; i++) {
        const res = await fetch(`${admin}/explain`, {
          method: 'POST',
          body: JSON.stringify({ headers: { ':method': 'GET', ':path': '/svc/x' } }),
        });
        const body = (await res.json()) as { decision: { route: string | null } };
        routes.set(res.headers.get('x-proflag-worker')!, body.decision.route);
      }
      return routes.size === 2 && [...routes.values()].every((r) => r === 'v2');
    };
    expect(await waitFor(explained, 10_000)).toBe(true);
    expect(await traffic(4, 10)).toEqual(Array(40).fill('v2'));
  });

  it('replaces a killed worker, counts it, and keeps the sums from going backwards', async () => {
    const before = await readyz();
    const victim = before.body.detail.workers[0]!.pid!;
    const decisionsBefore = metricSum(await metrics(), 'proflag_decisions_total');
    process.kill(victim, 'SIGKILL');
    const replaced = await waitFor(async () => {
      const now = await readyz();
      const slot1 = now.body.detail.workers[0]!;
      return now.status === 200 && slot1.pid !== victim && slot1.ready;
    }, 20_000);
    expect(replaced).toBe(true);
    const after = await readyz();
    expect(after.body.detail.restarts).toBe(1);
    expect(after.body.detail.workers[1]!.pid).toBe(before.body.detail.workers[1]!.pid);
    const text = await metrics();
    expect(metricSum(text, 'proflag_cluster_worker_restarts_total')).toBe(1);
    // The dead worker's counts stay in the sums (taken at the last scrape before it died).
    expect(metricSum(text, 'proflag_decisions_total')).toBe(decisionsBefore);
    expect(await traffic(4, 10)).toEqual(Array(40).fill('v2'));
    expect(metricSum(await metrics(), 'proflag_decisions_total')).toBe(decisionsBefore + 40);
  });

  it('drains every worker on SIGTERM and exits 0, leaving no child behind', async () => {
    const pids = (await readyz()).body.detail.workers.map((w) => w.pid!);
    const logFrom = p.output().length;
    const t0 = Date.now();
    p.child.kill('SIGTERM');
    expect(await p.exited).toBe(0);
    expect(Date.now() - t0).toBeLessThan(6_000);
    expect(await waitFor(() => pids.every((pid) => !alive(pid)), 3_000)).toBe(true);
    const out = p.output().slice(logFrom);
    // The primary and each worker stop cleanly, without an error or a restart.
    expect(out.match(/"msg":"proflag stopped"/g)?.length).toBe(3);
    expect(out).not.toMatch(/"level":(50|60)/);
  });
});

describe('PROFLAG_WORKERS=2 when a worker cannot start', () => {
  it('exits 1 with the reason instead of restarting workers that would fail again', async () => {
    const busy = createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    const port = (busy.address() as AddressInfo).port;
    try {
      const p = startProflag({
        PROFLAG_WORKERS: '2',
        PROFLAG_STORE: 'file',
        PROFLAG_FLAGS_DIR: dir,
        PROFLAG_GRPC_ADDR: `127.0.0.1:${port}`,
        PROFLAG_ADMIN_ADDR: '127.0.0.1:0',
        PROFLAG_UA_HASH_KEY: 'workers-test-key-0123',
      });
      expect(await p.exited).toBe(1);
      expect(p.output()).toMatch(
        /failed to start: Error: worker \d exited \(exit code 1, signal null\) before serving/,
      );
      expect(p.output()).not.toContain('"proflag started"');
    } finally {
      busy.close();
    }
  });
});
