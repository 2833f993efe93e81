// Shared pieces of the experiments end-to-end tests (issue 10): a real sidecar on a Redis key
// prefix of its own, backends played per cluster by the Envoy emulator's upstream (each
// cluster with its own seeded random stream, so its k-th request always gets the same answer),
// a tally of what the client side saw per (flags version, variant), paced traffic, and the
// readers of `ffr results` and GET /experiments/NAME.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { expect } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import type { ExperimentReport } from '../../src/experiments/core/report.js';
import { startSidecar, type Sidecar } from '../../src/sidecar.js';
import { createLogger } from '../../src/telemetry/logger.js';
import type {
  EmulatedOutcome,
  EmulatedRequest,
  EnvoyEmulator,
  UpstreamAnswer,
  UpstreamRequest,
} from '../helpers/envoyEmulator.js';
import { runFfr } from '../helpers/ffr.js';
import type { TestRedis } from '../helpers/redis.js';
import { seededRandom } from '../helpers/seededRandom.js';
import { e2eEnv } from './routingTable.js';

export const FLAGS_HEADER = 'x-proflag-flags';

export interface BackendBehaviour {
  /** Share of requests answered 503. */
  readonly error5xx?: number;
  /** Share answered 404. */
  readonly error4xx?: number;
  /** Share reset before response headers (Envoy answers 503 itself; no response phase). */
  readonly reset?: number;
  /** Time to response headers, ms (asynchronous). */
  readonly delayMs?: number;
}

/** Backends per cluster for the emulator's `upstream`; clusters not listed answer 200 at once. */
export function backends(
  byCluster: Record<string, BackendBehaviour>,
  seed = 1,
): (req: UpstreamRequest) => UpstreamAnswer | Promise<UpstreamAnswer> {
  const streams = new Map<string, () => number>();
  let n = 0;
  return ({ cluster }) => {
    const b = byCluster[cluster];
    if (!b) return { status: 200 };
    let rng = streams.get(cluster);
    if (!rng) streams.set(cluster, (rng = seededRandom(seed * 1000 + ++n)));
    const u = rng();
    const reset = b.reset ?? 0;
    const e5 = b.error5xx ?? 0;
    const e4 = b.error4xx ?? 0;
    const answer: UpstreamAnswer =
      u < reset ? 'reset' : u < reset + e5 ? { status: 503 } : u < reset + e5 + e4 ? { status: 404 } : { status: 200 };
    const delay = b.delayMs ?? 0;
    return delay > 0 ? new Promise((resolve) => setTimeout(() => resolve(answer), delay)) : answer;
  };
}

/** The flags header as the backend got it, as name → value. */
export function flagsSeen(out: EmulatedOutcome): Map<string, string> {
  const header = out.upstreamHeaders.get(FLAGS_HEADER) ?? '';
  const map = new Map<string, string>();
  for (const part of header.split(',')) {
    const eq = part.indexOf('=');
    if (eq > 0) map.set(part.slice(0, eq), part.slice(eq + 1));
  }
  return map;
}

type Struct = { fields?: Record<string, { structValue?: Struct; stringValue?: string; numberValue?: number }> };

/** proflag's dynamic metadata (namespace `proflag`) as Envoy's access log would read it. */
export function metadataOf(out: EmulatedOutcome): { flags: string | null; version: number | null } {
  const ns = (out.dynamicMetadata as Struct | null)?.fields?.proflag?.structValue?.fields;
  return { flags: ns?.flags?.stringValue ?? null, version: ns?.version?.numberValue ?? null };
}

export type OutcomeClass = 'success' | '4xx' | '5xx' | 'noResponse';

/** What the client saw, in the classes of CONTRACT §7. */
export function classOf(out: EmulatedOutcome): OutcomeClass {
  if (out.localReply || out.details === 'upstream_reset_before_response_started') return 'noResponse';
  if (out.status >= 500) return '5xx';
  if (out.status >= 400) return '4xx';
  return 'success';
}

export interface Counted {
  requests: number;
  status5xx: number;
  status4xx: number;
  noResponse: number;
}

const zero = (): Counted => ({ requests: 0, status5xx: 0, status4xx: 0, noResponse: 0 });

/** Client-side counts by key (e.g. `${version}:${variant}`), independent of proflag's. */
export class Tally {
  readonly byKey = new Map<string, Counted>();

  add(key: string, klass: OutcomeClass): void {
    let c = this.byKey.get(key);
    if (!c) this.byKey.set(key, (c = zero()));
    c.requests++;
    if (klass === '5xx') c.status5xx++;
    else if (klass === '4xx') c.status4xx++;
    else if (klass === 'noResponse') c.noResponse++;
  }

  /** The sum over the keys that `select` accepts. */
  sum(select: (key: string) => boolean): Counted {
    const out = zero();
    for (const [key, c] of this.byKey) {
      if (!select(key)) continue;
      out.requests += c.requests;
      out.status5xx += c.status5xx;
      out.status4xx += c.status4xx;
      out.noResponse += c.noResponse;
    }
    return out;
  }

  merge(other: Tally): Tally {
    const out = new Tally();
    for (const t of [this, other])
      for (const [key, c] of t.byKey) {
        const into = out.byKey.get(key) ?? zero();
        out.byKey.set(key, {
          requests: into.requests + c.requests,
          status5xx: into.status5xx + c.status5xx,
          status4xx: into.status4xx + c.status4xx,
          noResponse: into.noResponse + c.noResponse,
        });
      }
    return out;
  }
}

/** The counted classes of one variant of a report. */
export function countedOf(
  report: ExperimentReport | ExperimentReport['earlierGenerations'][number],
  variant: string,
): Counted {
  const v = report.variants.find((x) => x.name === variant);
  if (!v) throw new Error(`no variant ${variant} in ${report.flag}`);
  return { requests: v.requests, status5xx: v.status5xx, status4xx: v.status4xx, noResponse: v.noResponse };
}

export interface ExperimentSidecarOptions {
  readonly flushMs?: number;
  readonly guardrailIntervalMs?: number;
  readonly env?: Record<string, string>;
}

/** A real sidecar on the test Redis and prefix, learner off, quiet logs. */
export function startExperimentSidecar(redis: TestRedis, options: ExperimentSidecarOptions = {}): Promise<Sidecar> {
  const config = loadConfig(
    e2eEnv({
      REDIS_URL: redis.url,
      PROFLAG_PREFIX: redis.prefix,
      PROFLAG_LEARN: 'off',
      PROFLAG_EXPERIMENT_FLUSH_MS: String(options.flushMs ?? 1000),
      PROFLAG_GUARDRAIL_INTERVAL_MS: String(options.guardrailIntervalMs ?? 1000),
      ...options.env,
    }),
  );
  return startSidecar(config, { logger: createLogger('error'), defaultMetrics: false });
}

/** `scripts/ffr put` of a flag document, as an operator would. */
export async function putFlag(redis: TestRedis, doc: Record<string, unknown>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'proflag-exp-'));
  try {
    const file = join(dir, `${String(doc.name)}.json`);
    await writeFile(file, JSON.stringify(doc));
    const run = await runFfr(redis, ['put', file]);
    expect(run.code, run.stderr).toBe(0);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** GET on the admin port; the status and the parsed JSON (or text). */
export async function adminGet<T = unknown>(port: number, path: string): Promise<{ status: number; body: T }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // Text (format=text or metrics).
  }
  return { status: res.status, body: body as T };
}

export async function experimentReport(port: number, flag: string, query = ''): Promise<ExperimentReport | null> {
  const r = await adminGet<ExperimentReport>(port, `/experiments/${flag}${query}`);
  if (r.status === 404) return null;
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return r.body;
}

export async function redisVersion(client: Redis, prefix: string): Promise<number> {
  return Number((await client.get(`${prefix}version`)) ?? 0);
}

/** The report without its window (whose end is "now", a minute that may tick between two reads). */
export function withoutWindow(report: ExperimentReport): unknown {
  const strip = (r: { window: unknown }) => ({ ...r, window: null });
  return { ...strip(report), earlierGenerations: report.earlierGenerations.map(strip) };
}

export interface DriveOptions {
  readonly envoys: readonly EnvoyEmulator[];
  /** Requests to send at most. */
  readonly count: number;
  /** Requests in flight at once (spread over the emulators). */
  readonly concurrency: number;
  /** Pace: at most this many requests started per second (default unpaced). */
  readonly perSecond?: number;
  readonly request: (i: number) => EmulatedRequest;
  readonly onOutcome: (out: EmulatedOutcome, i: number, envoy: number) => void;
  /** Checked between requests: stop sending once it says so. */
  readonly stop?: () => boolean;
}

/** Sends up to `count` requests; resolves with the number sent. */
export async function drive(o: DriveOptions): Promise<number> {
  let next = 0;
  const started = Date.now();
  const lane = async (laneIndex: number) => {
    for (;;) {
      if (o.stop?.() || next >= o.count) return;
      const i = next++;
      if (o.perSecond) {
        const due = started + (i * 1000) / o.perSecond;
        const wait = due - Date.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      }
      const e = laneIndex % o.envoys.length;
      const out = await o.envoys[e]!.request(o.request(i));
      expect(out.error, `request ${i}`).toBeNull();
      o.onOutcome(out, i, e);
    }
  };
  await Promise.all(Array.from({ length: o.concurrency }, (_, k) => lane(k)));
  return next;
}
